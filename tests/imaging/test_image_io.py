"""keras_srfm.imaging.image_io: EXIF orientation, 16-bit codecs, output sizes, scaled metadata."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageOps

from keras_srfm.imaging import image_io


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orient_matches_pillow_exif_transpose(orientation: int):
    pixels = np.random.default_rng(orientation).integers(0, 256, (4, 6, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[image_io.ORIENTATION] = orientation
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", exif=exif)
    with Image.open(buffer) as img:
        expected = np.asarray(ImageOps.exif_transpose(img))
    np.testing.assert_array_equal(image_io.orient(pixels, orientation), expected)


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_16_bit_png_round_trip_through_pillow_and_read_16bit(tmp_path, channels: int):
    values = np.random.default_rng(channels).integers(0, 65536, (5, 7, channels), np.uint16)
    path = tmp_path / "x.png"
    path.write_bytes(image_io.encode_png16(values, image_io.ImageMetadata(dpi=(72.0, 144.0))))
    with Image.open(path) as img:
        assert img.info["dpi"] == pytest.approx((72.0, 144.0), abs=0.01)
        rawmode = image_io.rawmode_16bit(img)
        img.load()
        first = np.asarray(img)
    if channels == 1:  # Pillow keeps 16-bit gray whole
        assert rawmode is None
        np.testing.assert_array_equal(first, values[..., 0])
    else:
        assert rawmode == ("RGB;16B" if channels == 3 else "RGBA;16B")
        np.testing.assert_array_equal(first, values >> 8)  # what Pillow alone gives
        np.testing.assert_array_equal(image_io.read_16bit(str(path), rawmode, first), values)


def test_output_size_rules():
    size = image_io.output_size
    assert size(48, 40) == (192, 160)
    assert size(48, 40, outscale=2.5) == (120, 100)
    assert size(48, 40, out_width=100) == (100, 83)
    assert size(48, 40, out_height=10) == (12, 10)
    assert size(48, 40, out_width=7, out_height=9) == (7, 9)
    assert size(3, 3, outscale=0.1) == (1, 1)  # never zero
    with pytest.raises(ValueError, match="not both"):
        size(48, 40, outscale=2, out_height=10)
    with pytest.raises(ValueError, match="positive"):
        size(48, 40, out_width=0)


def test_metadata_scaled_keeps_the_printed_size():
    exif = Image.Exif()
    exif.get_ifd(0x8769)[image_io.PIXEL_X_DIMENSION] = 48
    md = image_io.ImageMetadata(exif=exif.tobytes(), icc_profile=b"icc", dpi=(300.0, 200.0))
    scaled = md.scaled((48, 40), (192, 80))
    assert scaled.dpi == (1200.0, 400.0) and scaled.icc_profile == b"icc"
    parsed = Image.Exif()
    parsed.load(scaled.exif)
    assert parsed.get_ifd(0x8769)[image_io.PIXEL_X_DIMENSION] == 192
