"""`srfm upscale` options of issue 17 on a real photo: sizes, trees, quality, metadata, 16 bit.

Inputs are crops of Set14 `baboon.png` (real texture), re-saved with the metadata or bit depth
each test needs; outputs are read back with Pillow (and 16-bit PNGs with TensorFlow's decoder,
which keeps all 16 bits). The `nearest` and `bicubic` models make the expected pixels exact.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from keras_srfm.cli import main
from keras_srfm.imaging.imresize import imresize, nearest

EXIF_IFD, DATE_TIME_ORIGINAL, PIXEL_X = 0x8769, 0x9003, 0xA002
MAKE, ORIENTATION = 0x010F, 0x0112


@pytest.fixture(scope="module")
def photo(shared_data: Path) -> np.ndarray:
    """A 40x48 crop of a real photo, uint8 RGB."""
    with Image.open(shared_data / "benchmarks" / "Set14" / "HR" / "baboon.png") as img:
        return np.asarray(img.convert("RGB"))[100:140, 200:248].copy()


def _upscale(capsys, *argv: str) -> tuple[int, str]:
    status = main(["upscale", "--quiet", *argv])
    return status, capsys.readouterr().err


def _save(path: Path, pixels: np.ndarray, **options) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, **options)
    return path


# === Output size ===


def test_outscale_width_and_height(capsys, photo, tmp_path):
    src = _save(tmp_path / "in" / "p.png", photo)
    x4 = nearest(photo, 4)  # what the model gives; then MATLAB bicubic to the size asked
    cases = [
        (["--outscale", "2"], (96, 80)),
        (["--outscale", "6"], (288, 240)),
        (["--width", "100"], (100, 83)),  # 40 * 100 / 48 = 83.3
        (["--height", "50"], (60, 50)),
        (["--width", "70", "--height", "90"], (70, 90)),  # exact, aspect changed
    ]
    for flags, size in cases:
        out = tmp_path / "_".join(flags)
        status, err = _upscale(capsys, str(src), "-o", str(out), "--model", "nearest", *flags)
        assert status == 0, err
        written = np.asarray(Image.open(out / "p_x4.png"))
        assert written.shape[1::-1] == size
        np.testing.assert_array_equal(written, imresize(x4, output_shape=size[::-1]))


@pytest.mark.parametrize(
    "flags", [["--outscale", "2", "--width", "10"], ["--outscale", "0"], ["--width", "-3"]]
)
def test_bad_size_flags_are_one_line_errors(capsys, photo, tmp_path, flags):
    src = _save(tmp_path / "p.png", photo)
    status, err = _upscale(
        capsys, str(src), "-o", str(tmp_path / "o"), "--model", "nearest", *flags
    )
    assert status == 2 and err.count("\n") == 1 and err.startswith("srfm upscale: error: ")
    assert not (tmp_path / "o" / "p_x4.png").exists()


# === Folder trees and resuming ===


def test_recursive_mirrors_the_tree_and_skip_existing_resumes(capsys, photo, tmp_path):
    tree = tmp_path / "in"
    for name in ["a/b/deep.png", "a/mid.jpg", "top.png", ".hidden/no.png"]:
        _save(tree / name, photo)
    out = tmp_path / "out"
    status, err = _upscale(capsys, str(tree), "-o", str(out), "--model", "nearest")
    assert status == 0 and os.listdir(out) == ["top_x4.png"]
    assert "1 sub-folder(s) of" in err and "use --recursive" in err and ": a" in err

    status, err = _upscale(
        capsys, str(tree), "-o", str(out), "-r", "--model", "nearest", "--overwrite"
    )
    assert status == 0, err
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == ["a/b/deep_x4.png", "a/mid_x4.png", "top_x4.png"]
    assert "3 done, 0 skipped, 0 failed in" in err

    # A half-done batch: one output is missing; --skip-existing redoes only that one.
    (out / "a" / "b" / "deep_x4.png").unlink()
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    status, err = _upscale(
        capsys, str(tree), "-o", str(out), "-r", "--model", "nearest", "--skip-existing"
    )
    assert status == 0, err
    assert "1 done, 2 skipped, 0 failed" in err
    assert {p: p.stat().st_mtime_ns for p in before} == before  # the others untouched
    np.testing.assert_array_equal(
        np.asarray(Image.open(out / "a" / "b" / "deep_x4.png")), nearest(photo, 4)
    )


# === Quality ===


def test_quality_sets_the_jpeg_tables_and_makes_webp_lossy(capsys, photo, tmp_path):
    src = _save(tmp_path / "p.png", photo)
    x4 = Image.fromarray(nearest(photo, 4))
    for quality in (40, 90):
        out = tmp_path / f"q{quality}"
        status, err = _upscale(
            capsys, str(src), "-o", str(out), "--model", "nearest", "--format", "jpg",
            "--quality", str(quality),
        )  # fmt: skip
        assert status == 0, err
        reference = io.BytesIO()
        x4.save(reference, format="JPEG", quality=quality)
        with Image.open(out / "p_x4.jpg") as written, Image.open(reference) as expected:
            assert written.quantization == expected.quantization
    status, err = _upscale(capsys, str(src), "-o", str(tmp_path / "w"), "--model", "nearest",
                           "--format", "webp", "--quality", "60")  # fmt: skip
    assert status == 0, err
    lossy = np.asarray(Image.open(tmp_path / "w" / "p_x4.webp").convert("RGB"))
    assert np.abs(lossy.astype(int) - np.asarray(x4)).max() > 0  # lossy, unlike the default
    status, err = _upscale(capsys, str(src), "-o", str(tmp_path / "d"), "--model", "nearest",
                           "--format", "webp")  # fmt: skip
    np.testing.assert_array_equal(
        np.asarray(Image.open(tmp_path / "d" / "p_x4.webp").convert("RGB")), np.asarray(x4)
    )
    status, err = _upscale(capsys, str(src), "-o", str(tmp_path / "x"), "--quality", "101")
    assert status == 2 and "--quality must be in 1..100" in err


# === Metadata ===


def _camera_jpeg(path: Path, photo: np.ndarray) -> tuple[bytes, Image.Exif]:
    exif = Image.Exif()
    exif[MAKE] = "TestCam"
    exif[ORIENTATION] = 6  # rotate 90 degrees clockwise to display
    sub = exif.get_ifd(EXIF_IFD)
    sub[DATE_TIME_ORIGINAL] = "2024:05:06 07:08:09"
    sub[PIXEL_X] = photo.shape[1]
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    _save(path, photo, quality=98, exif=exif, icc_profile=icc, dpi=(300, 300))
    return icc, exif


@pytest.mark.parametrize(("fmt", "flags", "factor"), [
    ("png", [], 4), ("jpg", [], 4), ("tiff", ["--outscale", "2"], 2), ("webp", [], 4),
])  # fmt: skip
def test_exif_icc_and_dpi_are_carried_over(capsys, photo, tmp_path, fmt, flags, factor):
    src = tmp_path / "cam.jpg"
    icc, _ = _camera_jpeg(src, photo)
    out = tmp_path / "out"
    status, err = _upscale(
        capsys, str(src), "-o", str(out), "--model", "nearest", "--format", fmt, *flags
    )
    assert status == 0, err
    with Image.open(out / f"cam_x4.{fmt}") as written:
        assert written.size == (factor * 40, factor * 48)  # upright: the rotation is applied
        exif = written.getexif()
        assert exif[MAKE] == "TestCam"
        assert exif[ORIENTATION] == 1  # reset, or viewers would rotate it a second time
        sub = exif.get_ifd(EXIF_IFD)
        assert sub[DATE_TIME_ORIGINAL] == "2024:05:06 07:08:09"
        assert sub[PIXEL_X] == factor * 40
        assert written.info["icc_profile"] == icc
        if fmt == "webp":
            assert "cannot hold the DPI" in err  # said, not silently dropped
        else:
            # PNG stores pixels per metre: 1200 dpi -> 47244 ppm -> 1199.9976 dpi.
            assert written.info["dpi"] == pytest.approx((300 * factor,) * 2, abs=0.01)


# === 16 bits ===


def _deep(photo: np.ndarray) -> np.ndarray:
    """16-bit samples with real content in both bytes."""
    rng = np.random.default_rng(0)
    return photo.astype(np.uint16) * 257 ^ rng.integers(0, 256, photo.shape).astype(np.uint16)


def test_16_bit_png_and_tiff_stay_16_bit(capsys, photo, tmp_path):
    import tensorflow as tf

    from keras_srfm.imaging.image_io import encode_tiff16

    deep = _deep(photo)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "d.png").write_bytes(tf.io.encode_png(deep).numpy())  # independent writer
    (tmp_path / "in" / "t.tif").write_bytes(encode_tiff16(deep))
    out = tmp_path / "out"
    status, err = _upscale(
        capsys, str(tmp_path / "in"), "-o", str(out), "--model", "bicubic", "--format", "same"
    )
    assert status == 0, err
    assert "converted to 8-bit" not in err
    # Upscalers take and give float32 on [0, 1], as a Keras model does.
    lr = (deep / 65535.0).astype(np.float32)
    sr = np.clip(imresize(lr, scale=4), 0, 1).astype(np.float32).astype(np.float64)
    expected = np.rint(sr * 65535).astype(np.uint16)
    written = tf.io.decode_png((out / "d_x4.png").read_bytes(), dtype=tf.uint16).numpy()
    np.testing.assert_array_equal(written, expected)
    assert written.max() > 255 and (written % 257 != 0).mean() > 0.9  # low bytes kept
    with Image.open(out / "t_x4.tif") as tif:  # Pillow reads the high bytes of 16-bit RGB
        assert tif.size == (4 * 48, 4 * 40)
        np.testing.assert_array_equal(np.asarray(tif), (expected >> 8).astype(np.uint8))

    # 16-bit gray (written by Pillow): gray 16-bit out, read back with all 16 bits by Pillow.
    gray = deep[..., 0]
    Image.fromarray(gray).save(tmp_path / "g.png")
    status, err = _upscale(capsys, str(tmp_path / "g.png"), "-o", str(out), "--model", "nearest")
    assert status == 0, err
    with Image.open(out / "g_x4.png") as written:
        assert written.mode == "I;16"
        np.testing.assert_array_equal(np.asarray(written), nearest(gray, 4))

    # A format that holds 8 bits says so.
    status, err = _upscale(capsys, str(tmp_path / "g.png"), "-o", str(out), "--model", "nearest",
                           "--format", "jpg")  # fmt: skip
    assert status == 0 and "16-bit result written as 8-bit" in err


# === Alpha ===


def test_alpha_by_model_or_bicubic(capsys, photo, tmp_path):
    alpha = photo[..., 1]
    src = _save(tmp_path / "a.png", np.dstack([photo, alpha]))
    for mode, expected in (("bicubic", imresize(alpha, scale=4)), ("model", nearest(alpha, 4))):
        out = tmp_path / mode
        status, err = _upscale(
            capsys, str(src), "-o", str(out), "--model", "nearest", "--alpha-upsampler", mode
        )
        assert status == 0, err
        written = np.asarray(Image.open(out / "a_x4.png"))
        np.testing.assert_array_equal(written[..., :3], nearest(photo, 4))
        np.testing.assert_array_equal(written[..., 3], expected)
