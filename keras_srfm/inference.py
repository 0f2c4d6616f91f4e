"""Inference with any trained or exported generator: tiled upscaling and image I/O.

`load_upscaler(spec)` gives one callable for every format the project produces (a `.keras`
generator, a TF Serving SavedModel, a `.tflite` file) and for the bicubic / nearest baselines
of Table I. Every upscaler maps a uint8 RGB image (H, W, 3) to uint8 (4H, 4W, 3).

Large images are cut into tiles that overlap by the generator's receptive-field radius; each
tile keeps only the pixels that saw their whole receptive field, so the stitched result equals
the untiled one up to float rounding while memory grows with the tile, not the image.

Example:
>>> upscaler = load_upscaler("exported_models/srfm.keras")
>>> sr = upscaler(lr_uint8)  # (4H, 4W, 3) uint8
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import stat
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from keras_srfm import formats
from keras_srfm.presets import models_root, resolve_model

SCALE = 4
# Tile edge (LR pixels, overlap included) used when `tile_size` is None: a paper-size generator
# needs about 1 GB for a 256x256 tile; larger tiles waste less on overlap but need more memory.
DEFAULT_TILE_SIZE = 256
# Overlap used when a model's receptive field cannot be read (a foreign SavedModel): the paper
# generator's radius is 36 LR pixels (16 blocks); see `receptive_radius`.
FALLBACK_OVERLAP = 40
DEFAULT_MAX_PIXELS = 64_000_000  # Refuse larger inputs (decompression bombs); --max-pixels.
EXPORTED_MODELS_DIR = models_root()  # source tree, else the wheel's copy (keras_srfm.presets)
METADATA_FILE = "srfm_model.json"  # Written by keras_srfm.export into SavedModel assets.extra/.
IMAGE_EXTENSIONS = formats.IMAGE_EXTENSIONS  # what `read_image` reads (Pillow)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Float image on [0, 1] -> uint8 as round(clip(x, 0, 1) * 255) (round half to even)."""
    return np.rint(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)


# === Tiling ===


