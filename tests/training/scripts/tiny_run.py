"""A tiny real training run (the resume test runs it as a process, kills it, and resumes it
in its own process through `run`).

Usage: python tiny_run.py RUN_DIR STEPS [VARIANT]
Prints one JSON line at the end: the final step and the Eq. 7 calibration scales.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import tensorflow as tf

from keras_srfm.config import (
    DataConfig,
    DiscriminatorConfig,
    GeneratorConfig,
    TrainConfig,
    loss_config_for,
)
from keras_srfm.training.run_setup import RunConfig
from keras_srfm.training.runner import run_training


def run(run_dir: str, steps: int, variant: str = "pcsa") -> dict:
    """Trains (or resumes) the run in `run_dir` to `steps`; returns the final step and scales."""
    rng = np.random.default_rng(0)
    hr = rng.random((64, 32, 32, 3)).astype("float32")
    lr = tf.image.resize(hr, (8, 8), method="area").numpy()
    dataset = tf.data.Dataset.from_tensor_slices((lr, hr)).repeat().batch(4, drop_remainder=True)
    run = RunConfig(
        train=TrainConfig(variant=variant, steps=steps, checkpoint_every=2, keep_checkpoints=50),
        data=DataConfig(sources=("synthetic",), batch_size=4, lr_patch=8),
        generator=GeneratorConfig(num_blocks=2, filters=8),
        discriminator=DiscriminatorConfig(patch_size=32, base_filters=8, dense_units=16),
        loss=loss_config_for(variant),
    )
    model = run_training(run, run_dir, dataset=dataset, verbose=0)
    return {"step": int(model.g_optimizer.iterations.numpy()), "scales": model.content_scales.numpy().tolist()}


def main() -> None:
    print(json.dumps(run(sys.argv[1], int(sys.argv[2]), *sys.argv[3:4])))


if __name__ == "__main__":
    main()
