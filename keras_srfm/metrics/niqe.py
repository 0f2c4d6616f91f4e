"""NIQE (Mittal, Soundararajan & Bovik, "Making a 'Completely Blind' Image Quality Analyzer",
IEEE SPL 2013): the no-reference measure of perceptual quality, lower is better.

Computed as the authors' MATLAB release does (`computequality.m`). Its pristine model is a
data file (`niqe_pris_params.npz`, BasicSR's copy of the release's parameters), found by
`niqe_params_path`. Colour and border conventions are those of `keras_srfm.metrics.fidelity`.
NumPy only (Keras only to download the parameter file).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from pathlib import Path

import numpy as np

from keras_srfm.metrics.fidelity import check_uint8, rgb_to_gray, rgb_to_y

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
    from keras_srfm.inference.presets import data_root

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
            "`python -c 'from keras_srfm.metrics.niqe import download_niqe_params as d; d()'`"
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
    from keras_srfm.imaging.imresize import imresize

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
    image = check_uint8(image, "image")
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
