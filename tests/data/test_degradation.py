"""keras_srfm.data.degradation: each stage's statistics, the chain, and the realistic pipeline."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_srfm.config import DataConfig, DegradationConfig
from keras_srfm.data import degradation as deg
from keras_srfm.data.pipeline import make_train_dataset, random_degraded_patches

CONFIG = DegradationConfig()
SEED = tf.constant([3, 7], tf.int64)
ISLOW = "INTEGER_ACCURATE"  # the IDCT Pillow uses
# One trace for every chain test (tracing the chain is the slow part of these tests).
_DEGRADE = tf.function(
    lambda x, s: deg.degrade(x, s, CONFIG),
    input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8), tf.TensorSpec([2], tf.int64)],
)


def _smooth_image(n: int, size: int, seed: int = 0) -> np.ndarray:
    """Smooth random colour fields (uint8): blur, noise and JPEG all show on them."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (n, size // 8, size // 8, 3)).astype(np.uint8)
    return np.stack([np.asarray(Image.fromarray(c).resize((size, size), Image.BICUBIC)) for c in coarse])


# === Kernels ===


@pytest.mark.parametrize("second", [False, True])
def test_random_kernels_sum_to_one_and_stay_in_their_support(second):
    kernels = deg.random_blur_kernels(SEED, 400, CONFIG, second).numpy()
    assert kernels.shape == (400, 21, 21)
    # float32 sums of 441 terms: measured within 3e-7 of 1.
    np.testing.assert_allclose(kernels.sum(axis=(1, 2)), 1.0, atol=1e-6)
    # Every kernel is point-symmetric about the centre (all families are even functions).
    np.testing.assert_allclose(kernels, kernels[:, ::-1, ::-1], atol=1e-7)


def test_kernels_are_cut_to_their_own_size():
    sizes = tf.constant(CONFIG.kernel_sizes)
    cut = deg._normalise(tf.ones([len(CONFIG.kernel_sizes), 21, 21]), sizes).numpy()
    for kernel, size in zip(cut, CONFIG.kernel_sizes, strict=True):
        half = size // 2
        inside = kernel[10 - half : 11 + half, 10 - half : 11 + half]
        np.testing.assert_allclose(inside, 1.0 / size**2, rtol=1e-6)
        assert kernel.sum() == pytest.approx(inside.sum())  # nothing outside


def test_isotropic_gaussian_kernel_is_the_analytic_one():
    sigma = tf.constant([2.0])
    kernel = deg.bivariate_kernels(
        sigma, sigma, tf.constant([0.3]), tf.constant([1.0]), tf.constant([0]), tf.constant([9]), 21
    ).numpy()[0]
    coords = np.arange(-4, 5)
    expected = np.exp(-(coords[:, None] ** 2 + coords[None, :] ** 2) / (2 * 4.0))
    np.testing.assert_allclose(kernel[6:15, 6:15], expected / expected.sum(), rtol=1e-5)
    assert kernel[:6].sum() == 0 and kernel[:, 15:].sum() == 0


def test_anisotropic_kernel_is_elongated_along_theta():
    kernel = deg.bivariate_kernels(
        tf.constant([4.0]), tf.constant([0.5]), tf.constant([0.0]), tf.constant([1.0]),
        tf.constant([0]), tf.constant([21]), 21,
    ).numpy()[0]  # fmt: skip
    # theta = 0: wide along x (columns), narrow along y (rows).
    assert kernel[10, 14] > 100 * kernel[14, 10]


def test_plateau_and_generalized_families_are_the_analytic_ones():
    sigma, beta = 1.5, 4.0
    args = (tf.constant([sigma]), tf.constant([sigma]), tf.constant([0.0]), tf.constant([beta]))
    coords = np.arange(-10, 11)
    q = (coords[:, None] ** 2 + coords[None, :] ** 2) / sigma**2
    for family, formula in ((1, np.exp(-0.5 * q**beta)), (2, 1.0 / (1.0 + q**beta))):
        kernel = deg.bivariate_kernels(*args, tf.constant([family]), tf.constant([21]), 21).numpy()[0]
        np.testing.assert_allclose(kernel, formula / formula.sum(), rtol=1e-4, atol=1e-12)


