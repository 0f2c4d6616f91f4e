"""MATLAB-compatible bicubic resize (`imresize(..., 'bicubic')`), in NumPy and in TensorFlow.

The benchmark protocol of the paper (Sec. V, Table I) makes LR images with MATLAB's
`imresize(HR, 1/4, 'bicubic')`. That function differs from `tf.image.resize` and PIL in four
ways, all reproduced here:

1. Cubic convolution kernel with a = -0.5 (Keys).
2. When downscaling, the kernel is widened by 1/scale (antialiasing).
3. Borders are padded symmetrically (the edge pixel repeated: ... b a | a b ...).
4. Separable 1-D passes, the dimension with the smaller scale factor first; for uint8 input
   every pass is rounded (half away from zero) and saturated to uint8.

The uint8 path reproduces the `LR_bicubic/X4` files of Set5 and Set14 bit for bit (see
tests/imaging/test_imresize.py). Weights and indices are built as in MATLAB's `contributions`
(`toolbox/images/images/imresize.m`); each output value is then accumulated tap by tap, in
float64, in the same order as MATLAB's `imresizemex`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = ["imresize", "imresize_tf", "nearest"]

_KERNEL_WIDTH = 4.0  # support of the cubic kernel, [-2, 2]


# === Shared helpers ===


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys cubic kernel with a = -0.5, as MATLAB's `cubic` (imresize.m)."""
    absx = np.abs(x)
    absx2 = absx * absx
    absx3 = absx2 * absx
    inner = (1.5 * absx3 - 2.5 * absx2 + 1.0) * (absx <= 1)
    outer = (-0.5 * absx3 + 2.5 * absx2 - 4.0 * absx + 2.0) * ((absx > 1) & (absx <= 2))
    return inner + outer


def _num_taps(scale: float) -> int:
    """Taps per output sample: ceil(kernel width) + 2, the kernel widened when downscaling."""
    width = _KERNEL_WIDTH / scale if scale < 1 else _KERNEL_WIDTH
    return int(math.ceil(width)) + 2


def _contributions(in_length: int, out_length: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """MATLAB `contributions`: per output sample, its input indices and cubic weights.

    Args:
        in_length: int. Input length along the dimension.
        out_length: int. Output length along the dimension.
        scale: float. out/in scale factor (the user's scale, not the rounded size ratio).

    Returns:
        (weights, indices): float64 and int64 arrays of shape (out_length, taps), indices
        0-based and already folded into [0, in_length) by symmetric padding.
    """
    antialias = scale < 1
    width = _KERNEL_WIDTH / scale if antialias else _KERNEL_WIDTH
    x = np.arange(1, out_length + 1, dtype=np.float64)
    # Output sample x (1-based) maps to input coordinate u; MATLAB's formula, verbatim.
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    taps = _num_taps(scale)
    indices = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]
    distance = u[:, None] - indices
    weights = scale * _cubic(scale * distance) if antialias else _cubic(distance)
    # Normalise with a left-to-right sum, which the TF path reproduces exactly.
    total = weights[:, 0].copy()
    for k in range(1, taps):
        total += weights[:, k]
    weights = weights / total[:, None]
    # Symmetric padding: 1-based index i maps through aux = [1..n, n..1] (period 2n).
    folded = np.mod(indices.astype(np.int64) - 1, 2 * in_length)
    folded = np.where(folded < in_length, folded, 2 * in_length - 1 - folded)
    # MATLAB drops all-zero weight columns; zeros add nothing, so keeping them is exact.
    return weights, folded


