"""`srfm mos prepare --shipped`: the study of Sec. V-C from the shipped models in one command."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from keras_srfm import cli
from keras_srfm.mos.study import load_study


def _draw_images(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    y, x = np.mgrid[0:32, 0:36]
    for i in range(count):
        rgb = np.stack([(x * 4 + 30 * i) % 256, (y * 5) % 256, (x * y + i) % 256], -1)
        Image.fromarray(rgb.astype(np.uint8)).save(folder / f"img_{i:03d}.png")
    return folder


@pytest.fixture()
def models_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Three tiny 'shipped' models in a folder named by SRFM_MODELS_DIR (not in paper order)."""
    from keras_srfm.models.generator import build_generator

    root = tmp_path / "exported"
    generator = build_generator(num_blocks=1, filters=4)
    for name in ("srfm_pcsva_vgg34", "srfm_mp", "srfm_pcsa"):
        (root / name).mkdir(parents=True)
        generator.save(root / name / f"{name}.keras")
    (root / "notes").mkdir()  # a folder without <name>.keras is not a model
    monkeypatch.setenv("SRFM_MODELS_DIR", str(root))
    return root


def test_prepare_shipped_in_paper_order_with_default_bsd100(
    models_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    _draw_images(data / "benchmarks" / "BSD100" / "HR", 6)
    monkeypatch.setenv("SRFM_DATA_DIR", str(data))
    out = tmp_path / "study"
    argv = ["mos", "prepare", "--shipped", "--images", "3", "--calibration", "2"]
    assert cli.main([*argv, "--out", str(out)]) == 0
    study = load_study(out, verify=True)
    assert study.methods == ["NN", "bicubic", "srfm_mp", "srfm_pcsa", "srfm_pcsva_vgg34", "HR"]
    sources = {m["name"]: m["source"] for m in study.manifest["methods"]}
    assert sources["srfm_mp"] == str(models_root / "srfm_mp" / "srfm_mp.keras")
    assert len(study.images) == 3 and len(study.manifest["calibration"]) == 2


def test_models_by_shipped_name_and_errors(models_root: Path, tmp_path: Path, capsys) -> None:
    hr = _draw_images(tmp_path / "hr", 3)
    base = ["mos", "prepare", "--hr-dir", str(hr), "--images", "2", "--calibration", "1"]
    assert cli.main([*base, "--models", "srfm_pcsa", "--out", str(tmp_path / "s1")]) == 0
    assert load_study(tmp_path / "s1").methods == ["NN", "bicubic", "srfm_pcsa", "HR"]
    capsys.readouterr()  # progress bars

    for extra, message in (
        (["--shipped", "--models", "srfm_mp"], "unique"),
        (["--models", "srfm_nope"], "shipped: srfm_mp, srfm_pcsa, srfm_pcsva_vgg34"),
    ):
        assert cli.main([*base, *extra, "--out", str(tmp_path / "s2")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0]
        assert not (tmp_path / "s2").exists()


def test_no_hr_dir_and_no_bsd100_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv("SRFM_DATA_DIR", str(tmp_path / "nothing"))
    assert cli.main(["mos", "prepare", "--out", str(tmp_path / "s")]) == 2
    assert "--hr-dir" in capsys.readouterr().err
