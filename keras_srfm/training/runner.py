"""One training run: configs -> strategy -> SRFM -> resumable `fit` -> exported generator.

The run directory holds `config.json`, `checkpoints/` (tf.train.Checkpoint: both networks,
both optimizers with their step, Eq. 7's calibration state), `logs/` (TensorBoard),
`history.csv`, `curve.csv` (benchmark PSNR vs step) and, at the end, `generator.keras`.
Calling `run_training` again on the same directory resumes from the last checkpoint.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from keras_srfm.config import GeneratorConfig, TrainConfig
from keras_srfm.imaging.atomic import atomic_path
from keras_srfm.models.discriminator import build_discriminator
from keras_srfm.models.generator import build_generator, generator_config_of
from keras_srfm.models.vgg import build_vgg_features
from keras_srfm.training.callbacks import (
    BenchmarkPSNR,
    FiniteLosses,
    HistoryCSV,
    ResumableCheckpoint,
    SRSamples,
    StopAtStep,
)
from keras_srfm.training.checkpoints import (
    DiskFullError,
    clean_interrupted,
    is_disk_full,
    list_checkpoints,
    restore_newest_intact,
    unreadable_reason,
)
from keras_srfm.training.run_setup import (
    RunConfig,
    RunStateError,
    SkippedUpdates,
    align_logs,
    check_all_updates_made,
    disk_full_message,
    load_generator_weights,
    log_resume_changes,
    open_run_dir,
    run_folder_lock,
)
from keras_srfm.training.schedules import learning_rate_schedule
from keras_srfm.training.tf_step import SRFM


def make_strategy(name: str) -> tf.distribute.Strategy:
    """`default` (one device), `mirrored` (all local GPUs), `multiworker` (TF_CONFIG), `tpu`."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        except (ValueError, tf.errors.OpError) as err:
            raise ValueError(f"--strategy tpu needs a TPU and none was found. Received: strategy='tpu' ({err})") from err
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"Unknown strategy. Received: strategy={name!r}")


def unsupported_value(option: str, value: Any) -> str | None:
    """Why `srfm train` refuses `value` for the TrainConfig field `option` here (None: it trains).

    The combination matrix (tools/train_matrix.py) asks this for every value of every option;
    `check_supported` turns an answer into a one-line error before anything is written.
    """
    if option == "strategy" and value == "tpu":
        try:
            tf.distribute.cluster_resolver.TPUClusterResolver()
        except ValueError:
            return "no TPU was found on this machine"
    return None


def check_supported(train: TrainConfig) -> None:
    """Raises a one-line ValueError for a setting this machine cannot train with."""
    for field in dataclasses.fields(train):
        value = getattr(train, field.name)
        reason = unsupported_value(field.name, value)
        if reason:
            option = f"--{field.name.replace('_', '-')}"
            raise ValueError(f"{option} {value} is not supported here: {reason}. Received: {field.name}={value!r}")


