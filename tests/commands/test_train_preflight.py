"""`srfm train` first runs: every bad input is one line, and the run folder is left untouched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from keras_srfm import cli
from keras_srfm.commands import train_checks

TINY = ["--blocks", "2", "--filters", "8", "--steps", "2"]


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "hr"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (100, 104, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No network, and an empty Keras cache (no VGG19 weights)."""
    monkeypatch.setattr(train_checks, "reachable", lambda host, *a, **k: False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setattr(train_checks, "_keras_cache_dirs", lambda: [tmp_path / "keras_home" / "models"])


def _snapshot(folder: Path) -> dict[str, bytes] | None:
    if not folder.exists():
        return None
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _train_fails(capsys, run_dir: Path, *argv: str) -> str:
    """Runs `srfm train` in-process; asserts exit 2, one stderr line, untouched run folder."""
    before = _snapshot(run_dir)
    assert cli.main(["train", "--run-dir", str(run_dir), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("srfm train: error: "), err
    # The run folder's lock file (taken before anything in the folder is read, holding the last
    # holder's pid; tests/imaging/test_locks.py) may stay in an existing folder; nothing else may change.
    def without_lock(files: dict[str, bytes] | None) -> dict[str, bytes] | None:
        return None if files is None else {k: v for k, v in files.items() if k != ".srfm.lock"}

    assert without_lock(_snapshot(run_dir)) == without_lock(before)
    return err[0]


def test_missing_data_folder(capsys, tmp_path):
    line = _train_fails(capsys, tmp_path / "run", "--variant", "p", "--data", str(tmp_path / "nope"), *TINY)
    assert "image folder not found" in line and str(tmp_path / "nope") in line


def test_folder_without_images(capsys, tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("no images here")
    line = _train_fails(capsys, tmp_path / "run", "--variant", "p", "--data", str(tmp_path / "docs"), *TINY)
    assert "no images" in line


def test_unreadable_images(capsys, tmp_path):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    line = _train_fails(capsys, tmp_path / "run", "--variant", "p", "--data", str(tmp_path / "bad"), *TINY)
    assert "--data" in line and "No usable images" in line


def test_vgg_download_offline_says_what_to_pass(capsys, tmp_path, images, offline):
    line = _train_fails(capsys, tmp_path / "run", "--variant", "pcsva", "--data", str(images), *TINY)
    assert "VGG19" in line and "--vgg-weights PATH" in line and "--variant pcsa" in line


def test_vgg_weights_file_missing(capsys, tmp_path, images):
    line = _train_fails(capsys, tmp_path / "run", "--variant", "pva", "--data", str(images),
                        "--vgg-weights", str(tmp_path / "vgg.h5"), *TINY)
    assert "--vgg-weights file not found" in line


def test_vgg_weights_file_broken(capsys, tmp_path, images):
    (tmp_path / "vgg.h5").write_bytes(b"not hdf5")
    line = _train_fails(capsys, tmp_path / "run", "--variant", "pva", "--data", str(images),
                        "--vgg-weights", str(tmp_path / "vgg.h5"), *TINY)
    assert "does not load as VGG19 weights" in line


def test_default_data_offline_says_what_to_pass(capsys, tmp_path, offline):
    line = _train_fails(capsys, tmp_path / "run", "--variant", "pcsa", "--data-dir", str(tmp_path / "tfds"), *TINY)
    assert "srfm_div2k" in line and "not prepared" in line and "--data FOLDER" in line


@pytest.mark.parametrize("kind", ["missing", "broken", "other_size"])
def test_init_from_must_load(capsys, tmp_path, images, kind):
    path = tmp_path / "g.keras"
    if kind == "broken":
        path.write_bytes(b"PK not a zip")
    elif kind == "other_size":
        from keras_srfm.config import GeneratorConfig
        from keras_srfm.models.generator import build_generator

        build_generator(GeneratorConfig(num_blocks=1, filters=4)).save(path)
    line = _train_fails(capsys, tmp_path / "run", "--variant", "p", "--data", str(images),
                        "--init-from", str(path), *TINY)
    assert ("not found" if kind == "missing" else "does not load into the generator") in line


def test_existing_run_with_other_settings_is_untouched(capsys, tmp_path, images):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    from keras_srfm.commands.train import run_config_from_args

    args = cli.build_parser().parse_args(["train", "--run-dir", str(run_dir), "--variant", "p",
                                          "--data", str(images), "--vgg-weights", "none", *TINY])
    (run_dir / "config.json").write_text(json.dumps(run_config_from_args(args).to_dict()))
    line = _train_fails(capsys, run_dir, "--variant", "pca", "--data", str(images), "--vgg-weights", "none", *TINY)
    assert "use a new --run-dir" in line


@pytest.mark.slow
def test_typo_fails_before_tensorflow_is_imported(tmp_path):
    code = ("import sys; from keras_srfm.cli import main; "
            f"rc = main(['train', '--run-dir', {str(tmp_path / 'run')!r}, '--data', 'no/such/folder']); "
            "print(rc, 'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert out.stdout.split() == ["2", "False"], out.stderr
    assert out.stderr.strip().splitlines() == ["srfm train: error: --data no/such/folder: image folder not found: no/such/folder"]
    assert not (tmp_path / "run").exists()
