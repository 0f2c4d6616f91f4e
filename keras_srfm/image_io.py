"""What `srfm upscale` keeps from an input file: metadata, 16-bit samples, and the exact size.

- **Metadata.** EXIF (with the orientation tag reset to 1 once the rotation is applied, and
  the pixel-size tags updated), the ICC colour profile, and the DPI scaled by the resize factor,
  so the printed size stays the same.
- **16-bit samples.** Pillow decodes 16-bit RGB(A) PNG and TIFF to 8 bits. `read_16bit`
  recovers the low byte by decoding a second time with the other byte order, and
  `encode_png16` / `encode_tiff16` write 16-bit files, which Pillow cannot write for more than
  one channel.
- **Exact size.** `output_size` turns `--outscale` / `--width` / `--height` into a size, and
  `resize` reaches it from the x4 result with MATLAB bicubic (`keras_srfm.imresize`, with
  antialiasing when it shrinks).

Only NumPy, Pillow and the standard library are used. TensorFlow is not needed here.
"""

from __future__ import annotations

import dataclasses
import math
import struct
import zlib

import numpy as np
from PIL import Image

ORIENTATION = 0x0112
EXIF_IFD = 0x8769
PIXEL_X_DIMENSION, PIXEL_Y_DIMENSION = 0xA002, 0xA003
_EXIF_HEADER = b"Exif\x00\x00"
_TRANSPOSING = (5, 6, 7, 8)  # EXIF orientations that swap width and height


# === Metadata ===


@dataclasses.dataclass(frozen=True)
class ImageMetadata:
    """Metadata carried from an input file to its output.

    Attributes:
        exif: bytes or None. EXIF block as Pillow writes it (`Image.Exif.tobytes()`), with
            the orientation already reset to 1 (the pixels are upright).
        icc_profile: bytes or None. The embedded ICC colour profile.
        dpi: (float, float) or None. Horizontal and vertical resolution of the upright image.
    """

    exif: bytes | None = None
    icc_profile: bytes | None = None
    dpi: tuple[float, float] | None = None

    def scaled(self, in_size: tuple[int, int], out_size: tuple[int, int]) -> ImageMetadata:
        """The metadata of a resized copy: DPI times the factor, EXIF pixel sizes updated.

        Args:
            in_size: (width, height) of the upright input.
            out_size: (width, height) of the output.
        """
        dpi = None
        if self.dpi is not None:
            dpi = (
                self.dpi[0] * out_size[0] / in_size[0],
                self.dpi[1] * out_size[1] / in_size[1],
            )
        exif = self.exif
        if exif is not None:
            parsed = Image.Exif()
            parsed.load(exif)
            sub = parsed.get_ifd(EXIF_IFD)
            for tag, value in ((PIXEL_X_DIMENSION, out_size[0]), (PIXEL_Y_DIMENSION, out_size[1])):
                if tag in sub:
                    sub[tag] = value
            exif = parsed.tobytes()
        return ImageMetadata(exif, self.icc_profile, dpi)


def read_metadata(img: Image.Image) -> ImageMetadata:
    """EXIF, ICC profile and DPI of an opened image, as they apply after `exif_transpose`.

    Args:
        img: PIL image as opened (before the EXIF rotation is applied).
    """
    exif = img.getexif()
    exif_bytes = None
    orientation = exif.get(ORIENTATION, 1)
    if len(exif):
        exif.get_ifd(EXIF_IFD)  # loaded, so that `tobytes` writes the sub-IFD back
        if ORIENTATION in exif:  # the image's own Exif: reset for the copy, then restored
            exif[ORIENTATION] = 1
            exif_bytes = exif.tobytes()
            exif[ORIENTATION] = orientation
        else:
            exif_bytes = exif.tobytes()
    dpi = img.info.get("dpi")
    if dpi is not None:
        dpi = (float(dpi[0]), float(dpi[1]))
        if orientation in _TRANSPOSING:
            dpi = (dpi[1], dpi[0])
        if min(dpi) <= 0 or not all(map(math.isfinite, dpi)):
            dpi = None
    return ImageMetadata(exif_bytes, img.info.get("icc_profile") or None, dpi)