# Keras dtype policy of each `--mixed-precision` mode: float32 variables, lower-precision compute.
POLICIES = {"off": "float32", "float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}


def set_precision(mode: str) -> None:
    """Keras dtype policy: float32 variables, float16/bfloat16 compute (losses stay float32)."""
    keras.mixed_precision.set_global_policy(POLICIES[mode])


@contextlib.contextmanager
def precision(mode: str) -> Iterator[None]:
    """`set_precision(mode)` for the duration of a block; the previous global policy after it."""
    previous = keras.mixed_precision.global_policy()
    set_precision(mode)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def build_training_model(run: RunConfig) -> SRFM:
    """Networks, optimizers (Adam, staircase decay: `learning_rate_schedule`) and the compiled SRFM.

    Call inside `strategy.scope()` so variables and optimizer slots are mirrored.
    """
    train, loss = run.train, run.loss
    generator = build_generator(run.generator)
    discriminator = build_discriminator(run.discriminator) if loss.needs_discriminator else None
    vgg = None
    if loss.use_vgg:
        vgg = build_vgg_features(loss.vgg_layer, loss.vgg_weights, run.discriminator.patch_size)
    model = SRFM(generator, discriminator, vgg, loss_config=loss)
    model.compile(
        g_optimizer=_adam(train.g_learning_rate, train, ema=train.use_ema),
        d_optimizer=_adam(train.d_learning_rate, train, ema=False) if discriminator is not None else None,
        jit_compile=train.jit_compile,
    )
    return model


def _adam(rate: float, train: TrainConfig, ema: bool) -> keras.optimizers.Optimizer:
    schedule = learning_rate_schedule(rate, train)
    optimizer = keras.optimizers.Adam(
        schedule, epsilon=train.adam_epsilon, use_ema=ema, ema_momentum=train.ema_momentum
    )
    if train.mixed_precision == "float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def checkpoint_for(model: SRFM) -> tf.train.Checkpoint:
    parts: dict[str, Any] = {"generator": model.generator, "g_optimizer": model.g_optimizer,
                             "content_scales": model.content_scales, "calibrated": model.calibrated}
    if model.discriminator is not None:
        parts.update(discriminator=model.discriminator, d_optimizer=model.d_optimizer)
    return tf.train.Checkpoint(**parts)


def run_training(
    run: RunConfig,
    run_dir: str | Path,
    dataset: tf.data.Dataset | None = None,
    bench_dir: str | Path | None = None,
    verbose: int | str = "auto",
) -> SRFM:
    """Trains (or resumes) a run; returns the trained model. See module docstring for files.

    A run folder is never reset silently: checkpoints that exist are resumed from (the newest
    readable one, see `keras_srfm.training.checkpoints`), or the run refuses with one line. A resumed
    run reads a data stream reseeded from its step, so it sees new patches, not those of
    steps 0, 1, ... again. The Keras dtype policy is restored on return.

    Raises:
        ValueError: a changed configuration, or a folder that cannot be resumed (one line).
        DiskFullError: the disk filled; the run resumes from its newest checkpoint once
            there is space.
    """
    run_dir = Path(run_dir)
    check_supported(run.train)
    with run_folder_lock(run_dir):  # a no-op under `srfm train`, which holds it already
        changes = open_run_dir(run_dir, run)
        with precision(run.train.mixed_precision):
            return _train(run, run_dir, changes, dataset, bench_dir, verbose)


def _train(
    run: RunConfig,
    run_dir: Path,
    changes: list[str],
    dataset: tf.data.Dataset | None,
    bench_dir: str | Path | None,
    verbose: int | str,
) -> SRFM:
    keras.utils.set_random_seed(run.train.seed)
    strategy = make_strategy(run.train.strategy)
    with strategy.scope():
        model = build_training_model(run)
    checkpoint = checkpoint_for(model)
    start = resume_state(run_dir, checkpoint, run.train.checkpoint_every)
    manager = tf.train.CheckpointManager(
        checkpoint, str(run_dir / "checkpoints"), max_to_keep=run.train.keep_checkpoints
    )
    if start == 0 and run.train.init_from:
        load_generator_weights(model.generator, run.train.init_from)
    log_resume_changes(run_dir, start, changes)
    if dataset is None:
        from keras_srfm.data.pipeline import make_train_dataset

        dataset = make_train_dataset(run.data, start_step=start)
    callbacks = _callbacks(run, run_dir, manager, model.g_optimizer.iterations, dataset, bench_dir)
    per_epoch = run.train.checkpoint_every
    try:
        if start < run.train.steps:
            # Keras warns on shuffle=True with a tf.data input; the stream is shuffled itself.
            first = start // per_epoch
            model.fit(dataset, epochs=first + _epochs(run.train, start), steps_per_epoch=per_epoch,
                      initial_epoch=first, callbacks=callbacks, verbose=verbose, shuffle=False)
            check_all_updates_made(int(model.g_optimizer.iterations.numpy()), run.train.steps, run_dir)
        export_generator(model, run_dir / "generator.keras", run.generator)
    except Exception as err:
        if is_disk_full(err):
            clean_interrupted(run_dir / "checkpoints")  # the failed save's staging files
            raise DiskFullError(disk_full_message(run_dir)) from err
        raise
    return model


def _epochs(train: TrainConfig, start: int) -> int:
    """Epochs of `checkpoint_every` train-step calls that `fit` may run from step `start`.

    `StopAtStep` ends `fit` at `steps` updates. float16 may skip updates (`SkippedUpdates`), so
    it gets room for as many skipped calls as updates, and at least for the most skips in a row
    that `SkippedUpdates` allows: far more than loss scaling makes (a few while the scale
    settles, then at most one per 2,000 updates when it grows).
    """
    updates, per_epoch = train.steps - start, train.checkpoint_every
    if train.mixed_precision != "float16":
        return math.ceil(updates / per_epoch)
    return math.ceil((updates + max(updates, SkippedUpdates.MAX_IN_A_ROW)) / per_epoch)


def _callbacks(
    run: RunConfig,
    run_dir: Path,
    manager: tf.train.CheckpointManager,
    step: tf.Variable,
    dataset: tf.data.Dataset,
    bench_dir: str | Path | None,
) -> list[keras.callbacks.Callback]:
    """The run's callbacks, in order: the CSV rows first, then the checkpoint (see callbacks)."""
    callbacks: list[keras.callbacks.Callback] = [FiniteLosses(step, run_dir)]  # first: a NaN saves nothing
    if bench_dir:
        callbacks.append(BenchmarkPSNR(bench_dir, run_dir / "curve.csv", step, run.generator.scale))
    return callbacks + [
        HistoryCSV(run_dir / "history.csv", step),
        ResumableCheckpoint(manager, step),
        StopAtStep(step, run.train.steps, run_dir),
        keras.callbacks.TensorBoard(str(run_dir / "logs"), update_freq=50),
        _samples_callback(dataset, run_dir, step),
    ]


def resume_state(run_dir: Path, checkpoint: tf.train.Checkpoint, steps_per_epoch: int) -> int:
    """Restores a run folder's newest readable checkpoint and trims its logs to it.

    Prints one line saying where the run starts (and what was skipped or cleaned). Without a
    checkpoint, a folder whose logs or exported generator show past training is refused: its
    state was lost, and starting again at step 0 would overwrite it.

    Returns:
        int: the restored step (0 for a fresh run).
    """
    ckpt_dir = run_dir / "checkpoints"
    removed = clean_interrupted(ckpt_dir)
    restored = restore_newest_intact(checkpoint, ckpt_dir)
    if removed:
        print(f"srfm train: removed what an interrupted save left: {', '.join(removed)}", flush=True)
    if restored.skipped:
        print(f"srfm train: {restored.describe()}", flush=True)
    dropped = align_logs(run_dir, restored.step, steps_per_epoch)
    if restored.step == 0:
        print(f"srfm train: starting in {run_dir}", flush=True)
        return 0
    note = f" (dropped {dropped} log row(s) past it)" if dropped else ""
    print(f"srfm train: resuming at step {restored.step} from {Path(restored.path).name} in {run_dir}{note}",
          flush=True)
    return restored.step


def _samples_callback(dataset: tf.data.Dataset, run_dir: Path, step: tf.Variable) -> SRSamples:
    lr, hr = next(iter(dataset.take(1)))
    return SRSamples(run_dir / "logs", lr[:3], hr[:3], step)


def export_generator(model: SRFM, path: str | Path, config: GeneratorConfig | None = None) -> Path:
    """Saves the generator alone (EMA weights when enabled), float32, atomically.

    A generator trained under a mixed-precision policy is rebuilt in float32 with the same
    weights (variables are float32 under every policy), so the exported model computes in
    float32 wherever it is loaded, as `export_from_checkpoint`'s does.

    Args:
        model: SRFM. The trained model.
        path: str or Path. The `.keras` file to write.
        config: GeneratorConfig or None. The generator's configuration; read back from the
            network when None.
    """
    path = Path(path)
    optimizer = model.g_optimizer
    # float16 wraps Adam in a LossScaleOptimizer, whose own `use_ema` is always False.
    if optimizer is not None and getattr(getattr(optimizer, "inner_optimizer", optimizer), "use_ema", False):
        optimizer.finalize_variable_values(model.generator.trainable_variables)
    _save_atomically(float32_generator(model.generator, config), path)
    return path


def float32_generator(generator: keras.Model, config: GeneratorConfig | None = None) -> keras.Model:
    """`generator` itself when it computes in float32, else a float32 copy with its weights."""
    if generator.compute_dtype == "float32":
        return generator
    with precision("off"):
        copy = build_generator(config or generator_config_of(generator))
    copy.set_weights(generator.get_weights())
    return copy


def _save_atomically(generator: keras.Model, path: Path) -> None:
    with atomic_path(path) as tmp:
        generator.save(tmp)


def export_from_checkpoint(run_dir: str | Path, output: str | Path) -> tuple[Path, int]:
    """Writes the generator of a run's latest checkpoint (safe while the run goes on).

    Returns the written path and the checkpoint's step.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise FileNotFoundError(f"no training run in {run_dir} (config.json missing)")
    found = list_checkpoints(run_dir / "checkpoints")
    if not found:
        raise FileNotFoundError(f"no checkpoint in {run_dir / 'checkpoints'} yet")
    run = RunConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
    with precision("off"):
        generator = build_generator(run.generator)
    for step, prefix in reversed(found):  # newest readable; never moves files (the run may be live)
        if unreadable_reason(prefix) is None:
            tf.train.Checkpoint(generator=generator).restore(prefix).expect_partial()
            output = Path(output)
            _save_atomically(generator, output)
            return output, step
    raise RunStateError(f"none of the {len(found)} checkpoints in {run_dir / 'checkpoints'} can be read")