def test_sinc_kernel_centre_and_sum():
    omega = tf.constant([math.pi / 2])
    kernel = deg.sinc_kernels(omega, tf.constant([21]), 21).numpy()[0]
    assert abs(kernel.sum() - 1.0) < 1e-6
    # Before normalisation the centre is omega^2 / (4 pi) and r = 1 gives omega J1(omega) / (2 pi).
    from scipy.special import j1

    ratio = (math.pi / 2 * j1(math.pi / 2) / (2 * math.pi)) / ((math.pi / 2) ** 2 / (4 * math.pi))
    assert kernel[10, 11] / kernel[10, 10] == pytest.approx(ratio, rel=1e-5)
    assert kernel.min() < 0  # ringing lobes


def test_final_sinc_is_a_sinc_or_the_identity():
    kernels = deg.random_final_sinc(SEED, 200, CONFIG).numpy()
    identity = np.all(kernels == deg.delta_kernels(1, 21).numpy()[0], axis=(1, 2))
    # final_sinc_prob = 0.8 over 200 draws: 40 identities expected, sd 5.7.
    assert 15 <= identity.sum() <= 65
    np.testing.assert_allclose(kernels.sum(axis=(1, 2)), 1.0, atol=1e-6)


def test_filter2d_applies_each_samples_own_kernel():
    images = tf.constant(_smooth_image(3, 32), tf.float32) / 255.0
    kernels = deg.random_blur_kernels(SEED, 3, CONFIG)
    out = deg.filter2d(images, kernels).numpy()
    for i in range(3):
        single = deg.filter2d(images[i : i + 1], kernels[i : i + 1]).numpy()[0]
        np.testing.assert_array_equal(out[i], single)
    # A constant image stays constant (kernel sums to 1, reflected borders).
    flat = deg.filter2d(tf.fill([2, 16, 16, 3], 0.25), kernels[:2]).numpy()
    np.testing.assert_allclose(flat, 0.25, atol=1e-6)


def test_reflect_padding_wider_than_the_image():
    row = tf.constant([[[[0.0], [1.0], [2.0]]]])  # (1, 1, 3, 1)
    padded = deg._reflect(row, 4, 2).numpy().ravel()
    np.testing.assert_array_equal(padded, [0, 1, 2, 1, 0, 1, 2, 1, 0, 1, 2])


# === Resize ===


def test_random_resize_sizes_stay_in_range():
    images = tf.zeros([2, 100, 60, 3])
    sizes = set()
    for i in range(40):
        out = deg.random_resize(images, tf.constant([i, 0], tf.int64), tf.constant([100, 60]),
                                CONFIG.resize_probs, CONFIG.resize_range, CONFIG.resize_modes)  # fmt: skip
        h, w = out.shape[1:3]
        assert 15 <= h <= 150 and 9 <= w <= 90
        sizes.add(h)
    assert any(h < 100 for h in sizes) and any(h > 100 for h in sizes)


# === Noise ===


def test_gaussian_noise_variance_and_gray():
    images = tf.fill([4, 64, 64, 3], 0.5)
    sigma = tf.constant([5.0, 5.0, 20.0, 20.0])
    gray = tf.constant([False, True, False, True])
    noise = (deg.gaussian_noise(images, sigma, gray, SEED) - images).numpy()
    for i in range(4):
        # 12,288 samples: the sample variance's relative sd is sqrt(2/n) = 1.3%; allow 5%.
        assert noise[i].var() == pytest.approx((sigma[i].numpy() / 255) ** 2, rel=0.05)
        channels_equal = np.array_equal(noise[i][..., 0], noise[i][..., 2])
        assert channels_equal == bool(gray[i])