def _resolve(
    in_shape: tuple[int, int], scale: float | None, output_shape: tuple[int, int] | None
) -> tuple[tuple[float, float], tuple[int, int]]:
    """Per-dimension scale and output size, as MATLAB derives them from `scale` or a size."""
    if (scale is None) == (output_shape is None):
        raise ValueError(
            "Pass exactly one of `scale` and `output_shape`. "
            f"Received: scale={scale}, output_shape={output_shape}"
        )
    if scale is not None:
        if not scale > 0:
            raise ValueError(f"`scale` must be positive. Received: scale={scale}")
        size = (int(math.ceil(in_shape[0] * scale)), int(math.ceil(in_shape[1] * scale)))
        return (float(scale), float(scale)), size
    assert output_shape is not None
    if len(output_shape) != 2 or min(output_shape) < 1:
        raise ValueError(
            f"`output_shape` must be two positive ints (H, W). Received: output_shape={output_shape}"
        )
    size = (int(output_shape[0]), int(output_shape[1]))
    return (size[0] / in_shape[0], size[1] / in_shape[1]), size


def _pass_order(scales: tuple[float, float]) -> tuple[int, int]:
    """MATLAB resizes the dimension with the smaller scale first (stable sort: rows on ties)."""
    return (1, 0) if scales[1] < scales[0] else (0, 1)


# === NumPy ===


def _resize_axis_np(
    x: np.ndarray, axis: int, out_length: int, scale: float, to_uint8: bool
) -> np.ndarray:
    weights, indices = _contributions(x.shape[axis], out_length, scale)
    shape = [1] * x.ndim
    shape[axis] = out_length
    out = np.zeros(x.shape[:axis] + (out_length,) + x.shape[axis + 1 :], dtype=np.float64)
    # Accumulate tap by tap (a loop over the taps (18 at scale 1/4), not pixels): MATLAB's summation order.
    for k in range(weights.shape[1]):
        out += weights[:, k].reshape(shape) * np.take(x, indices[:, k], axis=axis)
    if to_uint8:
        # MATLAB's double -> uint8 cast: saturate, then round half away from zero.
        return np.floor(np.clip(out, 0.0, 255.0) + 0.5)
    return out


def imresize(
    image: np.ndarray,
    scale: float | None = None,
    output_shape: tuple[int, int] | None = None,
) -> np.ndarray:
    """MATLAB `imresize(image, scale, 'bicubic')` in NumPy (Sec. V: LR made with MATLAB bicubic).

    Args:
        image: np.ndarray of shape (H, W) or (H, W, C). uint8, or a float type.
        scale: float or None. Resize factor; the output size is ceil(scale * size).
        output_shape: (int, int) or None. Output (height, width), instead of `scale`.

    Returns:
        np.ndarray with the input's layout. uint8 input gives uint8, rounded and saturated after
        each 1-D pass as MATLAB does; any other input gives float64 without rounding.

    Example:
    >>> hr = np.zeros((8, 12, 3), np.uint8)
    >>> imresize(hr, 1 / 4).shape  # == size(imresize(hr, 1/4, 'bicubic')) in MATLAB
    (2, 3, 3)
    """
    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise ValueError(f"`image` must be (H, W) or (H, W, C). Received: shape={image.shape}")
    is_uint8 = image.dtype == np.uint8
    scales, size = _resolve(image.shape[:2], scale, output_shape)
    out = image.astype(np.float64)
    for axis in _pass_order(scales):
        out = _resize_axis_np(out, axis, size[axis], scales[axis], is_uint8)
    return out.astype(np.uint8) if is_uint8 else out


