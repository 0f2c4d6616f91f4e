"""Full-reference fidelity of Table I (Sec. V-B): PSNR and SSIM on the Y channel.

The conventions are those of the MATLAB SR benchmark code (VDSR/SRCNN), shared by every
metric of the package (`keras_srfm.metrics.vif`, `keras_srfm.metrics.niqe` use these helpers):

- Y is MATLAB `rgb2ycbcr` on uint8 (ITU-R BT.601, studio range), rounded to uint8.
- A grayscale image (2-D, or one channel) *is* its Y: the gray values are used unchanged.
  When one image of a pair is gray and the other RGB (the SR output of a gray input), the RGB
  one is reduced with the full-range BT.601 luma of MATLAB `rgb2gray`, which returns the gray
  value itself when R = G = B.
- `shave` pixels are removed from every border before any metric (4 for x4).
- PSNR: peak 255. SSIM: Wang et al. (2004), 11x11 Gaussian window with sigma 1.5,
  K1 = 0.01, K2 = 0.03, data range 255, mean over the valid region.

All functions take uint8 NumPy images, the reference first, and are vectorised (separable
filters as shifted sums; no loops over pixels). They need NumPy only.
"""

from __future__ import annotations

import math

import numpy as np

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


def check_uint8(image: np.ndarray, name: str) -> np.ndarray:
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
    image = check_uint8(image, "image")
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
    image = check_uint8(image, "image")
    if _is_gray(image):
        return image.reshape(image.shape[:2])
    rgb = image.astype(np.float64)
    return _round_uint8(_GRAY[0] * rgb[..., 0] + _GRAY[1] * rgb[..., 1] + _GRAY[2] * rgb[..., 2])


def prepare_pair(
    reference: np.ndarray, test: np.ndarray, shave: int, y_channel: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Checks a pair, takes Y (or keeps RGB), shaves the border; float64 (H, W, C) arrays."""
    reference = check_uint8(reference, "reference")
    test = check_uint8(test, "test")
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


def gaussian_window(size: int, sigma: float) -> np.ndarray:
    """1-D factor of MATLAB `fspecial('gaussian', size, sigma)` (the 2-D window is separable)."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return g / g.sum()


def filter_valid(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
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
    a, b = prepare_pair(reference, test, shave, y_channel)
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
    a, b = prepare_pair(reference, test, shave, y_channel)
    if min(a.shape[:2]) < 11:
        raise ValueError(
            f"SSIM needs at least 11x11 pixels after shaving. Received: shape={a.shape}"
        )
    window = gaussian_window(11, 1.5)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_a, mu_b = filter_valid(a, window), filter_valid(b, window)
    var_a = filter_valid(a * a, window) - mu_a * mu_a
    var_b = filter_valid(b * b, window) - mu_b * mu_b
    cov = filter_valid(a * b, window) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a * mu_a + mu_b * mu_b + c1) * (var_a + var_b + c2)
    return float(np.mean(np.mean(num / den, axis=(0, 1))))
