"""`srfm train --backend jax`: the run of `keras_srfm.training.runner` on the Keras JAX backend, no TensorFlow.

Same `RunConfig`, defaults and run folder as the TensorFlow path (`keras_srfm.training.run_setup`):
`config.json`, `resume_log.jsonl`, `history.csv` (one row per checkpoint interval, written
before its checkpoint), TensorBoard `epoch_*` scalars in `logs/train`, `curve.csv`/`curve.png`
with `--bench-dir` (the `srfm evaluate` protocol), and `generator.keras`, which loads
unchanged under TensorFlow. The update is
`keras_srfm.training.jax_step.JaxSRFM` (the objective `SRFM.train_step` uses).

Checkpoints are `checkpoints/ckpt-<step>.npz`: every array of the step's state (both
networks, both optimizers, Eq. 7's rescale), written to a temporary file, fsynced and
renamed, so a `kill -9` leaves the previous one intact; a resume takes the newest one that
reads back completely. Patches come from a numpy pool (`PatchPool`): each checkpoint interval
draws its own crops from a generator seeded by (seed, interval), so a resumed run sees
exactly the patches an uninterrupted one would have.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import jax
import jax.numpy as jnp
import keras
import numpy as np
from tqdm.auto import tqdm

from keras_srfm.config import DataConfig
from keras_srfm.imaging.atomic import atomic_path, atomic_save
from keras_srfm.training import jax_devices
from keras_srfm.training.jax_devices import Placement, host_value
from keras_srfm.training.jax_step import JaxSRFM, State
from keras_srfm.training.run_setup import (
    RunConfig,
    align_logs,
    append_curve_point,
    append_history_row,
    check_finite,
    checkpoint_files,
    load_generator_weights,
    log_resume_changes,
    open_run_dir,
    run_folder_lock,
)
from keras_srfm.training.schedules import learning_rate_schedule

_NOT_CHECKPOINTED = ("vgg",)  # constant weights, rebuilt from the config

# === Config ===


def unsupported(run: RunConfig) -> str | None:
    """Why the JAX path cannot train `run` (None when it can): one line for the CLI."""
    train, data = run.train, run.data
    if train.strategy != "default":
        return (f"--strategy {train.strategy} is a tf.distribute strategy; the JAX path trains data-parallel "
                "on every device by itself (JAX_COORDINATOR_ADDRESS for several hosts)")
    devices = jax_devices.device_count()
    if data.batch_size % devices:
        return f"--batch-size {data.batch_size} is not a multiple of the {devices} JAX devices (the global batch)"
    if train.mixed_precision != "off":
        return "--mixed-precision needs the TensorFlow backend (the JAX path computes in float32)"
    if getattr(data, "degradation", "bicubic") != "bicubic":
        return ("the JAX path makes its LR with MATLAB bicubic only (or reads a srfm degrade set's "
                "pairs); realistic degradation on the fly needs --backend tensorflow")
    folders = [s for s in data.sources if not Path(s).expanduser().is_dir()]
    if folders:
        return f"--data {folders[0]} is not a folder; the JAX path reads folders of HR images (no TFDS)"
    return None


# === Data ===


class PatchPool:
    """Aligned LR/HR patches from folders of HR images, in numpy (no tf.data).

    Every HR image is mod-cropped and its LR is the MATLAB bicubic of the whole image (the
    benchmark `bicubic_pair`); images smaller than the HR patch are left out. A crop picks a source
    (by `DataConfig.weights`, else by total area), an image of it with probability
    proportional to area, an aligned position and one of the 8 rotations/flips.
    """

    def __init__(self, data: DataConfig) -> None:
        self.data = data
        self.images: list[list[tuple[np.ndarray, np.ndarray]]] = []
        for spec in data.sources:
            pairs = [(hr, lr) for hr, lr in _source_pairs(spec, data.scale) if min(hr.shape[:2]) >= data.hr_patch]
            if not pairs:
                raise ValueError(f"--data {spec}: no image of at least {data.hr_patch} px")
            self.images.append(pairs)
        areas = [np.array([hr.shape[0] * hr.shape[1] for hr, _ in pairs], np.float64) for pairs in self.images]
        self._image_p = [a / a.sum() for a in areas]
        weights = np.array(data.weights or [a.sum() for a in areas], np.float64)
        self._source_p = weights / weights.sum()

    def batches(self, interval: int, steps: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """`steps` batches `(lr, hr)` float32 in [0, 1] for checkpoint interval `interval`."""
        rng = np.random.default_rng([self.data.seed, interval])
        n, p, s = self.data.batch_size, self.data.lr_patch, self.data.scale
        for _ in range(steps):
            lr = np.empty((n, p, p, 3), np.uint8)
            hr = np.empty((n, p * s, p * s, 3), np.uint8)
            for j in range(n):
                source = rng.choice(len(self.images), p=self._source_p)
                big, small = self.images[source][rng.choice(len(self.images[source]), p=self._image_p[source])]
                y, x = rng.integers(0, small.shape[0] - p + 1), rng.integers(0, small.shape[1] - p + 1)
                k, flip = rng.integers(0, 4), rng.integers(0, 2)
                lr[j] = _dihedral(small[y : y + p, x : x + p], k, flip)
                hr[j] = _dihedral(big[s * y : s * (y + p), s * x : s * (x + p)], k, flip)
            yield lr.astype("float32") / 255.0, hr.astype("float32") / 255.0


def _source_pairs(spec: str, scale: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(HR, LR) uint8 pairs of one `--data` folder: HR images with their MATLAB-bicubic LR (the
    benchmark `bicubic_pair`), or the prepared pairs of a `srfm degrade --copies` set (each HR once
    per LR copy)."""
    from keras_srfm.evaluation.protocol import bicubic_pair, folder_source
    from keras_srfm.imaging.formats import is_training_set, training_pairs

    if not is_training_set(spec):
        for image in folder_source(spec).images():
            yield bicubic_pair(image.hr, scale)
        return
    from keras_srfm.imaging.image_io import read_image

    for hr_path, lr_paths in training_pairs(spec):
        hr = read_image(hr_path).rgb
        for lr_path in lr_paths:
            lr = read_image(lr_path).rgb
            if lr.shape[0] * scale != hr.shape[0] or lr.shape[1] * scale != hr.shape[1]:
                raise ValueError(f"--data {spec}: {lr_path.name} is not 1/{scale} of {hr_path.name}")
            yield hr, lr


