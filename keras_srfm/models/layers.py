"""Small registered layers and initialisers used by the networks.

Every class here has a `get_config` and is registered under the `keras_srfm` package, so a
saved model loads with `keras.saving.load_model(path)` in safe mode (no `Lambda` bytecode).
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

PACKAGE = "keras_srfm"


@keras.saving.register_keras_serializable(package=PACKAGE)
class ScaledHeNormal(keras.initializers.Initializer):
    """MSRA (He) normal initialisation multiplied by `scale` (Sec. V-A: x0.1).

    Args:
        scale: float. Factor applied to the He-normal sample. Defaults to 0.1.
        seed: int or None. Seed of the underlying `HeNormal`. Defaults to None.
    """

    def __init__(self, scale: float = 0.1, seed: int | None = None) -> None:
        self.scale = scale
        self.seed = seed
        self._he = keras.initializers.HeNormal(seed=seed)

    def __call__(self, shape: Any, dtype: Any = None) -> Any:
        return self._he(shape, dtype=dtype) * self.scale

    def get_config(self) -> dict[str, Any]:
        return {"scale": self.scale, "seed": self.seed}


@keras.saving.register_keras_serializable(package=PACKAGE)
class MeanShift(keras.layers.Layer):
    """Adds `sign * rgb_mean` to an RGB image: zero-centres the input (Sec. V-A) and undoes it.

    Args:
        rgb_mean: sequence of 3 floats. Dataset RGB mean on [0, 1].
        sign: float. -1 subtracts the mean, +1 adds it back.
    """

    def __init__(self, rgb_mean: tuple[float, float, float], sign: float = -1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rgb_mean = tuple(float(v) for v in rgb_mean)
        self.sign = float(sign)

    def call(self, inputs: Any) -> Any:
        mean = ops.convert_to_tensor(self.rgb_mean, dtype=inputs.dtype)
        return inputs + self.sign * mean

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rgb_mean": list(self.rgb_mean), "sign": self.sign}


def depth_to_space(inputs: Any, block_size: int) -> Any:
    """`tf.nn.depth_to_space` (NHWC, DCR order) in `keras.ops`, for backends without it."""
    r = block_size
    b, h, w, c = ops.shape(inputs)
    x = ops.reshape(inputs, (b, h, w, r, r, c // (r * r)))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (b, h * r, w * r, c // (r * r)))


@keras.saving.register_keras_serializable(package=PACKAGE)
class DepthToSpace(keras.layers.Layer):
    """Sub-pixel shuffle (Shi et al. [18]): (H, W, r*r*C) -> (r*H, r*W, C), channels last.

    Lowers to TFLite's builtin DEPTH_TO_SPACE under TensorFlow; other backends (JAX, used for
    GPU training where TensorFlow is not installed) get the same reshape/transpose.

    Args:
        block_size: int. Upscaling factor r.
    """

    def __init__(self, block_size: int = 2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.block_size = int(block_size)

    def call(self, inputs: Any) -> Any:
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf  # only this backend has it

            # tf.nn.depth_to_space, not a reshape/transpose chain: it converts to one builtin op.
            return tf.nn.depth_to_space(inputs, self.block_size)
        return depth_to_space(inputs, self.block_size)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        b, h, w, c = input_shape
        r = self.block_size
        return (b, None if h is None else h * r, None if w is None else w * r, c // (r * r))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "block_size": self.block_size}
