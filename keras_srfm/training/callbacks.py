"""Training callbacks: resumable checkpoints, CSV history, benchmark PSNR (learning curve), SR samples.

Every tensor a callback takes from the model leaves it through `super_resolve`, which casts
the generator's output from the compute dtype of a mixed-precision policy (float16 or
bfloat16) to float32: what is rendered, logged or scored is float32 whatever the policy.

At each epoch end the rows of `history.csv` and `curve.csv` are written *before* the
checkpoint, and a resume drops the rows past the restored step (`truncate_after_step`), so
a kill between the two can neither lose a row nor leave one twice.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_srfm.training.run_setup import (  # noqa: F401  (re-exported: one set of log helpers)
    append_csv_row,
    plot_learning_curve,
    read_csv_header,
    truncate_after_step,
    write_json,
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


class ResumableCheckpoint(keras.callbacks.Callback):
    """Saves a `tf.train.Checkpoint` (networks, both optimizers, step, Eq. 7 scales) per epoch.

    One Keras "epoch" is `TrainConfig.checkpoint_every` steps, so a run killed at any moment
    loses at most that many steps; `keras_srfm.training.checkpoints.restore_newest_intact` before
    `fit(initial_epoch=...)` resumes it. Put it after the CSV loggers in the callback list.
    """

    def __init__(self, manager: tf.train.CheckpointManager, step: tf.Variable) -> None:
        super().__init__()
        self.manager = manager
        self.step = step

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.manager.save(checkpoint_number=int(self.step.numpy()))


class StopAtStep(keras.callbacks.Callback):
    """Ends `fit` once the optimizer has made `steps` updates (a last, shorter epoch)."""

    def __init__(self, step: tf.Variable, steps: int) -> None:
        super().__init__()
        self.step, self.steps = step, steps

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if int(self.step.numpy()) >= self.steps:
            self.model.stop_training = True


class HistoryCSV(keras.callbacks.Callback):
    """One `history.csv` row per epoch: `epoch`, `step`, then the logs (sorted keys).

    Replaces `keras.callbacks.CSVLogger` to add the step (rows of a resumed run are keyed by
    it, see `truncate_after_step`) and to flush each row to disk before the checkpoint.
    """

    def __init__(self, path: str | Path, step: tf.Variable) -> None:
        super().__init__()
        self.path, self.step = Path(path), step

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        values = {k: float(v) for k, v in (logs or {}).items()}
        append_csv_row(self.path, {"epoch": epoch, "step": int(self.step.numpy()), **values},
                       ["epoch", "step", *sorted(values)])


class BenchmarkPSNR(keras.callbacks.Callback):
    """Y-channel PSNR (shave = scale) on a folder of HR images, the paper's protocol.

    LR inputs are MATLAB-bicubic downscales of the mod-cropped HR (made once). The value is
    added to the epoch logs as `bench_psnr` (so TensorBoard and CSV loggers see it) and
    appended with the step to `curve_csv`: the learning curve.
    """

    def __init__(self, hr_dir: str | Path, curve_csv: str | Path, step: tf.Variable, scale: int = 4) -> None:
        super().__init__()
        from keras_srfm.imresize import imresize

        self.step = step
        self.scale = scale
        self.curve_csv = Path(curve_csv)
        self.pairs = []
        files = sorted(p for p in Path(hr_dir).iterdir() if p.suffix.lower() in (".png", ".jpg", ".bmp"))
        if not files:
            raise FileNotFoundError(f"no HR images in {hr_dir}")
        from PIL import Image

        for path in files:
            with Image.open(path) as img:
                gray = img.mode == "L"
                hr = np.asarray(img.convert("RGB"))
            h, w = (hr.shape[0] // scale) * scale, (hr.shape[1] // scale) * scale
            hr = hr[:h, :w]
            self.pairs.append((imresize(hr, 1.0 / scale), hr, gray))

    def psnr(self) -> float:
        from keras_srfm.metrics import psnr

        values = []
        for lr, hr, gray in self.pairs:
            sr = super_resolve(self.model.generator, lr[np.newaxis].astype("float32") / 255.0)[0]
            sr = np.round(np.clip(sr.numpy().astype(np.float64), 0.0, 1.0) * 255.0).astype(np.uint8)
            # A gray HR is its own Y; metrics reduces the SR of it with the rgb2gray convention.
            values.append(psnr(hr[..., 0] if gray else hr, sr, shave=self.scale))
        return float(np.mean(values))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        value = self.psnr()
        if logs is not None:
            logs["bench_psnr"] = value
        row = {"step": int(self.step.numpy()), "psnr_y": f"{value:.4f}", "time": f"{time.time():.0f}"}
        append_csv_row(self.curve_csv, row, ["step", "psnr_y", "time"])
        plot_learning_curve(self.curve_csv, self.curve_csv.with_suffix(".png"))


class SRSamples(keras.callbacks.Callback):
    """Writes a few LR / SR / HR samples to TensorBoard at each epoch end."""

    def __init__(self, log_dir: str | Path, lr: np.ndarray, hr: np.ndarray, step: tf.Variable) -> None:
        super().__init__()
        self.writer = tf.summary.create_file_writer(str(Path(log_dir) / "samples"))
        self.lr, self.hr, self.step = lr, hr, step

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        sr = tf.clip_by_value(super_resolve(self.model.generator, self.lr), 0.0, 1.0)
        lr, hr = tf.cast(self.lr, tf.float32), tf.cast(self.hr, tf.float32)
        up = tf.image.resize(lr, tf.shape(hr)[1:3], method="nearest")
        grid = tf.concat([up, sr, hr], axis=2)
        with self.writer.as_default():
            tf.summary.image("lr_sr_hr", grid, step=int(self.step.numpy()), max_outputs=len(self.lr))
