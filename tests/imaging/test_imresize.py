"""MATLAB-compatible bicubic: golden vectors (Set5/Set14 LR_bicubic), NumPy == TF, edge cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_srfm.imaging import imresize as imresize_module
from keras_srfm.imaging.imresize import imresize, imresize_tf, nearest

# Kernel numerics: .ci/run also runs the tests that read real images (slow) with oneDNN off.
pytestmark = pytest.mark.numeric


def _pairs(shared_data: Path, name: str) -> list[tuple[Path, Path]]:
    root = shared_data / "benchmarks" / name
    hr = sorted((root / "HR").glob("*.png"))
    assert hr, f"no HR images in {root / 'HR'}"
    return [(p, root / "LR_bicubic" / "X4" / f"{p.stem}x4.png") for p in hr]


def _load(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


# === Golden vectors ===


@pytest.mark.parametrize("name", ["Set5", "Set14"])
def test_numpy_matches_matlab_lr_files(shared_data: Path, name: str) -> None:
    for hr_path, lr_path in _pairs(shared_data, name):
        lr = imresize(_load(hr_path), 1 / 4)
        expected = _load(lr_path)
        assert lr.dtype == np.uint8
        assert lr.shape == expected.shape, hr_path.name
        assert np.count_nonzero(lr != expected) == 0, hr_path.name


@pytest.mark.parametrize("name", ["Set5", "Set14"])
def test_tf_in_tf_data_matches_matlab_lr_files(shared_data: Path, name: str) -> None:
    pairs = _pairs(shared_data, name)
    files = tf.data.Dataset.from_tensor_slices([str(hr) for hr, _ in pairs])
    # Dynamic (None, None, 3) shapes inside Dataset.map: the run-time table path.
    dataset = files.map(
        lambda f: imresize_tf(tf.io.decode_png(tf.io.read_file(f), channels=3), scale=1 / 4)
    )
    for (hr_path, lr_path), lr in zip(pairs, dataset, strict=True):
        assert np.count_nonzero(lr.numpy() != _load(lr_path)) == 0, hr_path.name


def test_tf_static_shape_matches_matlab_lr_file(shared_data: Path) -> None:
    hr_path, lr_path = _pairs(shared_data, "Set14")[2]  # bridge: grayscale PNG
    lr = imresize_tf(tf.constant(_load(hr_path)), scale=0.25)
    assert lr.dtype == tf.uint8
    assert np.count_nonzero(lr.numpy() != _load(lr_path)) == 0


def test_bsd100_interior_matches(shared_data: Path) -> None:
    # The SelfExSR-pack LR differ from MATLAB on the outermost 2 pixels only.
    for hr_path, lr_path in _pairs(shared_data, "BSD100"):
        lr = imresize(_load(hr_path), 1 / 4)
        expected = _load(lr_path)
        assert lr.shape == expected.shape
        assert np.count_nonzero(lr[2:-2, 2:-2] != expected[2:-2, 2:-2]) == 0, hr_path.name


def test_per_pass_rounding_and_order_matter(shared_data: Path) -> None:
    hr_path, lr_path = _pairs(shared_data, "Set5")[2]  # butterfly
    hr, expected = _load(hr_path), _load(lr_path)
    # Float pipeline rounded once at the end: not bit-exact.
    once = np.floor(np.clip(imresize(hr.astype(np.float64), 1 / 4), 0, 255) + 0.5)
    assert np.count_nonzero(once != expected) > 0
    # Columns first instead of rows first: not bit-exact either.
    cols = imresize_module._resize_axis_np(hr.astype(np.float64), 1, hr.shape[1] // 4, 0.25, True)
    both = imresize_module._resize_axis_np(cols, 0, hr.shape[0] // 4, 0.25, True)
    assert np.count_nonzero(both.astype(np.uint8) != expected) > 0


# === NumPy == TF on other scales and shapes ===


@pytest.mark.parametrize(
    ("scale", "output_shape"),
    [(4, None), (1 / 3, None), (0.5, None), (None, (37, 50)), (None, (51, 13)), (None, (120, 9))],
)
def test_tf_matches_numpy(scale: float | None, output_shape: tuple[int, int] | None) -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(30, 41, 3), dtype=np.uint8)
    expected = imresize(image, scale, output_shape)
    np.testing.assert_array_equal(imresize_tf(image, scale, output_shape).numpy(), expected)

    spec = tf.TensorSpec([None, None, 3], tf.uint8)
    dynamic = tf.function(lambda x: imresize_tf(x, scale, output_shape), input_signature=[spec])
    np.testing.assert_array_equal(dynamic(image).numpy(), expected)

    as_float = image.astype(np.float32) / 255
    np.testing.assert_allclose(
        imresize_tf(as_float, scale, output_shape).numpy(),
        imresize(as_float, scale, output_shape),
        atol=1e-6,
    )


def test_tf_dynamic_output_shape_tensors() -> None:
    image = np.random.default_rng(1).integers(0, 256, size=(25, 19), dtype=np.uint8)
    spec = [tf.TensorSpec([None, None], tf.uint8), tf.TensorSpec([], tf.int32)]
    fn = tf.function(lambda x, h: imresize_tf(x, output_shape=(h, 7)), input_signature=spec)
    for height in (9, 60):  # pass order flips between the two
        np.testing.assert_array_equal(
            fn(image, height).numpy(), imresize(image, output_shape=(height, 7))
        )


def test_tf_batch() -> None:
    batch = np.random.default_rng(2).integers(0, 256, size=(2, 16, 12, 3), dtype=np.uint8)
    out = imresize_tf(batch, scale=0.25).numpy()
    assert out.shape == (2, 4, 3, 3)
    np.testing.assert_array_equal(out[1], imresize(batch[1], 0.25))


# === Properties ===


def test_float_mode_is_float64_and_preserves_constants() -> None:
    image = np.full((12, 20), 0.3, dtype=np.float32)
    for scale in (0.25, 4, 1 / 3):
        out = imresize(image, scale)
        assert out.dtype == np.float64
        np.testing.assert_allclose(out, 0.3, atol=1e-12)


def test_output_size_is_ceil() -> None:
    image = np.zeros((10, 7, 3), dtype=np.uint8)
    assert imresize(image, 1 / 4).shape == (3, 2, 3)
    assert imresize(image, output_shape=(5, 9)).shape == (5, 9, 3)
    assert tuple(imresize_tf(image, 1 / 4).shape) == (3, 2, 3)


def test_uint8_saturates() -> None:
    # A step edge overshoots with the a=-0.5 kernel; uint8 output must clip, not wrap.
    image = np.zeros((8, 8), dtype=np.uint8)
    image[:, 4:] = 255
    out = imresize(image, 4)
    assert out.min() == 0 and out.max() == 255
    assert np.array_equal(imresize_tf(image, 4).numpy(), out)


def test_nearest() -> None:
    image = np.arange(6, dtype=np.uint8).reshape(2, 3)
    out = nearest(image, 2)
    np.testing.assert_array_equal(out[:2, :2], 0)
    assert out.shape == (4, 6)
    assert nearest(np.zeros((2, 3, 3), np.uint8), 4).shape == (8, 12, 3)
    with pytest.raises(ValueError, match="Received"):
        nearest(image, 1.5)


def test_bad_arguments() -> None:
    image = np.zeros((4, 4), dtype=np.uint8)
    with pytest.raises(ValueError, match="Received"):
        imresize(image)
    with pytest.raises(ValueError, match="Received"):
        imresize(image, 0.5, (2, 2))
    with pytest.raises(ValueError, match="Received"):
        imresize(image, -1.0)
    with pytest.raises(ValueError, match="Received"):
        imresize(np.zeros((2, 2, 2, 2)), 2)
    with pytest.raises(ValueError, match="Received"):
        imresize_tf(image)
