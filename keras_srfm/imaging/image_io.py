"""Image files: reading, writing, and what `srfm upscale` keeps from an input file.

- **Reading.** `read_image` decodes any Pillow image as 8-bit RGB (+ alpha), EXIF orientation
  applied, refusing decompression bombs from the header and non-regular files (FIFOs,
  devices); `expand_inputs` turns files, folders and glob patterns into the inputs of a run.
- **Writing.** `write_image` / `write_upscaled` write through `keras_srfm.imaging.atomic.atomic_save`
  (a temp file in the same folder, then `os.replace`), so an interrupted run leaves no partial
  output; `remove_stale_parts` deletes the temp files of a killed one.
- **Metadata.** EXIF (with the orientation tag reset to 1 once the rotation is applied, and
  the pixel-size tags updated), the ICC colour profile, and the DPI scaled by the resize factor,
  so the printed size stays the same.
- **16-bit samples.** Pillow decodes 16-bit RGB(A) PNG and TIFF to 8 bits. `read_16bit`
  recovers the low byte by decoding a second time with the other byte order, and
  `encode_png16` / `encode_tiff16` write 16-bit files, which Pillow cannot write for more than
  one channel.
- **Exact size.** `output_size` turns `--outscale` / `--width` / `--height` into a size, and
  `resize` reaches it from the x4 result with MATLAB bicubic (`keras_srfm.imaging.imresize`, with
  antialiasing when it shrinks).

Only NumPy, Pillow and the standard library are used. TensorFlow is not needed here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import re
import stat
import struct
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from keras_srfm.imaging import formats
from keras_srfm.imaging.atomic import PART_RE as _PART_RE
from keras_srfm.imaging.atomic import atomic_save

DEFAULT_MAX_PIXELS = 64_000_000  # Refuse larger inputs (decompression bombs); --max-pixels.
IMAGE_EXTENSIONS = formats.IMAGE_EXTENSIONS  # what `read_image` reads (Pillow)
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
    from keras_srfm.imaging.imresize import imresize

    if pixels.shape[1::-1] == tuple(size):
        return pixels
    out = imresize(pixels, output_shape=(size[1], size[0]))
    if pixels.dtype == np.uint16:
        return np.rint(np.clip(out, 0, 65535)).astype(np.uint16)
    return out


# === Reading ===


class ImageError(ValueError):
    """An input or output image problem; the message is one line without the file name."""


@dataclasses.dataclass
class LoadedImage:
    """An image decoded for the network.

    Attributes:
        rgb: np.ndarray uint8 (H, W, 3).
        alpha: np.ndarray uint8 (H, W) or None.
        grayscale: bool. The source had no colour (written back as grayscale).
        notes: list of str. Conversions worth a warning (16-bit, animation, CMYK...).
        rgb16: np.ndarray uint16 (H, W, 3) or None. The full samples of a 16-bit source
            (`read_image(..., keep_16bit=True)`); `rgb` holds their 8-bit version.
        alpha16: np.ndarray uint16 (H, W) or None. The 16-bit alpha of such a source.
        metadata: ImageMetadata. EXIF (orientation reset), ICC profile and DPI of the file.
    """

    rgb: np.ndarray
    alpha: np.ndarray | None = None
    grayscale: bool = False
    notes: list[str] = dataclasses.field(default_factory=list)
    rgb16: np.ndarray | None = None
    alpha16: np.ndarray | None = None
    metadata: ImageMetadata = dataclasses.field(default_factory=ImageMetadata)


@dataclasses.dataclass
class UpscaledImage:
    """An upscaled image ready to be written.

    Attributes:
        pixels: np.ndarray (H, W, C), uint8 or uint16; C = 1 gray, 2 gray + alpha, 3 RGB,
            4 RGBA.
        metadata: ImageMetadata. Already scaled to the output size (DPI, EXIF pixel sizes).
    """

    pixels: np.ndarray
    metadata: ImageMetadata = dataclasses.field(default_factory=ImageMetadata)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return self.pixels.shape[1], self.pixels.shape[0]

    def to_pil(self) -> Image.Image:
        """An 8-bit PIL image (16-bit samples rounded to 8 bits): L, LA, RGB or RGBA."""
        pixels = self.pixels
        if pixels.dtype == np.uint16:
            pixels = np.rint(pixels / 257.0).astype(np.uint8)
        mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[pixels.shape[2]]
        return Image.fromarray(pixels[..., 0] if mode == "L" else pixels, mode)


@contextlib.contextmanager
def _no_pillow_limit() -> Iterator[None]:
    # Pillow's own bomb check (a warning past MAX_IMAGE_PIXELS, an error past twice that) is
    # switched off: `read_image` checks the one limit it is given, from the header, itself.
    old = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = old


def open_regular_file(path: str | os.PathLike) -> BinaryIO:
    """Opens a file for reading only if it is a regular file (never blocks on a FIFO).

    Raises:
        ImageError: a FIFO, socket, device or folder.
        OSError: the file cannot be opened (missing, permissions).
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a FIFO" if stat.S_ISFIFO(mode) else "a folder" if stat.S_ISDIR(mode) else None
            raise ImageError(f"not a regular file ({kind or 'a device or socket'}); skipped")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_image(
    path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS, *, keep_16bit: bool = False
) -> LoadedImage:
    """Reads any Pillow image as 8-bit RGB (+ alpha), EXIF orientation applied.

    Grayscale, palette, RGBA/LA, CMYK and 16-bit images are converted; 16-bit ones with a note,
    unless `keep_16bit` keeps their full samples (`LoadedImage.rgb16`: 16-bit gray, RGB and
    RGBA PNG / TIFF). EXIF, ICC profile and DPI are read into `LoadedImage.metadata`.
    Only regular files are read: a FIFO or device named `*.png` is refused, not waited on.

    Raises:
        ImageError: zero-byte, truncated, unrecognised or non-regular file, or more than
            `max_pixels` pixels (checked from the header, before anything is decoded).
    """
    path = Path(path)
    notes: list[str] = []
    try:
        with open_regular_file(path) as handle, _no_pillow_limit(), Image.open(handle) as img:
            w, h = img.size
            if w * h > max_pixels:
                raise ImageError(
                    f"{w}x{h} = {w * h} pixels exceeds the limit of {max_pixels} pixels "
                    "(--max-pixels)"
                )
            if getattr(img, "n_frames", 1) > 1:
                notes.append(f"{img.n_frames} frames: only the first is upscaled")
            rawmode16 = rawmode_16bit(img) if keep_16bit else None
            if img.mode in ("RGB", "RGBA", "LA") and _has_16bit_samples(img) and not rawmode16:
                # Pillow keeps only the high byte of 16-bit colour samples.
                notes.append("16-bit image converted to 8-bit")
            metadata = read_metadata(img)
            orientation = img.getexif().get(ORIENTATION, 1)
            img.load()
            deep = read_16bit(str(path), rawmode16, np.asarray(img)) if rawmode16 else None
            if rawmode16 and deep is None:
                notes.append("16-bit image converted to 8-bit")
            gray16 = keep_16bit and img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I")
            img = ImageOps.exif_transpose(img)
            loaded = _to_rgb(img, [] if gray16 else notes)
            if gray16:
                loaded.notes = notes
                values = np.clip(np.asarray(img), 0, 65535).astype(np.uint16)
                loaded.rgb16 = np.repeat(values[..., None], 3, axis=-1)
            elif deep is not None:
                deep = orient(deep, orientation)
                loaded.rgb16 = np.ascontiguousarray(deep[..., :3])
                loaded.alpha16 = np.ascontiguousarray(deep[..., 3]) if deep.shape[2] == 4 else None
            loaded.metadata = metadata
            return loaded
    except ImageError:
        raise
    except UnidentifiedImageError as err:
        reason = "empty file" if path.stat().st_size == 0 else "not a recognised image"
        raise ImageError(reason) from err
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise ImageError(f"cannot decode image ({err})") from err


