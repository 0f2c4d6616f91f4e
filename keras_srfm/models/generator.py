"""Generator of Sec. III-A / Fig. 2 (top): an SRGAN-style residual network without BatchNorm."""

from __future__ import annotations

import math
import os
from typing import Any

import keras

from keras_srfm.config import GeneratorConfig
from keras_srfm.models.layers import DepthToSpace, MeanShift, ScaledHeNormal

# === Layers ===


def _conv(filters: int, name: str, init_scale: float, kernel_size: int = 3) -> keras.layers.Conv2D:
    return keras.layers.Conv2D(
        filters,
        kernel_size,
        padding="same",
        kernel_initializer=ScaledHeNormal(scale=init_scale),
        name=name,
    )


def _residual_block(x: Any, index: int, cfg: GeneratorConfig) -> Any:
    """conv3x3 - LeakyReLU(0.2) - conv3x3, plus identity skip; no BatchNorm (Sec. III-A)."""
    prefix = f"block{index}"
    y = _conv(cfg.filters, f"{prefix}_conv1", cfg.init_scale)(x)
    y = keras.layers.LeakyReLU(cfg.leaky_alpha, name=f"{prefix}_lrelu")(y)
    y = _conv(cfg.filters, f"{prefix}_conv2", cfg.init_scale)(y)
    return keras.layers.Add(name=f"{prefix}_add")([x, y])


def _upsample_factors(scale: int) -> list[int]:
    """x4 -> [2, 2] (two sub-pixel x2 stages, Fig. 2); x3 -> [3]; x8 -> [2, 2, 2]."""
    if scale == 3:
        return [3]
    return [2] * int(math.log2(scale))


# === Functional Model ===


def build_generator(config: GeneratorConfig | None = None, **overrides: Any) -> keras.Model:
    """Builds the generator of Fig. 2 (top) as a Keras functional model.

    Mean subtraction (Sec. V-A) -> head conv -> `num_blocks` residual blocks -> body conv +
    global skip -> sub-pixel x2 stages (conv to 4C, depth-to-space, LeakyReLU) -> output conv
    -> mean added back. Weights are MSRA-initialised and multiplied by `init_scale` (Sec. V-A).
    Fully convolutional: any input height and width.

    Args:
        config: GeneratorConfig or None. Defaults to the paper's network (16 blocks, 64 filters, x4).
        **overrides: fields of GeneratorConfig replacing those of `config`.

    Returns:
        keras.Model mapping float32 RGB `(batch, H, W, 3)` in [0, 1] to `(batch, s*H, s*W, 3)`
        (not clipped).

    Example:
    >>> g = build_generator(num_blocks=2, filters=8)
    >>> tuple(g(keras.ops.zeros((1, 16, 16, 3))).shape)
    (1, 64, 64, 3)
    """
    cfg = GeneratorConfig.from_dict({**(config or GeneratorConfig()).to_dict(), **overrides})
    inputs = keras.Input(shape=(None, None, 3), name="lr")
    x = MeanShift(cfg.rgb_mean, sign=-1.0, name="sub_mean")(inputs)
    head = _conv(cfg.filters, "head_conv", cfg.init_scale)(x)
    x = head
    for i in range(1, cfg.num_blocks + 1):
        x = _residual_block(x, i, cfg)
    x = _conv(cfg.filters, "body_conv", cfg.init_scale)(x)
    x = keras.layers.Add(name="global_skip")([head, x])
    for i, factor in enumerate(_upsample_factors(cfg.scale), start=1):
        x = _conv(cfg.filters * factor * factor, f"up{i}_conv", cfg.init_scale)(x)
        x = DepthToSpace(factor, name=f"up{i}_shuffle")(x)
        x = keras.layers.LeakyReLU(cfg.leaky_alpha, name=f"up{i}_lrelu")(x)
    x = _conv(3, "out_conv", cfg.init_scale)(x)
    outputs = MeanShift(cfg.rgb_mean, sign=1.0, name="add_mean")(x)
    return keras.Model(inputs, outputs, name="srfm_generator")


def generator_config_of(model: keras.Model) -> GeneratorConfig:
    """Recovers the GeneratorConfig of a model made by `build_generator` (for model cards)."""
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    blocks = sum(1 for layer in convs if layer.name.endswith("_conv1") and layer.name.startswith("block"))
    ups = [layer for layer in model.layers if isinstance(layer, DepthToSpace)]
    scale = math.prod(layer.block_size for layer in ups)
    mean = next(layer for layer in model.layers if isinstance(layer, MeanShift)).rgb_mean
    return GeneratorConfig(num_blocks=blocks, filters=convs[0].filters, scale=scale, rgb_mean=mean)


# What every `.keras` archive holds (Keras 3's saving format: a zip file).
KERAS_ARCHIVE_MEMBERS = ("config.json", "model.weights.h5")


def check_keras_archive(path: str | os.PathLike) -> None:
    """Refuses a file that is not a `.keras` archive, naming why, before Keras reads it.

    Keras answers a file that is not a zip (garbage, a truncated download) with "File not
    found", which sends a user looking for a path problem.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not a zip archive, or lacks a member of every `.keras` file.
    """
    import zipfile

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"model not found: {path}")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError) as err:
        size = os.path.getsize(path)
        raise ValueError(
            f"{path} is not a .keras model archive ({size} bytes, not a whole zip file: {err}); "
            "a truncated copy or another kind of file"
        ) from None
    missing = [name for name in KERAS_ARCHIVE_MEMBERS if name not in names]
    if missing:
        raise ValueError(f"{path} is a zip file but not a .keras model archive (no {', '.join(missing)})")


def load_keras_generator(path: str | os.PathLike) -> keras.Model:
    """Loads a `.keras` generator in safe mode, not compiled (its custom layers are registered
    by `keras_srfm.models.layers`, which this module imports); a file that is not a `.keras`
    archive is refused first (`check_keras_archive`)."""
    check_keras_archive(path)
    return keras.saving.load_model(os.fspath(path), compile=False)