def _dihedral(patch: np.ndarray, k: int, flip: int) -> np.ndarray:
    patch = np.rot90(patch, k)
    return patch[:, ::-1] if flip else patch


# === Networks ===


def build_trainer(run: RunConfig) -> JaxSRFM:
    """Networks and Adam optimizers of `run` (the schedule of `srfm train`), as a JaxSRFM."""
    from keras_srfm.models.discriminator import build_discriminator
    from keras_srfm.models.generator import build_generator
    from keras_srfm.models.vgg import build_vgg_features

    train, loss = run.train, run.loss
    generator = build_generator(run.generator)
    discriminator = None
    if loss.needs_discriminator:  # GSPMD takes BatchNorm's statistics over the global batch (jax_devices)
        discriminator = build_discriminator(dataclasses.replace(run.discriminator, sync_batchnorm=False))
    vgg = build_vgg_features(loss.vgg_layer, loss.vgg_weights, run.discriminator.patch_size) if loss.use_vgg else None

    def adam(rate: float, ema: bool) -> keras.optimizers.Adam:
        return keras.optimizers.Adam(learning_rate_schedule(rate, train), epsilon=train.adam_epsilon,
                                     use_ema=ema, ema_momentum=train.ema_momentum)

    d_opt = adam(train.d_learning_rate, False) if discriminator is not None else None
    return JaxSRFM(generator, discriminator, vgg, loss, adam(train.g_learning_rate, train.use_ema), d_opt)


# === Checkpoints ===


def save_checkpoint(directory: Path, step: int, state: State, keep: int) -> Path:
    """Writes `ckpt-<step>.npz` atomically (temp file, fsync, rename); keeps the newest `keep`."""
    directory.mkdir(parents=True, exist_ok=True)
    leaves = jax.tree_util.tree_leaves({k: v for k, v in state.items() if k not in _NOT_CHECKPOINTED})
    path = directory / f"ckpt-{step}.npz"
    arrays = {f"a{i}": host_value(x) for i, x in enumerate(leaves)}
    atomic_save(path, lambda f: np.savez(f, step=np.int64(step), **arrays), fsync=True)
    for _, old in list_checkpoints(directory)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def list_checkpoints(directory: Path) -> list[tuple[int, Path]]:
    """`(step, path)` of every `ckpt-<step>.npz` in `directory`, oldest first."""
    return checkpoint_files(directory, ".npz")


