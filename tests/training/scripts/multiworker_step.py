"""Two-worker MultiWorkerMirroredStrategy run vs a single process, same global batch.

Usage:
  python multiworker_step.py worker INDEX PORT0 PORT1 OUT_DIR   (TF_CONFIG set from the ports)
  python multiworker_step.py single OUT_DIR   (or `single(OUT_DIR)` of the imported module)
Each writes OUT_DIR/<name>.npz with the final generator + discriminator weights.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

GLOBAL_BATCH, STEPS = 8, 2

if __name__ == "__main__" and sys.argv[1] == "worker":
    index, ports = int(sys.argv[2]), sys.argv[3:5]
    os.environ["TF_CONFIG"] = json.dumps({
        "cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
        "task": {"type": "worker", "index": index},
    })

import tensorflow as tf  # noqa: E402

from keras_srfm.config import (  # noqa: E402
    DataConfig,
    DiscriminatorConfig,
    GeneratorConfig,
    TrainConfig,
    loss_config_for,  # noqa: E402
)
from keras_srfm.training.run_setup import RunConfig  # noqa: E402
from keras_srfm.training.runner import run_training  # noqa: E402


def data() -> tuple[np.ndarray, np.ndarray]:
    hr = np.random.default_rng(0).random((GLOBAL_BATCH * STEPS, 32, 32, 3)).astype("float32")
    return tf.image.resize(hr, (8, 8), method="area").numpy(), hr


def run_config() -> RunConfig:
    return RunConfig(
        train=TrainConfig(variant="pcsa", steps=STEPS, checkpoint_every=1, g_learning_rate=1e-3,
                          d_learning_rate=1e-3, strategy="multiworker",
                          # Adam's g / (|g| + eps) amplifies float rounding where g ~ 0; a
                          # large eps keeps the comparison about gradients, not rounding.
                          adam_epsilon=1.0),
        data=DataConfig(sources=("synthetic",), batch_size=GLOBAL_BATCH, lr_patch=8),
        generator=GeneratorConfig(num_blocks=2, filters=8),
        discriminator=DiscriminatorConfig(patch_size=32, base_filters=8, dense_units=16),
        loss=loss_config_for("pcsa"),
    )


def dataset_fn(ctx: tf.distribute.InputContext) -> tf.data.Dataset:
    """Each worker takes its slice of every global batch, so the global batch is identical."""
    lr, hr = data()
    per = ctx.get_per_replica_batch_size(GLOBAL_BATCH)
    i = ctx.input_pipeline_id
    ds = tf.data.Dataset.from_tensor_slices((lr, hr)).batch(GLOBAL_BATCH)
    return ds.map(lambda a, b: (a[i * per:(i + 1) * per], b[i * per:(i + 1) * per]))


def save(model, path: Path) -> None:
    weights = model.generator.get_weights() + model.discriminator.get_weights()
    np.savez(path, *weights)


def main() -> None:
    if sys.argv[1] == "worker":
        from keras_srfm.training.distributed import run_multiworker

        out = Path(sys.argv[5])
        model = run_multiworker(run_config(), out / "run", dataset_fn=dataset_fn)
        save(model, out / f"worker{sys.argv[2]}.npz")
    else:
        single(Path(sys.argv[2]))


def single(out: Path) -> None:
    """The reference: one process, one device, the whole global batch."""
    import dataclasses

    lr, hr = data()
    ds = tf.data.Dataset.from_tensor_slices((lr, hr)).batch(GLOBAL_BATCH)
    cfg = run_config()
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, strategy="default"))
    model = run_training(cfg, out / "single_run", dataset=ds, verbose=0)
    save(model, out / "single.npz")


if __name__ == "__main__":
    main()
