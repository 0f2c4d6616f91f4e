"""Image-quality metrics of Table I (Sec. V-B): PSNR, SSIM and VIF on the Y channel, and NIQE.

The conventions are those of the MATLAB SR benchmark code (VDSR/SRCNN):

- Y is MATLAB `rgb2ycbcr` on uint8 (ITU-R BT.601, studio range), rounded to uint8.
- A grayscale image (2-D, or one channel) *is* its Y: the gray values are used unchanged.
  When one image of a pair is gray and the other RGB (the SR output of a gray input), the RGB
  one is reduced with the full-range BT.601 luma of MATLAB `rgb2gray`, which returns the gray
  value itself when R = G = B.
- `shave` pixels are removed from every border before any metric (4 for x4).
- PSNR: peak 255. SSIM: Wang et al. (2004), 11x11 Gaussian window with sigma 1.5,
  K1 = 0.01, K2 = 0.03, data range 255, mean over the valid region. VIF: the pixel-domain
  multiscale VIF-P of Sheikh & Bovik (`vifp_mscale`, sigma_n^2 = 2, data in [0, 255]).

NIQE (Mittal, Soundararajan & Bovik, "Making a 'Completely Blind' Image Quality Analyzer",
IEEE SPL 2013) is the no-reference measure of perceptual quality, as the authors' MATLAB
release computes it (`computequality.m`): lower is better. Its pristine model is a data file
(`niqe_pris_params.npz`, BasicSR's copy of the release's parameters), found by
`niqe_params_path`.

All functions take uint8 NumPy images, the reference first, and are vectorised (separable
filters as shifted sums; no loops over pixels). They need NumPy only.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from pathlib import Path

import numpy as np

__all__ = ["rgb_to_y", "psnr", "ssim", "vif", "niqe", "NiqeParams", "load_niqe_params"]

# MATLAB rgb2ycbcr, first row of its matrix (inputs in [0, 1]) and offset; uint8 scales by 1/255.
_YCBCR_Y = np.array([65.481, 128.553, 24.966]) / 255.0
_YCBCR_OFFSET = 16.0
# MATLAB rgb2gray: the same BT.601 weights, full range (rows of inv(ntsc matrix)).
_GRAY = np.array([0.298936021293775, 0.587043074451121, 0.114020904255103])


# === Colour ===


def _round_uint8(x: np.ndarray) -> np.ndarray:
    """MATLAB's double -> uint8 cast: saturate, then round half away from zero."""
    return np.floor(np.clip(x, 0.0, 255.0) + 0.5).astype(np.uint8)


def _is_gray(image: np.ndarray) -> bool:
    return image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1)


def _check_uint8(image: np.ndarray, name: str) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"`{name}` must be uint8. Received: dtype={image.dtype}")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3)):
        raise ValueError(
            f"`{name}` must be (H, W), (H, W, 1) or (H, W, 3). Received: shape={image.shape}"
        )
    return image


def rgb_to_y(image: np.ndarray) -> np.ndarray:
    """Y of MATLAB `rgb2ycbcr` on uint8: round(16 + (65.481 R + 128.553 G + 24.966 B) / 255).

    Args:
        image: np.ndarray uint8 of shape (H, W, 3), or a gray (H, W) / (H, W, 1) image.

    Returns:
        np.ndarray uint8 of shape (H, W), in [16, 235] for RGB input. A gray image is returned
        unchanged (as (H, W)): its values are its Y.
    """
    image = _check_uint8(image, "image")
    if _is_gray(image):
        return image.reshape(image.shape[:2])
    rgb = image.astype(np.float64)
    y = _YCBCR_Y[0] * rgb[..., 0] + _YCBCR_Y[1] * rgb[..., 1] + _YCBCR_Y[2] * rgb[..., 2]
    return _round_uint8(y + _YCBCR_OFFSET)


