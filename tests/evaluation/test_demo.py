"""`srfm demo`: deterministic synthetic chart, figure layout, printed scores, one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from keras_srfm import cli
from keras_srfm.evaluation import demo
from keras_srfm.evaluation.protocol import bicubic_pair
from keras_srfm.imaging.imresize import imresize, nearest

SIZE = 96


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from keras_srfm.models.generator import build_generator

    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    build_generator(num_blocks=2, filters=8).save(path)
    return path


def find(figure: np.ndarray, image: np.ndarray) -> tuple[int, int] | None:
    """Top-left (y, x) where `image` appears exactly in `figure`, or None."""
    h, w = image.shape[:2]
    rows = np.lib.stride_tricks.sliding_window_view(figure, (w, 3), axis=(1, 2))[:, :, 0]
    ys, xs = np.nonzero(np.all(rows == image[0], axis=(-2, -1)))  # first row matches
    for y, x in zip(ys, xs, strict=True):
        if y + h <= figure.shape[0] and np.array_equal(figure[y : y + h, x : x + w], image):
            return int(y), int(x)
    return None


# === Chart ===


def test_chart_is_deterministic_and_rich() -> None:
    chart = demo.render_chart(SIZE)
    assert chart.shape == (SIZE, SIZE, 3) and chart.dtype == np.uint8
    np.testing.assert_array_equal(chart, demo.render_chart(SIZE))
    # Black, white, colour and grey levels are all present.
    assert chart.min() == 0 and chart.max() == 255
    assert len(np.unique(chart.reshape(-1, 3), axis=0)) > 500
    assert np.any(np.ptp(chart.astype(int), axis=-1) > 150)  # saturated colour patches


@pytest.mark.parametrize("size", [demo.MIN_SIZE - 1, demo.MAX_SIZE + 1])
def test_chart_size_is_checked(size: int) -> None:
    with pytest.raises(ValueError, match="Received: size="):
        demo.render_chart(size)


def test_run_demo_uses_matlab_bicubic_protocol() -> None:
    chart = demo.render_chart(SIZE + 2)  # not a multiple of 4: mod-cropped
    result = demo.run_demo(lambda lr: imresize(lr, scale=4), chart, name="bicubic")
    hr, lr = bicubic_pair(chart)
    np.testing.assert_array_equal(result.hr, hr)
    np.testing.assert_array_equal(result.lr, lr)
    assert list(result.images) == [demo.NEAREST_LABEL, "bicubic"]  # bicubic not run twice
    np.testing.assert_array_equal(result.images[demo.NEAREST_LABEL], nearest(lr, 4))
    assert 5 < result.scores["bicubic"]["psnr"] < 50
    assert 0 < result.scores["bicubic"]["ssim"] <= 1


# === CLI ===


def test_demo_writes_figure_and_prints_scores(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from keras_srfm.inference.upscalers import load_upscaler

    out = tmp_path / "demo.png"
    code = cli.main(["demo", "--model", str(tiny_model), "--output", str(out), "--size", str(SIZE)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.png"]  # no temp file left

    # Same computation in-process: the figure holds LR-nearest | bicubic | model | HR in order.
    expected = demo.run_demo(load_upscaler(str(tiny_model)), demo.render_chart(SIZE), "tiny")
    figure = np.asarray(Image.open(out).convert("RGB"))
    panels = [*expected.images.values(), expected.hr]
    places = [find(figure, image) for image in panels]
    assert None not in places, places
    assert len({y for y, _ in places}) == 1  # one row
    xs = [x for _, x in places]
    assert xs == sorted(xs) and all(b - a >= SIZE for a, b in zip(xs, xs[1:], strict=False))

    lines = captured.out.strip().splitlines()
    assert [line.split()[0] for line in lines] == ["bicubic", "tiny"]
    for line, name in zip(lines, ["bicubic", "tiny"], strict=True):
        scores = expected.scores[name]
        assert f"PSNR {scores['psnr']:6.2f} dB" in line and f"SSIM {scores['ssim']:.4f}" in line
    assert "wrote" in captured.err and "took" in captured.err


def test_demo_bicubic_default_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["demo", "--model", "bicubic", "--size", "64"]) == 0
    assert (tmp_path / "srfm_demo.png").is_file()
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == ["bicubic"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model", "bicubic", "--size", "32"], "--size must be in"),
        (["--model", "bicubic", "--output", "demo.txt"], "output must end in"),
        (["--model", "bicubic", "--output", "missing/demo.png"], "output folder does not exist"),
        (["--model", "nope.keras"], "model not found"),
        (["--model", "default"], "no model is shipped"),
    ],
)
def test_demo_errors_are_one_line(
    argv: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SRFM_MODELS_DIR", str(tmp_path / "no_models"))
    assert cli.main(["demo", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("srfm demo: error:") and message in err[0], err
    assert list(tmp_path.iterdir()) == []
