"""float16 loss scaling skips updates; a step is still one generator update (`SkippedUpdates`).

Keras' `LossScaleOptimizer` skips a call whose scaled gradients overflow (its `iterations`
stays) and halves the scale. Both TensorFlow loops (`fit` and the multi-worker custom loop) run
on until `steps` updates are made, write each log row, curve point and checkpoint once per step,
and stop a run whose updates are all skipped. Found when a matrix row (pcsva, float16, L_vgg of
a random VGG19's block1_conv2 unnormalised: a loss of 45 at the initial scale 2^15) skipped its
first six updates: the fit path stopped after its planned calls with no update made and
exported an untrained generator; the custom loop wrote six rows and checkpoints at step 0.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")


def test_skipped_updates_stop_a_run_that_makes_none(tmp_path):
    from keras_srfm.training.run_setup import NonFiniteLossError, SkippedUpdates

    skipped = SkippedUpdates(0)
    for _ in range(SkippedUpdates.MAX_IN_A_ROW - 1):
        skipped.after_call(0, tmp_path)
    skipped.after_call(1, tmp_path)  # an update resets the count
    for _ in range(SkippedUpdates.MAX_IN_A_ROW - 1):
        skipped.after_call(1, tmp_path)
    with pytest.raises(NonFiniteLossError, match=r"diverged by step 1 \(64 updates in a row skipped"):
        skipped.after_call(1, tmp_path)


def test_an_epoch_without_an_update_writes_nothing_again(tmp_path):
    from keras_srfm.training.callbacks import HistoryCSV, ResumableCheckpoint

    step = tf.Variable(0, dtype=tf.int64)
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(step=step), str(tmp_path / "ckpt"), max_to_keep=9)
    history, checkpoint = HistoryCSV(tmp_path / "history.csv", step), ResumableCheckpoint(manager, step)
    for callback in (history, checkpoint):
        callback.on_train_begin()
    for epoch, advanced in enumerate([False, True, False, True, True]):
        step.assign_add(int(advanced))
        for callback in (history, checkpoint):
            callback.on_epoch_end(epoch, {"loss": 1.0})
    with (tmp_path / "history.csv").open(newline="") as f:
        assert [(r["epoch"], r["step"]) for r in csv.DictReader(f)] == [("1", "1"), ("3", "2"), ("4", "3")]
    assert sorted(int(p.stem[5:]) for p in (tmp_path / "ckpt").glob("ckpt-*.index")) == [1, 2, 3]


def test_a_resumed_run_does_not_rewrite_its_restored_step(tmp_path):
    from keras_srfm.training.callbacks import HistoryCSV

    step = tf.Variable(4, dtype=tf.int64)  # restored from ckpt-4, whose row is written
    history = HistoryCSV(tmp_path / "history.csv", step)
    history.on_train_begin()
    history.on_epoch_end(2, {"loss": 1.0})  # all of the first resumed epoch skipped
    assert not (tmp_path / "history.csv").exists()


@pytest.mark.parametrize("precision, steps, start, every, epochs", [
    ("off", 10, 0, 3, 4), ("bfloat16", 10, 4, 3, 2),
    ("float16", 2, 0, 1, 2 + 64), ("float16", 200, 0, 10, 40), ("float16", 200, 150, 10, 12),
])
def test_fit_gets_room_for_skipped_updates_in_float16_only(precision, steps, start, every, epochs):
    from keras_srfm.config import TrainConfig
    from keras_srfm.training.runner import _epochs

    train = TrainConfig(steps=steps, checkpoint_every=every, mixed_precision=precision)
    assert _epochs(train, start) == epochs


@pytest.mark.slow  # trains a fresh GAN in this process (~10 s)
def test_a_float16_fit_run_makes_every_update_it_was_asked_for(tmp_path):
    """The fit path of the run in the module docstring: 2 updates, rows and checkpoints 1 and 2."""
    from PIL import Image

    from keras_srfm.cli import main

    rng = np.random.default_rng(0)
    (tmp_path / "hr").mkdir()
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(tmp_path / "hr" / f"{i}.png")
    run_dir = tmp_path / "run"
    code = main(["train", "--run-dir", str(run_dir), "--data", str(tmp_path / "hr"), "--steps", "2",
                 "--batch-size", "2", "--patches-per-image", "2", "--lr-patch", "4", "--checkpoint-every", "1",
                 "--blocks", "1", "--filters", "4", "--vgg-weights", "none", "--vgg-layer", "block1_conv2",
                 "--verbose", "0", "--variant", "pcsva", "--mixed-precision", "float16"])
    assert code == 0
    with (run_dir / "history.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["step"] for r in rows] == ["1", "2"]
    assert float(rows[0]["g_total"]) * 2**15 > 65504  # float16's largest: the first updates overflowed
    assert sorted(int(Path(p).stem[5:]) for p in (run_dir / "checkpoints").glob("ckpt-*.index")) == [1, 2]
