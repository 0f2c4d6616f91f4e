"""Inference with any trained or exported generator: the upscalers and model loading.

`load_upscaler(spec)` gives one callable for every format the project produces (a `.keras`
generator, a TF Serving SavedModel, a `.tflite` file) and for the bicubic / nearest baselines
of Table I. Every upscaler maps a uint8 RGB image (H, W, 3) to uint8 (4H, 4W, 3).

Large images are cut into tiles that overlap by the generator's receptive-field radius
(`keras_srfm.inference.tiling`); each tile keeps only the pixels that saw their whole receptive field, so
the stitched result equals the untiled one up to float rounding while memory grows with the
tile, not the image. `upscale_loaded` upscales an image decoded by `keras_srfm.imaging.image_io`,
which reads and writes the files.

Example:
>>> upscaler = load_upscaler("exported_models/srfm.keras")
>>> sr = upscaler(lr_uint8)  # (4H, 4W, 3) uint8
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from keras_srfm.imaging import image_io
from keras_srfm.imaging.image_io import LoadedImage, UpscaledImage, to_uint8
from keras_srfm.inference.presets import models_root, resolve_model
from keras_srfm.inference.tiling import receptive_radius, tiled_apply

SCALE = 4
# Tile edge (LR pixels, overlap included) used when `tile_size` is None: a paper-size generator
# needs about 1 GB for a 256x256 tile; larger tiles waste less on overlap but need more memory.
DEFAULT_TILE_SIZE = 256
# Overlap used when a model's receptive field cannot be read (a foreign SavedModel): the paper
# generator's radius is 36 LR pixels (16 blocks); see `keras_srfm.inference.tiling.receptive_radius`.
FALLBACK_OVERLAP = 40
METADATA_FILE = "srfm_model.json"  # Written by keras_srfm.export into SavedModel assets.extra/.


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
        from keras_srfm.imaging import imresize

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
        # The export's pixel budget (`max_pixels` LR pixels a request) bounds the tile: a larger
        # tile would fail on every tile of every image, so it is refused here, once.
        budget = int(self._metadata.get("max_pixels", 0))
        if budget and self.tile_size and self.tile_size**2 > budget:
            raise ValueError(
                f"tile size {self.tile_size} is over {self.path}'s pixel budget of {budget} LR pixels "
                f"a request: use a tile of at most {math.isqrt(budget)}"
            )

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
    root = models_root()  # read at each call: SRFM_MODELS_DIR may change after import
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
    path = default_model_path() if text == "default" else resolve_model(text)
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


# === Decoded images ===


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
        size: (width, height) or None. Final size (`keras_srfm.imaging.image_io.output_size`),
            reached from the x4 result with MATLAB bicubic; None keeps x4.

    Returns:
        UpscaledImage: gray (+ alpha) for grayscale sources (ITU-R 601 luma of the output),
        RGB (+ alpha) otherwise, with the metadata scaled to the new size.
    """
    from keras_srfm.imaging.imresize import imresize

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
