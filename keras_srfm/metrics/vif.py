"""VIF of Table I (Sec. V-B): pixel-domain multiscale visual information fidelity, VIF-P.

Sheikh & Bovik's `vifp_mscale` (sigma_n^2 = 2, data in [0, 255]), on Y with a 4-pixel shave by
default, with the colour and border conventions of `keras_srfm.metrics.fidelity`. NumPy only.
"""

from __future__ import annotations

import numpy as np

from keras_srfm.metrics.fidelity import filter_valid, gaussian_window, prepare_pair


def _vifp_channel(reference: np.ndarray, test: np.ndarray, sigma_nsq: float) -> float:
    """Sheikh & Bovik `vifp_mscale` on one (H, W, 1) float64 pair."""
    eps = 1e-10
    num = den = 0.0
    for scale in range(1, 5):  # four scales, windows 17, 9, 5, 3
        size = 2 ** (4 - scale + 1) + 1
        window = gaussian_window(size, size / 5)
        if scale > 1:
            reference = filter_valid(reference, window)[::2, ::2]
            test = filter_valid(test, window)[::2, ::2]
        mu_r, mu_t = filter_valid(reference, window), filter_valid(test, window)
        var_r = np.maximum(filter_valid(reference * reference, window) - mu_r * mu_r, 0.0)
        var_t = np.maximum(filter_valid(test * test, window) - mu_t * mu_t, 0.0)
        cov = filter_valid(reference * test, window) - mu_r * mu_t
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
    a, b = prepare_pair(reference, test, shave, y_channel)
    if min(a.shape[:2]) < 41:
        raise ValueError(
            f"VIF needs at least 41x41 pixels after shaving. Received: shape={a.shape}"
        )
    return float(
        np.mean(
            [_vifp_channel(a[..., c : c + 1], b[..., c : c + 1], 2.0) for c in range(a.shape[2])]
        )
    )