def orient(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Applies an EXIF orientation (1-8) to an (H, W[, C]) array, as `ImageOps.exif_transpose`
    does to an image."""
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: np.rot90(a, 2).swapaxes(0, 1),
        8: lambda a: np.rot90(a, 1),
    }
    op = ops.get(orientation)
    return pixels if op is None else np.ascontiguousarray(op(pixels))


# === 16-bit samples ===


_SWAPPED_16 = {
    "RGB;16B": "RGB;16L",
    "RGB;16L": "RGB;16B",
    "RGBA;16B": "RGBA;16L",
    "RGBA;16L": "RGBA;16B",
}


def rawmode_16bit(img: Image.Image) -> str | None:
    """The 16-bit colour rawmode of an opened, not yet loaded image (`RGB;16B`...), or None.

    Pillow unpacks such samples to 8 bits by keeping the high byte.
    """
    rawmodes = {getattr(tile, "args", None) for tile in getattr(img, "tile", None) or []}
    rawmodes = {r[0] if isinstance(r, tuple) and r else r for r in rawmodes}
    if len(rawmodes) != 1:
        return None
    (rawmode,) = rawmodes
    return rawmode if rawmode in _SWAPPED_16 else None


def read_16bit(path: str, rawmode: str, high: np.ndarray) -> np.ndarray | None:
    """The full 16-bit samples of a PNG / TIFF that Pillow decoded to 8 bits.

    Decoding the file a second time with the other byte order (`RGB;16L` for `RGB;16B`)
    keeps the low byte of each sample instead of the high one; the two make the sample.

    Args:
        path: str. The file (opened a second time).
        rawmode: str. From `rawmode_16bit`, read before the first decode.
        high: np.ndarray uint8 (H, W, C). The first decode (the high bytes), before any
            EXIF rotation.

    Returns:
        np.ndarray uint16 (H, W, C), or None if the second decode does not match the first.
    """
    with Image.open(path) as again:
        tiles = []
        for tile in again.tile:
            args = tile.args
            if isinstance(args, tuple):
                args = (_SWAPPED_16[args[0]], *args[1:])
            else:
                args = _SWAPPED_16[args]
            tiles.append(tile._replace(args=args))
        again.tile = tiles
        again.load()
        low = np.asarray(again)
    if low.shape != high.shape or low.dtype != np.uint8:
        return None
    return (high.astype(np.uint16) << 8) | low.astype(np.uint16)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_png16(pixels: np.ndarray, metadata: ImageMetadata | None = None) -> bytes:
    """A 16-bit PNG (gray, gray + alpha, RGB or RGBA) with ICC profile, DPI and EXIF.

    Every row uses the `Up` filter (the byte-wise difference to the row above), which suits
    photographs well enough without per-row filter search.

    Args:
        pixels: np.ndarray uint16 (H, W, C), C in 1..4.
        metadata: ImageMetadata or None.

    Returns:
        bytes of the PNG file.
    """
    h, w, c = pixels.shape
    color_type = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    raw = np.ascontiguousarray(pixels, dtype=">u2").view(np.uint8).reshape(h, w * c * 2)
    filtered = raw.copy()
    filtered[1:] -= raw[:-1]  # uint8 arithmetic wraps modulo 256, as the filter is defined
    rows = np.hstack([np.full((h, 1), 2, np.uint8), filtered])
    chunks = [_png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0))]
    metadata = metadata or ImageMetadata()
    if metadata.icc_profile:
        chunks.append(
            _png_chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(metadata.icc_profile))
        )
    if metadata.dpi:
        ppm = [max(1, round(d / 0.0254)) for d in metadata.dpi]
        chunks.append(_png_chunk(b"pHYs", struct.pack(">IIB", ppm[0], ppm[1], 1)))
    if metadata.exif:
        exif = metadata.exif
        chunks.append(
            _png_chunk(
                b"eXIf", exif[len(_EXIF_HEADER) :] if exif.startswith(_EXIF_HEADER) else exif
            )
        )
    chunks.append(_png_chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)))
    chunks.append(_png_chunk(b"IEND", b""))
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


def encode_tiff16(pixels: np.ndarray, metadata: ImageMetadata | None = None) -> bytes:
    """An uncompressed little-endian 16-bit TIFF (gray, RGB or RGBA; gray + alpha as RGBA).

    Carries the ICC profile (tag 34675) and the DPI; EXIF is not written (it would need its own
    sub-IFD), which `write_upscaled` notes.

    Args:
        pixels: np.ndarray uint16 (H, W, C), C in 1..4.
        metadata: ImageMetadata or None.

    Returns:
        bytes of the TIFF file.
    """
    if pixels.shape[2] == 2:  # 16-bit gray + alpha TIFF is rarely read (Pillow cannot): RGBA
        pixels = np.concatenate([np.repeat(pixels[..., :1], 3, axis=2), pixels[..., 1:]], axis=2)
    h, w, c = pixels.shape
    metadata = metadata or ImageMetadata()
    data = np.ascontiguousarray(pixels, dtype="<u2").tobytes()
    dpi = metadata.dpi or (72.0, 72.0)
    # (tag, type, count, value bytes); types: 3 SHORT, 4 LONG, 5 RATIONAL, 7 UNDEFINED.
    entries: list[tuple[int, int, int, bytes]] = [
        (256, 4, 1, struct.pack("<I", w)),
        (257, 4, 1, struct.pack("<I", h)),
        (258, 3, c, struct.pack(f"<{c}H", *[16] * c)),
        (259, 3, 1, struct.pack("<H", 1)),  # no compression
        (262, 3, 1, struct.pack("<H", 1 if c <= 2 else 2)),  # BlackIsZero / RGB
        (273, 4, 1, b""),  # StripOffsets: filled in below
        (277, 3, 1, struct.pack("<H", c)),
        (278, 4, 1, struct.pack("<I", h)),
        (279, 4, 1, struct.pack("<I", len(data))),
        (282, 5, 1, _rational(dpi[0])),
        (283, 5, 1, _rational(dpi[1])),
        (284, 3, 1, struct.pack("<H", 1)),  # chunky
        (296, 3, 1, struct.pack("<H", 2)),  # inches
    ]
    if c in (2, 4):
        entries.append((338, 3, 1, struct.pack("<H", 2)))  # unassociated alpha
    if metadata.icc_profile:
        entries.append((34675, 7, len(metadata.icc_profile), metadata.icc_profile))
    entries.sort()
    ifd_size = 2 + 12 * len(entries) + 4
    extra_at = 8 + ifd_size
    extra = b""
    offsets = {}
    for tag, _, _, value in entries:
        if len(value) > 4:
            offsets[tag] = extra_at + len(extra)
            extra += value + b"\x00" * (len(value) % 2)
    data_at = extra_at + len(extra)
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        if tag == 273:
            value = struct.pack("<I", data_at)
        field = struct.pack("<I", offsets[tag]) if tag in offsets else value.ljust(4, b"\x00")
        ifd += struct.pack("<HHI", tag, kind, count) + field
    ifd += struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + extra + data


def _rational(value: float) -> bytes:
    denominator = 1000
    return struct.pack("<II", max(1, round(value * denominator)), denominator)


# === Exact output size ===


def output_size(
    width: int,
    height: int,
    *,
    scale: int = 4,
    outscale: float | None = None,
    out_width: int | None = None,
    out_height: int | None = None,
) -> tuple[int, int]:
    """The (width, height) of an output: x`scale`, x`outscale`, or an exact width / height.

    A single `out_width` or `out_height` keeps the aspect ratio; both give that exact size.
    Sizes are rounded to the nearest pixel (at least 1).

    Args:
        width: int. The upright input's width.
        height: int. The upright input's height.
        scale: int. The model's factor. Defaults to 4.
        outscale: float or None. Final factor, e.g. 2 or 3.5.
        out_width: int or None. Final width in pixels.
        out_height: int or None. Final height in pixels.

    Raises:
        ValueError: `outscale` combined with a size, or a value that is not positive.
    """
    if outscale is not None and (out_width is not None or out_height is not None):
        raise ValueError(
            "Give --outscale or --width/--height, not both. "
            f"Received: outscale={outscale}, width={out_width}, height={out_height}"
        )
    for name, value in (("outscale", outscale), ("width", out_width), ("height", out_height)):
        if value is not None and not value > 0:
            raise ValueError(f"--{name} must be positive. Received: {name}={value}")
    if outscale is not None:
        return max(1, round(width * outscale)), max(1, round(height * outscale))
    if out_width is not None and out_height is not None:
        return out_width, out_height
    if out_width is not None:
        return out_width, max(1, round(height * out_width / width))
    if out_height is not None:
        return max(1, round(width * out_height / height)), out_height
    return width * scale, height * scale


def resize(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """MATLAB bicubic resize to (width, height), antialiased when shrinking; keeps the dtype.

    uint8 is rounded after each 1-D pass as MATLAB does; uint16 and float are resized in
    float64 and rounded (and clipped) once.

    Args:
        pixels: np.ndarray (H, W) or (H, W, C), uint8, uint16 or float.
        size: (width, height).
    """
    from keras_srfm.imresize import imresize

    if pixels.shape[1::-1] == tuple(size):
        return pixels
    out = imresize(pixels, output_shape=(size[1], size[0]))
    if pixels.dtype == np.uint16:
        return np.rint(np.clip(out, 0, 65535)).astype(np.uint16)
    return out
