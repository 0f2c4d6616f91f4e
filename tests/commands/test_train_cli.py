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

pytestmark = pytest.mark.slow  # each test trains, or starts srfm as a process


def srfm(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "keras_srfm.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=600)


def srfm_here(*args: str, capsys: pytest.CaptureFixture) -> subprocess.CompletedProcess:
    """`srfm ARGS` as `srfm` (the CLI's main()) in this process: what a process would print and
    return, without starting TensorFlow again (~6-8 s a process on 2 cores)."""
    from keras_srfm.cli import main

    capsys.readouterr()
    code = main(list(args))
    out = capsys.readouterr()
    return subprocess.CompletedProcess(list(args), code, out.out, out.err)


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three striped images, made once per module: the tests only read them."""
    folder = tmp_path_factory.mktemp("images") / "hr"
    folder.mkdir()
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:112, 0:128]  # larger than the 96x96 HR patch
    for i in range(3):
        img = (127 + 120 * np.sin((xx * (i + 1) + yy) / 5.0))[..., None] * np.array([1.0, 0.8, 0.6])
        img = np.clip(img + rng.normal(0, 5, img.shape), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(folder / f"img{i}.png")
    return folder


def test_train_cli_tiny_run_and_resume(tmp_path, image_folder, capsys):
    """The first run is `python -m keras_srfm.cli` in a process of its own; the resume (with a new
    schedule), the export and the refused change run the CLI's main() in this process (`srfm_here`)."""
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
    # Longer, with a new schedule: resumes, and logs what changed.
    second = srfm_here(*common, "--steps", "4", "--g-lr", "5e-5", "--decay-start", "2", capsys=capsys)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "resuming at step 2" in second.stdout
    assert "changed on resume at step 2: train.steps: 2 -> 4; train.g_learning_rate: 0.0001 -> 5e-05" in second.stdout
    log = [json.loads(line) for line in (run_dir / "resume_log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 2 and "train.decay_start: 0 -> 2" in log[-1]["changes"]
    assert (run_dir / "checkpoints" / "ckpt-4.index").exists()
    snap = srfm_here("train", "--run-dir", str(run_dir), "--export-only", str(tmp_path / "snap.keras"),
                     capsys=capsys)
    assert snap.returncode == 0 and "step-4 generator" in snap.stdout, snap.stderr[-2000:]
    import keras

    import keras_srfm.models.layers  # noqa: F401  (registers the custom layers)

    a = keras.saving.load_model(tmp_path / "snap.keras").get_weights()
    b = keras.saving.load_model(run_dir / "generator.keras").get_weights()
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    changed = srfm_here(*[a if a != "pcsa" else "pca" for a in common], "--steps", "8", capsys=capsys)
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


# === A run folder is never reset silently (issue 14) ===
# In-process `srfm train` (the CLI's main()) on the point-only variant with a 1-block, 4-filter
# generator and 4x4 LR patches: a run takes seconds, so each fault gets its own test.


def train_in_process(run_dir: Path, data: Path, *extra: str, steps: int = 4) -> int:
    from keras_srfm.cli import main

    return main(["train", "--variant", "p", "--data", str(data), "--run-dir", str(run_dir), "--blocks", "1",
                 "--filters", "4", "--batch-size", "2", "--patches-per-image", "2", "--lr-patch", "4",
                 "--checkpoint-every", "1", "--verbose", "0", "--steps", str(steps), *extra])


def history_steps(run_dir: Path) -> list[int]:
    import csv

    with (run_dir / "history.csv").open(newline="") as f:
        return [int(row["step"]) for row in csv.DictReader(f)]


def ckpt_steps(run_dir: Path) -> list[int]:
    return sorted(int(p.name[5:-6]) for p in (run_dir / "checkpoints").glob("ckpt-*.index"))


@pytest.fixture(scope="module")
def trained_once(tmp_path_factory, image_folder) -> Path:
    """A run trained to step 4 (checkpoints 2, 3, 4 kept), once per module (`trained` copies it)."""
    run_dir = tmp_path_factory.mktemp("trained") / "run"
    assert train_in_process(run_dir, image_folder) == 0
    assert ckpt_steps(run_dir) == [2, 3, 4] and history_steps(run_dir) == [1, 2, 3, 4]
    return run_dir


@pytest.fixture
def trained(tmp_path, trained_once) -> Path:
    """A copy of `trained_once` of the test's own: the tests damage it and train on."""
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(trained_once, run_dir)
    assert ckpt_steps(run_dir) == [2, 3, 4] and history_steps(run_dir) == [1, 2, 3, 4]
    return run_dir


@pytest.mark.parametrize("damage", ["deleted", "garbage"])
def test_lost_state_file_resumes_from_the_checkpoints(trained, image_folder, capsys, damage):
    state = trained / "checkpoints" / "checkpoint"
    state.unlink() if damage == "deleted" else state.write_text("this is not a checkpoint state\n")
    capsys.readouterr()
    assert train_in_process(trained, image_folder, steps=5) == 0
    out = capsys.readouterr().out
    assert "resuming at step 4 from ckpt-4" in out and "starting" not in out
    assert ckpt_steps(trained) == [3, 4, 5]  # rotation goes on: ckpt-2 is the oldest of 4
    assert history_steps(trained) == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("damage", ["truncated", "bit flipped"])
def test_corrupt_newest_checkpoint_falls_back(trained, image_folder, capsys, damage):
    data = trained / "checkpoints" / "ckpt-4.data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    if damage == "truncated":
        data.write_bytes(raw[: len(raw) // 2])
    else:
        raw[len(raw) // 2] ^= 0x10
        data.write_bytes(bytes(raw))
    capsys.readouterr()
    assert train_in_process(trained, image_folder, steps=5) == 0
    out = capsys.readouterr().out
    assert "unreadable checkpoint(s) ckpt-4" in out and "newest intact one, ckpt-3" in out, out
    assert "resuming at step 3 from ckpt-3" in out and "dropped 1 log row(s)" in out
    assert (trained / "checkpoints" / "corrupt" / "ckpt-4.index").exists()  # kept, moved aside
    assert ckpt_steps(trained) == [3, 4, 5]  # ckpt-4 retrained
    assert history_steps(trained) == [1, 2, 3, 4, 5]


def test_no_readable_checkpoint_refuses_in_one_line(trained, image_folder, capsys):
    for data in (trained / "checkpoints").glob("ckpt-*.data-*"):
        data.write_bytes(b"")
    before = sorted(p.name for p in (trained / "checkpoints").iterdir())
    capsys.readouterr()
    assert train_in_process(trained, image_folder, steps=5) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "none of the 3 checkpoints" in err[0] and "can be read" in err[0], err
    assert sorted(p.name for p in (trained / "checkpoints").iterdir()) == before  # nothing touched
    assert history_steps(trained) == [1, 2, 3, 4]


def test_deleted_checkpoints_refuse_instead_of_restarting(trained, image_folder, capsys):
    import shutil

    shutil.rmtree(trained / "checkpoints")
    capsys.readouterr()
    assert train_in_process(trained, image_folder, steps=5) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds a trained run (history.csv, generator.keras) but no checkpoint" in err[0]
    assert history_steps(trained) == [1, 2, 3, 4]


def test_interrupted_saves_are_cleaned_and_keep_checkpoints(trained, image_folder, capsys):
    (trained / "checkpoints" / "ckpt-5_temp").mkdir()
    (trained / "checkpoints" / "ckpt-5_temp" / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"x")
    state_part = trained / "checkpoints" / ".checkpoint.srfm-99999999-ab12cd34.part"  # write_state, killed
    state_part.write_text("model_checkpoint_path")
    capsys.readouterr()
    assert train_in_process(trained, image_folder, "--keep-checkpoints", "2", steps=6) == 0
    out = capsys.readouterr().out
    assert f"removed what an interrupted save left: {state_part.name}, ckpt-5_temp" in out
    assert "train.keep_checkpoints: 3 -> 2" in out
    assert not (trained / "checkpoints" / "ckpt-5_temp").exists()
    assert not state_part.exists()
    assert ckpt_steps(trained) == [5, 6]
    assert history_steps(trained) == [1, 2, 3, 4, 5, 6]


def test_keep_checkpoints_must_be_positive(tmp_path, image_folder, capsys):
    assert train_in_process(tmp_path / "r", image_folder, "--keep-checkpoints", "0") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "keep_checkpoints must be >= 1" in err[0]
    assert not (tmp_path / "r").exists()


def test_a_diverged_run_stops_before_its_nan_reaches_a_checkpoint(tmp_path, image_folder, capsys):
    """A rate of 1e30 makes every loss NaN at once: the run stops in one line at the first
    interval end, before its row and checkpoint (with 3 kept, three NaN checkpoints would have
    replaced every good one), and a saner rate resumes from the last good step."""
    run_dir, every = tmp_path / "r", ("--checkpoint-every", "2")
    assert train_in_process(run_dir, image_folder, *every, steps=2) == 0
    capsys.readouterr()
    # Step 3's update blows the weights up, step 4's loss is NaN: interval 3-4 is not saved.
    assert train_in_process(run_dir, image_folder, *every, "--g-lr", "1e30", steps=6) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "training diverged by step 4" in err[0] and "newest checkpoint is step 2" in err[0]
    assert ckpt_steps(run_dir) == [2] and history_steps(run_dir) == [2]
    assert train_in_process(run_dir, image_folder, *every, steps=6) == 0
    assert history_steps(run_dir) == [2, 4, 6]


def test_steps_not_a_multiple_of_checkpoint_every_stop_exactly(tmp_path, image_folder):
    run_dir = tmp_path / "r"
    assert train_in_process(run_dir, image_folder, "--checkpoint-every", "2", steps=3) == 0
    assert ckpt_steps(run_dir) == [2, 3] and history_steps(run_dir) == [2, 3]
    assert train_in_process(run_dir, image_folder, "--checkpoint-every", "2", steps=6) == 0
    assert ckpt_steps(run_dir) == [3, 5, 6] and history_steps(run_dir) == [2, 3, 5, 6]


def test_disk_full_is_one_line_and_the_rerun_resumes(tmp_path, image_folder, capsys, monkeypatch):
    import errno

    import tensorflow as tf

    run_dir = tmp_path / "r"
    real_save = tf.train.CheckpointManager.save

    def full_at_3(self, checkpoint_number=None, **kwargs):
        if checkpoint_number == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(self, checkpoint_number=checkpoint_number, **kwargs)

    monkeypatch.setattr(tf.train.CheckpointManager, "save", full_at_3)
    assert train_in_process(run_dir, image_folder) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "disk full while writing" in err[0] and "newest checkpoint is ckpt-2" in err[0], err
    monkeypatch.undo()
    assert train_in_process(run_dir, image_folder) == 0
    assert "resuming at step 2 from ckpt-2" in capsys.readouterr().out
    assert history_steps(run_dir) == [1, 2, 3, 4]


@pytest.mark.slow
def test_real_disk_full_on_a_small_tmpfs(tmp_path, image_folder, capsys):
    """A real ENOSPC from TensorFlow's checkpoint writer (needs root for `mount -t tmpfs`).

    The run that fills the disk is a process of its own; the rerun is the CLI's main() here."""
    mount = tmp_path / "small"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(mount)], capture_output=True)
    if made.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    try:
        common = ["train", "--variant", "p", "--data", str(image_folder), "--run-dir", str(mount / "r"),
                  "--blocks", "1", "--filters", "8", "--batch-size", "2", "--patches-per-image", "2",
                  "--lr-patch", "4", "--checkpoint-every", "1", "--keep-checkpoints", "1000", "--verbose", "0"]
        full = srfm(*common, "--steps", "400", cwd=tmp_path)
        assert full.returncode == 2, full.stderr[-2000:]
        lines = full.stderr.strip().splitlines()
        assert lines[-1].startswith("srfm train: error: disk full while writing"), full.stderr[-2000:]
        assert "Traceback" not in full.stderr
        saved = ckpt_steps(mount / "r")
        subprocess.run(["mount", "-o", "remount,size=64m", str(mount)], check=True)
        again = srfm_here(*common, "--steps", str(saved[-1] + 2), capsys=capsys)
        assert again.returncode == 0, again.stderr[-2000:]
        assert f"resuming at step {saved[-1]}" in again.stdout
        assert not list((mount / "r" / "checkpoints").glob("*_temp"))
        assert history_steps(mount / "r") == list(range(1, saved[-1] + 3))
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)


KILL_ON_SAVE = """
import os, signal, sys
import tensorflow as tf
real = tf.train.CheckpointManager.save
def save(self, checkpoint_number=None, **kw):
    if checkpoint_number == int(os.environ["KILL_AT"]):
        os.kill(os.getpid(), signal.SIGKILL)  # after history.csv got its row, before the checkpoint
    return real(self, checkpoint_number=checkpoint_number, **kw)
tf.train.CheckpointManager.save = save
from keras_srfm.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
@pytest.mark.parametrize("kill_at", [1, 3])  # the first checkpoint, a later one
def test_kill_between_csv_row_and_checkpoint_loses_no_row(tmp_path, image_folder, capsys, kill_at):
    """The killed run is a process of its own; the resume is the CLI's main() in this one."""
    args = ["train", "--variant", "p", "--data", str(image_folder), "--run-dir", str(tmp_path / "r"),
            "--blocks", "1", "--filters", "4", "--batch-size", "2", "--patches-per-image", "2",
            "--lr-patch", "4", "--checkpoint-every", "1", "--verbose", "0", "--steps", "4"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KILL_AT": str(kill_at)}
    killed = subprocess.run([sys.executable, "-c", KILL_ON_SAVE, *args], capture_output=True, text=True,
                            cwd=tmp_path, env=env, timeout=600)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert history_steps(tmp_path / "r") == list(range(1, kill_at + 1))
    assert ckpt_steps(tmp_path / "r") == list(range(1, kill_at))
    resumed = srfm_here(*args, capsys=capsys)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    if kill_at == 1:  # no checkpoint yet: the first epoch's row goes, the run starts afresh
        assert "srfm train: starting in" in resumed.stdout
    else:
        assert f"resuming at step {kill_at - 1} from ckpt-{kill_at - 1} in" in resumed.stdout
        assert "dropped 1 log row(s)" in resumed.stdout
    assert history_steps(tmp_path / "r") == [1, 2, 3, 4]


# === A resumed run sees new patches (issue 14) ===


def test_resumed_stream_does_not_replay_the_first_patches(image_folder):
    from keras_srfm.config import DataConfig
    from keras_srfm.data.pipeline import make_train_dataset

    config = DataConfig(sources=(str(image_folder),), batch_size=2, patches_per_image=2, lr_patch=4)

    def first(start: int) -> list[bytes]:
        batches = make_train_dataset(config, start_step=start).take(6)
        return [patch.tobytes() for _, hr in batches.as_numpy_iterator() for patch in hr]

    fresh, resumed = first(0), first(6)
    assert len(set(fresh)) == len(fresh)  # the patches are distinct at all
    assert not set(resumed) & set(fresh)  # steps 6.. do not replay steps 0..5
    assert first(6) == resumed  # and a resume at the same step is reproducible


def test_run_training_reseeds_the_stream_at_the_resumed_step(trained, image_folder, monkeypatch):
    from keras_srfm.data import pipeline

    seen = []
    real = pipeline.make_train_dataset

    def spy(config, **kwargs):
        seen.append(kwargs.get("start_step", 0))
        return real(config, **kwargs)

    monkeypatch.setattr(pipeline, "make_train_dataset", spy)
    assert train_in_process(trained, image_folder, steps=5) == 0
    assert seen == [4]


@pytest.mark.parametrize("degradation", ["realistic", "ladder"])
def test_train_on_degradations_made_on_the_fly(tmp_path, image_folder, degradation):
    """`--degradation realistic|ladder` (left out of the combination matrix: the chain runs per
    image in tf.data) trains, checkpoints and records the choice in config.json."""
    import json

    run_dir = tmp_path / degradation
    extra = ["--degradation", degradation, "--lr-patch", "8"]
    if degradation == "ladder":
        extra += ["--ladder", "0.25", "0.25", "0.25", "0.25"]
    assert train_in_process(run_dir, image_folder, *extra, steps=2) == 0
    assert ckpt_steps(run_dir) == [1, 2] and history_steps(run_dir) == [1, 2]
    data = json.loads((run_dir / "config.json").read_text())["data"]
    assert data["degradation"] == degradation
    assert ("ladder" in data) == (degradation == "ladder")
