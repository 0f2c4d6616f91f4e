"""`srfm train` end to end on a folder of images, and its one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def srfm(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "keras_srfm.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=600)


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "hr"
    folder.mkdir()
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:112, 0:128]  # larger than the 96x96 HR patch
    for i in range(3):
        img = (127 + 120 * np.sin((xx * (i + 1) + yy) / 5.0))[..., None] * np.array([1.0, 0.8, 0.6])
        img = np.clip(img + rng.normal(0, 5, img.shape), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(folder / f"img{i}.png")
    return folder


def test_train_cli_tiny_run_and_resume(tmp_path, image_folder):
    common = ["train", "--variant", "pcsa", "--data", str(image_folder), "--run-dir", str(tmp_path / "run"),
              "--blocks", "2", "--filters", "8", "--batch-size", "2", "--patches-per-image", "2",
              "--checkpoint-every", "2", "--vgg-weights", "none", "--verbose", "0", "--warmup-steps", "3"]
    first = srfm(*common, "--steps", "2", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "srfm train: configuration" in first.stdout and '"variant": "pcsa"' in first.stdout
    run_dir = tmp_path / "run"
    saved = json.loads((run_dir / "config.json").read_text())["train"]
    assert saved["steps"] == 2 and saved["warmup_steps"] == 3
    assert (run_dir / "generator.keras").exists() and (run_dir / "checkpoints" / "ckpt-2.index").exists()
    assert list((run_dir / "logs" / "train").glob("events.out.tfevents.*"))
    second = srfm(*common, "--steps", "4", cwd=tmp_path)  # longer: resumes
    assert second.returncode == 0, second.stderr[-3000:]
    assert "resuming at step 2" in second.stdout
    assert (run_dir / "checkpoints" / "ckpt-4.index").exists()
    snap = srfm("train", "--run-dir", str(run_dir), "--export-only", str(tmp_path / "snap.keras"), cwd=tmp_path)
    assert snap.returncode == 0 and "step-4 generator" in snap.stdout, snap.stderr[-2000:]
    import keras

    import keras_srfm.models.layers  # noqa: F401  (registers the custom layers)

    a = keras.saving.load_model(tmp_path / "snap.keras").get_weights()
    b = keras.saving.load_model(run_dir / "generator.keras").get_weights()
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    rescheduled = srfm(*common, "--steps", "6", "--g-lr", "5e-5", "--decay-start", "4", cwd=tmp_path)
    assert rescheduled.returncode == 0, rescheduled.stderr[-3000:]
    assert "changed on resume at step 4: train.steps: 4 -> 6; train.g_learning_rate: 0.0001 -> 5e-05" in rescheduled.stdout
    log = [json.loads(line) for line in (run_dir / "resume_log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 4 and "train.decay_start: 0 -> 4" in log[-1]["changes"]
    changed = srfm(*[a if a != "pcsa" else "pca" for a in common], "--steps", "8", cwd=tmp_path)
    assert changed.returncode == 2
    assert changed.stderr.strip().count("\n") == 0 and "use a new --run-dir" in changed.stderr


@pytest.mark.parametrize("args, message", [
    (["--steps", "0"], "steps must be >= 1"),
    (["--g-lr", "-1"], "learning rates must be > 0"),
    (["--data-weights", "1", "2"], "one value per source"),
])
def test_train_cli_bad_values_one_line(tmp_path, args, message):
    out = srfm("train", "--variant", "p", "--run-dir", str(tmp_path / "r"), "--blocks", "2", "--filters", "8",
               "--data", str(tmp_path), *args, cwd=tmp_path)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("srfm train: error:") and message in lines[0], out.stderr


@pytest.mark.parametrize("folder_kind", ["missing", "empty"])
def test_train_cli_bad_data_folder_one_line(tmp_path, folder_kind):
    folder = tmp_path / "nope" if folder_kind == "missing" else tmp_path
    out = srfm("train", "--variant", "p", "--run-dir", str(tmp_path / "r"), "--blocks", "2", "--filters", "8",
               "--data", str(folder), "--steps", "2", cwd=tmp_path)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert lines[-1].startswith("srfm train: error:") and str(folder) in lines[-1], out.stderr