def receptive_radius(model: Any) -> int | None:
    """LR-pixel radius of the receptive field of a fully convolutional upscaler.

    Walks the layers in topological order; a `same` conv with kernel k adds (k - 1) / 2 pixels
    of context at the resolution it runs at, i.e. (k - 1) / 2 / f LR pixels after a x`f`
    sub-pixel shuffle. Skip connections only shorten paths, so the sum is an upper bound. For
    the paper generator (Sec. III-A: 16 blocks): 34 convs at LR, one after each x2 shuffle
    -> 34 + 1 + 1/2 + 1/4, i.e. 36 LR pixels.

    Args:
        model: keras.Model. A generator made of convolutions, `DepthToSpace` and point-wise layers.

    Returns:
        int, or None when a layer of unknown spatial extent is found.
    """
    import keras

    from keras_srfm.models.layers import DepthToSpace, MeanShift

    pointwise = (
        keras.layers.InputLayer,
        keras.layers.Add,
        keras.layers.Activation,
        keras.layers.LeakyReLU,
        keras.layers.ReLU,
        keras.layers.PReLU,
        keras.layers.Rescaling,
        MeanShift,
    )
    radius, factor = 0.0, 1
    for layer in model.layers:
        if type(layer) is keras.layers.Conv2D:  # not subclasses (transposed, depthwise...)
            if layer.padding != "same" or any(s != 1 for s in layer.strides):
                return None
            pairs = zip(layer.kernel_size, layer.dilation_rate, strict=True)
            radius += max((k - 1) // 2 * d for k, d in pairs) / factor
        elif isinstance(layer, DepthToSpace):
            factor *= layer.block_size
        elif not isinstance(layer, pointwise):
            return None
    return math.ceil(radius - 1e-9)


def tile_spans(length: int, tile: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """Splits one axis into overlapping input windows and the disjoint parts each one keeps.

    Every window has length `min(tile, length)`; a kept pixel is at least `overlap` pixels from
    any window edge that is not an image edge, so it saw its whole receptive field.

    Args:
        length: int. Image size along the axis (LR pixels).
        tile: int. Window size, overlap included.
        overlap: int. Context kept on each side of a window's kept part.

    Returns:
        list of `(in_start, in_end, keep_start, keep_end)`; the keep ranges partition [0, length).
    """
    if tile < 1 or overlap < 0:
        raise ValueError(
            f"tile must be >= 1 and overlap >= 0. Received: tile={tile}, overlap={overlap}"
        )
    if length <= tile:
        return [(0, length, 0, length)]
    if tile <= 2 * overlap:
        raise ValueError(
            "tile_size must exceed twice the overlap (nothing would be kept). "
            f"Received: tile_size={tile}, tile_overlap={overlap}"
        )
    spans = []
    keep_start = 0
    while keep_start < length:
        in_start = max(0, min(keep_start - overlap, length - tile))
        in_end = in_start + tile
        keep_end = length if in_end >= length else in_end - overlap
        spans.append((in_start, in_end, keep_start, keep_end))
        keep_start = keep_end
    return spans


def tiled_apply(
    image: np.ndarray,
    fn: Callable[[np.ndarray], np.ndarray],
    *,
    scale: int = SCALE,
    tile_size: int,
    overlap: int,
    progress: bool = False,
    desc: str = "tiles",
) -> np.ndarray:
    """Applies a fully convolutional upscaler tile by tile (crop, not blend).

    Only the output array (the dtype `fn` returns) is held at full size: memory is bounded by
    the tile, not the image.

    Args:
        image: np.ndarray (H, W, C), any dtype `fn` accepts.
        fn: callable (h, w, C) -> (scale*h, scale*w, C').
        scale: int. Upscale factor. Defaults to 4.
        tile_size: int. LR tile edge, overlap included.
        overlap: int. LR context on each side; >= the receptive-field radius for exact results.
        progress: bool. Show a tqdm bar over tiles (only when there is more than one).
        desc: str. Label of the progress bar.

    Returns:
        np.ndarray (scale*H, scale*W, C') of `fn`'s dtype.
    """
    h, w = image.shape[:2]
    rows, cols = tile_spans(h, tile_size, overlap), tile_spans(w, tile_size, overlap)
    if len(rows) == len(cols) == 1:
        return fn(image)
    out = None
    tiles = [(r, c) for r in rows for c in cols]
    if progress:
        from tqdm.auto import tqdm

        tiles = tqdm(tiles, desc=desc, unit="tile", leave=False, disable=None)
    for (r0, r1, kr0, kr1), (c0, c1, kc0, kc1) in tiles:
        result = fn(image[r0:r1, c0:c1])
        if out is None:
            out = np.empty((scale * h, scale * w, result.shape[-1]), dtype=result.dtype)
        out[scale * kr0 : scale * kr1, scale * kc0 : scale * kc1] = result[
            scale * (kr0 - r0) : scale * (kr1 - r0), scale * (kc0 - c0) : scale * (kc1 - c0)
        ]
    return out


# === Upscalers ===


class Upscaler:
    """A callable uint8 (H, W, 3) -> uint8 (4H, 4W, 3) image upscaler.

    Subclasses implement `_forward` (one tile, uint8 -> uint8); this class tiles large images.

    Args:
        name: str. Shown in reports and progress bars.
        tile_size: int or None. LR tile edge (overlap included); None means `DEFAULT_TILE_SIZE`,
            0 disables tiling.
        tile_overlap: int or None. LR context per tile side; None means the model's
            receptive-field radius (exact tiling).
    """

    scale = SCALE

    def __init__(
        self, name: str, tile_size: int | None = None, tile_overlap: int | None = None
    ) -> None:
        if tile_size is not None and tile_size < 0:
            raise ValueError(
                f"tile_size must be >= 0 (0: no tiling). Received: tile_size={tile_size}"
            )
        if tile_overlap is not None and tile_overlap < 0:
            raise ValueError(f"tile_overlap must be >= 0. Received: tile_overlap={tile_overlap}")
        self.name = name
        self.tile_size = DEFAULT_TILE_SIZE if tile_size is None else tile_size
        self.tile_overlap = self.default_overlap() if tile_overlap is None else tile_overlap
        if self.tile_size and self.tile_size <= 2 * self.tile_overlap:
            raise ValueError(
                "tile_size must exceed twice the tile overlap, or nothing of a tile is kept. "
                f"Received: tile_size={self.tile_size}, tile_overlap={self.tile_overlap}"
            )

    def default_overlap(self) -> int:
        return FALLBACK_OVERLAP

    def _forward(self, image: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, image: np.ndarray, *, progress: bool = False) -> np.ndarray:
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
            raise ValueError(
                f"Expected a uint8 (H, W, 3) image. Received: shape={image.shape}, dtype={image.dtype}"
            )
        if not self.tile_size:
            return self._forward(image)
        return tiled_apply(
            image,
            self._forward,
            scale=self.scale,
            tile_size=self.tile_size,
            overlap=self.tile_overlap,
            progress=progress,
            desc=self.name,
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, tile_size={self.tile_size}, "
            f"tile_overlap={self.tile_overlap})"
        )


class ResizeUpscaler(Upscaler):
    """MATLAB bicubic or nearest-neighbour x4 (the interpolation baselines of Table I)."""

    def __init__(self, method: str) -> None:
        if method not in ("bicubic", "nearest"):
            raise ValueError(f"method must be 'bicubic' or 'nearest'. Received: method={method!r}")
        super().__init__(method, tile_size=0, tile_overlap=0)

    def _forward(self, image: np.ndarray) -> np.ndarray:
        from keras_srfm import imresize

        if self.name == "nearest":
            return imresize.nearest(image, self.scale)
        return imresize.imresize(image, scale=self.scale)


class KerasUpscaler(Upscaler):
    """A Keras generator (float [0, 1] in, float out), run by a traced `tf.function`.

    Args:
        model: keras.Model. The generator (e.g. from `build_generator`).
        name: str. Defaults to the model's name.
        jit_compile: bool. Compile with XLA (one compilation per tile shape). Defaults to False.
        tile_size: int or None. See `Upscaler`.
        tile_overlap: int or None. See `Upscaler`.
    """

    def __init__(
        self,
        model: Any,
        name: str | None = None,
        *,
        jit_compile: bool = False,
        tile_size: int | None = None,
        tile_overlap: int | None = None,
    ) -> None:
        import tensorflow as tf

        self.model = model
        self.scale = _model_scale(model)
        super().__init__(name or model.name, tile_size, tile_overlap)

        def forward(images: Any) -> Any:
            y = model(tf.cast(images, tf.float32) / 255.0, training=False)
            # round(clip(x, 0, 1) * 255) in the graph: only uint8 leaves it.
            return tf.cast(tf.round(tf.clip_by_value(y, 0.0, 1.0) * 255.0), tf.uint8)

        spec = tf.TensorSpec([None, None, None, 3], tf.uint8)
        self._fn = tf.function(forward, input_signature=[spec], jit_compile=jit_compile)

    def default_overlap(self) -> int:
        radius = receptive_radius(self.model)
        return FALLBACK_OVERLAP if radius is None else radius

    def _forward(self, image: np.ndarray) -> np.ndarray:
        return self._fn(image[None]).numpy()[0]


class SavedModelUpscaler(Upscaler):
    """A SavedModel whose `serving_default` maps uint8 (B, H, W, 3) -> uint8 (B, 4H, 4W, 3).

    A float32 signature (e.g. Keras' plain `model.export`) is accepted too: it gets [0, 1].
    """

    def __init__(
        self, path: Path, *, tile_size: int | None = None, tile_overlap: int | None = None
    ) -> None:
        import tensorflow as tf

        self.path = resolve_saved_model_dir(path)
        self._metadata = _read_saved_model_metadata(self.path)
        loaded = tf.saved_model.load(str(self.path))
        if "serving_default" not in loaded.signatures:
            raise ValueError(
                f"{self.path} has no 'serving_default' signature. Received: {list(loaded.signatures)}"
            )
        self._loaded = loaded  # keeps the variables alive
        self._fn = loaded.signatures["serving_default"]
        specs = self._fn.structured_input_signature[1]
        if len(specs) != 1:
            raise ValueError(
                f"{self.path}: serving_default must take one image tensor. Received: {specs}"
            )
        self._input_name, spec = next(iter(specs.items()))
        self._input_dtype = spec.dtype
        self.scale = int(self._metadata.get("scale", SCALE))
        label = (
            f"{self.path.parent.name}/{self.path.name}"
            if self.path.name.isdigit()
            else self.path.name
        )
        super().__init__(f"savedmodel:{label}", tile_size, tile_overlap)

    def default_overlap(self) -> int:
        return int(self._metadata.get("receptive_radius", FALLBACK_OVERLAP))

    def _forward(self, image: np.ndarray) -> np.ndarray:
        import tensorflow as tf

        x = image[None] if self._input_dtype == tf.uint8 else image[None].astype(np.float32) / 255.0
        outputs = self._fn(**{self._input_name: tf.constant(x, dtype=self._input_dtype)})
        y = next(iter(outputs.values())).numpy()[0]
        return y if y.dtype == np.uint8 else to_uint8(y)


class TFLiteUpscaler(Upscaler):
    """A `.tflite` generator run by the LiteRT interpreter (XNNPACK on CPU).

    A dynamic-shape model is resized to each tile; a fixed-shape model (what mobile GPU / NPU
    delegates want) fixes the tile size, and smaller images are padded by mirroring.

    Args:
        path: Path. The `.tflite` file (float32 [0, 1] or uint8 input).
        num_threads: int or None. Interpreter threads; None uses every core.
        tile_size: int or None. See `Upscaler`.
        tile_overlap: int or None. See `Upscaler`.
    """

    def __init__(
        self,
        path: Path,
        *,
        num_threads: int | None = None,
        tile_size: int | None = None,
        tile_overlap: int | None = None,
    ) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.path = Path(path)
        self._interpreter = Interpreter(
            model_path=str(self.path), num_threads=num_threads or os.cpu_count()
        )
        detail = self._interpreter.get_input_details()[0]
        self._input_index = detail["index"]
        self._input_dtype = detail["dtype"]
        self._output_index = self._interpreter.get_output_details()[0]["index"]
        signature = detail["shape_signature"]
        self.fixed_shape = (
            None if min(signature[1:3]) < 0 else (int(signature[1]), int(signature[2]))
        )
        self._shape: tuple[int, ...] | None = None
        if self.fixed_shape and self.fixed_shape[0] != self.fixed_shape[1]:
            raise ValueError(f"A fixed input must be square. Received: {self.fixed_shape}")
        if self.fixed_shape and tile_size not in (None, 0, max(self.fixed_shape)):
            raise ValueError(
                f"{self.path.name} has a fixed {self.fixed_shape[0]}x{self.fixed_shape[1]} input; "
                f"tile_size must match it. Received: tile_size={tile_size}"
            )
        if self.fixed_shape:
            tile_size = max(self.fixed_shape)
        super().__init__(f"tflite:{self.path.name}", tile_size, tile_overlap)

    def default_overlap(self) -> int:
        from keras_srfm.export.tflite import tflite_receptive_radius

        radius = tflite_receptive_radius(self.path)
        return FALLBACK_OVERLAP if radius is None else radius

    def _invoke(self, batch: np.ndarray) -> np.ndarray:
        if batch.shape != self._shape:
            self._interpreter.resize_tensor_input(self._input_index, batch.shape, strict=False)
            self._interpreter.allocate_tensors()
            self._shape = batch.shape
        self._interpreter.set_tensor(self._input_index, batch)
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._output_index)[0]

    def _forward(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        if self.fixed_shape:
            th, tw = self.fixed_shape
            # Mirror-pad up to the fixed shape (approximate near the padded border only).
            image = np.pad(image, ((0, th - h), (0, tw - w), (0, 0)), mode="symmetric")
        if self._input_dtype == np.uint8:
            batch = image[None]
        else:
            batch = image[None].astype(self._input_dtype) / np.asarray(255.0, self._input_dtype)
        y = self._invoke(batch)[: self.scale * h, : self.scale * w]
        return y if y.dtype == np.uint8 else to_uint8(y)


def _model_scale(model: Any) -> int:
    from keras_srfm.models.layers import DepthToSpace

    return (
        math.prod(layer.block_size for layer in model.layers if isinstance(layer, DepthToSpace))
        or SCALE
    )


def resolve_saved_model_dir(path: Path) -> Path:
    """The SavedModel directory for `path`: itself, or the newest version of a TF Serving tree.

    Accepts `<base>/<name>/<version>/` (the model itself), `<base>/<name>/` (highest numeric
    version) and `<base>/` holding a single model name.
    """
    path = Path(path)
    for _ in range(3):
        if (path / "saved_model.pb").is_file():
            return path
        versions = (
            [p for p in path.iterdir() if p.is_dir() and p.name.isdigit()] if path.is_dir() else []
        )
        if versions:
            path = max(versions, key=lambda p: int(p.name))
            continue
        subdirs = (
            [p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")]
            if path.is_dir()
            else []
        )
        if len(subdirs) != 1:
            break
        path = subdirs[0]
    raise FileNotFoundError(f"no saved_model.pb under {path}")


def _read_saved_model_metadata(path: Path) -> dict[str, Any]:
    meta = path / "assets.extra" / METADATA_FILE
    return json.loads(meta.read_text()) if meta.is_file() else {}


def default_model_path() -> Path:
    """The default shipped model: `exported_models/DEFAULT` names a folder; its `.keras` is used.

    Without a DEFAULT file, the first `.keras` file found under `exported_models/`.
    """
    root = EXPORTED_MODELS_DIR
    marker = root / "DEFAULT"
    if marker.is_file():
        name = marker.read_text().strip().splitlines()[0].strip()
        folder = root / name
        found = sorted(folder.glob("*.keras")) if folder.is_dir() else []
        if not found:
            raise FileNotFoundError(f"{marker} names {name!r}, but {folder} holds no .keras model")
        return found[0]
    candidates = sorted(root.rglob("*.keras")) if root.is_dir() else []
    if not candidates:
        raise FileNotFoundError(
            f"no model is shipped in {root} yet; pass --model with a .keras file, a SavedModel "
            "directory, a .tflite file, or 'bicubic'"
        )
    return candidates[0]


def load_upscaler(
    spec: str | os.PathLike,
    *,
    tile_size: int | None = None,
    tile_overlap: int | None = None,
    jit_compile: bool = False,
    num_threads: int | None = None,
) -> Upscaler:
    """Loads an x4 upscaler from a spec string.

    Args:
        spec: str or path. "bicubic", "nearest", "default" (the model in `exported_models/`),
            a `.keras` generator file, a SavedModel directory (TF Serving layout accepted) or a
            `.tflite` file.
        tile_size: int or None. LR tile edge, overlap included; None = 256 (or the fixed input
            of a `.tflite` model); 0 = never tile.
        tile_overlap: int or None. LR context per tile side. None = the model's receptive-field
            radius, which makes tiled output equal untiled output (36 for the paper network).
        jit_compile: bool. XLA-compile a Keras model. Defaults to False.
        num_threads: int or None. LiteRT interpreter threads. Defaults to all cores.

    Returns:
        Upscaler: callable uint8 (H, W, 3) -> uint8 (4H, 4W, 3) with `.name` and `.scale`.
    """
    text = os.fspath(spec)
    if text in ("bicubic", "nearest"):
        return ResizeUpscaler(text)
    path = default_model_path() if text == "default" else resolve_model(text, EXPORTED_MODELS_DIR)
    if not path.exists():
        raise FileNotFoundError(f"model not found: {path}")
    if path.is_dir():
        return SavedModelUpscaler(path, tile_size=tile_size, tile_overlap=tile_overlap)
    if path.suffix == ".tflite":
        return TFLiteUpscaler(
            path, num_threads=num_threads, tile_size=tile_size, tile_overlap=tile_overlap
        )
    if path.suffix == ".keras":
        return KerasUpscaler(
            load_keras_generator(path),
            name=path.stem,
            jit_compile=jit_compile,
            tile_size=tile_size,
            tile_overlap=tile_overlap,
        )
    raise ValueError(
        "model must be 'bicubic', 'nearest', 'default', a .keras file, a SavedModel directory "
        f"or a .tflite file. Received: {text}"
    )


def load_keras_generator(path: str | os.PathLike) -> Any:
    """Loads a `.keras` generator in safe mode (its custom layers are registered by import)."""
    import keras

    import keras_srfm.models.layers  # noqa: F401  (registers MeanShift, DepthToSpace, ScaledHeNormal)

    return keras.saving.load_model(os.fspath(path), compile=False)


# === Image I/O ===


class ImageError(ValueError):
    """An input or output image problem; the message is one line without the file name."""


@dataclass
class LoadedImage:
    """An image decoded for the network.

    Attributes:
        rgb: np.ndarray uint8 (H, W, 3).
        alpha: np.ndarray uint8 (H, W) or None.
        grayscale: bool. The source had no colour (written back as grayscale).
        notes: list of str. Conversions worth a warning (16-bit, animation, CMYK...).
    """

    rgb: np.ndarray
    alpha: np.ndarray | None = None
    grayscale: bool = False
    notes: list[str] = field(default_factory=list)


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


def read_image(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Reads any Pillow image as 8-bit RGB (+ alpha), EXIF orientation applied.

    Grayscale, palette, RGBA/LA, CMYK and 16-bit images are converted; 16-bit ones with a note.
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
            if img.mode in ("RGB", "RGBA", "LA") and _has_16bit_samples(img):
                # Pillow keeps only the high byte of 16-bit colour samples.
                notes.append("16-bit image converted to 8-bit")
            img.load()
            img = ImageOps.exif_transpose(img)
            return _to_rgb(img, notes)
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


def upscale_loaded(
    upscaler: Upscaler, image: LoadedImage, *, progress: bool = False
) -> Image.Image:
    """Upscales a decoded image; alpha goes through MATLAB bicubic and is re-attached.

    Returns:
        PIL image: RGB / RGBA, or L / LA for grayscale sources (ITU-R 601 luma of the output).
    """
    from keras_srfm.imresize import imresize

    rgb = upscaler(image.rgb, progress=progress)
    out = Image.fromarray(rgb, "RGB")
    if image.grayscale:
        out = out.convert("L")
    if image.alpha is not None:
        alpha = Image.fromarray(imresize(image.alpha, output_shape=rgb.shape[:2]), "L")
        out.putalpha(alpha)  # L -> LA, RGB -> RGBA
    return out


_FORMATS = formats.OUTPUT_FORMATS

PART_SUFFIX = ".part"
_PART_RE = re.compile(r"\..+\.srfm-(\d+)-[A-Za-z0-9_]+\.part")
_LEGACY_PART_RE = re.compile(r"\.(.+)\.[a-z0-9_]{8}\.part")
LEGACY_PART_AGE_S = 3600  # a pid-less temp file this old is no write in progress


def write_image(image: Image.Image, path: str | os.PathLike) -> list[str]:
    """Writes an image atomically (`atomic_save`: temp file in the same folder, `os.replace`).

    The format follows the extension; JPEG / BMP cannot hold alpha, which is then dropped.

    Returns:
        list of str: notes (e.g. alpha dropped).
    """
    path = Path(path)
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ImageError(
            f"unsupported output extension {path.suffix!r}; use one of {sorted(_FORMATS)}"
        )
    notes = []
    if fmt in ("JPEG", "BMP") and image.mode in ("RGBA", "LA"):
        notes.append(f"{fmt} has no alpha channel: transparency dropped")
        image = image.convert(image.mode[:-1])
    options = {
        "JPEG": {"quality": 95},
        "WEBP": {"lossless": True},
        "PNG": {"compress_level": 6},
    }.get(fmt, {})
    atomic_save(path, lambda handle: image.save(handle, format=fmt, **options))
    return notes


def _part_prefix(path: Path) -> str:
    return f".{path.name}.srfm-{os.getpid()}-"


def atomic_save(path: str | os.PathLike, write: Callable[[BinaryIO], Any]) -> None:
    """Writes a file through `.<name>.srfm-<pid>-<random>.part` in its folder, then `os.replace`.

    Interrupted by an exception, SIGINT, or SIGTERM turned into one (`srfm upscale`), the
    temp file is deleted. A SIGKILL or power loss leaves it behind: `remove_stale_parts` finds
    it by the writer's pid and deletes it on the next run.

    Args:
        path: str or path. The final file; replaced only once it is complete.
        write: callable. Writes the whole content to the binary handle it is given.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_part_prefix(path), suffix=PART_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


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


def expand_inputs(
    specs: Sequence[str], on_skip: Callable[[str], None] | None = None
) -> list[tuple[str, Path | None]]:
    """Expands files, folders (their images, not recursive) and glob patterns, in order.

    Args:
        specs: sequence of str. Files, folders or glob patterns.
        on_skip: callable or None. Called with one line per folder that holds files it does
            not read (`keras_srfm.formats.FolderListing.skipped_note`).

    Returns:
        list of (spec, path); path is None when the spec matched nothing.
    """
    import glob

    found: list[tuple[str, Path | None]] = []
    for spec in specs:
        path = Path(spec).expanduser()
        if path.is_dir():
            listing = formats.list_image_files(path)
            note = listing.skipped_note()
            if note and on_skip is not None:
                on_skip(note)
            found += [(str(p), p) for p in listing.images] or [(spec, None)]
        elif path.exists() or not glob.has_magic(spec):
            found.append((spec, path if path.exists() else None))
        else:
            matches = sorted(
                Path(p) for p in glob.glob(os.path.expanduser(spec)) if Path(p).is_file()
            )
            found += [(str(p), p) for p in matches] or [(spec, None)]
    return found