def rgb_to_gray(image: np.ndarray) -> np.ndarray:
    """MATLAB `rgb2gray` on uint8: full-range BT.601 luma, rounded; gray input unchanged.

    Args:
        image: np.ndarray uint8 of shape (H, W, 3), or a gray (H, W) / (H, W, 1) image.

    Returns:
        np.ndarray uint8 of shape (H, W); equals R when R = G = B.
    """
    image = _check_uint8(image, "image")
    if _is_gray(image):
        return image.reshape(image.shape[:2])
    rgb = image.astype(np.float64)
    return _round_uint8(_GRAY[0] * rgb[..., 0] + _GRAY[1] * rgb[..., 1] + _GRAY[2] * rgb[..., 2])


def _prepare(
    reference: np.ndarray, test: np.ndarray, shave: int, y_channel: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Checks a pair, takes Y (or keeps RGB), shaves the border; float64 (H, W, C) arrays."""
    reference = _check_uint8(reference, "reference")
    test = _check_uint8(test, "test")
    if reference.shape[:2] != test.shape[:2]:
        raise ValueError(
            f"Images must have the same height and width. Received: shapes {reference.shape} "
            f"and {test.shape}"
        )
    if shave < 0 or 2 * shave >= min(reference.shape[:2]):
        raise ValueError(f"`shave` must be in [0, min(H, W) / 2). Received: shave={shave}")
    if _is_gray(reference) or _is_gray(test):
        # A gray source is its own Y; reduce the other image to the same full-range luma.
        pair = [rgb_to_gray(reference), rgb_to_gray(test)]
    elif y_channel:
        pair = [rgb_to_y(reference), rgb_to_y(test)]
    else:
        pair = [reference, test]
    out = []
    for image in pair:
        image = image.astype(np.float64)
        if image.ndim == 2:
            image = image[..., None]
        if shave:
            image = image[shave:-shave, shave:-shave]
        out.append(image)
    return out[0], out[1]


# === Filters ===


def _gaussian(size: int, sigma: float) -> np.ndarray:
    """1-D factor of MATLAB `fspecial('gaussian', size, sigma)` (the 2-D window is separable)."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return g / g.sum()


def _filter_valid(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """MATLAB `filter2(kernel' * kernel, image, 'valid')` per channel, as two 1-D passes.

    Args:
        image: float64 array (H, W, C).
        kernel: symmetric float64 1-D kernel of length k.

    Returns:
        float64 array (H - k + 1, W - k + 1, C).
    """
    # Shifted, weighted sums: a loop over the k taps (not pixels), faster than strided views.
    k = kernel.shape[0]
    h, w = image.shape[0] - k + 1, image.shape[1] - k + 1
    rows = kernel[0] * image[:h]
    for j in range(1, k):
        rows += kernel[j] * image[j : j + h]
    out = kernel[0] * rows[:, :w]
    for j in range(1, k):
        out += kernel[j] * rows[:, j : j + w]
    return out


# === Metrics ===


def psnr(reference: np.ndarray, test: np.ndarray, shave: int = 4, y_channel: bool = True) -> float:
    """Peak signal-to-noise ratio in dB, peak 255 (Table I).

    Args:
        reference: np.ndarray uint8 (H, W, 3), or gray (H, W). Ground truth.
        test: np.ndarray uint8 of the same height and width. Image under test.
        shave: int. Pixels removed from every border first. Defaults to 4 (the x4 scale).
        y_channel: bool. On the Y of `rgb_to_y` (True) or on all RGB values. Defaults to True.

    Returns:
        float; `inf` when the images are identical.
    """
    a, b = _prepare(reference, test, shave, y_channel)
    mse = float(np.mean((a - b) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def ssim(reference: np.ndarray, test: np.ndarray, shave: int = 4, y_channel: bool = True) -> float:
    """Structural similarity of Wang et al. (2004), as their `ssim_index.m` (Table I).

    11x11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, data range 255, averaged over the
    valid region (no padding). In RGB mode the per-channel SSIMs are averaged.

    Args:
        reference: np.ndarray uint8 (H, W, 3), or gray (H, W). Ground truth.
        test: np.ndarray uint8 of the same height and width. Image under test.
        shave: int. Pixels removed from every border first. Defaults to 4.
        y_channel: bool. On Y (True) or per RGB channel. Defaults to True.

    Returns:
        float in [-1, 1].
    """
    a, b = _prepare(reference, test, shave, y_channel)
    if min(a.shape[:2]) < 11:
        raise ValueError(
            f"SSIM needs at least 11x11 pixels after shaving. Received: shape={a.shape}"
        )
    window = _gaussian(11, 1.5)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_a, mu_b = _filter_valid(a, window), _filter_valid(b, window)
    var_a = _filter_valid(a * a, window) - mu_a * mu_a
    var_b = _filter_valid(b * b, window) - mu_b * mu_b
    cov = _filter_valid(a * b, window) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a * mu_a + mu_b * mu_b + c1) * (var_a + var_b + c2)
    return float(np.mean(np.mean(num / den, axis=(0, 1))))


def _vifp_channel(reference: np.ndarray, test: np.ndarray, sigma_nsq: float) -> float:
    """Sheikh & Bovik `vifp_mscale` on one (H, W, 1) float64 pair."""
    eps = 1e-10
    num = den = 0.0
    for scale in range(1, 5):  # four scales, windows 17, 9, 5, 3
        size = 2 ** (4 - scale + 1) + 1
        window = _gaussian(size, size / 5)
        if scale > 1:
            reference = _filter_valid(reference, window)[::2, ::2]
            test = _filter_valid(test, window)[::2, ::2]
        mu_r, mu_t = _filter_valid(reference, window), _filter_valid(test, window)
        var_r = np.maximum(_filter_valid(reference * reference, window) - mu_r * mu_r, 0.0)
        var_t = np.maximum(_filter_valid(test * test, window) - mu_t * mu_t, 0.0)
        cov = _filter_valid(reference * test, window) - mu_r * mu_t
        # Gain g and distortion variance sv_sq of the channel model, with vifp_mscale's guards.
        g = cov / (var_r + eps)
        sv_sq = var_t - g * cov
        flat_r = var_r < eps
        g = np.where(flat_r, 0.0, g)
        sv_sq = np.where(flat_r, var_t, sv_sq)
        var_r = np.where(flat_r, 0.0, var_r)
        flat_t = var_t < eps
        g = np.where(flat_t, 0.0, g)
        sv_sq = np.where(flat_t, 0.0, sv_sq)
        sv_sq = np.where(g < 0, var_t, sv_sq)
        g = np.maximum(g, 0.0)
        sv_sq = np.maximum(sv_sq, eps)
        num += float(np.sum(np.log10(1.0 + g * g * var_r / (sv_sq + sigma_nsq))))
        den += float(np.sum(np.log10(1.0 + var_r / sigma_nsq)))
    return num / den


def vif(reference: np.ndarray, test: np.ndarray, shave: int = 4, y_channel: bool = True) -> float:
    """Pixel-domain multiscale visual information fidelity, VIF-P (Table I's VIF column).

    Sheikh & Bovik's `vifp_mscale` (sigma_n^2 = 2, data in [0, 255]), the variant of
    `sewar.full_ref.vifp`. In RGB mode the per-channel values are averaged, as sewar does.
    Note: the paper's published VIF values are not reproduced by this (or the wavelet) VIF on
    the bicubic baseline; see docs/evaluation.md, "Bicubic baseline".

    Args:
        reference: np.ndarray uint8 (H, W, 3), or gray (H, W). Ground truth.
        test: np.ndarray uint8 of the same height and width. Image under test.
        shave: int. Pixels removed from every border first. Defaults to 4.
        y_channel: bool. On Y (True) or per RGB channel. Defaults to True.

    Returns:
        float; 1 for identical images, higher than 1 for contrast enhancement.
    """
    a, b = _prepare(reference, test, shave, y_channel)
    if min(a.shape[:2]) < 41:
        raise ValueError(
            f"VIF needs at least 41x41 pixels after shaving. Received: shape={a.shape}"
        )
    return float(
        np.mean(
            [_vifp_channel(a[..., c : c + 1], b[..., c : c + 1], 2.0) for c in range(a.shape[2])]
        )
    )


# === NIQE ===

NIQE_PARAMS_ENV = "SRFM_NIQE_PARAMS"
NIQE_PARAMS_FILE = "niqe_pris_params.npz"
# BasicSR's copy of the NIQE release's pristine model (Apache-2.0); the sha256 is that of the
# file in the project's shared reference folder, which is BasicSR's file.
NIQE_PARAMS_URL = (
    "https://raw.githubusercontent.com/XPixelGroup/BasicSR/master/basicsr/metrics/"
    "niqe_pris_params.npz"
)
NIQE_PARAMS_SHA256 = "2a7c182a68c9e7f1b2e2e5ec723279d6f65d912b6fcaf37eb2bf03d7367c4296"
NIQE_BLOCK = 96  # block edge of the release (and of its pristine model), no overlap
_NIQE_FEATURES = 18  # per scale: GGD (2) + 4 orientations x AGGD of pair products (4 each)
_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))  # horizontal, vertical, two diagonals
_MSCN_ZERO = 1e-9  # grey levels; far above the filter's rounding, far below any real contrast


@dataclasses.dataclass(frozen=True)
class NiqeParams:
    """The pristine multivariate Gaussian of NIQE and its MSCN window (Mittal et al. 2013).

    Attributes:
        mu: np.ndarray float64 (36,). Mean of the pristine features (Eq. 10's nu_1).
        cov: np.ndarray float64 (36, 36). Their covariance (Eq. 10's Sigma_1).
        window: np.ndarray float64 (7, 7). The Gaussian window of the MSCN coefficients
            (MATLAB `fspecial('gaussian', 7, 7/6)`).
    """

    mu: np.ndarray
    cov: np.ndarray
    window: np.ndarray

    @classmethod
    def from_npz(cls, path: str | os.PathLike) -> NiqeParams:
        """Reads BasicSR's `niqe_pris_params.npz` (`mu_pris_param`, `cov_pris_param`,
        `gaussian_window`).

        Raises:
            ValueError: the file lacks a key or has the wrong shapes.
        """
        with np.load(os.fspath(path)) as data:
            try:
                params = cls(
                    mu=np.asarray(data["mu_pris_param"], np.float64).reshape(-1),
                    cov=np.asarray(data["cov_pris_param"], np.float64),
                    window=np.asarray(data["gaussian_window"], np.float64),
                )
            except KeyError as err:
                raise ValueError(f"{path} is not a NIQE parameter file: no {err}") from err
        n = 2 * _NIQE_FEATURES
        if params.mu.shape != (n,) or params.cov.shape != (n, n) or params.window.ndim != 2:
            raise ValueError(
                f"{path}: expected mu (1, {n}), cov ({n}, {n}) and a 2-D window. Received: "
                f"{params.mu.shape}, {params.cov.shape}, {params.window.shape}"
            )
        return params


def _keras_cache_path() -> Path:
    """Where `download_niqe_params` puts the file (`keras.utils.get_file`'s default cache)."""
    return (
        Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets" / NIQE_PARAMS_FILE
    )


def niqe_params_path() -> Path:
    """The NIQE parameter file: env `SRFM_NIQE_PARAMS`, else `<SRFM_DATA_DIR>/../metrics/`.

    `SRFM_DATA_DIR` defaults to `../shared/data` beside the repository. Without the env variable
    and when that file is absent, a copy fetched by `download_niqe_params` is used if present.
    """
    explicit = os.environ.get(NIQE_PARAMS_ENV)
    if explicit:
        return Path(explicit).expanduser()
    from keras_srfm.presets import data_root

    default = data_root().parent / "metrics" / NIQE_PARAMS_FILE
    cached = _keras_cache_path()
    return cached if not default.is_file() and cached.is_file() else default


def download_niqe_params() -> Path:
    """Fetches BasicSR's `niqe_pris_params.npz` (checked by sha256) into the Keras cache.

    Needs internet access; `niqe_params_path` finds the file there afterwards.

    Returns:
        Path of the downloaded file.
    """
    import keras

    return Path(
        keras.utils.get_file(
            NIQE_PARAMS_FILE, NIQE_PARAMS_URL, file_hash=NIQE_PARAMS_SHA256, hash_algorithm="sha256"
        )
    )


@functools.lru_cache(maxsize=4)
def _load_niqe_params_cached(path: str) -> NiqeParams:
    return NiqeParams.from_npz(path)


def load_niqe_params(path: str | os.PathLike | None = None) -> NiqeParams:
    """Loads (once per path) the pristine NIQE model.

    Args:
        path: str, path or None. The `.npz` file; None = `niqe_params_path()`.

    Raises:
        FileNotFoundError: one line saying where the file was looked for and how to get it.
    """
    path = Path(path) if path is not None else niqe_params_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"NIQE parameters not found at {path}: set {NIQE_PARAMS_ENV} to BasicSR's "
            f"{NIQE_PARAMS_FILE} ({NIQE_PARAMS_URL}), or fetch it once with "
            "`python -c 'import keras_srfm.metrics as m; m.download_niqe_params()'`"
        )
    return _load_niqe_params_cached(os.fspath(path.resolve()))