def restore_checkpoint(directory: Path, template: State) -> tuple[int, State | None, list[str]]:
    """The newest checkpoint that reads back completely into `template`'s structure.

    Returns:
        (step, state or None, notes on unreadable newer checkpoints, which are left in place).
    """
    kept = {k: v for k, v in template.items() if k not in _NOT_CHECKPOINTED}
    leaves, tree = jax.tree_util.tree_flatten(kept)
    notes = []
    for step, path in reversed(list_checkpoints(directory)):
        try:
            with np.load(path) as saved:
                arrays = [saved[f"a{i}"] for i in range(len(leaves))]
                if len(saved.files) != len(leaves) + 1 or int(saved["step"]) != step:
                    raise ValueError("does not match this run's state")
            for array, leaf in zip(arrays, leaves):
                if array.shape != tuple(leaf.shape):
                    raise ValueError("does not match this run's state")
        except Exception as err:  # noqa: BLE001  (zipfile, numpy and OS errors all mean "unreadable")
            notes.append(f"ckpt-{step}.npz ({type(err).__name__}: {str(err)[:80]})")
            continue
        restored = jax.tree_util.tree_unflatten(tree, [jnp.asarray(a) for a in arrays])
        restored.update({k: template[k] for k in _NOT_CHECKPOINTED if k in template})
        return step, restored, notes
    return 0, None, notes


def export_from_checkpoint(run_dir: str | Path, output: str | Path) -> tuple[Path, int]:
    """Writes the generator of a JAX run's newest readable checkpoint (safe while it trains)."""
    import json

    run_dir = Path(run_dir)
    run = RunConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
    trainer = build_trainer(run)
    step, state, _ = restore_checkpoint(run_dir / "checkpoints", trainer.initial_state())
    if state is None:
        raise FileNotFoundError(f"no readable checkpoint in {run_dir / 'checkpoints'} yet")
    return _export(trainer, state, Path(output)), step


def _export(trainer: JaxSRFM, state: State, path: Path) -> Path:
    """Saves the generator alone (EMA weights when enabled), atomically."""
    trainer.assign(jax.tree_util.tree_map(host_value, state))
    if getattr(trainer.g_optimizer, "use_ema", False):
        trainer.g_optimizer.finalize_variable_values(trainer.generator.trainable_variables)
    with atomic_path(path) as tmp:
        trainer.generator.save(tmp)
    return path


# === Run ===


def run_training(run: RunConfig, run_dir: str | Path, bench_dir: str | Path | None = None) -> Path:
    """Trains (or resumes) `run` in `run_dir` on the JAX backend; returns `generator.keras`.

    Raises:
        ValueError: a setting the JAX path cannot train, or a changed configuration (one line).
    """
    reason = unsupported(run)
    if reason:
        raise ValueError(f"--backend jax: {reason}")
    run_dir = Path(run_dir)
    if not jax_devices.is_main_process():  # one writer: the main process owns the run folder
        return _run_training(run, run_dir, bench_dir)
    with run_folder_lock(run_dir):  # a no-op under `srfm train`, which holds it already
        return _run_training(run, run_dir, bench_dir)


def _run_training(run: RunConfig, run_dir: Path, bench_dir: str | Path | None) -> Path:
    where = jax_devices.placement()
    main = jax_devices.is_main_process()
    changes = open_run_dir(run_dir, run) if main else []
    keras.utils.set_random_seed(run.train.seed)
    trainer = build_trainer(run)
    state = trainer.initial_state()
    per_epoch = run.train.checkpoint_every
    start, restored, notes = restore_checkpoint(run_dir / "checkpoints", state)
    if notes:
        print(f"srfm train: unreadable checkpoint(s) skipped: {', '.join(notes)}", flush=True)
    dropped = align_logs(run_dir, start if restored is not None else 0, per_epoch) if main else 0
    devices = where.describe(run.data.batch_size)
    if restored is None:
        if run.train.init_from:
            load_generator_weights(trainer.generator, run.train.init_from)
            state = trainer.initial_state()
        print(f"srfm train: starting in {run_dir} ({devices})", flush=True)
    else:
        state = restored
        note = f" (dropped {dropped} log row(s) past it)" if dropped else ""
        print(f"srfm train: resuming at step {start} in {run_dir} ({devices}){note}", flush=True)
    if main:
        log_resume_changes(run_dir, start, changes)
    state = _loop(run, run_dir, trainer, where.put_state(state), start, bench_dir, where)
    return _export(trainer, state, run_dir / "generator.keras") if main else run_dir / "generator.keras"


