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
import dataclasses
import json
import math
import os
import re
import secrets
import stat
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from keras_srfm import formats, image_io
from keras_srfm.image_io import ImageMetadata
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

    # Whether `upscale_float` keeps float precision (else it goes through 8 bits).
    float_native = False

    def default_overlap(self) -> int:
        return FALLBACK_OVERLAP

    def _forward(self, image: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _forward_float(self, image: np.ndarray) -> np.ndarray:
        """One tile, float32 [0, 1] in and out; by default through the 8-bit `_forward`."""
        return self._forward(to_uint8(image)).astype(np.float32) / 255.0

    def upscale_float(self, image: np.ndarray, *, progress: bool = False) -> np.ndarray:
        """Upscales a float32 (H, W, 3) image on [0, 1] (e.g. 16-bit samples / 65535).

        Models that compute in float (Keras, float TFLite, the baselines: `float_native`) get
        the float values; others (a uint8 SavedModel signature) see them rounded to 8 bits.

        Returns:
            np.ndarray float32 (4H, 4W, 3) on [0, 1].
        """
        image = np.asarray(image, dtype=np.float32)
        if image.ndim != 3 or image.shape[-1] != 3:
            raise ValueError(f"Expected a (H, W, 3) image. Received: shape={image.shape}")
        if not self.tile_size:
            return self._forward_float(image)
        return tiled_apply(
            image,
            self._forward_float,
            scale=self.scale,
            tile_size=self.tile_size,
            overlap=self.tile_overlap,
            progress=progress,
            desc=self.name,
        )

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

    float_native = True

    def _forward_float(self, image: np.ndarray) -> np.ndarray:
        return np.clip(self._forward(image), 0.0, 1.0).astype(np.float32)


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

        def forward_float(images: Any) -> Any:
            return tf.clip_by_value(model(images, training=False), 0.0, 1.0)

        spec = tf.TensorSpec([None, None, None, 3], tf.uint8)
        self._fn = tf.function(forward, input_signature=[spec], jit_compile=jit_compile)
        float_spec = tf.TensorSpec([None, None, None, 3], tf.float32)
        self._fn_float = tf.function(
            forward_float, input_signature=[float_spec], jit_compile=jit_compile
        )

    def default_overlap(self) -> int:
        radius = receptive_radius(self.model)
        return FALLBACK_OVERLAP if radius is None else radius

    def _forward(self, image: np.ndarray) -> np.ndarray:
        return self._fn(image[None]).numpy()[0]

    float_native = True

    def _forward_float(self, image: np.ndarray) -> np.ndarray:
        return self._fn_float(image[None]).numpy()[0]


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

    @property
    def float_native(self) -> bool:
        """A float signature (e.g. Keras' `model.export`) takes 16-bit precision whole."""
        return self._input_dtype.is_floating

    def _forward_float(self, image: np.ndarray) -> np.ndarray:
        import tensorflow as tf

        if not self.float_native:
            return super()._forward_float(image)
        outputs = self._fn(**{self._input_name: tf.constant(image[None], dtype=self._input_dtype)})
        y = next(iter(outputs.values())).numpy()[0]
        if y.dtype == np.uint8:
            return y.astype(np.float32) / 255.0
        return np.clip(y, 0.0, 1.0).astype(np.float32)


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

    @property
    def float_native(self) -> bool:
        return self._input_dtype != np.uint8

    def _forward_float(self, image: np.ndarray) -> np.ndarray:
        if not self.float_native:
            return super()._forward_float(image)
        h, w = image.shape[:2]
        if self.fixed_shape:
            th, tw = self.fixed_shape
            image = np.pad(image, ((0, th - h), (0, tw - w), (0, 0)), mode="symmetric")
        y = self._invoke(image[None].astype(self._input_dtype))[: self.scale * h, : self.scale * w]
        if y.dtype == np.uint8:
            return y.astype(np.float32) / 255.0
        return np.clip(y, 0.0, 1.0).astype(np.float32)


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
    """Loads a `.keras` generator in safe mode (`keras_srfm.models.generator`; Keras is imported
    only here, so that `srfm upscale --help` stays fast)."""
    from keras_srfm.models.generator import load_keras_generator as load

    return load(path)


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
        rgb16: np.ndarray uint16 (H, W, 3) or None. The full samples of a 16-bit source
            (`read_image(..., keep_16bit=True)`); `rgb` holds their 8-bit version.
        alpha16: np.ndarray uint16 (H, W) or None. The 16-bit alpha of such a source.
        metadata: ImageMetadata. EXIF (orientation reset), ICC profile and DPI of the file.
    """

    rgb: np.ndarray
    alpha: np.ndarray | None = None
    grayscale: bool = False
    notes: list[str] = field(default_factory=list)
    rgb16: np.ndarray | None = None
    alpha16: np.ndarray | None = None
    metadata: ImageMetadata = field(default_factory=ImageMetadata)


@dataclass
class UpscaledImage:
    """An upscaled image ready to be written.

    Attributes:
        pixels: np.ndarray (H, W, C), uint8 or uint16; C = 1 gray, 2 gray + alpha, 3 RGB,
            4 RGBA.
        metadata: ImageMetadata. Already scaled to the output size (DPI, EXIF pixel sizes).
    """

    pixels: np.ndarray
    metadata: ImageMetadata = field(default_factory=ImageMetadata)

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
            rawmode16 = image_io.rawmode_16bit(img) if keep_16bit else None
            if img.mode in ("RGB", "RGBA", "LA") and _has_16bit_samples(img) and not rawmode16:
                # Pillow keeps only the high byte of 16-bit colour samples.
                notes.append("16-bit image converted to 8-bit")
            metadata = image_io.read_metadata(img)
            orientation = img.getexif().get(image_io.ORIENTATION, 1)
            img.load()
            deep = image_io.read_16bit(str(path), rawmode16, np.asarray(img)) if rawmode16 else None
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
                deep = image_io.orient(deep, orientation)
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


ALPHA_MODES = ("bicubic", "model")


def _luma(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma: Pillow's `convert("L")` for uint8, the float formula otherwise."""
    if rgb.dtype == np.uint8:
        return np.asarray(Image.fromarray(rgb, "RGB").convert("L"))
    return rgb @ np.asarray([0.299, 0.587, 0.114], dtype=rgb.dtype)


def _to_uint16(image: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(image.astype(np.float64), 0.0, 1.0) * 65535.0).astype(np.uint16)


def upscale_loaded(
    upscaler: Upscaler,
    image: LoadedImage,
    *,
    progress: bool = False,
    alpha: str = "bicubic",
    size: tuple[int, int] | None = None,
) -> UpscaledImage:
    """Upscales a decoded image x4, re-attaches its alpha, then resizes it to `size`.

    A 16-bit source (`image.rgb16`) runs through the model in float (`upscale_float`) and
    gives 16-bit pixels; others give uint8.

    Args:
        upscaler: Upscaler.
        image: LoadedImage. From `read_image`.
        progress: bool. Tile progress bar.
        alpha: str. `"bicubic"`: the alpha channel is upscaled with MATLAB bicubic;
            `"model"`: it goes through the model as a gray image. Defaults to `"bicubic"`.
        size: (width, height) or None. Final size (`keras_srfm.image_io.output_size`),
            reached from the x4 result with MATLAB bicubic; None keeps x4.

    Returns:
        UpscaledImage: gray (+ alpha) for grayscale sources (ITU-R 601 luma of the output),
        RGB (+ alpha) otherwise, with the metadata scaled to the new size.
    """
    from keras_srfm.imresize import imresize

    if alpha not in ALPHA_MODES:
        raise ValueError(f"alpha must be one of {ALPHA_MODES}. Received: alpha={alpha!r}")
    deep = image.rgb16 is not None
    if deep:
        rgb = upscaler.upscale_float(image.rgb16 / 65535.0, progress=progress)
    else:
        rgb = upscaler(image.rgb, progress=progress)
    channels = [_luma(rgb)[..., None] if image.grayscale else rgb]
    source_alpha = image.alpha16 if deep and image.alpha16 is not None else image.alpha
    if source_alpha is not None:
        if deep:
            source_alpha = source_alpha / (65535.0 if source_alpha.dtype == np.uint16 else 255.0)
        if alpha == "model":
            planes = np.repeat(source_alpha[..., None], 3, axis=-1)
            up = upscaler.upscale_float(planes) if deep else upscaler(planes)
            channels.append(_luma(up)[..., None])
        else:
            up = imresize(source_alpha, output_shape=rgb.shape[:2])
            channels.append((np.clip(up, 0.0, 1.0) if deep else up)[..., None])
    pixels = np.concatenate(channels, axis=-1) if len(channels) > 1 else channels[0]
    if deep:
        pixels = _to_uint16(pixels)
    in_size = (image.rgb.shape[1], image.rgb.shape[0])
    out_size = size or (pixels.shape[1], pixels.shape[0])
    pixels = image_io.resize(pixels, out_size)
    return UpscaledImage(pixels, image.metadata.scaled(in_size, out_size))


_FORMATS = formats.OUTPUT_FORMATS

PART_SUFFIX = ".part"
_PART_RE = re.compile(r"\..+\.srfm-(\d+)-[A-Za-z0-9_]+\.part")
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
        path: str or path. `.png`, `.jpg`, `.webp`, `.tif`, `.bmp` (`keras_srfm.formats`).
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
            data = image_io.encode_png16(result.pixels, md)
            notes = []
        else:
            data = image_io.encode_tiff16(result.pixels, md)
            notes = ["EXIF is not written to a 16-bit TIFF: dropped"] if md.exif else []
        atomic_save(path, lambda handle: handle.write(data))
        return notes
    notes = []
    if result.pixels.dtype == np.uint16:
        notes.append(f"{fmt} holds 8 bits per sample: 16-bit result written as 8-bit")
    return notes + write_image(result.to_pil(), path, quality=quality, metadata=result.metadata)


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
    for _ in range(100):
        # The name (with this process's pid) is fixed before the file exists, so a signal at
        # any moment inside `try`, even during the open, still finds the file to delete;
        # `tempfile.mkstemp` can be interrupted between creating a file and returning its name.
        tmp = path.parent / f"{_part_prefix(path)}{secrets.token_hex(4)}{PART_SUFFIX}"
        try:
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # umask applies
            except FileExistsError:
                continue  # drawn twice: draw again
            with os.fdopen(fd, "wb") as handle:
                write(handle)
            os.replace(tmp, path)
            return
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
    raise FileExistsError(f"no free temporary name next to {path}")


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
            not read (`keras_srfm.formats.FolderListing.skipped_note`).
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
