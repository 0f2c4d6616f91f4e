"""The generator a converter starts from: a shipped name, a `.keras` file or a SavedModel.

`srfm convert` (TFLite, ONNX, ncnn) needs the float Keras generator, not a serving endpoint:
the SavedModel that `srfm export` writes takes uint8 and rounds its output to 8 bits. Its
metadata (`assets.extra/srfm_model.json`) holds the generator's configuration, so the network is
rebuilt with `build_generator` and its variables are copied from the SavedModel by name (Keras 3
names each `tf.Variable` after the weight's path, e.g. `head_conv/kernel:0`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def source_path(spec: str | os.PathLike) -> Path:
    """A model spec -> the `.keras` file or SavedModel directory it names.

    Args:
        spec: str or path. "default", a shipped model's name (`srfm models`), a `.keras` file or
            a SavedModel directory (a TF Serving tree is accepted).

    Raises:
        FileNotFoundError: nothing by that name.
        ValueError: a file that is not a `.keras` generator.
    """
    from keras_srfm.inference.presets import resolve_model
    from keras_srfm.inference.upscalers import default_model_path, resolve_saved_model_dir

    path = default_model_path() if os.fspath(spec) == "default" else Path(resolve_model(spec))
    if path.is_dir():
        return resolve_saved_model_dir(path)
    if not path.is_file():
        raise FileNotFoundError(f"model not found: {path}")
    if path.suffix != ".keras":
        raise ValueError(
            f"the model must be a .keras generator, a shipped name or a SavedModel. Received: {path}"
        )
    return path


def model_label(path: Path) -> str:
    """A converted model's name: a shipped model's folder name, else the file name, or for a TF
    Serving version folder (`serving/srfm/1`) the model's name."""
    from keras_srfm.inference.presets import models_root

    path = Path(path)
    try:
        return path.resolve().relative_to(models_root().resolve()).parts[0]
    except ValueError:
        return path.parent.name if path.is_dir() and path.name.isdigit() else path.name


def load_source_generator(spec: str | os.PathLike | Any) -> Any:
    """The Keras generator behind `spec` (a keras.Model is returned as it is).

    Raises:
        ValueError: a SavedModel without the generator configuration in its metadata (not
            written by `srfm export`), or whose variables do not match it.
    """
    if not isinstance(spec, (str, os.PathLike)):
        return spec
    path = source_path(spec)
    if path.is_dir():
        return _generator_from_saved_model(path)
    from keras_srfm.models.generator import load_keras_generator

    return load_keras_generator(path)


def _generator_from_saved_model(path: Path) -> Any:
    import tensorflow as tf

    from keras_srfm.config import GeneratorConfig
    from keras_srfm.inference.upscalers import _read_saved_model_metadata
    from keras_srfm.models.generator import build_generator

    config = _read_saved_model_metadata(path).get("generator_config")
    if not config:
        raise ValueError(
            f"{path} has no generator_config in assets.extra/srfm_model.json (not written by "
            "srfm export); convert the .keras file instead"
        )
    model = build_generator(GeneratorConfig.from_dict(config))
    saved = {v.name.removesuffix(":0"): v for v in tf.saved_model.load(str(path)).variables}
    missing = [w.path for w in model.weights if w.path not in saved]
    if missing:
        raise ValueError(
            f"{path} lacks the generator weights {missing[:3]}; convert the .keras file"
        )
    for weight in model.weights:
        weight.assign(saved[weight.path].numpy())
    return model
