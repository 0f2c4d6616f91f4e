"""Metrics: MATLAB rgb2ycbcr Y, PSNR, SSIM (Wang) and VIF-P, checked by hand and against sewar."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from keras_srfm.imaging.imresize import imresize
from keras_srfm.metrics.fidelity import psnr, rgb_to_gray, rgb_to_y, ssim
from keras_srfm.metrics.vif import vif

sewar_full_ref = pytest.importorskip("sewar.full_ref", reason="sewar is the VIF-P/SSIM reference")
Filter = pytest.importorskip("sewar.utils").Filter


def _noisy_pair(
    seed: int = 0, shape: tuple[int, ...] = (64, 72, 3)
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    # Smooth-ish content plus noise, so that SSIM and VIF are far from their extremes.
    base = np.cumsum(rng.normal(size=shape), axis=0) * 8 + 128
    reference = np.clip(base, 0, 255).astype(np.uint8)
    test = np.clip(base + rng.normal(scale=12, size=shape), 0, 255).astype(np.uint8)
    return reference, test


# === Y channel ===


def test_rgb_to_y_known_values() -> None:
    colours = np.array(
        [[[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255]]], np.uint8
    )
    # 16 + 65.481 = 81.481 -> 81; 16 + 128.553 -> 145; 16 + 24.966 -> 41.
    np.testing.assert_array_equal(rgb_to_y(colours), [[16, 235, 81, 145, 41]])


def test_rgb_to_y_matches_formula() -> None:
    rgb = np.random.default_rng(0).integers(0, 256, size=(50, 40, 3), dtype=np.uint8)
    r, g, b = (rgb[..., i] / 255.0 for i in range(3))
    expected = np.round(16 + 65.481 * r + 128.553 * g + 24.966 * b)
    y = rgb_to_y(rgb)
    assert y.dtype == np.uint8 and y.shape == (50, 40)
    np.testing.assert_array_equal(y, expected)


def test_gray_is_its_own_y() -> None:
    gray = np.arange(256, dtype=np.uint8).reshape(16, 16)
    np.testing.assert_array_equal(rgb_to_y(gray), gray)
    np.testing.assert_array_equal(rgb_to_y(gray[..., None]), gray)
    # Full-range luma of R = G = B is the gray value itself.
    np.testing.assert_array_equal(rgb_to_gray(np.repeat(gray[..., None], 3, axis=2)), gray)


def test_gray_reference_with_rgb_test() -> None:
    reference, _ = _noisy_pair(shape=(48, 48))
    replicated = np.repeat(reference[..., None], 3, axis=2)
    assert math.isinf(psnr(reference, replicated))
    assert ssim(reference, replicated) == pytest.approx(1.0)


# === PSNR ===


def test_psnr_by_hand() -> None:
    reference = np.full((20, 20, 3), 100, np.uint8)
    test = reference.copy()
    test[4:-4, 4:-4] = 110  # differs only inside the shaved border
    y_diff = float(rgb_to_y(test)[10, 10]) - float(rgb_to_y(reference)[10, 10])
    assert psnr(reference, test) == pytest.approx(10 * math.log10(255**2 / y_diff**2))
    assert psnr(reference, test, y_channel=False) == pytest.approx(20 * math.log10(255 / 10))
    # Differences only in the shaved border do not count.
    border = reference.copy()
    border[:4] = 0
    assert math.isinf(psnr(reference, border))
    assert not math.isinf(psnr(reference, border, shave=2))


def test_psnr_matches_sewar() -> None:
    reference, test = _noisy_pair()
    expected = sewar_full_ref.psnr(reference[4:-4, 4:-4], test[4:-4, 4:-4], MAX=255)
    assert psnr(reference, test, y_channel=False) == pytest.approx(expected, rel=1e-12)


# === SSIM ===


def test_ssim_matches_sewar_gaussian() -> None:
    reference, test = _noisy_pair()
    specs = {"fltr": Filter.GAUSSIAN, "ws": 11, "sigma": 1.5}
    y_ref, y_test = rgb_to_y(reference)[4:-4, 4:-4], rgb_to_y(test)[4:-4, 4:-4]
    expected, _ = sewar_full_ref.ssim(y_ref, y_test, MAX=255, fltr_specs=specs)
    assert ssim(reference, test) == pytest.approx(expected, abs=1e-12)
    expected_rgb, _ = sewar_full_ref.ssim(
        reference[4:-4, 4:-4], test[4:-4, 4:-4], MAX=255, fltr_specs=specs
    )
    assert ssim(reference, test, y_channel=False) == pytest.approx(expected_rgb, abs=1e-12)


def test_ssim_identity_and_range() -> None:
    reference, test = _noisy_pair(1)
    assert ssim(reference, reference) == pytest.approx(1.0)
    assert 0.0 < ssim(reference, test) < 1.0


# === VIF ===


def test_vif_matches_sewar_synthetic() -> None:
    for seed in range(3):
        reference, test = _noisy_pair(seed, shape=(70, 90, 3))
        y_ref = rgb_to_y(reference)[4:-4, 4:-4].astype(np.float64)
        y_test = rgb_to_y(test)[4:-4, 4:-4].astype(np.float64)
        assert vif(reference, test) == pytest.approx(sewar_full_ref.vifp(y_ref, y_test), abs=1e-10)
        expected_rgb = sewar_full_ref.vifp(
            reference[4:-4, 4:-4].astype(np.float64), test[4:-4, 4:-4].astype(np.float64)
        )
        assert vif(reference, test, y_channel=False) == pytest.approx(expected_rgb, abs=1e-10)


@pytest.mark.numeric  # slow: real image (tests/conftest.py)
def test_vif_matches_sewar_on_bicubic(shared_data: Path) -> None:
    hr = np.asarray(
        Image.open(shared_data / "benchmarks" / "Set5" / "HR" / "bird.png").convert("RGB")
    )
    sr = imresize(imresize(hr, 1 / 4), 4)
    y_hr = rgb_to_y(hr)[4:-4, 4:-4].astype(np.float64)
    y_sr = rgb_to_y(sr)[4:-4, 4:-4].astype(np.float64)
    assert vif(hr, sr) == pytest.approx(sewar_full_ref.vifp(y_hr, y_sr), abs=1e-10)


def test_vif_hand_cases() -> None:
    reference, _ = _noisy_pair(2)
    assert vif(reference, reference) == pytest.approx(1.0)
    # A flat test image carries no information about the reference.
    assert vif(reference, np.full_like(reference, 128)) == pytest.approx(0.0, abs=1e-9)


# === Errors ===


def test_bad_inputs() -> None:
    reference, test = _noisy_pair()
    with pytest.raises(ValueError, match="Received"):
        psnr(reference, test[:-1])
    with pytest.raises(ValueError, match="Received"):
        psnr(reference.astype(np.float32), test)
    with pytest.raises(ValueError, match="Received"):
        ssim(reference, test, shave=40)
    with pytest.raises(ValueError, match="Received"):
        vif(reference[:40], test[:40])
