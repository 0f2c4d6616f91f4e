"""Training callbacks: resumable checkpoints, benchmark PSNR (learning curve), SR samples."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf


class ResumableCheckpoint(keras.callbacks.Callback):
    """Saves a `tf.train.Checkpoint` (networks, both optimizers, step, Eq. 7 scales) per epoch.

    One Keras "epoch" is `TrainConfig.checkpoint_every` steps, so a run killed at any moment
    loses at most that many steps; `restore()` before `fit(initial_epoch=...)` resumes it.
    """

    def __init__(self, manager: tf.train.CheckpointManager, step: tf.Variable) -> None:
        super().__init__()
        self.manager = manager
        self.step = step

    def restore(self) -> int:
        """Restores the latest checkpoint if any; returns the step it was taken at."""
        path = self.manager.restore_or_initialize()
        return int(self.step.numpy()) if path else 0

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.manager.save(checkpoint_number=int(self.step.numpy()))


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
            sr = self.model.generator(lr[np.newaxis].astype("float32") / 255.0, training=False)[0]
            sr = np.round(np.clip(np.asarray(sr, dtype=np.float64), 0.0, 1.0) * 255.0).astype(np.uint8)
            # A gray HR is its own Y; metrics reduces the SR of it with the rgb2gray convention.
            values.append(psnr(hr[..., 0] if gray else hr, sr, shave=self.scale))
        return float(np.mean(values))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        value = self.psnr()
        if logs is not None:
            logs["bench_psnr"] = value
        new = not self.curve_csv.exists()
        with self.curve_csv.open("a", newline="") as f:
            writer = csv.writer(f)
            if new:
                writer.writerow(["step", "psnr_y", "time"])
            writer.writerow([int(self.step.numpy()), f"{value:.4f}", f"{time.time():.0f}"])
        plot_learning_curve(self.curve_csv, self.curve_csv.with_suffix(".png"))


class SRSamples(keras.callbacks.Callback):
    """Writes a few LR / SR / HR samples to TensorBoard at each epoch end."""

    def __init__(self, log_dir: str | Path, lr: np.ndarray, hr: np.ndarray, step: tf.Variable) -> None:
        super().__init__()
        self.writer = tf.summary.create_file_writer(str(Path(log_dir) / "samples"))
        self.lr, self.hr, self.step = lr, hr, step

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        sr = tf.clip_by_value(self.model.generator(self.lr, training=False), 0.0, 1.0)
        up = tf.image.resize(self.lr, tf.shape(self.hr)[1:3], method="nearest")
        grid = tf.concat([up, sr, tf.cast(self.hr, tf.float32)], axis=2)
        with self.writer.as_default():
            tf.summary.image("lr_sr_hr", grid, step=int(self.step.numpy()), max_outputs=len(self.lr))


def plot_learning_curve(curve_csv: str | Path, png: str | Path, baseline: float | None = None) -> Path:
    """Benchmark Y-PSNR vs step from `curve.csv` as a PNG (written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with Path(curve_csv).open(newline="") as f:
        rows = list(csv.DictReader(f))
    steps = [int(r["step"]) for r in rows]
    values = [float(r["psnr_y"]) for r in rows]
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.plot(steps, values, marker="o", markersize=3, label="model")
    if baseline is not None:
        ax.axhline(baseline, color="gray", linestyle="--", label=f"bicubic {baseline:.2f} dB")
        ax.legend(loc="lower right")
    ax.set_xlabel("generator updates")
    ax.set_ylabel("PSNR on Y, shave 4 (dB)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    png = Path(png)
    tmp = png.with_name(f".{png.name}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(png)
    return png


def write_json(path: str | Path, payload: dict[str, Any]) -> None:
    """Atomic JSON write (temp file + rename)."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True))
    tmp.replace(path)
