"""keras_srfm.inference.upscalers: tiling (exact crop-stitching), upscaler loading, image I/O."""

from __future__ import annotations

import io
import os
import shutil
import sys

import keras
import numpy as np
import pytest
from PIL import Image

from keras_srfm.imaging import image_io
from keras_srfm.imaging.image_io import ImageError, read_image, to_uint8, write_image
from keras_srfm.imaging.imresize import imresize, nearest
from keras_srfm.inference import upscalers
from keras_srfm.inference.tiling import receptive_radius, tile_spans, tiled_apply
from keras_srfm.inference.upscalers import KerasUpscaler, load_upscaler, upscale_loaded
from keras_srfm.models.generator import build_generator


@pytest.fixture(scope="module")
def generator() -> keras.Model:
    # init_scale=0.6 (6x the paper's x0.1): outputs vary over [0, 1] instead of sitting at the mean.
    keras.utils.set_random_seed(0)
    return build_generator(num_blocks=2, filters=8, init_scale=0.6)


@pytest.fixture(scope="module")
def keras_file(generator, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    generator.save(path)
    return str(path)


def _image(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


# === Tiling ===


@pytest.mark.parametrize("length", [1, 23, 24, 25, 40, 57, 100])
@pytest.mark.parametrize(("tile", "overlap"), [(24, 8), (24, 0), (17, 8), (100, 20)])
def test_tile_spans_partition_and_context(length, tile, overlap):
    spans = tile_spans(length, tile, overlap)
    keeps = [(k0, k1) for _, _, k0, k1 in spans]
    assert keeps[0][0] == 0 and keeps[-1][1] == length
    assert all(a[1] == b[0] and a[0] < a[1] for a, b in zip(keeps, keeps[1:], strict=False))
    for i0, i1, k0, k1 in spans:
        assert i1 - i0 == min(tile, length)
        assert 0 <= i0 <= k0 < k1 <= i1 <= length
        # every kept pixel is `overlap` away from a window edge, unless that edge is the image's
        assert i0 == 0 or k0 - i0 >= overlap
        assert i1 == length or i1 - k1 >= overlap


def test_tile_spans_rejects_tiles_without_a_core():
    with pytest.raises(ValueError, match="Received: tile_size=16, tile_overlap=8"):
        tile_spans(40, 16, 8)


def test_receptive_radius_counts_convs():
    # 2 blocks: 6 convs at LR (head, 4 in blocks, body) + up1 conv = 7; + 1/2 + 1/4 -> 8.
    assert receptive_radius(build_generator(num_blocks=2, filters=8)) == 8
    # Paper network (16 blocks): 34 + 1 + 1/2 + 1/4 -> 36.
    assert receptive_radius(build_generator(num_blocks=16, filters=4)) == 36


def test_tiled_output_equals_untiled(generator):
    image = np.random.default_rng(1).random((40, 57, 3)).astype("float32")

    def run(tile: np.ndarray) -> np.ndarray:
        return generator(tile[None], training=False).numpy()[0]

    full = run(image)
    assert full.std() > 0.05  # the generator's output is not flat
    radius = receptive_radius(generator)
    tiled = tiled_apply(image, run, tile_size=24, overlap=radius)
    assert tiled.shape == full.shape
    assert np.abs(tiled - full).max() <= 1e-5
    # One pixel less context than the radius is visibly wrong: the test can fail.
    short = tiled_apply(image, run, tile_size=24, overlap=radius - 1)
    assert np.abs(short - full).max() > 1e-3


def test_keras_upscaler_tiled_matches_untiled_uint8(generator):
    image = _image(37, 53)
    untiled = KerasUpscaler(generator, tile_size=0)(image)
    tiled = KerasUpscaler(generator, tile_size=20)(image)
    reference = to_uint8(generator(image[None].astype("float32") / 255.0).numpy()[0])
    assert untiled.shape == tiled.shape == (148, 212, 3) and tiled.dtype == np.uint8
    for result in (untiled, tiled):
        diff = np.abs(result.astype(int) - reference)
        # float rounding may flip a value sitting on a .5 boundary, nothing more
        assert diff.max() <= 1 and (diff > 0).mean() < 1e-3


def test_keras_upscaler_float_path_keeps_float_precision(generator):
    """The 16-bit path: float32 in, float32 out, no 8-bit step; tiled equals untiled."""
    image = np.random.default_rng(2).random((37, 53, 3)).astype("float32")
    reference = np.clip(generator(image[None], training=False).numpy()[0], 0.0, 1.0)
    for tile in (0, 20):
        upscaler = KerasUpscaler(generator, tile_size=tile)
        assert upscaler.float_native
        result = upscaler.upscale_float(image)
        assert result.dtype == np.float32 and result.shape == (148, 212, 3)
        assert np.abs(result - reference).max() <= 1e-5  # the tiling bound measured above
    # Not quantised to 8 bits: most values lie between two multiples of 1/255.
    assert (np.abs(reference * 255 - np.rint(reference * 255)) > 0.01).mean() > 0.9


def test_float_saved_model_keeps_float_precision(generator, tmp_path):
    """A plain `model.export` SavedModel (float32 signature) takes 16-bit input unrounded."""
    generator.export(str(tmp_path / "sm"), verbose=False)
    upscaler = upscalers.load_upscaler(tmp_path / "sm", tile_size=0)
    assert isinstance(upscaler, upscalers.SavedModelUpscaler) and upscaler.float_native
    image = np.random.default_rng(6).random((9, 11, 3)).astype("float32")
    reference = np.clip(generator(image[None], training=False).numpy()[0], 0.0, 1.0)
    # Same graph: measured 0.0 here with oneDNN on and off (TF_ENABLE_ONEDNN_OPTS=1 / 0).
    np.testing.assert_array_equal(upscaler.upscale_float(image), reference)


def test_upscaler_rejects_bad_input_and_bad_tiles(generator):
    with pytest.raises(ValueError, match="uint8"):
        KerasUpscaler(generator)(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="tile_overlap=8"):
        KerasUpscaler(generator, tile_size=16)


# === load_upscaler ===


def test_load_upscaler_baselines():
    image = _image(9, 13)
    bicubic = load_upscaler("bicubic")
    assert bicubic.name == "bicubic" and bicubic.scale == 4
    np.testing.assert_array_equal(bicubic(image), imresize(image, scale=4))
    np.testing.assert_array_equal(load_upscaler("nearest")(image), nearest(image, 4))


def test_load_upscaler_keras_file(keras_file, generator):
    upscaler = load_upscaler(keras_file, tile_size=20)
    assert upscaler.name == "tiny" and upscaler.scale == 4 and upscaler.tile_overlap == 8
    image = _image(30, 41, seed=2)
    expected = KerasUpscaler(generator, tile_size=0)(image)
    assert np.abs(upscaler(image).astype(int) - expected).max() <= 1


def test_load_upscaler_errors(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="model not found"):
        load_upscaler(tmp_path / "missing.keras")
    (tmp_path / "weights.h5").write_bytes(b"")
    with pytest.raises(ValueError, match="Received: .*weights.h5"):
        load_upscaler(tmp_path / "weights.h5")
    monkeypatch.setenv("SRFM_MODELS_DIR", str(tmp_path / "exported_models"))
    with pytest.raises(FileNotFoundError, match="no model is shipped"):
        load_upscaler("default")


def test_models_dir_is_read_when_a_model_loads_not_at_import(keras_file, tmp_path, monkeypatch):
    """SRFM_MODELS_DIR set after `keras_srfm.inference.upscalers` was imported still counts
    (it used to be read once, at import, so `load_upscaler` missed a later change)."""
    assert "keras_srfm.inference.upscalers" in sys.modules  # imported at the top of this file
    for name in ("first", "second"):
        (tmp_path / name / f"{name}_model").mkdir(parents=True)
        shutil.copy(keras_file, tmp_path / name / f"{name}_model" / f"{name}_model.keras")
        monkeypatch.setenv("SRFM_MODELS_DIR", str(tmp_path / name))
        assert upscalers.default_model_path().name == f"{name}_model.keras"
        assert load_upscaler(f"{name}_model").name == f"{name}_model"


def test_default_model_is_taken_from_exported_models(keras_file, tmp_path, monkeypatch):
    shipped = tmp_path / "exported_models"
    shipped.mkdir()
    shutil.copy(keras_file, shipped / "srfm.keras")
    monkeypatch.setenv("SRFM_MODELS_DIR", str(shipped))
    assert load_upscaler("default").name == "srfm"


def test_default_marker_picks_the_named_model(keras_file, tmp_path, monkeypatch):
    shipped = tmp_path / "exported_models"
    for name in ("a_model", "b_model"):
        (shipped / name).mkdir(parents=True)
        shutil.copy(keras_file, shipped / name / f"{name}.keras")
    monkeypatch.setenv("SRFM_MODELS_DIR", str(shipped))
    assert upscalers.default_model_path().name == "a_model.keras"  # no marker: first found
    (shipped / "DEFAULT").write_text("b_model\n")
    assert upscalers.default_model_path() == shipped / "b_model" / "b_model.keras"
    (shipped / "DEFAULT").write_text("c_model\n")
    with pytest.raises(FileNotFoundError, match="holds no .keras model"):
        upscalers.default_model_path()


# === Image I/O ===


def _saved(tmp_path, name: str, image: Image.Image, **options) -> str:
    path = tmp_path / name
    image.save(path, **options)
    return str(path)


def test_read_image_modes(tmp_path):
    rgb = _image(6, 7)
    gray = rgb[..., 0]
    loaded = read_image(_saved(tmp_path, "rgb.png", Image.fromarray(rgb)))
    np.testing.assert_array_equal(loaded.rgb, rgb)
    assert loaded.alpha is None and not loaded.grayscale and not loaded.notes

    loaded = read_image(_saved(tmp_path, "gray.png", Image.fromarray(gray)))
    assert loaded.grayscale and loaded.rgb.shape == (6, 7, 3)
    np.testing.assert_array_equal(loaded.rgb[..., 2], gray)

    rgba = np.dstack([rgb, gray])
    loaded = read_image(_saved(tmp_path, "rgba.png", Image.fromarray(rgba)))
    np.testing.assert_array_equal(loaded.rgb, rgb)
    np.testing.assert_array_equal(loaded.alpha, gray)

    palette = Image.fromarray(rgb).quantize(16)
    loaded = read_image(_saved(tmp_path, "pal.png", palette))
    np.testing.assert_array_equal(loaded.rgb, np.asarray(palette.convert("RGB")))
    loaded = read_image(_saved(tmp_path, "pal_t.png", palette, transparency=0))
    assert loaded.alpha is not None and loaded.alpha.min() == 0

    cmyk = Image.fromarray(rgb).convert("CMYK")
    assert read_image(_saved(tmp_path, "cmyk.jpg", cmyk)).rgb.shape == (6, 7, 3)


def test_read_image_16_bit_is_converted_with_a_note(tmp_path):
    import tensorflow as tf

    values = np.random.default_rng(3).integers(0, 65536, (5, 7, 3)).astype(np.uint16)
    gray_path = _saved(tmp_path, "g16.png", Image.fromarray(values[..., 0]))
    loaded = read_image(gray_path)
    assert loaded.grayscale and loaded.notes == ["16-bit image converted to 8-bit"]
    np.testing.assert_array_equal(
        loaded.rgb[..., 0], np.rint(values[..., 0] / 257.0).astype(np.uint8)
    )
    rgb_path = tmp_path / "rgb16.png"
    rgb_path.write_bytes(tf.io.encode_png(values).numpy())
    loaded = read_image(rgb_path)
    assert loaded.notes == ["16-bit image converted to 8-bit"]
    assert np.abs(loaded.rgb.astype(int) - values // 257).max() <= 1


def test_read_image_applies_exif_orientation(tmp_path):
    rgb = _image(6, 10)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    loaded = read_image(_saved(tmp_path, "rot.png", Image.fromarray(rgb), exif=exif))
    assert loaded.rgb.shape == (10, 6, 3)
    np.testing.assert_array_equal(loaded.rgb, np.rot90(rgb, k=-1))


def test_read_image_bad_files(tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ImageError, match="empty file"):
        read_image(empty)
    text = tmp_path / "text.png"
    text.write_text("not an image")
    with pytest.raises(ImageError, match="not a recognised image"):
        read_image(text)
    buffer = io.BytesIO()
    Image.fromarray(_image(64, 64)).save(buffer, format="PNG")
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(ImageError, match="truncated"):
        read_image(truncated)
    big = _saved(tmp_path, "big.png", Image.new("RGB", (100, 50)))
    with pytest.raises(ImageError, match="100x50 = 5000 pixels exceeds the limit of 4999"):
        read_image(big, max_pixels=4999)
    assert read_image(big, max_pixels=5000).rgb.shape == (50, 100, 3)
    # Past twice the limit Pillow's own bomb check used to fire as well, naming a second limit
    # (2 x 2000): one message, one limit, and Pillow's global setting left as it was.
    pillow_limit = Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageError) as err:
        read_image(big, max_pixels=2000)
    assert str(err.value) == "100x50 = 5000 pixels exceeds the limit of 2000 pixels (--max-pixels)"
    assert pillow_limit == Image.MAX_IMAGE_PIXELS


def test_read_image_refuses_a_fifo_without_blocking(tmp_path):
    fifo = tmp_path / "fifo.png"
    os.mkfifo(fifo)  # no writer: opening it for reading in blocking mode would wait forever
    with pytest.raises(ImageError, match="not a regular file \\(a FIFO\\)"):
        read_image(fifo)
    with pytest.raises(ImageError, match="a folder"):
        read_image(tmp_path)


def test_remove_stale_parts_spares_live_writers_and_fresh_legacy_files(tmp_path):
    import subprocess

    child = subprocess.Popen(["true"])  # its pid: a writer that has ended
    child.wait()
    names = {
        f".a.png.srfm-{child.pid}-x1y2.part": True,  # writer gone: stale
        f".b.png.srfm-{os.getpid()}-x1y2.part": False,  # this (live) process
        ".c.png.k3j_9abc.part": True,  # pid-less temp file of an older version, old
        ".d.png.k3j_9abc.part": False,  # ... the same, but fresh: maybe still being written
        ".e.txt.k3j_9abc.part": False,  # not an image output: not ours
        "f.png": False,
    }
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    old = 2 * image_io.LEGACY_PART_AGE_S
    os.utime(tmp_path / ".c.png.k3j_9abc.part", (0, os.path.getmtime(tmp_path / "f.png") - old))
    os.utime(tmp_path / ".e.txt.k3j_9abc.part", (0, os.path.getmtime(tmp_path / "f.png") - old))
    removed = image_io.remove_stale_parts(tmp_path)
    assert sorted(p.name for p in removed) == sorted(n for n, stale in names.items() if stale)
    assert sorted(os.listdir(tmp_path)) == sorted(n for n, stale in names.items() if not stale)


def test_upscale_loaded_reattaches_bicubic_alpha_and_keeps_gray():
    rgb, alpha = _image(5, 6), _image(5, 6, seed=4)[..., 0]
    upscaler = load_upscaler("nearest")
    out = upscale_loaded(upscaler, image_io.LoadedImage(rgb, alpha)).to_pil()
    assert out.mode == "RGBA" and out.size == (24, 20)
    np.testing.assert_array_equal(np.asarray(out)[..., 3], imresize(alpha, scale=4))
    np.testing.assert_array_equal(np.asarray(out)[..., :3], nearest(rgb, 4))
    gray = np.repeat(rgb[..., :1], 3, axis=-1)
    out = upscale_loaded(upscaler, image_io.LoadedImage(gray, alpha, grayscale=True)).to_pil()
    assert out.mode == "LA"
    np.testing.assert_array_equal(np.asarray(out)[..., 0], nearest(rgb[..., 0], 4))


def test_write_image_is_atomic(tmp_path, monkeypatch):
    target = tmp_path / "out.png"
    image = Image.fromarray(_image(8, 8))
    assert write_image(image, target) == []
    np.testing.assert_array_equal(np.asarray(Image.open(target)), np.asarray(image))
    before = target.read_bytes()

    def interrupted_save(self, fp, *args, **kwargs):
        fp.write(b"\x89PNG half")
        raise KeyboardInterrupt

    monkeypatch.setattr(Image.Image, "save", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        write_image(Image.fromarray(_image(8, 8, seed=1)), target)
    assert target.read_bytes() == before  # old file intact, no partial file, no temp left
    assert os.listdir(tmp_path) == ["out.png"]


def test_write_image_drops_alpha_for_jpeg(tmp_path):
    image = Image.fromarray(np.dstack([_image(8, 8), _image(8, 8)[..., 0]]))
    notes = write_image(image, tmp_path / "x.jpg")
    assert notes == ["JPEG has no alpha channel: transparency dropped"]
    assert Image.open(tmp_path / "x.jpg").mode == "RGB"
    with pytest.raises(ImageError, match="unsupported output extension"):
        write_image(image, tmp_path / "x.xyz")


def test_expand_inputs(tmp_path):
    for name in ("b.png", "a.jpg", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    found = image_io.expand_inputs(
        [str(tmp_path), str(tmp_path / "*.png"), "missing.png", str(tmp_path / "*.bmp")]
    )
    names = [(spec.split(os.sep)[-1], path is not None) for spec, path, _ in found]
    assert names == [
        ("a.jpg", True),
        ("b.png", True),
        ("b.png", True),
        ("missing.png", False),
        ("*.bmp", False),
    ]