def _filter_replicate(image: np.ndarray, window: np.ndarray) -> np.ndarray:
    """MATLAB `imfilter(image, window, 'replicate')` (same size) for a 2-D float64 image.

    A rank-1 window (the Gaussian of NIQE) is applied as two 1-D passes, as `imfilter` does for
    separable kernels; any other window tap by tap in 2-D.
    """
    kh, kw = window.shape
    top, left = (kh - 1) // 2, (kw - 1) // 2
    padded = np.pad(image, ((top, kh - 1 - top), (left, kw - 1 - left)), mode="edge")
    h, w = image.shape
    u, s, vt = np.linalg.svd(window)
    if s.size > 1 and s[1] <= max(window.shape) * np.spacing(s[0]):  # MATLAB rank(h) == 1
        column, row = u[:, 0] * np.sqrt(s[0]), vt[0] * np.sqrt(s[0])
        rows = column[0] * padded[:h]
        for i in range(1, kh):  # loops over taps, not pixels
            rows += column[i] * padded[i : i + h]
        out = row[0] * rows[:, :w]
        for j in range(1, kw):
            out += row[j] * rows[:, j : j + w]
        return out
    out = np.zeros_like(image)
    for i in range(kh):
        for j in range(kw):
            out += window[i, j] * padded[i : i + h, j : j + w]
    return out


