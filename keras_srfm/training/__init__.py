"""The training room: where the loss lives and where a run is driven.

- `objective`: Eq. 1 and Eq. 5 assembled once (keras.ops), the cross-replica sum passed in.
- `tf_step`: `SRFM`, the TensorFlow `keras.Model` whose `train_step` calls the objective.
- `jax_step`: `JaxSRFM`, the same update on the Keras JAX backend (no TensorFlow).
- `run_setup`: one run setup (no TensorFlow): `RunConfig`, resume rules and log, CSV logs.
- `runner` (the `fit` path), `distributed` (multi-worker loop), `jax_run` (`--backend jax`).
- `callbacks`, `checkpoints`, `schedules`: what those runs share.
- `precision`: which `--mixed-precision` is native here (a rule) or measured fastest (cached).
- `step_bench`: `srfm bench --train`, the update timed per backend x precision x XLA.

The public names (`SRFM`, `VARIANTS`, `LossConfig`, `loss_config_for`) load lazily, so that
`keras_srfm.training.jax_step` and `keras_srfm.training.run_setup` import no TensorFlow.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "SRFM": "keras_srfm.training.tf_step",
    "VARIANTS": "keras_srfm.config",
    "LossConfig": "keras_srfm.config",
    "loss_config_for": "keras_srfm.config",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'keras_srfm.training' has no attribute {name!r}")
