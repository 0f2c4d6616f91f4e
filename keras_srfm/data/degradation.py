"""Realistic LR synthesis: the second-order degradation of Real-ESRGAN in TensorFlow ops.

Wang et al., "Real-ESRGAN: Training Real-World Blind Super-Resolution with Pure Synthetic
Data", ICCVW 2021, Sec. 3 (Fig. 2). From an HR image (optionally unsharp-masked first, the
paper's sharpened target):

    round 1: blur (Gaussian / generalized Gaussian / plateau, iso or aniso; or sinc)
             -> random resize (up / down / keep; area, bilinear or bicubic)
             -> noise (Gaussian or Poisson, colour or gray) -> JPEG
    round 2: blur (with probability `second_blur_prob`) -> random resize -> noise
             (the whole round with probability `second_round_prob`)
    final:   [resize to HR / scale -> sinc -> JPEG] or [JPEG -> resize -> sinc], 1/2 each

All ranges live in `keras_srfm.config.DegradationConfig`; its `*_prob` fields skip a stage
with a probability, which the ladder's weaker rungs (`DegradationConfig.preset`) use. Everything is a vectorised TF op
that runs inside `tf.data.Dataset.map` (no `py_function`): the per-sample blur kernels are
applied by one depthwise convolution, and JPEG is the real codec (`EncodeJpegVariableQuality`
then `decode_jpeg`), mapped over the batch with `tf.map_fn`. Randomness is stateless: one
`(2,)` int seed gives the same LR on every run.

What is drawn per sample and what per call: kernels, noise type / level / colour, JPEG
qualities and whether the second blur happens are drawn per sample; the resize factors and
modes and the order of the final steps are drawn once per call (one image's patches share
them), as Real-ESRGAN draws them once per batch. Differences from Real-ESRGAN's code: JPEG
qualities are integers and go through libjpeg (not the differentiable DiffJPEG), every JPEG
input is rounded to uint8 first, and Poisson noise counts photons on the 0-255 scale (the
reference code uses the next power of two above the number of distinct values, 256 for
natural images).

Example:
>>> hr = tf.zeros([4, 96, 96, 3], tf.uint8)
>>> out = degrade(hr, tf.constant([0, 1], tf.int64), DegradationConfig())
>>> out.lr.shape
TensorShape([4, 24, 24, 3])
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from keras_srfm.config import DegradationConfig

_PI = math.pi
# Stage keys folded into the call's seed; fixed so a stage's draws do not move when another
# stage changes.
_ROUND1, _ROUND2, _FINAL = 100, 200, 300


class Degraded(NamedTuple):
    """Output of `degrade`.

    Attributes:
        lr: uint8 (N, H / scale, W / scale, 3).
        jpeg: string (N,). The JPEG files whose decoding is `lr` when `ends_in_jpeg`, else "".
        ends_in_jpeg: bool scalar. The chain's last step was the JPEG codec.
    """

    lr: tf.Tensor
    jpeg: tf.Tensor
    ends_in_jpeg: tf.Tensor


# === Random draws ===


def _fold(seed: tf.Tensor, key: int) -> tf.Tensor:
    return tf.random.experimental.stateless_fold_in(tf.cast(seed, tf.int64), key)


def _uniform(seed: tf.Tensor, shape: tf.Tensor | list, lo: float, hi: float) -> tf.Tensor:
    return tf.random.stateless_uniform(shape, seed, lo, hi)


def _coin(seed: tf.Tensor, shape: tf.Tensor | list, prob: float) -> tf.Tensor:
    return tf.random.stateless_uniform(shape, seed) < prob


def _choice(seed: tf.Tensor, n: tf.Tensor | int, probs: tuple[float, ...]) -> tf.Tensor:
    """`n` indices drawn with probabilities `probs` (normalised): int32 (n,)."""
    logits = tf.math.log(tf.constant([list(probs)], tf.float32) / sum(probs))
    return tf.cast(tf.random.stateless_categorical(logits, n, seed)[0], tf.int32)


def _beta(seed: tf.Tensor, n: tf.Tensor, lo: float, hi: float) -> tf.Tensor:
    """Shape exponents: half below 1 (in [lo, 1]), half above (in [1, hi]), as Real-ESRGAN."""
    below = _uniform(_fold(seed, 0), [n], min(lo, 1.0), min(hi, 1.0))
    above = _uniform(_fold(seed, 1), [n], max(lo, 1.0), max(hi, 1.0))
    return tf.where(_coin(_fold(seed, 2), [n], 0.5), below, above)


# === Kernels ===


def _grid(size: int) -> tuple[tf.Tensor, tf.Tensor]:
    coords = tf.range(size, dtype=tf.float32) - (size - 1) / 2.0
    yy, xx = tf.meshgrid(coords, coords, indexing="ij")
    return xx, yy


def _normalise(kernels: tf.Tensor, sizes: tf.Tensor) -> tf.Tensor:
    """Zeroes each kernel outside its own `size` x `size` square, then makes it sum to 1."""
    full = kernels.shape[-1]
    xx, yy = _grid(full)
    radius = tf.cast(sizes // 2, tf.float32)[:, None, None]
    inside = (tf.abs(xx)[None] <= radius) & (tf.abs(yy)[None] <= radius)
    kernels = tf.where(inside, kernels, 0.0)
    return kernels / tf.reduce_sum(kernels, axis=[1, 2], keepdims=True)


def bivariate_kernels(
    sigma_x: tf.Tensor,
    sigma_y: tf.Tensor,
    theta: tf.Tensor,
    beta: tf.Tensor,
    family: tf.Tensor,
    sizes: tf.Tensor,
    full: int,
) -> tf.Tensor:
    """Gaussian, generalized Gaussian and plateau kernels (Real-ESRGAN Sec. 3.1).

    With Q = x^T S^-1 x, S = R(theta) diag(sigma_x^2, sigma_y^2) R(theta)^T:
    Gaussian exp(-Q / 2), generalized Gaussian exp(-Q^beta / 2), plateau 1 / (1 + Q^beta).

    Args:
        sigma_x, sigma_y, theta, beta: float32 (N,). Widths, rotation (radians), shape.
        family: int32 (N,). 0 Gaussian, 1 generalized Gaussian, 2 plateau.
        sizes: int32 (N,). Odd support of each kernel, at most `full`.
        full: int. Odd edge of the returned arrays.

    Returns:
        float32 (N, full, full), each summing to 1 and zero outside its support.
    """
    xx, yy = _grid(full)
    c, s = tf.cos(theta)[:, None, None], tf.sin(theta)[:, None, None]
    u = c * xx[None] + s * yy[None]
    v = -s * xx[None] + c * yy[None]
    q = tf.square(u / sigma_x[:, None, None]) + tf.square(v / sigma_y[:, None, None])
    q_beta = tf.pow(q, beta[:, None, None])
    family = family[:, None, None]
    kernels = tf.where(
        family == 0,
        tf.exp(-0.5 * q),
        tf.where(family == 1, tf.exp(-0.5 * q_beta), 1.0 / (1.0 + q_beta)),
    )
    return _normalise(kernels, sizes)


def sinc_kernels(omega: tf.Tensor, sizes: tf.Tensor, full: int) -> tf.Tensor:
    """Circular low-pass (2-D sinc) kernels with cut-off `omega` (Real-ESRGAN Eq. 3).

    k(r) = omega J1(omega r) / (2 pi r), with the limit omega^2 / (4 pi) at r = 0. Models
    the ringing and overshoot of sharpened or band-limited images.

    Returns:
        float32 (N, full, full), each summing to 1 and zero outside its `size` support.
    """
    xx, yy = _grid(full)
    r = tf.sqrt(tf.square(xx) + tf.square(yy))[None]
    w = omega[:, None, None]
    safe_r = tf.where(r > 0, r, 1.0)
    values = w * tf.math.special.bessel_j1(w * safe_r) / (2.0 * _PI * safe_r)
    kernels = tf.where(r > 0, values, tf.square(w) / (4.0 * _PI))
    return _normalise(kernels, sizes)


def delta_kernels(n: tf.Tensor, full: int) -> tf.Tensor:
    """Identity kernels: float32 (n, full, full) with a 1 in the centre."""
    centre = tf.one_hot(full * full // 2, full * full)
    return tf.tile(tf.reshape(centre, [1, full, full]), [n, 1, 1])


def _random_sizes(seed: tf.Tensor, n: tf.Tensor, config: DegradationConfig) -> tf.Tensor:
    index = tf.random.stateless_uniform(
        [n], seed, 0, len(config.kernel_sizes), dtype=tf.int32
    )
    return tf.gather(tf.constant(config.kernel_sizes, tf.int32), index)


def random_blur_kernels(
    seed: tf.Tensor, n: tf.Tensor, config: DegradationConfig, second: bool = False
) -> tf.Tensor:
    """One random blur kernel per sample for round 1 (or 2): mixed families, or a sinc.

    Returns:
        float32 (n, K, K) with K = max(kernel_sizes); each sums to 1.
    """
    full = max(config.kernel_sizes)
    sigma = config.blur_sigma2 if second else config.blur_sigma
    betag = config.betag_range2 if second else config.betag_range
    betap = config.betap_range2 if second else config.betap_range
    sinc_prob = config.sinc_prob2 if second else config.sinc_prob

    kind = tf.gather(
        tf.constant([_kind_code(t) for t in config.kernel_types], tf.int32),
        _choice(_fold(seed, 0), n, config.kernel_probs),
    )
    iso, family = kind % 2 == 0, kind // 2  # codes: 2 * family + (0 iso, 1 aniso)
    sizes = _random_sizes(_fold(seed, 1), n, config)
    sigma_x = _uniform(_fold(seed, 2), [n], *sigma)
    sigma_y = tf.where(iso, sigma_x, _uniform(_fold(seed, 3), [n], *sigma))
    theta = tf.where(iso, 0.0, _uniform(_fold(seed, 4), [n], -_PI, _PI))
    beta = tf.where(
        family == 1, _beta(_fold(seed, 5), n, *betag), _beta(_fold(seed, 6), n, *betap)
    )
    blur = bivariate_kernels(sigma_x, sigma_y, theta, beta, family, sizes, full)
    omega = tf.where(
        sizes < 13,
        _uniform(_fold(seed, 7), [n], _PI / 3, _PI),
        _uniform(_fold(seed, 8), [n], _PI / 5, _PI),
    )
    sinc = sinc_kernels(omega, sizes, full)
    use_sinc = _coin(_fold(seed, 9), [n], sinc_prob)[:, None, None]
    return tf.where(use_sinc, sinc, blur)


def _kind_code(name: str) -> int:
    family = 1 if name.startswith("generalized") else 2 if name.startswith("plateau") else 0
    return 2 * family + (1 if name.endswith("aniso") else 0)


def random_final_sinc(seed: tf.Tensor, n: tf.Tensor, config: DegradationConfig) -> tf.Tensor:
    """The final sinc (probability `final_sinc_prob`, cut-off in [pi/3, pi]) or identity."""
    full = max(config.kernel_sizes)
    sizes = _random_sizes(_fold(seed, 0), n, config)
    sinc = sinc_kernels(_uniform(_fold(seed, 1), [n], _PI / 3, _PI), sizes, full)
    use = _coin(_fold(seed, 2), [n], config.final_sinc_prob)[:, None, None]
    return tf.where(use, sinc, delta_kernels(n, full))


# === Filtering and resizing ===


def _reflect(images: tf.Tensor, pad: int, axis: int) -> tf.Tensor:
    """Reflect padding (edge pixel not repeated) of any width, even wider than the image."""
    n = tf.shape(images)[axis]
    period = tf.maximum(2 * (n - 1), 1)
    index = tf.math.floormod(tf.range(-pad, n + pad), period)
    index = tf.where(index < n, index, period - index)
    return tf.gather(images, index, axis=axis)


def filter2d(images: tf.Tensor, kernels: tf.Tensor) -> tf.Tensor:
    """Correlates each image with its own kernel, borders reflected (one depthwise conv).

    Args:
        images: float32 (N, H, W, C).
        kernels: float32 (N, K, K), K odd.

    Returns:
        float32 (N, H, W, C).
    """
    shape = tf.shape(images)
    n, h, w, c = shape[0], shape[1], shape[2], images.shape[-1]
    pad = kernels.shape[-1] // 2
    padded = _reflect(_reflect(images, pad, 1), pad, 2)
    # (N, H, W, C) -> (1, H, W, N*C): channel n*C + c is filtered with kernel n.
    stacked = tf.reshape(tf.transpose(padded, [1, 2, 0, 3]), [1, h + 2 * pad, w + 2 * pad, n * c])
    filters = tf.repeat(tf.transpose(kernels, [1, 2, 0]), c, axis=2)[..., None]
    out = tf.nn.depthwise_conv2d(stacked, filters, [1, 1, 1, 1], "VALID")
    return tf.transpose(tf.reshape(out, [h, w, n, c]), [2, 0, 1, 3])


def _resize(images: tf.Tensor, size: tf.Tensor, mode: tf.Tensor, modes: tuple[str, ...]) -> tf.Tensor:
    """Resizes with `modes[mode]` (no antialiasing, as PyTorch's `interpolate`)."""
    branches = [lambda m=m: tf.image.resize(images, size, method=m) for m in modes]
    return tf.switch_case(mode, branches)


def random_resize(
    images: tf.Tensor,
    seed: tf.Tensor,
    base: tf.Tensor,
    probs: tuple[float, float, float],
    scale_range: tuple[float, float],
    modes: tuple[str, ...],
) -> tf.Tensor:
    """Resizes the batch to `floor(base * s)`: s in [1, hi] (up), [lo, 1] (down) or 1 (keep)."""
    updown = _choice(_fold(seed, 0), 1, probs)[0]
    lo, hi = scale_range
    factor = tf.gather(
        tf.stack(
            [
                _uniform(_fold(seed, 1), [], 1.0, max(hi, 1.0)),
                _uniform(_fold(seed, 2), [], min(lo, 1.0), 1.0),
                tf.constant(1.0),
            ]
        ),
        updown,
    )
    size = tf.maximum(tf.cast(tf.cast(base, tf.float32) * factor, tf.int32), 1)
    mode = tf.random.stateless_uniform([], _fold(seed, 3), 0, len(modes), dtype=tf.int32)
    return _resize(images, size, mode, modes)


# === Noise ===


def gaussian_noise(images: tf.Tensor, sigma: tf.Tensor, gray: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Additive Gaussian noise, not clipped: colour (per channel) or gray (shared).

    Args:
        images: float32 (N, H, W, C) in [0, 1].
        sigma: float32 (N,). Standard deviation on the 0-255 scale.
        gray: bool (N,). One noise value for all channels of a pixel.
        seed: int (2,).
    """
    shape = tf.shape(images)
    colour = tf.random.stateless_normal(shape, _fold(seed, 0))
    mono = tf.random.stateless_normal(tf.concat([shape[:3], [1]], 0), _fold(seed, 1))
    noise = tf.where(gray[:, None, None, None], mono, colour)
    return images + noise * (sigma / 255.0)[:, None, None, None]


def poisson_noise(
    images: tf.Tensor,
    scale: tf.Tensor,
    gray: tf.Tensor,
    seed: tf.Tensor,
    active: tf.Tensor | None = None,
) -> tf.Tensor:
    """Additive Poisson (shot) noise, not clipped: the pixel value on 0-255 counts photons.

    noise = scale * (Poisson(255 x) / 255 - x), x the image rounded to 8 bits, so that its
    variance is scale^2 x / 255. Gray noise is drawn on the luma and shared by the channels.

    Args:
        images: float32 (N, H, W, 3) in [0, 1].
        scale: float32 (N,).
        gray: bool (N,).
        seed: int (2,).
        active: bool (N,) or None. Samples that get noise; the others are returned unchanged
            and cost no Poisson draws. Defaults to all.
    """
    x = tf.round(tf.clip_by_value(images, 0.0, 1.0) * 255.0)
    gray4 = gray[:, None, None, None]
    rate = tf.where(gray4, tf.image.rgb_to_grayscale(x), x)  # one draw per value used
    if active is None:
        active = tf.ones(tf.shape(rate)[:1], tf.bool)
    index = tf.where(active)  # (M, 1): only these samples are drawn (TF's sampler is slow)
    picked = tf.gather_nd(rate, index)
    draws = tf.random.stateless_poisson(tf.shape(picked), seed, picked, dtype=tf.float32)
    noise = tf.scatter_nd(index, draws - picked, tf.shape(rate, out_type=tf.int64))
    noise = tf.where(gray4, noise[..., :1], noise) / 255.0
    return images + noise * scale[:, None, None, None]


def random_noise(
    images: tf.Tensor,
    seed: tf.Tensor,
    gaussian_prob: float,
    sigma_range: tuple[float, float],
    poisson_range: tuple[float, float],
    gray_prob: float,
) -> tf.Tensor:
    """Gaussian (probability `gaussian_prob`) or Poisson noise per sample, then clip to [0, 1]."""
    n = tf.shape(images)[0]
    gray = _coin(_fold(seed, 0), [n], gray_prob)
    use_gaussian = _coin(_fold(seed, 5), [n], gaussian_prob)
    noisy_g = gaussian_noise(images, _uniform(_fold(seed, 1), [n], *sigma_range), gray, _fold(seed, 2))
    noisy_p = poisson_noise(
        images, _uniform(_fold(seed, 3), [n], *poisson_range), gray, _fold(seed, 4), ~use_gaussian
    )
    noisy = tf.where(use_gaussian[:, None, None, None], noisy_g, noisy_p)
    return tf.clip_by_value(noisy, 0.0, 1.0)


# === JPEG ===


def to_uint8(images: tf.Tensor) -> tf.Tensor:
    """Float [0, 1] -> uint8, clipped and rounded to nearest."""
    return tf.cast(tf.round(tf.clip_by_value(images, 0.0, 1.0) * 255.0), tf.uint8)


def jpeg(images: tf.Tensor, quality: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Real JPEG round trip per image: libjpeg encode at `quality`, then decode.

    Args:
        images: uint8 (N, H, W, 3).
        quality: int32 (N,) in [1, 100].

    Returns:
        `(decoded, files)`: uint8 (N, H, W, 3) and string (N,) JPEG files; decoding
        `files[i]` with Pillow, or `tf.io.decode_jpeg(..., dct_method="INTEGER_ACCURATE")`,
        gives `decoded[i]` exactly.
    """

    def one(args: tuple[tf.Tensor, tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
        image, q = args
        data = tf.raw_ops.EncodeJpegVariableQuality(images=image, quality=q)
        # ISLOW IDCT: what Pillow and libjpeg's tools decode; TF's default ("") is IFAST here
        # and differs from Pillow by up to 4 levels (measured).
        return tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE"), data

    decoded, files = tf.map_fn(
        one,
        (images, tf.cast(quality, tf.int32)),
        fn_output_signature=(tf.TensorSpec([None, None, 3], tf.uint8), tf.TensorSpec([], tf.string)),
    )
    return tf.ensure_shape(decoded, images.shape), files


def _random_quality(seed: tf.Tensor, n: tf.Tensor, quality_range: tuple[int, int]) -> tf.Tensor:
    lo, hi = quality_range
    return tf.random.stateless_uniform([n], seed, lo, hi + 1, dtype=tf.int32)


def _float(images: tf.Tensor) -> tf.Tensor:
    return tf.cast(images, tf.float32) / 255.0


# === Sharpening ===


def usm_sharpen(
    images: tf.Tensor, weight: float = 0.5, threshold: float = 10.0, radius: int = 50
) -> tf.Tensor:
    """Unsharp masking with a soft threshold mask (Real-ESRGAN's sharpened target, Sec. 4.2).

    residual = x - G * x with G a Gaussian of `radius | 1` taps and OpenCV's sigma for that
    size (8 for radius 50); pixels where |residual| > threshold / 255 (mask softened by G)
    move to clip(x + weight * residual).

    Args:
        images: float32 (N, H, W, C) in [0, 1].

    Returns:
        float32 (N, H, W, C) in [0, 1].
    """
    taps = radius if radius % 2 else radius + 1
    sigma = 0.3 * ((taps - 1) * 0.5 - 1.0) + 0.8
    coords = tf.range(taps, dtype=tf.float32) - (taps - 1) / 2.0
    g = tf.exp(-tf.square(coords) / (2.0 * sigma * sigma))
    g = g / tf.reduce_sum(g)

    def blur(x: tf.Tensor) -> tf.Tensor:
        channels = x.shape[-1]
        padded = _reflect(_reflect(x, taps // 2, 1), taps // 2, 2)
        rows = tf.tile(tf.reshape(g, [taps, 1, 1, 1]), [1, 1, channels, 1])
        cols = tf.tile(tf.reshape(g, [1, taps, 1, 1]), [1, 1, channels, 1])
        x = tf.nn.depthwise_conv2d(padded, rows, [1, 1, 1, 1], "VALID")
        return tf.nn.depthwise_conv2d(x, cols, [1, 1, 1, 1], "VALID")

    residual = images - blur(images)
    mask = tf.cast(tf.abs(residual) * 255.0 > threshold, tf.float32)
    soft = blur(mask)
    sharp = tf.clip_by_value(images + weight * residual, 0.0, 1.0)
    return soft * sharp + (1.0 - soft) * images


# === The chain ===


def _round(
    x: tf.Tensor, seed: tf.Tensor, config: DegradationConfig, base: tf.Tensor, second: bool
) -> tf.Tensor:
    n = tf.shape(x)[0]
    kernels = random_blur_kernels(_fold(seed, 0), n, config, second)
    blur_prob = config.second_blur_prob if second else config.blur_prob
    if blur_prob < 1.0:
        apply = _coin(_fold(seed, 1), [n], blur_prob)[:, None, None]
        kernels = tf.where(apply, kernels, delta_kernels(n, kernels.shape[-1]))
    x = filter2d(x, kernels)
    suffix = "2" if second else ""
    x = random_resize(
        x,
        _fold(seed, 2),
        base,
        getattr(config, f"resize_probs{suffix}"),
        getattr(config, f"resize_range{suffix}"),
        config.resize_modes,
    )
    noisy = random_noise(
        x,
        _fold(seed, 3),
        getattr(config, f"gaussian_noise_prob{suffix}"),
        getattr(config, f"noise_range{suffix}"),
        getattr(config, f"poisson_scale_range{suffix}"),
        getattr(config, f"gray_noise_prob{suffix}"),
    )
    return _sometimes(_fold(seed, 5), getattr(config, f"noise_prob{suffix}"), noisy, x)


def _sometimes(seed: tf.Tensor, prob: float, applied: tf.Tensor, skipped: tf.Tensor) -> tf.Tensor:
    """Per sample: `applied` with probability `prob`, else `skipped` (a stage left out)."""
    if prob >= 1.0:  # the chain as Real-ESRGAN runs it: no extra draw, same pixels as before
        return applied
    if prob <= 0.0:
        return tf.cast(skipped, applied.dtype)
    keep = _coin(seed, tf.shape(applied)[:1], prob)[:, None, None, None]
    return tf.where(keep, applied, tf.cast(skipped, applied.dtype))


def degrade(hr: tf.Tensor, seed: tf.Tensor, config: DegradationConfig) -> Degraded:
    """Synthesises LR images from HR with the second-order model (Real-ESRGAN Fig. 2).

    Args:
        hr: uint8 (N, H, W, 3), H and W multiples of `config.scale`. Apply `usm_sharpen`
            before, if the target is to be sharpened.
        seed: int (2,). Stateless seed; the same seed and input give the same output.
        config: DegradationConfig. All ranges and probabilities.

    Returns:
        Degraded: `lr` uint8 (N, H / scale, W / scale, 3), the final JPEG files and
        whether the chain ended in JPEG.
    """
    hr = tf.convert_to_tensor(hr)
    if hr.dtype != tf.uint8 or hr.shape.rank != 4:
        raise ValueError(f"hr must be uint8 (N, H, W, 3). Received: {hr.dtype.name} {hr.shape}")
    n = tf.shape(hr)[0]
    hw = tf.shape(hr)[1:3]
    lr_hw = hw // config.scale
    x = _float(hr)

    r1 = _fold(seed, _ROUND1)
    x = to_uint8(_round(x, r1, config, hw, second=False))
    compressed, _ = jpeg(x, _random_quality(_fold(r1, 4), n, config.jpeg_range))
    x = _float(_sometimes(_fold(r1, 6), config.jpeg_prob, compressed, x))
    r2 = _fold(seed, _ROUND2)
    if config.second_round_prob >= 1.0:
        x = _round(x, r2, config, lr_hw, second=True)
    elif config.second_round_prob > 0.0:  # per call: the round's resize is drawn per call
        x = tf.cond(
            _coin(_fold(r2, 7), [], config.second_round_prob),
            lambda: _round(x, r2, config, lr_hw, second=True),
            lambda: x,
        )

    fin = _fold(seed, _FINAL)
    sinc = random_final_sinc(_fold(fin, 0), n, config)
    mode = tf.random.stateless_uniform([], _fold(fin, 1), 0, len(config.resize_modes), dtype=tf.int32)
    quality = _random_quality(_fold(fin, 2), n, config.jpeg_range2)
    jpeg_last = _coin(_fold(fin, 3), [], 0.5)

    def resize_sinc(images: tf.Tensor) -> tf.Tensor:
        return filter2d(_resize(images, lr_hw, mode, config.resize_modes), sinc)

    def sinc_then_jpeg() -> tuple[tf.Tensor, tf.Tensor]:
        return jpeg(to_uint8(resize_sinc(x)), quality)

    def jpeg_then_sinc() -> tuple[tf.Tensor, tf.Tensor]:
        compressed, _ = jpeg(to_uint8(x), quality)
        return to_uint8(resize_sinc(_float(compressed))), tf.fill([n], "")

    lr, files = tf.cond(jpeg_last, sinc_then_jpeg, jpeg_then_sinc)
    if hr.shape[1] is not None and hr.shape[2] is not None:
        lr = tf.ensure_shape(lr, [hr.shape[0], hr.shape[1] // config.scale, hr.shape[2] // config.scale, 3])
    return Degraded(lr, files, jpeg_last)


# === Whole images (`srfm degrade`) ===


def image_seed(seed: int, stem: str, copy: int = 0) -> tf.Tensor:
    """The stateless seed of one file: `[seed, crc32(stem)]`, folded with the copy index.

    Keyed by the file's stem rather than its position, so adding or removing files leaves
    the other images' LR unchanged.
    """
    import zlib

    base = tf.constant([seed, zlib.crc32(stem.encode("utf-8"))], tf.int64)
    return _fold(base, copy)


def degrade_image(
    hr: np.ndarray, seed: tf.Tensor, config: DegradationConfig
) -> tuple[np.ndarray, bytes | None]:
    """Degrades one whole HR image (eagerly), for writing a degraded test or training set.

    Args:
        hr: np.ndarray uint8 (H, W, 3), H and W multiples of `config.scale`.
        seed: int (2,), e.g. from `image_seed`.
        config: DegradationConfig.

    Returns:
        `(lr, jpeg)`: uint8 (H / scale, W / scale, 3) and, when the chain ended in JPEG, the
        JPEG file whose decoding is `lr` (else None).
    """
    out = degrade(tf.constant(hr[None]), seed, config)
    data = bytes(out.jpeg[0].numpy()) if bool(out.ends_in_jpeg) else None
    return out.lr[0].numpy(), data