def _mscn(image: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Mean-subtracted contrast-normalised coefficients, Eq. 1 of Mittal et al. (C = 1).

    `image - mu` below `_MSCN_ZERO` grey levels is set to exactly 0: in a flat neighbourhood
    it is 0 in exact arithmetic (and in MATLAB), but the filter's rounding (about
    49 * eps * 255 = 3e-12) leaves +-1e-14, and the AGGD fits split samples by sign, so that
    noise moves flat pixels into one side's moments. Measured on Set14 baboon (13 flat pixels):
    NIQE 5.72996 (2-D filter) or 5.72971 (separable) without this, 5.7295739 with either,
    MATLAB 5.72957338.
    """
    mu = _filter_replicate(image, window)
    sigma = np.sqrt(np.abs(_filter_replicate(image * image, window) - mu * mu))
    centred = image - mu
    centred[np.abs(centred) < _MSCN_ZERO] = 0.0
    return centred / (sigma + 1.0)


_gamma = np.vectorize(math.gamma, otypes=[np.float64])


@functools.lru_cache(maxsize=1)
def _aggd_table() -> tuple[np.ndarray, np.ndarray]:
    """The release's shape grid 0.2:0.001:10 and r(alpha) = G(2/a)^2 / (G(1/a) G(3/a))."""
    alphas = np.round(np.linspace(0.2, 10.0, 9801), 3)
    ratio = _gamma(2.0 / alphas) ** 2 / (_gamma(1.0 / alphas) * _gamma(3.0 / alphas))
    return alphas, ratio