def test_poisson_noise_variance_follows_the_intensity():
    levels = np.array([20, 100, 200], np.float32) / 255.0
    images = tf.constant(np.broadcast_to(levels[:, None, None, None], (3, 64, 64, 3)).copy())
    scale = tf.constant([1.0, 2.0, 0.5])
    noise = (deg.poisson_noise(images, scale, tf.zeros([3], tf.bool), SEED) - images).numpy()
    for i in range(3):
        expected = scale[i].numpy() ** 2 * levels[i] / 255.0
        assert noise[i].var() == pytest.approx(expected, rel=0.05)  # 12,288 samples, as above
        assert abs(noise[i].mean()) < 4 * math.sqrt(expected / noise[i].size)
    inactive = deg.poisson_noise(images, scale, tf.zeros([3], tf.bool), SEED, tf.constant([True, False, True]))
    np.testing.assert_array_equal(inactive[1].numpy(), images[1].numpy())


def test_random_noise_is_clipped():
    out = deg.random_noise(tf.fill([8, 16, 16, 3], 0.99), SEED, 0.5, (20, 30), (2, 3), 0.4).numpy()
    assert out.min() >= 0 and out.max() <= 1 and out.max() == 1.0


# === JPEG ===


@pytest.mark.parametrize("quality", [30, 90])
def test_jpeg_is_the_real_codec(quality):
    images = tf.constant(_smooth_image(2, 64))
    decoded, files = deg.jpeg(images, tf.fill([2], quality))
    for i in range(2):
        reference = tf.io.decode_jpeg(tf.io.encode_jpeg(images[i], quality=quality), dct_method=ISLOW)
        np.testing.assert_array_equal(decoded[i].numpy(), reference.numpy())
        assert files[i].numpy()[:2] == b"\xff\xd8"  # SOI marker
        np.testing.assert_array_equal(tf.io.decode_jpeg(files[i], dct_method=ISLOW).numpy(), decoded[i].numpy())


def test_jpeg_leaves_8x8_blocks():
    # A smooth ramp at quality 10: the error jumps at the 8x8 block borders.
    ramp = np.tile(np.linspace(30, 220, 64, dtype=np.float32), (64, 1))
    image = np.stack([ramp, ramp.T, 0.5 * (ramp + ramp.T)], -1).round().astype(np.uint8)
    decoded, _ = deg.jpeg(tf.constant(image[None]), tf.constant([10]))
    step = np.abs(np.diff(decoded.numpy()[0].astype(float), axis=1)).mean(axis=(0, 2))
    at_borders = step[7::8].mean()
    inside = np.delete(step, np.arange(7, 63, 8)).mean()
    assert at_borders > 1.5 * inside


# === USM ===


def test_usm_sharpens_edges_and_leaves_flat_areas():
    flat = tf.fill([1, 64, 64, 3], 0.4)
    np.testing.assert_allclose(deg.usm_sharpen(flat).numpy(), 0.4, atol=1e-6)
    edge = np.full((1, 64, 64, 3), 0.3, np.float32)
    edge[:, :, 32:] = 0.7
    out = deg.usm_sharpen(tf.constant(edge)).numpy()
    assert out[0, 32, 30, 0] < 0.3 - 0.02 and out[0, 32, 33, 0] > 0.7 + 0.02  # overshoot
    assert out.min() >= 0 and out.max() <= 1


# === The chain ===


@pytest.mark.slow  # ~3 s
def test_degrade_shapes_dtypes_and_determinism():
    hr = tf.constant(_smooth_image(4, 96))
    fn = _DEGRADE
    first = fn(hr, SEED)
    assert first.lr.dtype == tf.uint8 and tuple(first.lr.shape) == (4, 24, 24, 3)
    assert first.jpeg.shape == (4,) and first.ends_in_jpeg.dtype == tf.bool
    again = fn(hr, SEED)
    np.testing.assert_array_equal(first.lr.numpy(), again.lr.numpy())
    other = fn(hr, tf.constant([3, 8], tf.int64))
    assert not np.array_equal(first.lr.numpy(), other.lr.numpy())


