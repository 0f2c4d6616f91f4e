"""Training callbacks: resumable checkpoints, CSV history, benchmark PSNR (learning curve), SR samples.

Every tensor a callback takes from the model leaves it through `super_resolve`, which casts
the generator's output from the compute dtype of a mixed-precision policy (float16 or
bfloat16) to float32: what is rendered, logged or scored is float32 whatever the policy.

At each epoch end the rows of `history.csv` and `curve.csv` are written *before* the
checkpoint, and a resume drops the rows past the restored step (`truncate_after_step`), so
a kill between the two can neither lose a row nor leave one twice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_srfm.training.run_setup import (
    SkippedUpdates,
    append_curve_point,
    append_history_row,
    check_finite,
)


def super_resolve(generator: keras.Model, lr: Any) -> tf.Tensor:
    """The generator's SR of `lr` as float32: where a tensor leaves the model's compute dtype.

    Args:
        generator: keras.Model. Any dtype policy (`float32`, `mixed_float16`, `mixed_bfloat16`).
        lr: float array or tensor (B, h, w, 3) on [0, 1].

    Returns:
        float32 tensor (B, h * scale, w * scale, 3), not clipped.
    """
    return tf.cast(generator(tf.cast(lr, tf.float32), training=False), tf.float32)


class AtNewStep(keras.callbacks.Callback):
    """Base of the callbacks that write something keyed by the step at each epoch end.

    An epoch whose every update was skipped (float16 loss scaling, see
    `keras_srfm.training.run_setup.SkippedUpdates`) ends at a step already written: it writes
    nothing, so no row, curve point or checkpoint is written twice for one step.
    """

    def __init__(self, step: tf.Variable) -> None:
        super().__init__()
        self.step = step
        self.written = -1  # called outside `fit` (no on_train_begin), every epoch end writes

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.written = int(self.step.numpy())  # a resumed run's step is written already

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        step = int(self.step.numpy())
        if step > self.written:
            self.written = step
            self.at_new_step(epoch, step, logs)

    def at_new_step(self, epoch: int, step: int, logs: dict | None) -> None:
        raise NotImplementedError


class ResumableCheckpoint(AtNewStep):
    """Saves a `tf.train.Checkpoint` (networks, both optimizers, step, Eq. 7 scales) per epoch.

    One Keras "epoch" is `TrainConfig.checkpoint_every` steps, so a run killed at any moment
    loses at most that many steps; `keras_srfm.training.checkpoints.restore_newest_intact` before
    `fit(initial_epoch=...)` resumes it. Put it after the CSV loggers in the callback list.
    """

    def __init__(self, manager: tf.train.CheckpointManager, step: tf.Variable) -> None:
        super().__init__(step)
        self.manager = manager

    def at_new_step(self, epoch: int, step: int, logs: dict | None) -> None:
        self.manager.save(checkpoint_number=step)


class StopAtStep(keras.callbacks.Callback):
    """Ends `fit` once the optimizer has made `steps` updates (a last, shorter epoch), and stops
    a run whose updates are all skipped (`keras_srfm.training.run_setup.SkippedUpdates`)."""

    def __init__(self, step: tf.Variable, steps: int, run_dir: str | Path) -> None:
        super().__init__()
        self.step, self.steps, self.run_dir = step, steps, Path(run_dir)
        self.skipped = SkippedUpdates(int(step.numpy()))

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        step = int(self.step.numpy())
        self.skipped.after_call(step, self.run_dir)
        if step >= self.steps:
            self.model.stop_training = True


class FiniteLosses(keras.callbacks.Callback):
    """Raises `NonFiniteLossError` at an epoch end whose logged losses are NaN or infinite; the
    first callback, so that no row, curve point or checkpoint of that epoch is written."""

    def __init__(self, step: tf.Variable, run_dir: str | Path) -> None:
        super().__init__()
        self.step, self.run_dir = step, Path(run_dir)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        check_finite({k: float(v) for k, v in (logs or {}).items()}, int(self.step.numpy()), self.run_dir)


class HistoryCSV(AtNewStep):
    """One `history.csv` row per epoch: `epoch`, `step`, then the logs (sorted keys).

    Replaces `keras.callbacks.CSVLogger` to add the step (rows of a resumed run are keyed by
    it, see `truncate_after_step`) and to flush each row to disk before the checkpoint.
    """

    def __init__(self, path: str | Path, step: tf.Variable) -> None:
        super().__init__(step)
        self.path = Path(path)

    def at_new_step(self, epoch: int, step: int, logs: dict | None) -> None:
        values = {k: float(v) for k, v in (logs or {}).items()}
        append_history_row(self.path, epoch, step, values)


class BenchmarkPSNR(AtNewStep):
    """Y-channel PSNR (shave = scale) on a folder of HR images: the `srfm evaluate` protocol.

    The images are decoded once (`keras_srfm.evaluation.protocol.curve_images`) and scored at each
    epoch end by `keras_srfm.evaluation.protocol.curve_psnr`, so the value equals the PSNR mean of
    `srfm evaluate --hr-dir` for the same generator. It is added to the epoch logs as
    `bench_psnr` (so TensorBoard and CSV loggers see it) and appended with the step to
    `curve_csv`: the learning curve.

    Raises:
        FileNotFoundError: the folder is missing or holds no image (one line).
    """

    def __init__(self, hr_dir: str | Path, curve_csv: str | Path, step: tf.Variable, scale: int = 4) -> None:
        super().__init__(step)
        from keras_srfm.evaluation.protocol import curve_images

        self.scale = scale
        self.curve_csv = Path(curve_csv)
        self.images = curve_images(hr_dir)

    def psnr(self) -> float:
        from keras_srfm.evaluation.protocol import curve_psnr, uint8_upscaler

        upscaler = uint8_upscaler(lambda lr: super_resolve(self.model.generator, lr))
        return curve_psnr(upscaler, self.images, self.scale)

    def at_new_step(self, epoch: int, step: int, logs: dict | None) -> None:
        value = self.psnr()
        if logs is not None:
            logs["bench_psnr"] = value
        append_curve_point(self.curve_csv, step, value)


class SRSamples(AtNewStep):
    """Writes a few LR / SR / HR samples to TensorBoard at each epoch end."""

    def __init__(self, log_dir: str | Path, lr: np.ndarray, hr: np.ndarray, step: tf.Variable) -> None:
        super().__init__(step)
        self.writer = tf.summary.create_file_writer(str(Path(log_dir) / "samples"))
        self.lr, self.hr = lr, hr

    def at_new_step(self, epoch: int, step: int, logs: dict | None) -> None:
        sr = tf.clip_by_value(super_resolve(self.model.generator, self.lr), 0.0, 1.0)
        lr, hr = tf.cast(self.lr, tf.float32), tf.cast(self.hr, tf.float32)
        up = tf.image.resize(lr, tf.shape(hr)[1:3], method="nearest")
        grid = tf.concat([up, sr, hr], axis=2)
        with self.writer.as_default():
            tf.summary.image("lr_sr_hr", grid, step=step, max_outputs=len(self.lr))
