"""Multi-worker training: the same `SRFM.train_step` driven by `strategy.run`.

With Keras 3.15 on TF 2.21, `Model.fit` fails under `MultiWorkerMirroredStrategy` even for a
plain model (keras-team/keras#20585: "Attempt to convert a value (PerReplica...)"). This loop
calls the very same `train_step` per replica over `distribute_datasets_from_function`, and
writes what the `fit` path writes: the same checkpoint layout (resumable by either path),
TensorBoard `epoch_*` scalars, `history.csv` and `generator.keras` — from the chief only.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from keras_srfm.callbacks import write_json
from keras_srfm.runner import (
    RunConfig,
    build_training_model,
    check_resume_config,
    checkpoint_for,
    export_generator,
    load_generator_weights,
    make_strategy,
    set_precision,
)

DatasetFn = Callable[[tf.distribute.InputContext], tf.data.Dataset]


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """The chief task, or worker 0 when the cluster has no chief (TF's convention)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "chief" or (not has_chief and resolver.task_type == "worker" and resolver.task_id == 0)


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
    set_precision(run.train.mixed_precision)
    keras.utils.set_random_seed(run.train.seed)
    strategy = strategy or make_strategy("multiworker")
    chief = is_chief(strategy)
    if chief:
        run_dir.mkdir(parents=True, exist_ok=True)
        check_resume_config(run_dir, run)
        print(f"srfm train: configuration\n{run.describe()}", flush=True)
        write_json(run_dir / "config.json", run.to_dict())
    with strategy.scope():
        model = build_training_model(run)
    checkpoint = checkpoint_for(model)
    # Saving is collective: non-chief workers write to a throw-away folder (TF's recipe).
    ckpt_dir = run_dir / "checkpoints" if chief else Path(tempfile.mkdtemp(prefix="srfm-worker-"))
    manager = tf.train.CheckpointManager(checkpoint, str(ckpt_dir), max_to_keep=run.train.keep_checkpoints)
    latest = tf.train.latest_checkpoint(str(run_dir / "checkpoints"))
    if latest:
        checkpoint.restore(latest)
    step = model.g_optimizer.iterations
    start = int(step.numpy())
    if start == 0 and run.train.init_from:
        load_generator_weights(model.generator, run.train.init_from)
    if chief:
        print(f"srfm train: {'resuming at step ' + str(start) if start else 'starting'} in {run_dir} "
              f"({strategy.num_replicas_in_sync} replicas, custom loop)", flush=True)
    if dataset_fn is None:
        from keras_srfm.data import make_dataset_fn

        dataset_fn = make_dataset_fn(run.data)
    iterator = iter(strategy.distribute_datasets_from_function(dataset_fn))

    @tf.function(jit_compile=run.train.jit_compile or None)
    def replica_step(batch: Any) -> dict[str, tf.Tensor]:
        return model.train_step(batch)

    @tf.function
    def train_step(it: Any) -> dict[str, Any]:
        return strategy.run(replica_step, args=(next(it),))

    writer = tf.summary.create_file_writer(str(run_dir / "logs" / "train")) if chief else None
    per_epoch = run.train.checkpoint_every
    try:
        while int(step.numpy()) < run.train.steps:
            for metric in model.metrics:
                metric.reset_state()
            began = time.time()
            for _ in range(min(per_epoch, run.train.steps - int(step.numpy()))):
                logs = train_step(iterator)
            values = {k: float(strategy.experimental_local_results(v)[0]) for k, v in logs.items()}
            manager.save(checkpoint_number=int(step.numpy()))
            if chief:
                _log_epoch(run_dir, writer, int(step.numpy()) // per_epoch - 1, int(step.numpy()), values,
                           time.time() - began)
        if chief:
            export_generator(model, run_dir / "generator.keras")
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
    path = run_dir / "history.csv"
    new = not path.exists() or path.stat().st_size == 0
    with path.open("a", newline="") as f:
        out = csv.writer(f)
        if new:
            out.writerow(["epoch", *sorted(values)])
        out.writerow([epoch, *(values[k] for k in sorted(values))])
    print(f"step {step}: " + json.dumps({k: round(v, 5) for k, v in sorted(values.items())})
          + f" ({seconds:.1f} s)", flush=True)


def worker_environment() -> dict[str, Any]:
    """TF_CONFIG as a dict (empty when unset): for logs and error messages."""
    return json.loads(os.environ.get("TF_CONFIG", "{}"))