def _has_16bit_samples(img: Image.Image) -> bool:
    rawmodes = [getattr(tile, "args", None) for tile in getattr(img, "tile", None) or []]
    return any(isinstance(r, str) and ";16" in r for r in rawmodes)


def _to_rgb(img: Image.Image, notes: list[str]) -> LoadedImage:
    mode = img.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        notes.append("16-bit image converted to 8-bit")
        values = np.asarray(img, dtype=np.float64)
        peak = 1.0 if mode == "F" and values.max(initial=0.0) <= 1.0 else 65535.0
        gray = np.rint(np.clip(values / peak, 0.0, 1.0) * 255.0).astype(np.uint8)
        return LoadedImage(np.repeat(gray[..., None], 3, axis=-1), None, True, notes)
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif mode == "PA":
        img = img.convert("RGBA")
    elif mode == "1":
        img = img.convert("L")
    elif mode in ("La", "RGBa"):
        img = img.convert(mode.upper())
    mode = img.mode
    if mode in ("L", "LA"):
        gray = np.asarray(img.getchannel("L"))
        alpha = np.asarray(img.getchannel("A")) if mode == "LA" else None
        return LoadedImage(np.repeat(gray[..., None], 3, axis=-1), alpha, True, notes)
    alpha = np.asarray(img.getchannel("A")) if mode == "RGBA" else None
    rgb = np.asarray(img.convert("RGB"))
    return LoadedImage(np.ascontiguousarray(rgb), alpha, False, notes)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Float image on [0, 1] -> uint8 as round(clip(x, 0, 1) * 255) (round half to even)."""
    return np.rint(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)


# === Writing ===


_FORMATS = formats.OUTPUT_FORMATS

_LEGACY_PART_RE = re.compile(r"\.(.+)\.[a-z0-9_]{8}\.part")
LEGACY_PART_AGE_S = 3600  # a pid-less temp file this old is no write in progress


def _format_of(path: Path) -> str:
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ImageError(
            f"unsupported output extension {path.suffix!r}; use one of {sorted(_FORMATS)}"
        )
    return fmt


# What each output format can hold besides pixels (Pillow's writers).
_HOLDS = {
    "PNG": ("exif", "icc_profile", "dpi"),
    "JPEG": ("exif", "icc_profile", "dpi"),
    "WEBP": ("exif", "icc_profile"),
    "TIFF": ("exif", "icc_profile", "dpi"),
    "BMP": ("dpi",),
}
_NAMES = {"exif": "EXIF", "icc_profile": "the ICC profile", "dpi": "the DPI"}


def write_image(
    image: Image.Image,
    path: str | os.PathLike,
    *,
    quality: int | None = None,
    metadata: ImageMetadata | None = None,
) -> list[str]:
    """Writes an image atomically (`atomic_save`: temp file in the same folder, `os.replace`).

    The format follows the extension; JPEG / BMP cannot hold alpha, which is then dropped.

    Args:
        image: PIL image.
        path: str or path. `.png`, `.jpg`, `.webp`, `.tif`, `.bmp` (`keras_srfm.imaging.formats`).
        quality: int or None. JPEG / WebP quality 1-100; None: JPEG 95, WebP lossless. Ignored
            by the lossless formats.
        metadata: ImageMetadata or None. EXIF, ICC profile and DPI to embed, where the format
            can hold them (a note names what it cannot).

    Returns:
        list of str: notes (e.g. alpha dropped).
    """
    path = Path(path)
    fmt = _format_of(path)
    notes = []
    if fmt in ("JPEG", "BMP") and image.mode in ("RGBA", "LA"):
        notes.append(f"{fmt} has no alpha channel: transparency dropped")
        image = image.convert(image.mode[:-1])
    options: dict[str, Any] = {
        "JPEG": {"quality": 95 if quality is None else quality},
        "WEBP": {"lossless": True} if quality is None else {"quality": quality},
        "PNG": {"compress_level": 6},
    }.get(fmt, {})
    present = {k: v for k, v in dataclasses.asdict(metadata or ImageMetadata()).items() if v}
    options.update({k: v for k, v in present.items() if k in _HOLDS[fmt]})
    dropped = [_NAMES[k] for k in present if k not in _HOLDS[fmt]]
    if dropped:
        notes.append(f"{fmt} cannot hold {' or '.join(dropped)}: dropped")
    atomic_save(path, lambda handle: image.save(handle, format=fmt, **options))
    return notes


def write_upscaled(
    result: UpscaledImage, path: str | os.PathLike, *, quality: int | None = None
) -> list[str]:
    """Writes an `UpscaledImage` with its metadata; 16-bit pixels stay 16-bit in PNG / TIFF.

    Other formats hold 8 bits per sample: 16-bit pixels are rounded to 8 bits, with a note.

    Returns:
        list of str: notes.
    """
    path = Path(path)
    fmt = _format_of(path)
    if result.pixels.dtype == np.uint16 and fmt in ("PNG", "TIFF"):
        md = result.metadata
        if fmt == "PNG":
            data = encode_png16(result.pixels, md)
            notes = []
        else:
            data = encode_tiff16(result.pixels, md)
            notes = ["EXIF is not written to a 16-bit TIFF: dropped"] if md.exif else []
        atomic_save(path, lambda handle: handle.write(data))
        return notes
    notes = []
    if result.pixels.dtype == np.uint16:
        notes.append(f"{fmt} holds 8 bits per sample: 16-bit result written as 8-bit")
    return notes + write_image(result.to_pil(), path, quality=quality, metadata=result.metadata)


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def remove_stale_parts(folder: str | os.PathLike) -> list[Path]:
    """Deletes the temp files of `atomic_save` whose writer is gone (SIGKILL, power loss).

    A temp file names its writer's pid (`.<name>.srfm-<pid>-<random>.part`); it is stale when no
    process with that pid runs. Temp files of older versions, which named no pid
    (`.<name>.<8 random>.part` for an image output), are stale after `LEGACY_PART_AGE_S`.

    Returns:
        list of Path: the files removed.
    """
    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    now = time.time()
    for entry in folder.iterdir():
        match = _PART_RE.fullmatch(entry.name)
        if match:
            pid = int(match.group(1))
            stale = pid != os.getpid() and not _pid_running(pid)
        else:
            legacy = _LEGACY_PART_RE.fullmatch(entry.name)
            stale = bool(legacy) and Path(legacy.group(1)).suffix.lower() in _FORMATS
            with contextlib.suppress(OSError):
                stale = stale and now - entry.lstat().st_mtime > LEGACY_PART_AGE_S
        if stale and entry.is_file() and not entry.is_symlink():
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()
                removed.append(entry)
    return removed


# === Input files ===


class InputFile(NamedTuple):
    """One input of `expand_inputs`.

    Attributes:
        spec: str. What names it on the command line (the file, or the spec that matched
            nothing).
        path: Path or None. The file; None when the spec matched nothing.
        relative: Path. Where its output goes under the output folder: the path below the
            folder it was found in (its sub-folders with `recursive`), else its name.
    """

    spec: str
    path: Path | None
    relative: Path


def expand_inputs(
    specs: Sequence[str],
    on_skip: Callable[[str], None] | None = None,
    *,
    recursive: bool = False,
) -> list[InputFile]:
    """Expands files, folders (their images) and glob patterns, in order.

    Args:
        specs: sequence of str. Files, folders or glob patterns.
        on_skip: callable or None. Called with one line per folder that holds files it does
            not read (`keras_srfm.imaging.formats.FolderListing.skipped_note`).
        recursive: bool. Walk folders' sub-folders too (hidden ones excluded); each file keeps
            its path below the folder in `InputFile.relative`. Defaults to False.

    Returns:
        list of InputFile; `path` is None when a spec matched nothing.
    """
    import glob

    found: list[InputFile] = []
    for spec in specs:
        path = Path(spec).expanduser()
        if path.is_dir():
            listing = formats.list_image_files(path, recursive=recursive)
            note = listing.skipped_note()
            if note and on_skip is not None:
                on_skip(note)
            if listing.subfolders and on_skip is not None:
                names = ", ".join(p.name for p in listing.subfolders[:5])
                more = "..." if len(listing.subfolders) > 5 else ""
                on_skip(
                    f"{len(listing.subfolders)} sub-folder(s) of {path} not walked (use "
                    f"--recursive): {names}{more}"
                )
            found += [InputFile(str(p), p, p.relative_to(path)) for p in listing.images] or [
                InputFile(spec, None, Path(path.name))
            ]
        elif path.exists() or not glob.has_magic(spec):
            found.append(InputFile(spec, path if path.exists() else None, Path(path.name)))
        else:
            matches = sorted(
                Path(p) for p in glob.glob(os.path.expanduser(spec)) if Path(p).is_file()
            )
            found += [InputFile(str(p), p, Path(p.name)) for p in matches] or [
                InputFile(spec, None, Path(path.name))
            ]
    return found