def nearest(image: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour upscale by pixel replication (the NN baseline of Table I).

    Args:
        image: np.ndarray of shape (H, W) or (H, W, C), any dtype.
        scale: int >= 1. Integer upscale factor.

    Returns:
        np.ndarray of shape (scale*H, scale*W[, C]), the input's dtype.
    """
    if int(scale) != scale or scale < 1:
        raise ValueError(f"`scale` must be a positive integer. Received: scale={scale}")
    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise ValueError(f"`image` must be (H, W) or (H, W, C). Received: shape={image.shape}")
    scale = int(scale)
    return np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)


# === TensorFlow ===


def _contributions_tf(in_length: Any, out_length: Any, scale: Any, taps: Any) -> tuple[Any, Any]:
    """`_contributions` in TF ops (float64), for lengths known only at run time."""
    import tensorflow as tf

    scale = tf.cast(scale, tf.float64)
    antialias = scale < 1
    width = tf.where(antialias, _KERNEL_WIDTH / scale, _KERNEL_WIDTH)
    x = tf.range(1, tf.cast(out_length, tf.int64) + 1, dtype=tf.int64)
    x = tf.cast(x, tf.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = tf.floor(u - width / 2)
    indices = left[:, None] + tf.cast(tf.range(taps), tf.float64)[None, :]
    distance = u[:, None] - indices
    kernel_scale = tf.where(antialias, scale, tf.constant(1.0, tf.float64))
    absx = tf.abs(kernel_scale * distance)
    absx2 = absx * absx
    absx3 = absx2 * absx
    inner = (1.5 * absx3 - 2.5 * absx2 + 1.0) * tf.cast(absx <= 1, tf.float64)
    outer = (-0.5 * absx3 + 2.5 * absx2 - 4.0 * absx + 2.0) * tf.cast(
        (absx > 1) & (absx <= 2), tf.float64
    )
    weights = kernel_scale * (inner + outer)
    # Left-to-right sum as in the NumPy path (a reduce_sum may change the last bit).
    if isinstance(taps, int):
        total = weights[:, 0]
        for k in range(1, taps):
            total += weights[:, k]
    else:
        total = tf.foldl(lambda acc, column: acc + column, tf.transpose(weights))
    weights = weights / total[:, None]
    n = tf.cast(in_length, tf.int64)
    folded = tf.math.floormod(tf.cast(indices, tf.int64) - 1, 2 * n)
    folded = tf.where(folded < n, folded, 2 * n - 1 - folded)
    return weights, folded


def _resize_axis_tf(
    x: Any, axis: int, out_length: Any, scale: Any, static_scale: float | None, to_uint8: bool
) -> Any:
    """One 1-D pass on a float64 (B, H, W, C) tensor along `axis` (1 or 2)."""
    import tensorflow as tf

    in_static = x.shape[axis]
    out_static = out_length if isinstance(out_length, int) else None
    if in_static is not None and out_static is not None and static_scale is not None:
        # Static shapes: build the tables once at trace time, exactly as the NumPy path.
        weights_np, indices_np = _contributions(in_static, out_static, static_scale)
        weights = tf.constant(weights_np, tf.float64)
        indices = tf.constant(indices_np, tf.int64)
        taps: Any = weights_np.shape[1]
    else:
        taps = (
            _num_taps(static_scale)
            if static_scale is not None
            else tf.cast(
                tf.math.ceil(
                    tf.where(scale < 1, _KERNEL_WIDTH / tf.cast(scale, tf.float64), _KERNEL_WIDTH)
                ),
                tf.int64,
            )
            + 2
        )
        weights, indices = _contributions_tf(
            tf.shape(x, out_type=tf.int64)[axis], out_length, scale, taps
        )
    bshape = [1, -1, 1, 1] if axis == 1 else [1, 1, -1, 1]
    if isinstance(taps, int):
        # Tap-by-tap accumulation, MATLAB's order (bit-exact uint8 rounding).
        out = tf.reshape(weights[:, 0], bshape) * tf.gather(x, indices[:, 0], axis=axis)
        for k in range(1, taps):
            out += tf.reshape(weights[:, k], bshape) * tf.gather(x, indices[:, k], axis=axis)
    else:
        # Tap count known only at run time (output_shape on a dynamic-shaped image): the same
        # tap-by-tap accumulation in a while loop (a reduce_sum would change the rounding).
        def body(k: Any, acc: Any) -> tuple[Any, Any]:
            term = tf.reshape(weights[:, k], bshape) * tf.gather(x, indices[:, k], axis=axis)
            return k + 1, acc + term

        zero = tf.zeros_like(tf.gather(x, indices[:, 0], axis=axis))
        _, out = tf.while_loop(
            lambda k, _: k < tf.cast(taps, tf.int32), body, (tf.constant(0), zero)
        )
    if to_uint8:
        out = tf.floor(tf.clip_by_value(out, 0.0, 255.0) + 0.5)
    return out


def imresize_tf(
    image: tf.Tensor,
    scale: float | None = None,
    output_shape: tuple[int, int] | None = None,
) -> tf.Tensor:
    """MATLAB `imresize(image, scale, 'bicubic')` in TensorFlow ops (graph and tf.data safe).

    Same maths as `imresize`. Works on dynamic-shaped images inside `tf.data.Dataset.map`:
    with `scale`, the tap count is static and only the index/weight tables are built at run
    time; with static shapes the tables are constants computed at trace time.

    Args:
        image: tf.Tensor of shape (H, W), (H, W, C) or (B, H, W, C). uint8 or float.
        scale: float or None. Resize factor (a Python number); output size ceil(scale * size).
        output_shape: (int, int) or None. Output (height, width) instead of `scale`; ints or
            scalar int tensors.

    Returns:
        tf.Tensor with the input's layout. uint8 input gives uint8 (rounded after each 1-D
        pass, as MATLAB); float input gives float32.
    """
    import tensorflow as tf

    image = tf.convert_to_tensor(image)
    rank = image.shape.rank
    if rank not in (2, 3, 4):
        raise ValueError(
            f"`image` must be (H, W), (H, W, C) or (B, H, W, C). Received: shape={image.shape}"
        )
    if (scale is None) == (output_shape is None):
        raise ValueError(
            "Pass exactly one of `scale` and `output_shape`. "
            f"Received: scale={scale}, output_shape={output_shape}"
        )
    is_uint8 = image.dtype == tf.uint8
    x = tf.cast(image, tf.float64)
    if rank == 2:
        x = x[None, :, :, None]
    elif rank == 3:
        x = x[None]

    static_hw = (x.shape[1], x.shape[2])
    dynamic_hw = tf.shape(x, out_type=tf.int64)[1:3]
    if scale is not None:
        if not float(scale) > 0:
            raise ValueError(f"`scale` must be positive. Received: scale={scale}")
        scale = float(scale)
        scales: list[Any] = [scale, scale]
        static_scales: list[float | None] = [scale, scale]
        sizes: list[Any] = []
        for i in range(2):
            if static_hw[i] is not None:
                sizes.append(int(math.ceil(static_hw[i] * scale)))
            else:
                sizes.append(
                    tf.cast(tf.math.ceil(tf.cast(dynamic_hw[i], tf.float64) * scale), tf.int64)
                )
        order: Any = (0, 1)
    else:
        if len(output_shape) != 2:
            raise ValueError(
                f"`output_shape` must be (H, W). Received: output_shape={output_shape}"
            )
        sizes = []
        scales = []
        static_scales = []
        for i in range(2):
            out_i = output_shape[i]
            if isinstance(out_i, (int, np.integer)):
                out_i = int(out_i)
            if isinstance(out_i, int) and static_hw[i] is not None:
                sizes.append(out_i)
                scales.append(out_i / static_hw[i])
                static_scales.append(out_i / static_hw[i])
            else:
                sizes.append(tf.cast(out_i, tf.int64))
                scales.append(tf.cast(out_i, tf.float64) / tf.cast(dynamic_hw[i], tf.float64))
                static_scales.append(None)
        order = _pass_order(tuple(scales)) if None not in static_scales else None

    def run(first: int, second: int) -> Any:
        y = x
        for dim in (first, second):
            y = _resize_axis_tf(y, dim + 1, sizes[dim], scales[dim], static_scales[dim], is_uint8)
        return y

    if order is not None:
        out = run(*order)
    else:
        # Pass order depends on run-time sizes: both branches, chosen by MATLAB's rule.
        out = tf.cond(scales[1] < scales[0], lambda: run(1, 0), lambda: run(0, 1))

    if rank == 2:
        out = out[0, :, :, 0]
    elif rank == 3:
        out = out[0]
    return tf.cast(out, tf.uint8) if is_uint8 else tf.cast(out, tf.float32)