def _loop(run: RunConfig, run_dir: Path, trainer: JaxSRFM, state: State, start: int,
          bench_dir: str | Path | None, where: Placement) -> State:
    """Checkpoint intervals: the steps, then the history row and curve point, then the checkpoint.

    The step is jitted over `where`'s mesh: batch split over the devices, state replicated.
    Only the main process (0) writes the run folder.
    """
    pool = PatchPool(run.data)
    step_fn = jax.jit(trainer.step, donate_argnums=0, out_shardings=where.replicated)
    main = jax_devices.is_main_process()
    bench = _Bench(bench_dir, run.generator.scale, trainer) if bench_dir and main else None
    scalars = ScalarWriter(run_dir / "logs" / "train") if main else None
    per_epoch, step = run.train.checkpoint_every, start
    # A bar on a terminal (tqdm turns itself off when stdout is a file: the lines below remain).
    bar = tqdm(total=run.train.steps, initial=start, unit="step", desc="srfm train", disable=None)
    while step < run.train.steps:
        interval = step // per_epoch
        end = min(per_epoch * (interval + 1), run.train.steps)
        began, first, sums = time.time(), step, {}
        # Interval `interval` always draws the same batches; a resume inside it skips those done.
        for i, (lr, hr) in enumerate(pool.batches(interval, end - interval * per_epoch)):
            if interval * per_epoch + i < step:
                continue
            state, logs = step_fn(state, where.put_batch(lr), where.put_batch(hr))
            sums = {k: sums.get(k, 0.0) + v for k, v in logs.items()}
            step += 1
            bar.update(1)
        values = {k: float(host_value(v)) / (step - first) for k, v in sums.items()}
        check_finite(values, step, run_dir)  # before the row, the curve and the checkpoint
        if not main:
            continue
        if bench is not None:
            values["bench_psnr"] = bench.record(state, step, run_dir / "curve.csv")
        # The row first, then the checkpoint (see keras_srfm.training.run_setup).
        append_history_row(run_dir / "history.csv", interval, step, values)
        scalars.write(interval, values)
        save_checkpoint(run_dir / "checkpoints", step, state, run.train.keep_checkpoints)
        tqdm.write(f"step {step}: " + " ".join(f"{k}={v:.4g}" for k, v in sorted(values.items()))
                   + f" ({time.time() - began:.1f} s)")
    bar.close()
    return state


class ScalarWriter:
    """TensorBoard `epoch_<name>` scalars in `logs/train`, as Keras' TensorBoard callback writes
    them on the TensorFlow path, through the `tensorboard` package alone (no TensorFlow)."""

    def __init__(self, log_dir: Path) -> None:
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        log_dir.mkdir(parents=True, exist_ok=True)
        self.writer = EventFileWriter(str(log_dir))

    def write(self, epoch: int, values: dict[str, float]) -> None:
        from tensorboard.compat.proto import event_pb2, summary_pb2

        summary = summary_pb2.Summary(value=[
            summary_pb2.Summary.Value(tag=f"epoch_{name}", simple_value=value) for name, value in values.items()
        ])
        self.writer.add_event(event_pb2.Event(wall_time=time.time(), step=epoch, summary=summary))
        self.writer.flush()


class _Bench:
    """The learning curve: Y-PSNR (shave = scale) on a folder, as `srfm evaluate` measures it
    (`keras_srfm.evaluation.protocol.curve_psnr`; the images are decoded once)."""

    def __init__(self, folder: str | Path, scale: int, trainer: JaxSRFM) -> None:
        from keras_srfm.evaluation.protocol import curve_images

        self.scale = scale
        self.images = curve_images(folder)
        self.predict = trainer.predict_fn()

    def record(self, state: State, step: int, curve: Path) -> float:
        from keras_srfm.evaluation.protocol import curve_psnr, uint8_upscaler

        upscaler = uint8_upscaler(lambda lr: self.predict(state["g_tv"], state["g_ntv"], lr))
        value = curve_psnr(upscaler, self.images, self.scale)
        append_curve_point(curve, step, value)
        return value
