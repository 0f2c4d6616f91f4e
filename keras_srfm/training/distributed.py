"""Multi-worker training: the same `SRFM.train_step` driven by `strategy.run`.

With Keras 3.15 on TF 2.21, `Model.fit` fails under `MultiWorkerMirroredStrategy` even for a
plain model (keras-team/keras#20585: "Attempt to convert a value (PerReplica...)"). This loop
calls the very same `train_step` per replica over `distribute_datasets_from_function`, and
writes what the `fit` path writes: the same checkpoint layout (resumable by either path, with
the same fallback to the newest readable checkpoint), TensorBoard `epoch_*` scalars,
`history.csv` (each row before its checkpoint) and a float32 `generator.keras` — from the
chief only. A resumed run's data stream is reseeded from its step, as in `run_training`.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from keras_srfm.training.callbacks import BenchmarkPSNR
from keras_srfm.training.checkpoints import (
    DiskFullError,
    clean_interrupted,
    is_disk_full,
    restore_newest_intact,
)
from keras_srfm.training.run_setup import (
    RunConfig,
    SkippedUpdates,
    append_history_row,
    check_finite,
    disk_full_message,
    load_generator_weights,
    log_resume_changes,
    open_run_dir,
    run_folder_lock,
    writes_run_folder,
)
from keras_srfm.training.runner import (
    build_training_model,
    check_supported,
    checkpoint_for,
    export_generator,
    make_strategy,
    precision,
    resume_state,
)

DatasetFn = Callable[[tf.distribute.InputContext], tf.data.Dataset]


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """The chief task, or worker 0 when the cluster has no chief (TF's convention)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    task = {"type": resolver.task_type, "index": resolver.task_id or 0}
    return writes_run_folder({"cluster": resolver.cluster_spec().as_dict(), "task": task})


def run_multiworker(
    run: RunConfig,
    run_dir: str | Path,
    dataset_fn: DatasetFn | None = None,
    strategy: tf.distribute.Strategy | None = None,
    bench_dir: str | Path | None = None,
) -> Any:
    """Trains (or resumes) a run under `MultiWorkerMirroredStrategy` (cluster from TF_CONFIG).

    Every worker calls this with the same arguments; `run_dir` must be on storage all workers
    share. Returns the trained SRFM.
    """
    run_dir = Path(run_dir)
    check_supported(run.train)
    with precision(run.train.mixed_precision):
        strategy = strategy or make_strategy("multiworker")
        # The chief holds the run folder's lock (a no-op under `srfm train`, which took it);
        # the other workers only read the folder (`run_setup.writes_run_folder`).
        chief = is_chief(strategy)
        with run_folder_lock(run_dir) if chief else contextlib.nullcontext():
            try:
                return _train(run, run_dir, dataset_fn, strategy, bench_dir)
            except Exception as err:
                if not is_disk_full(err):
                    raise
                if chief:
                    clean_interrupted(run_dir / "checkpoints")  # the failed save's staging files
                raise DiskFullError(disk_full_message(run_dir)) from err


def _train(
    run: RunConfig,
    run_dir: Path,
    dataset_fn: DatasetFn | None,
    strategy: tf.distribute.Strategy,
    bench_dir: str | Path | None,
) -> Any:
    keras.utils.set_random_seed(run.train.seed)
    chief = is_chief(strategy)
    changes: list[str] = []
    if chief:
        changes = open_run_dir(run_dir, run)
    with strategy.scope():
        model = build_training_model(run)
    checkpoint = checkpoint_for(model)
    per_epoch = run.train.checkpoint_every
    if chief:  # cleans, falls back, trims the logs and prints where it starts
        resume_state(run_dir, checkpoint, per_epoch)
    else:  # reads the same newest intact checkpoint; never moves files
        restore_newest_intact(checkpoint, run_dir / "checkpoints", read_only=True)
    # Saving is collective: non-chief workers write to a throw-away folder (TF's recipe).
    ckpt_dir = run_dir / "checkpoints" if chief else Path(tempfile.mkdtemp(prefix="srfm-worker-"))
    manager = tf.train.CheckpointManager(checkpoint, str(ckpt_dir), max_to_keep=run.train.keep_checkpoints)
    step = model.g_optimizer.iterations
    start = int(step.numpy())
    if start == 0 and run.train.init_from:
        load_generator_weights(model.generator, run.train.init_from)
    if chief:
        log_resume_changes(run_dir, start, changes)  # as the fit path does
        print(f"srfm train: {strategy.num_replicas_in_sync} replicas, custom loop", flush=True)
    if dataset_fn is None:
        from keras_srfm.data.pipeline import make_dataset_fn

        dataset_fn = make_dataset_fn(run.data, start_step=start)
    iterator = iter(strategy.distribute_datasets_from_function(dataset_fn))

    @tf.function(jit_compile=run.train.jit_compile or None)
    def replica_step(batch: Any) -> dict[str, tf.Tensor]:
        return model.train_step(batch)

    @tf.function
    def train_step(it: Any) -> dict[str, Any]:
        return strategy.run(replica_step, args=(next(it),))

    writer = tf.summary.create_file_writer(str(run_dir / "logs" / "train")) if chief else None
    bench = None
    if chief and bench_dir:  # the learning curve, as the fit path's callback writes it
        bench = BenchmarkPSNR(bench_dir, run_dir / "curve.csv", step, run.generator.scale)
        bench.set_model(model)
    # Only float16 (LossScaleOptimizer) can skip an update; elsewhere no per-step host sync.
    skipped = SkippedUpdates(start) if run.train.mixed_precision == "float16" else None
    written = start
    try:
        while int(step.numpy()) < run.train.steps:
            for metric in model.metrics:
                metric.reset_state()
            began = time.time()
            for _ in range(min(per_epoch, run.train.steps - int(step.numpy()))):
                logs = train_step(iterator)
                if skipped is not None:
                    skipped.after_call(int(step.numpy()), run_dir)
            values = {k: float(strategy.experimental_local_results(v)[0]) for k, v in logs.items()}
            now = int(step.numpy())
            check_finite(values, now, run_dir)  # before the row, the curve and the checkpoint
            if now == written:  # every update of the interval skipped (float16): nothing new
                continue
            written = now
            if bench is not None:
                bench.on_epoch_end(0, values)  # adds bench_psnr
            if chief:  # the row first, then the checkpoint (see keras_srfm.training.callbacks)
                _log_epoch(run_dir, writer, math.ceil(now / per_epoch) - 1, now, values, time.time() - began)
            manager.save(checkpoint_number=now)
        if chief:
            export_generator(model, run_dir / "generator.keras", run.generator)
    finally:
        if not chief:
            shutil.rmtree(ckpt_dir, ignore_errors=True)
    return model


def _log_epoch(run_dir: Path, writer: Any, epoch: int, step: int, values: dict[str, float], seconds: float) -> None:
    """The same records as Keras' TensorBoard (epoch_*) and CSVLogger callbacks."""
    with writer.as_default():
        for name, value in values.items():
            tf.summary.scalar(f"epoch_{name}", value, step=epoch)
    writer.flush()
    append_history_row(run_dir / "history.csv", epoch, step, values)
    print(f"step {step}: " + json.dumps({k: round(v, 5) for k, v in sorted(values.items())})
          + f" ({seconds:.1f} s)", flush=True)
