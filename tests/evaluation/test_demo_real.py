"""`srfm demo --real`: clean and realistic LR of the chart, every model on both, scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from keras_srfm import cli
from keras_srfm.evaluation import demo
from keras_srfm.imaging.imresize import imresize

SIZE = 96


def test_realistic_lr_is_the_degrade_command_of_the_chart():
    from keras_srfm.config import DegradationConfig
    from keras_srfm.data.degradation import degrade_image, image_seed

    chart = demo.render_chart(SIZE)
    hr, lr, _ = demo.realistic_lr(chart, seed=4)
    assert hr.shape == (SIZE, SIZE, 3) and lr.shape == (SIZE // 4, SIZE // 4, 3) and lr.dtype == np.uint8
    expected, _ = degrade_image(hr, image_seed(4, "chart"), DegradationConfig())
    np.testing.assert_array_equal(lr, expected)


def test_run_real_demo_scores_both_rows():
    chart = demo.render_chart(SIZE)
    bicubic_again = {"bicubic copy": lambda lr: imresize(lr, scale=4)}
    result = demo.run_real_demo(bicubic_again, chart, seed=1)
    assert list(result.clean.images) == [demo.NEAREST_LABEL, "bicubic", "bicubic copy"]
    assert result.clean.scores["bicubic copy"] == result.clean.scores["bicubic"]
    # The realistic LR is harder than the clean one for the same upscaler.
    assert result.real.scores["bicubic"]["psnr"] < result.clean.scores["bicubic"]["psnr"]
    figure = np.asarray(demo.real_demo_figure(result))
    assert figure.shape[0] > 2 * SIZE and figure.shape[1] > 4 * SIZE  # 2 rows of 4 panels


def test_demo_real_command_with_a_model(tmp_path, capsys):
    from keras_srfm.models.generator import build_generator

    model = tmp_path / "tiny.keras"
    build_generator(num_blocks=2, filters=8).save(model)
    output = tmp_path / "real.png"
    argv = ["demo", "--real", "--model", str(model), "--size", str(SIZE), "-o", str(output), "--seed", "2"]
    assert cli.main(argv) == 0
    captured = capsys.readouterr()
    assert "clean LR" in captured.out and "realistic LR" in captured.out
    assert "bicubic" in captured.out and "tiny" in captured.out
    assert "no srfm_real" not in captured.err  # only said when comparing the shipped models
    with Image.open(output) as image:
        assert image.height > 2 * SIZE


@pytest.mark.slow
def test_demo_real_with_the_shipped_models_explains_a_missing_srfm_real(tmp_path, capsys):
    from keras_srfm.inference.presets import list_models

    shipped = [m.name for m in list_models()]
    if not shipped:
        pytest.skip("no model in exported_models/")
    assert cli.main(["demo", "--real", "--size", "64", "-o", str(tmp_path / "f.png")]) == 0
    captured = capsys.readouterr()
    for name in shipped:
        assert name in captured.out
    assert ("no srfm_real" in captured.err) == ("srfm_real" not in shipped)
    assert Path(tmp_path / "f.png").is_file()