def _aggd(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Moment-matching fit of an asymmetric generalised Gaussian, per row (`estimateaggdparam`).

    Args:
        samples: float64 (N, M), one block's coefficients per row.

    Returns:
        (alpha, beta_left, beta_right): float64 (N,) each; NaN where a side has no samples,
        as in MATLAB (alpha is then the grid's first value, as MATLAB's `min` of NaNs gives).
    """
    alphas, ratio = _aggd_table()
    square = samples * samples
    negative, positive = samples < 0, samples > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        left_std = np.sqrt(np.sum(square * negative, axis=1) / np.sum(negative, axis=1))
        right_std = np.sqrt(np.sum(square * positive, axis=1) / np.sum(positive, axis=1))
        gamma_hat = left_std / right_std
        r_hat = np.mean(np.abs(samples), axis=1) ** 2 / np.mean(square, axis=1)
        r_norm = r_hat * (gamma_hat**3 + 1) * (gamma_hat + 1) / (gamma_hat**2 + 1) ** 2
        # argmin returns the first NaN (index 0) for a NaN row, like MATLAB's min.
        alpha = alphas[np.argmin((ratio[None, :] - r_norm[:, None]) ** 2, axis=1)]
        scale = np.sqrt(_gamma(1.0 / alpha) / _gamma(3.0 / alpha))
    return alpha, left_std * scale, right_std * scale


def _block_features(blocks: np.ndarray) -> np.ndarray:
    """The 18 features of each MSCN block (`computefeature.m`).

    Args:
        blocks: float64 (N, b, b) MSCN blocks.

    Returns:
        float64 (N, 18): AGGD shape and mean scale of the coefficients, then for each of the
        four neighbour orientations shape, mean (Eq. 8 of Mittal et al.), left and right scale
        of the pairwise products (shifted cyclically inside the block, as `circshift`).
    """
    n = blocks.shape[0]
    alpha, left, right = _aggd(blocks.reshape(n, -1))
    features = [alpha, (left + right) / 2]
    for shift in _SHIFTS:
        pairs = blocks * np.roll(blocks, shift, axis=(1, 2))
        alpha, left, right = _aggd(pairs.reshape(n, -1))
        with np.errstate(invalid="ignore"):
            mean = (right - left) * _gamma(2.0 / alpha) / _gamma(1.0 / alpha)
        features += [alpha, mean, left, right]
    return np.stack(features, axis=1)


def _to_blocks(image: np.ndarray, size: int) -> np.ndarray:
    """(H, W) with H, W multiples of `size` -> (H/size * W/size, size, size), row-major."""
    h, w = image.shape
    return image.reshape(h // size, size, w // size, size).swapaxes(1, 2).reshape(-1, size, size)


def niqe_features(image: np.ndarray, window: np.ndarray, block: int = NIQE_BLOCK) -> np.ndarray:
    """Per-block NIQE features at two scales (`computequality.m`, before the model fit).

    The image is cropped (bottom / right) to whole blocks; the second scale is MATLAB bicubic
    x1/2 with antialiasing on the unrounded values, with blocks of half the size.

    Args:
        image: float64 (H, W), integer-valued gray levels in [0, 255].
        window: float64 (7, 7) MSCN window.
        block: int. Block edge at the first scale. Defaults to 96.

    Returns:
        float64 (N, 36), one row per block; NaN where a block has no texture.
    """
    from keras_srfm.imresize import imresize

    rows, cols = image.shape[0] // block, image.shape[1] // block
    image = image[: rows * block, : cols * block]
    per_scale = []
    for level in range(2):
        size = block // (2**level)
        per_scale.append(_block_features(_to_blocks(_mscn(image, window), size)))
        if level == 0:
            image = imresize(image, scale=0.5)
    return np.concatenate(per_scale, axis=1)


def _pinv(matrix: np.ndarray) -> np.ndarray:
    """MATLAB `pinv`: singular values below max(size) * eps(largest) are dropped."""
    u, s, vt = np.linalg.svd(matrix)
    tol = max(matrix.shape) * np.spacing(s[0]) if s.size else 0.0
    keep = s > tol
    inverse = np.divide(1.0, s, out=np.zeros_like(s), where=keep)
    return (vt.T * inverse) @ u.T


def niqe(
    image: np.ndarray,
    shave: int = 4,
    y_channel: bool = True,
    params: NiqeParams | None = None,
) -> float:
    """Natural Image Quality Evaluator (Mittal et al. 2013): no-reference, lower is better.

    The MATLAB release's `computequality.m` with 96x96 blocks and no overlap: MSCN
    coefficients with the 7x7 Gaussian window, 18 GGD / AGGD features per block at two scales
    (the second by MATLAB bicubic x1/2), a multivariate Gaussian fit (NaN-aware mean and
    covariance of the block features), and Eq. 10's distance to the pristine model,
    sqrt((nu_1 - nu_2)^T ((Sigma_1 + Sigma_2) / 2)^+ (nu_1 - nu_2)).

    Args:
        image: np.ndarray uint8 (H, W, 3), or gray (H, W) / (H, W, 1). The image under test
            (integer-valued, as MATLAB rounds to uint8).
        shave: int. Pixels removed from every border first. Defaults to 4 (as for PSNR).
        y_channel: bool. On the Y of `rgb_to_y` (True, as PSNR) or on MATLAB `rgb2gray`
            (False, as the release). A gray image is used as is. Defaults to True.
        params: NiqeParams or None. The pristine model; None = `load_niqe_params()`.

    Returns:
        float >= 0; natural, undistorted images score about 2-5 on the release's model.

    Raises:
        ValueError: fewer than two 96x96 blocks with texture after shaving.
        FileNotFoundError: `params` is None and the parameter file is missing.

    Example:
    >>> niqe(sr_uint8)  # Y channel, 4-pixel border shaved
    """
    image = _check_uint8(image, "image")
    gray = rgb_to_y(image) if y_channel else rgb_to_gray(image)
    if shave < 0 or 2 * shave >= min(gray.shape):
        raise ValueError(f"`shave` must be in [0, min(H, W) / 2). Received: shave={shave}")
    if shave:
        gray = gray[shave:-shave, shave:-shave]
    blocks = (gray.shape[0] // NIQE_BLOCK) * (gray.shape[1] // NIQE_BLOCK)
    complete = np.empty((blocks, 0))
    if blocks >= 2:
        params = load_niqe_params() if params is None else params
        features = niqe_features(gray.astype(np.float64), params.window)
        complete = features[~np.isnan(features).any(axis=1)]
    if complete.shape[0] < 2:
        raise ValueError(
            f"NIQE needs at least two {NIQE_BLOCK}x{NIQE_BLOCK} blocks with texture after "
            f"shaving. Received: shape={gray.shape}, usable blocks={complete.shape[0]}"
        )
    mu = np.nanmean(features, axis=0)
    cov = np.cov(complete, rowvar=False)
    diff = params.mu - mu
    return float(np.sqrt(diff @ _pinv((params.cov + cov) / 2.0) @ diff))
