"""keras_srfm.data: aligned patches, augmentation, mixing, determinism, bad files, stats."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import tfds_builders
from keras_srfm import cli
from keras_srfm.config import DataConfig
from keras_srfm.data.files import list_images
from keras_srfm.data.pipeline import (
    bicubic_lr,
    decode_hr,
    make_dataset_fn,
    make_train_dataset,
    random_patches,
    random_window_patches,
)
from keras_srfm.data.stats import compute_rgb_stats, load_rgb_mean
from keras_srfm.imaging.imresize import imresize

BUILDERS_DIR = Path(tfds_builders.__file__).parent


def _save(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)
    return path


def _coordinate_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """R = row, G = column (so a patch tells where it came from), B = noise."""
    rows, cols = np.mgrid[0:height, 0:width]
    noise = np.random.default_rng(seed).integers(0, 256, (height, width))
    return np.stack([rows, cols, noise], axis=-1).astype(np.uint8)


def _small_config(sources, **overrides) -> DataConfig:
    values = dict(
        sources=tuple(str(s) for s in sources),
        lr_patch=4,
        batch_size=4,
        patches_per_image=2,
        shuffle_buffer=8,
    )
    values.update(overrides)
    return DataConfig(**values)


def _take(ds: tf.data.Dataset, batches: int) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(lr.numpy(), hr.numpy()) for lr, hr in ds.take(batches)]


# === Patches: alignment and augmentation ===


def _check_alignment(lr_p: np.ndarray, hr_p: np.ndarray, lr_whole: np.ndarray, scale: int) -> set:
    """Each HR patch is a scale-aligned block under one symmetry, and LR matches it."""
    symmetries = set()
    size = hr_p.shape[1]
    for lr, hr in zip(lr_p, hr_p, strict=True):
        rows, cols = hr[..., 0].astype(int), hr[..., 1].astype(int)
        top, left = rows.min(), cols.min()
        assert top % scale == 0 and left % scale == 0
        assert rows.max() - top == size - 1 and cols.max() - left == size - 1
        transposed = rows[0, 1] != rows[0, 0]  # moving along a row changes the source row
        symmetries.add((bool(transposed), bool(rows[0, 0] != top), bool(cols[0, 0] != left)))
        # LR pixel (u, v) is made from the HR block at (scale*u, scale*v) of the patch.
        starts = np.arange(0, size, scale)
        lr_rows = np.minimum.reduceat(np.minimum.reduceat(rows, starts, 0), starts, 1) // scale
        lr_cols = np.minimum.reduceat(np.minimum.reduceat(cols, starts, 0), starts, 1) // scale
        np.testing.assert_array_equal(lr, lr_whole[lr_rows, lr_cols])
    return symmetries


@pytest.mark.parametrize("scale", [2, 4])
def test_random_patches_are_aligned_and_cover_all_symmetries(scale):
    hr = _coordinate_image(96, 120)
    lr = imresize(hr, scale=1 / scale)
    lr_p, hr_p = random_patches(
        tf.constant(lr),
        tf.constant(hr),
        tf.constant([1, 2], tf.int64),
        count=64,
        lr_patch=6,
        scale=scale,
    )
    assert lr_p.shape == (64, 6, 6, 3) and hr_p.shape == (64, 6 * scale, 6 * scale, 3)
    assert lr_p.dtype == tf.uint8
    symmetries = _check_alignment(lr_p.numpy(), hr_p.numpy(), lr, scale)
    assert len(symmetries) == 8  # rotations x flips: all 8 maps occur in 64 draws


def test_window_lr_equals_whole_image_lr():
    """`lr_from="window"` is bit-exact with cutting the LR of the whole image."""
    hr = _coordinate_image(100, 124, seed=3)  # 124 = 4 * 31: mod-cropped already
    lr_whole = imresize(hr, scale=0.25)
    lr_p, hr_p = random_window_patches(
        tf.constant(hr), tf.constant([5, 6], tf.int64), count=64, lr_patch=6, scale=4
    )
    _check_alignment(lr_p.numpy(), hr_p.numpy(), lr_whole, 4)  # border patches included


def test_window_and_image_modes_agree_on_a_real_image(shared_data):
    hr = tf.io.decode_png(tf.io.read_file(str(shared_data / "benchmarks/Set5/HR/baby.png")), 3)
    seed = tf.constant([7, 8], tf.int64)
    kwargs = dict(count=32, lr_patch=24, scale=4)
    a = random_patches(bicubic_lr(hr, 4), hr, seed, **kwargs)
    b = random_window_patches(hr, seed, **kwargs)
    np.testing.assert_array_equal(a[0].numpy(), b[0].numpy())
    np.testing.assert_array_equal(a[1].numpy(), b[1].numpy())


# === Datasets from folders ===


@pytest.fixture
def hr_folder(tmp_path) -> Path:
    folder = tmp_path / "hr"
    for i in range(4):
        _save(folder / f"sub{i % 2}" / f"img{i}.png", _coordinate_image(36 + 4 * i, 42 + i, seed=i))
    return folder


@pytest.mark.parametrize("lr_from", ["image", "window"])
def test_folder_dataset_shapes_range_and_alignment(hr_folder, lr_from):
    config = _small_config([hr_folder], batch_size=6)
    ds = make_train_dataset(config, lr_from=lr_from)
    assert ds.element_spec[0].shape == (6, 4, 4, 3)
    assert ds.element_spec[1].shape == (6, 16, 16, 3)
    for lr, hr in _take(ds, 3):
        assert lr.dtype == np.float32 and lr.min() >= 0.0 and hr.max() <= 1.0
        hr_u8 = np.round(hr * 255).astype(np.uint8)
        lr_u8 = np.round(lr * 255).astype(np.uint8)
        # All images share R = row and G = column, so the alignment check applies; the
        # LR to compare with is that of the image the patch came from (found by its noise).
        for lr_one, hr_one in zip(lr_u8, hr_u8, strict=True):
            matches = []
            for path in sorted(hr_folder.rglob("*.png")):
                image = np.asarray(Image.open(path))
                image = image[: image.shape[0] // 4 * 4, : image.shape[1] // 4 * 4]
                r, c = hr_one[..., 0].astype(int), hr_one[..., 1].astype(int)
                inside = r.max() < image.shape[0] and c.max() < image.shape[1]
                if inside and (image[r, c] == hr_one).all():
                    matches.append(imresize(image, scale=0.25))
            assert matches, "HR patch not found in any image"
            _check_alignment(lr_one[None], hr_one[None], matches[0], 4)


@pytest.mark.slow  # ~2 s: four streams
def test_same_seed_same_stream_other_seed_other_stream(hr_folder):
    first = _take(make_train_dataset(_small_config([hr_folder], seed=3)), 3)
    again = _take(make_train_dataset(_small_config([hr_folder], seed=3)), 3)
    other = _take(make_train_dataset(_small_config([hr_folder], seed=4)), 3)
    for (a, b), (c, d) in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)
    assert any(not np.array_equal(a[1], c[1]) for a, c in zip(first, other, strict=True))


def test_mix_follows_weights(tmp_path):
    dark = tmp_path / "dark"
    light = tmp_path / "light"
    for i in range(3):
        _save(dark / f"{i}.png", np.full((32, 32, 3), 10, np.uint8))
        _save(light / f"{i}.png", np.full((32, 32, 3), 240, np.uint8))
    config = _small_config([dark, light], weights=(0.8, 0.2), batch_size=50, shuffle_buffer=4)
    hr = np.concatenate([hr for _, hr in _take(make_train_dataset(config, cache=True), 8)])
    light_share = float((hr[:, 0, 0, 0] > 0.5).mean())
    assert 0.1 < light_share < 0.3


def test_bad_images_skipped_with_one_warning_each_or_error(hr_folder, caplog):
    (hr_folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    truncated = (hr_folder / "sub0" / "img0.png").read_bytes()[:100]
    (hr_folder / "cut.png").write_bytes(truncated)
    _save(hr_folder / "tiny.png", np.zeros((8, 8, 3), np.uint8))  # smaller than the HR patch
    with caplog.at_level(logging.WARNING, logger="keras_srfm.data"):
        files = list_images(hr_folder, min_size=16)
    assert len(files) == 4
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 3
    assert {Path(m.split()[3].rstrip(":")).name for m in warned} == {
        "broken.png",
        "cut.png",
        "tiny.png",
    }
    # The dataset still runs (no hang) with the good files.
    assert len(_take(make_train_dataset(_small_config([hr_folder])), 2)) == 2
    with pytest.raises(ValueError, match=r"broken\.png"):
        make_train_dataset(_small_config([hr_folder], on_bad_image="error"))


def test_formats_tf_data_cannot_decode_are_named_not_dropped_silently(hr_folder, caplog):
    rgb = _coordinate_image(36, 40, seed=9)
    Image.fromarray(rgb).save(hr_folder / "photo.webp", lossless=True)
    Image.fromarray(rgb).save(hr_folder / "scan.tiff")
    Image.fromarray(np.dstack([rgb, rgb[..., :1]])).save(hr_folder / "alpha.webp", lossless=True)
    (hr_folder / "notes.txt").write_text("not an image")
    (hr_folder / ".hidden.png").write_bytes(b"")  # hidden files are ignored without a word
    with caplog.at_level(logging.WARNING, logger="keras_srfm.data"):
        files = list_images(hr_folder, min_size=16)
    assert sorted(Path(f).name for f in files) == [
        "img0.png", "img1.png", "img2.png", "img3.png", "photo.webp",
    ]  # fmt: skip
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 2
    skipped = next(m for m in warned if m.startswith("skipped 2 file(s)"))
    assert "notes.txt" in skipped and "scan.tiff" in skipped and "no TIFF decoder" in skipped
    alpha = next(m for m in warned if "alpha.webp" in m)
    assert "alpha channel" in alpha
    # What is listed decodes in tf.data; the RGBA WebP would not have.
    webp = decode_hr(tf.constant(str(hr_folder / "photo.webp")), 4).numpy()
    np.testing.assert_array_equal(webp, rgb[:36, :40])
    with pytest.raises(tf.errors.InvalidArgumentError):
        decode_hr(tf.constant(str(hr_folder / "alpha.webp")), 4)


def test_missing_or_empty_sources_are_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        make_train_dataset(_small_config([tmp_path / "nowhere"]))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="No images"):
        make_train_dataset(_small_config([tmp_path / "empty"]))
    with pytest.raises(ValueError, match="neither a folder nor a TFDS dataset"):
        make_train_dataset(_small_config(["no_such_dataset_name"]))


# === TFDS sources and distribution ===


def test_tfds_source_mixed_with_folder(hr_folder, tmp_path):
    config = _small_config(
        ["srfm_set5", hr_folder],
        split="test",
        data_dir=str(tmp_path / "tfds"),
        manual_dir=str(BUILDERS_DIR / "srfm_set5/dummy_data"),  # prepared on first use
    )
    for lr, hr in _take(make_train_dataset(config), 4):
        assert lr.shape == (4, 4, 4, 3) and hr.shape == (4, 16, 16, 3)
    with pytest.raises(ValueError, match="no split"):
        make_train_dataset(
            _small_config(["srfm_set5"], split="train", data_dir=str(tmp_path / "tfds"))
        )


def test_dataset_fn_per_replica_batch_and_pipelines_differ(hr_folder):
    fn = make_dataset_fn(_small_config([hr_folder], batch_size=8))
    contexts = [tf.distribute.InputContext(2, i, 4) for i in range(2)]  # 2 hosts, 4 replicas
    streams = [_take(fn(ctx), 2) for ctx in contexts]
    assert streams[0][0][0].shape == (2, 4, 4, 3)  # 8 global / 4 replicas
    assert not np.array_equal(streams[0][0][1], streams[1][0][1])


@pytest.mark.slow
def test_distribute_datasets_from_function_two_replicas(hr_folder):
    """Under a real MirroredStrategy (2 logical CPUs; own process, devices set at start)."""
    code = textwrap.dedent(
        f"""
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from keras_srfm.config import DataConfig
        from keras_srfm.data.pipeline import make_dataset_fn
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        config = DataConfig(sources=({str(hr_folder)!r},), lr_patch=4, batch_size=8,
                            patches_per_image=2, shuffle_buffer=8)
        dist = strategy.distribute_datasets_from_function(make_dataset_fn(config))
        lr, hr = next(iter(dist))
        shapes = [tuple(t.shape) for t in strategy.experimental_local_results(hr)]
        print("SHAPES", shapes)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "SHAPES [(4, 16, 16, 3), (4, 16, 16, 3)]" in out.stdout