@pytest.mark.slow  # ~3 s
def test_degrade_ends_in_jpeg_about_half_the_time_and_files_decode_to_lr():
    hr = tf.constant(_smooth_image(1, 64))
    fn = _DEGRADE
    endings = []
    for i in range(12):
        out = fn(hr, tf.constant([0, i], tf.int64))
        endings.append(bool(out.ends_in_jpeg))
        if out.ends_in_jpeg:
            np.testing.assert_array_equal(tf.io.decode_jpeg(out.jpeg[0], dct_method=ISLOW).numpy(), out.lr[0].numpy())
        else:
            assert out.jpeg[0].numpy() == b""
    assert any(endings) and not all(endings)  # P(all equal) = 2 * 2^-12


def test_degrade_rejects_float_input():
    with pytest.raises(ValueError, match="uint8"):
        deg.degrade(tf.zeros([1, 8, 8, 3]), SEED, CONFIG)


# === Config ===


def test_degradation_config_round_trip_and_errors():
    data = DataConfig(degradation="realistic", realistic=DegradationConfig(jpeg_range=(50, 60)))
    assert DataConfig.from_dict(json.loads(data.to_json())) == data
    assert DataConfig().degradation == "bicubic"
    # A bicubic config serialises as before the fields existed (older run dirs still resume).
    assert "degradation" not in DataConfig().to_dict() and "realistic" not in DataConfig().to_dict()
    assert data.to_dict()["realistic"]["jpeg_range"] == (50, 60)
    for bad in ({"jpeg_range": (0, 50)}, {"sinc_prob": 1.5}, {"kernel_types": ("box",)},
                {"kernel_sizes": (8,)}, {"noise_range": (5.0, 1.0)}):  # fmt: skip
        with pytest.raises(ValueError, match="Received"):
            DegradationConfig(**bad)
    with pytest.raises(ValueError, match="degradation must be"):
        DataConfig(degradation="jpeg")
    with pytest.raises(ValueError, match="realistic.scale"):
        DataConfig(degradation="realistic", scale=2)


# === Pipeline ===


def test_degraded_patches_are_aligned_with_their_hr():
    rows, cols = np.mgrid[0:96, 0:96]
    hr = np.stack([rows, cols, np.full_like(rows, 128)], -1).astype(np.uint8)
    lr_p, hr_p = random_degraded_patches(
        tf.constant(hr), SEED, count=6, lr_patch=8, scale=4, config=CONFIG
    )
    assert lr_p.shape == (6, 8, 8, 3) and hr_p.shape == (6, 32, 32, 3) and lr_p.dtype == tf.uint8
    for patch in hr_p.numpy():
        r = patch[..., 0].astype(int)
        assert r.max() - r.min() == 31 and r.min() % 4 == 0


def test_usm_target_sharpens_the_hr_patch():
    image = _smooth_image(1, 96)[0]
    config = dataclasses.replace(CONFIG, usm_target=True)
    _, plain = random_degraded_patches(tf.constant(image), SEED, count=2, lr_patch=8, scale=4, config=CONFIG)
    _, sharp = random_degraded_patches(tf.constant(image), SEED, count=2, lr_patch=8, scale=4, config=config)
    assert not np.array_equal(plain.numpy(), sharp.numpy())


@pytest.mark.slow
def test_realistic_folder_dataset(tmp_path):
    folder = tmp_path / "hr"
    folder.mkdir()
    for i, image in enumerate(_smooth_image(2, 64)):
        Image.fromarray(image).save(folder / f"{i}.png")
    config = DataConfig(
        sources=(str(folder),), lr_patch=6, batch_size=4, patches_per_image=2, shuffle_buffer=4,
        degradation="realistic", seed=5,
    )  # fmt: skip
    first = [(lr.numpy(), hr.numpy()) for lr, hr in make_train_dataset(config).take(2)]
    again = [(lr.numpy(), hr.numpy()) for lr, hr in make_train_dataset(config).take(2)]
    for (lr, hr), (lr2, hr2) in zip(first, again, strict=True):
        assert lr.shape == (4, 6, 6, 3) and hr.shape == (4, 24, 24, 3) and lr.dtype == np.float32
        assert lr.min() >= 0 and lr.max() <= 1
        np.testing.assert_array_equal(lr, lr2)
        np.testing.assert_array_equal(hr, hr2)


