"""keras-srfm: 4x single-image super-resolution with adversarial feature matching.

Implements Tej et al., "Enhancing Perceptual Loss with Adversarial Feature Matching for
Super-Resolution" in TensorFlow / Keras 3. Public API: `build_generator`,
`build_discriminator`, `SRFM`, `VARIANTS`, `load_generator`, `list_models`.

`import keras_srfm` is enough for `keras.saving.load_model(path, safe_mode=True)` to load any
`.keras` file the package wrote: its Keras objects (`MeanShift`, `DepthToSpace`,
`ScaledHeNormal`, `VGGPreprocess`, `LinearWarmup`, and `SRFM` on the TensorFlow backend) are
registered as soon as Keras is imported, before or after this package. The import itself
stays cheap: it does not import Keras or TensorFlow.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from typing import Any

__version__ = "0.1.0"

# The public API, the one place a name has a second import path: `import keras_srfm` stays cheap
# (no TensorFlow) until a name is used. Module -> the names it gives.
_PUBLIC = {
    "keras_srfm.models.generator": ("build_generator",),
    "keras_srfm.models.discriminator": ("build_discriminator",),
    "keras_srfm.models.vgg": ("build_vgg_features",),
    "keras_srfm.training.tf_step": ("SRFM",),
    "keras_srfm.config": (
        "VARIANTS",
        "GeneratorConfig",
        "DiscriminatorConfig",
        "LossConfig",
        "DataConfig",
        "TrainConfig",
    ),
    "keras_srfm.inference.presets": ("load_generator", "list_models"),
}

# Modules whose import registers Keras serialisable objects under the "keras_srfm" package.
_KERAS_OBJECT_MODULES = ("keras_srfm.models.layers", "keras_srfm.models.vgg", "keras_srfm.training.schedules")

def _lazy_exports(package: str, table: dict[str, tuple[str, ...]]) -> tuple[list[str], Any, Any]:
    """`__all__`, `__getattr__` and `__dir__` of a package whose names load on first use (PEP 562).

    Args:
        package: str. The package's `__name__`, for the error message.
        table: module name -> the names it gives.
    """
    home = {name: module for module, names in table.items() for name in names}

    def __getattr__(name: str) -> Any:
        if name in home:
            return getattr(importlib.import_module(home[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(globals()) | set(home))

    return sorted(home), __getattr__, __dir__


__all__, __getattr__, __dir__ = _lazy_exports(__name__, _PUBLIC)


def register_keras_objects(strict: bool = True) -> None:
    """Registers every Keras object the package saves (imports Keras, so call it lazily).

    Args:
        strict: bool. Raise import errors. The import hook passes False: when Keras is first
            imported by one of these modules, that module is only partly initialised, and a
            module that needs it (`vgg` needs `layers`) is skipped; it registers itself when it
            is imported later. Defaults to True.
    """
    import keras

    modules = list(_KERAS_OBJECT_MODULES)
    if keras.backend.backend() == "tensorflow":
        modules.append("keras_srfm.training.tf_step")  # SRFM imports TensorFlow itself
    for module in modules:
        try:
            importlib.import_module(module)
        except (ImportError, AttributeError):
            if strict:
                raise


class _RegisterAfterKeras(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Meta-path hook: once `keras` is imported (by anyone), register the package's objects."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != "keras":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            self._loader = spec.loader
            spec.loader = self
        return spec

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        module.__loader__ = module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        register_keras_objects(strict=False)


if "keras" in sys.modules:
    register_keras_objects()
elif not any(isinstance(finder, _RegisterAfterKeras) for finder in sys.meta_path):
    sys.meta_path.insert(0, _RegisterAfterKeras())