# === Statistics and `srfm stats` ===


def test_rgb_stats_exact(tmp_path):
    _save(tmp_path / "a" / "red.png", np.tile(np.array([255, 0, 51], np.uint8), (4, 6, 1)))
    _save(tmp_path / "a" / "deep" / "gray.png", np.full((2, 6), 102, np.uint8))  # grayscale
    stats = compute_rgb_stats([str(tmp_path / "a")])
    assert stats["num_images"] == 2 and stats["num_pixels"] == 36
    expected = (np.array([255, 0, 51]) * 24 + 102 * 12) / 36 / 255
    np.testing.assert_allclose(stats["rgb_mean"], expected, atol=1e-6)


def test_rgb_stats_of_a_tfds_source(tmp_path):
    stats = compute_rgb_stats(
        ["srfm_set5"],
        split="test",
        data_dir=str(tmp_path),
        manual_dir=str(BUILDERS_DIR / "srfm_set5/dummy_data"),
    )
    assert stats["num_images"] == 2 and stats["num_pixels"] == 40 * 40 + 32 * 44
    assert all(0 < v < 1 for v in stats["rgb_mean"])


def test_srfm_stats_command(tmp_path, capsys, shared_data):
    out = tmp_path / "stats.json"
    assert cli.main(["stats", str(shared_data / "benchmarks/Set5/HR"), "--json", str(out)]) == 0
    assert "RGB mean on [0, 1]" in capsys.readouterr().out
    stored = json.loads(out.read_text())
    assert stored["num_images"] == 5
    assert load_rgb_mean(out) == tuple(stored["rgb_mean"])
    np.testing.assert_allclose(stored["rgb_mean"], [0.551635, 0.442834, 0.338273], atol=1e-6)


def test_srfm_stats_errors_are_one_line(tmp_path, capsys):
    assert cli.main(["stats", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("srfm stats: error:") and "missing" in err and "\n" not in err
    bad = tmp_path / "bad.json"
    bad.write_text('{"rgb_mean": [1, 2]}')
    with pytest.raises(ValueError, match="bad.json"):
        load_rgb_mean(bad)