def test_degraded_lr_is_aligned_with_its_hr_patch():
    # Nearly no degradation: the chain reduces to resizes by 1/4, so each LR patch must match
    # the box average of its HR patch, and fit worse when shifted by one LR pixel.
    mild = dataclasses.replace(
        CONFIG, sinc_prob=0.0, sinc_prob2=0.0, blur_sigma=(0.2, 0.2), second_blur_prob=0.0,
        resize_probs=(0.0, 0.0, 1.0), resize_probs2=(0.0, 0.0, 1.0), noise_range=(0.01, 0.01),
        noise_range2=(0.01, 0.01), poisson_scale_range=(0.001, 0.001), poisson_scale_range2=(0.001, 0.001),
        jpeg_range=(100, 100), jpeg_range2=(100, 100), final_sinc_prob=0.0, resize_modes=("area",),
    )  # fmt: skip
    # Gray: even at quality 100 JPEG halves the chroma resolution (up to 31 levels measured
    # on a colour field), which would swamp the alignment signal.
    image = np.repeat(_smooth_image(1, 128, seed=3)[0][..., :1], 3, axis=-1)
    lr_p, hr_p = random_degraded_patches(tf.constant(image), SEED, count=4, lr_patch=12, scale=4, config=mild)
    lr = lr_p.numpy().astype(float)
    box = hr_p.numpy().astype(float).reshape(4, 12, 4, 12, 4, 3).mean(axis=(2, 4))
    aligned = np.abs(lr - box).mean()
    shifted = np.abs(lr[:, 1:] - box[:, :-1]).mean()
    # Measured: 0.32 levels aligned (8-bit rounding, JPEG at 100), 26 shifted by one pixel.
    assert aligned < 1.0 and shifted > 10 * aligned


@pytest.mark.slow
def test_realistic_tfds_source_uses_its_hr(tmp_path):
    from pathlib import Path

    import tfds_builders

    config = DataConfig(
        sources=("srfm_set5",), split="test", lr_patch=6, batch_size=4, patches_per_image=2,
        shuffle_buffer=4, degradation="realistic", data_dir=str(tmp_path / "tfds"),
        manual_dir=str(Path(tfds_builders.__file__).parent / "srfm_set5" / "dummy_data"),
    )  # fmt: skip
    for lr, hr in make_train_dataset(config).take(2):
        assert lr.shape == (4, 6, 6, 3) and hr.shape == (4, 24, 24, 3)
        assert lr.dtype == tf.float32 and float(tf.reduce_max(lr)) <= 1.0


# === The degradation ladder ===


def _distance_from_bicubic(config: DegradationConfig, hr: np.ndarray, seeds: int = 6) -> float:
    """Mean |LR - MATLAB bicubic LR| (0-255) over a few seeds: how far a rung moves the input."""
    from keras_srfm.imaging.imresize import imresize

    clean = np.stack([imresize(image, scale=0.25) for image in hr]).astype(np.float32)
    fn = tf.function(lambda x, s: deg.degrade(x, s, config).lr)
    total = 0.0
    for seed in range(seeds):
        lr = fn(tf.constant(hr), tf.constant([seed, 1], tf.int64)).numpy().astype(np.float32)
        total += float(np.abs(lr - clean).mean())
    return total / seeds


@pytest.mark.slow  # ~6 s: three chains traced
def test_ladder_rungs_move_the_input_further_from_bicubic_in_order():
    hr = _smooth_image(4, 96, seed=1)
    mild, medium, strong = (_distance_from_bicubic(DegradationConfig.preset(s), hr) for s in ("mild", "medium", "strong"))
    assert mild < medium < strong, (mild, medium, strong)


