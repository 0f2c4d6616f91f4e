"""keras-srfm: 4x single-image super-resolution with adversarial feature matching.

Implements Tej et al., "Enhancing Perceptual Loss with Adversarial Feature Matching for
Super-Resolution" in TensorFlow / Keras 3. Public API: `build_generator`,
`build_discriminator`, `SRFM`, `VARIANTS`.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Lazy re-exports: `import keras_srfm` stays cheap (no TensorFlow) until a name is used.
_EXPORTS = {
    "build_generator": "keras_srfm.models.generator",
    "build_discriminator": "keras_srfm.models.discriminator",
    "build_vgg_features": "keras_srfm.models.vgg",
    "SRFM": "keras_srfm.training",
    "VARIANTS": "keras_srfm.training",
    "GeneratorConfig": "keras_srfm.config",
    "DiscriminatorConfig": "keras_srfm.config",
    "LossConfig": "keras_srfm.config",
    "DataConfig": "keras_srfm.config",
    "TrainConfig": "keras_srfm.config",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'keras_srfm' has no attribute {name!r}")