def test_presets_are_valid_and_strong_is_real_esrgan():
    assert DegradationConfig.preset("strong") == DegradationConfig()
    mild = DegradationConfig.preset("mild")
    assert mild.second_round_prob == 0 and mild.jpeg_prob == 0 and mild.jpeg_range2 == (60, 90)
    with pytest.raises(ValueError, match="strength must be one of"):
        DegradationConfig.preset("clean")  # MATLAB bicubic, not a chain
    with pytest.raises(ValueError, match="noise_prob must be in"):
        DegradationConfig(noise_prob=1.5)


def test_skipped_stages_leave_the_image_alone():
    # Every optional stage off and no final sinc: the chain is a resize plus one JPEG.
    config = DegradationConfig(
        blur_prob=0.0, noise_prob=0.0, jpeg_prob=0.0, second_round_prob=0.0,
        resize_probs=(0.0, 0.0, 1.0), final_sinc_prob=0.0, resize_modes=("area",), jpeg_range2=(100, 100),
    )  # fmt: skip
    hr = _smooth_image(2, 64)
    area = tf.image.resize(tf.constant(hr, tf.float32), (16, 16), method="area").numpy()

    def distance(config: DegradationConfig) -> float:
        return float(np.abs(deg.degrade(tf.constant(hr), SEED, config).lr.numpy() - area).mean())

    # Measured on these images (mean levels, 0-255): 1.67 with every stage off (JPEG at 100
    # with chroma subsampling), 11.4 with the round-1 blur on (sigma 2-3), 3.9 with Gaussian
    # noise on (sigma 10-30, averaged down by the x4 area resize).
    assert distance(config) < 2.5
    assert distance(dataclasses.replace(config, blur_prob=1.0, blur_sigma=(2.0, 3.0))) > 2.5
    noisy = dataclasses.replace(config, noise_prob=1.0, noise_range=(10.0, 30.0), gaussian_noise_prob=1.0)
    assert distance(noisy) > 2.5


def test_ladder_config_checks_and_serialisation():
    config = DataConfig(degradation="ladder", ladder=(0.1, 0.2, 0.3, 0.4))
    assert DataConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert "ladder" not in DataConfig().to_dict()  # older run folders still resume
    with pytest.raises(ValueError, match="ladder needs 4 weights"):
        DataConfig(degradation="ladder", ladder=(1.0, 0.0))
    with pytest.raises(ValueError, match="degradation"):
        DataConfig(degradation="jpeg")


@pytest.mark.slow  # ~8 s: the four rungs are traced
def test_ladder_dataset_draws_every_rung(tmp_path):
    from keras_srfm.data.pipeline import random_ladder_patches

    hr = tf.constant(_smooth_image(1, 64)[0])
    kwargs = {"count": 2, "lr_patch": 8, "scale": 4}
    clean_only = random_ladder_patches(hr, SEED, weights=(1, 0, 0, 0), **kwargs)
    strong_only = random_ladder_patches(hr, SEED, weights=(0, 0, 0, 1), **kwargs)
    np.testing.assert_array_equal(clean_only[1].numpy(), strong_only[1].numpy())  # same HR patches
    assert not np.array_equal(clean_only[0].numpy(), strong_only[0].numpy())
    # The clean rung is MATLAB bicubic of the patch window (as `lr_from="window"`).
    from keras_srfm.imaging.imresize import imresize

    for lr, hr_patch in zip(clean_only[0].numpy(), clean_only[1].numpy(), strict=True):
        inner = imresize(hr_patch, scale=0.25)[2:-2, 2:-2].astype(int)  # away from the window's edge
        assert np.abs(lr[2:-2, 2:-2].astype(int) - inner).max() <= 1
    folder = tmp_path / "hr"
    folder.mkdir()
    for i, image in enumerate(_smooth_image(3, 64)):
        Image.fromarray(image).save(folder / f"{i}.png")
    config = DataConfig(
        sources=(str(folder),), lr_patch=6, batch_size=4, patches_per_image=2, shuffle_buffer=4,
        degradation="ladder", seed=5,
    )  # fmt: skip
    lr, hr_batch = next(iter(make_train_dataset(config)))
    assert lr.shape == (4, 6, 6, 3) and hr_batch.shape == (4, 24, 24, 3)
