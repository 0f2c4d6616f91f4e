"""Generator -> SavedModel for TensorFlow Serving (`srfm export`).

Writes the layout TF Serving scans, `<base>/<name>/<version>/saved_model.pb` + `variables/`,
with two signatures built by Keras 3's `keras.export.ExportArchive`:

- `serving_default`: `images` uint8 `(batch, H, W, 3)` of any H, W -> `upscaled` uint8
  `(batch, 4H, 4W, 3)`; the generator's float output is clipped to [0, 1], scaled and rounded
  inside the graph.
- `serving_bytes`: `image_bytes` string `(batch,)` (encoded PNG / JPEG / BMP / GIF, as sent by
  the REST API as `{"b64": ...}`) -> `png_bytes` string `(batch,)`. Names ending in `_bytes`
  make TF Serving's REST API base64-encode them in JSON. Images are upscaled one at a time.

Both signatures refuse inputs above a pixel budget, `max_pixels` LR pixels, with an
`InvalidArgument` error instead of exhausting memory (the network runs untiled here, and needs
16 to 23 KB per LR pixel: 1 to 1.5 GB for 256x256). `serving_default` counts the whole batch
(B * H * W); `serving_bytes` counts each image, read from the PNG header or the JPEG frame
before anything is decoded (other formats: after decoding), so a small file with huge
dimensions is refused cheaply. The budget is set at export time (`srfm export --max-pixels`,
default `DEFAULT_MAX_PIXELS`) and recorded as `max_pixels` in `assets.extra/srfm_model.json`.

Only the generator is exported (no discriminator, losses or training state).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from keras_srfm.inference.tiling import receptive_radius
from keras_srfm.inference.upscalers import METADATA_FILE, load_keras_generator

DEFAULT_NAME = "srfm"
# LR pixels per request (serving_default) or per image (serving_bytes): 512 x 512, 4 to 6 GB
# for the paper-size generator at 16 to 23 KB per LR pixel.
DEFAULT_MAX_PIXELS = 512 * 512
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
IMAGES_SIGNATURE = "serving_default"
BYTES_SIGNATURE = "serving_bytes"


def _uint8_graph(model: Any) -> Any:
    """uint8 (B, H, W, 3) -> uint8 (B, sH, sW, 3): [0, 1] float in, round(clip(y) * 255) out."""
    import tensorflow as tf

    def upscale(images: Any) -> Any:
        y = model(tf.cast(images, tf.float32) / 255.0, training=False)
        return tf.cast(tf.round(tf.clip_by_value(y, 0.0, 1.0) * 255.0), tf.uint8)

    return upscale


def _check_budget(pixels: Any, max_pixels: int, what: str) -> Any:
    """An assert op: InvalidArgument "... exceeds the pixel budget ..." when pixels > max_pixels."""
    import tensorflow as tf

    return tf.debugging.assert_less_equal(
        tf.cast(pixels, tf.int64),
        tf.constant(max_pixels, tf.int64),
        message=f"{what} exceeds the pixel budget of this model ({max_pixels} LR pixels, "
        "set at export time: srfm export --max-pixels); send smaller images or tiles",
    )


def _header_pixels(data: Any) -> Any:
    """Width * height from a PNG header or JPEG frame without decoding; -1 for other formats."""
    import tensorflow as tf

    def png() -> Any:
        width_height = tf.io.decode_raw(
            tf.strings.substr(data, 16, 8), tf.int32, little_endian=False
        )
        return tf.cast(width_height[0], tf.int64) * tf.cast(width_height[1], tf.int64)

    def jpeg() -> Any:
        shape = tf.image.extract_jpeg_shape(data)
        return tf.cast(shape[0], tf.int64) * tf.cast(shape[1], tf.int64)

    is_png = tf.logical_and(
        tf.strings.length(data) >= 24, tf.equal(tf.strings.substr(data, 0, 8), PNG_SIGNATURE)
    )
    is_jpeg = tf.equal(tf.strings.substr(data, 0, 3), b"\xff\xd8\xff")
    return tf.case(
        [(is_png, png), (is_jpeg, jpeg)], default=lambda: tf.constant(-1, tf.int64), exclusive=True
    )


def build_export_archive(model: Any, max_pixels: int = DEFAULT_MAX_PIXELS) -> Any:
    """Builds the `keras.export.ExportArchive` with both serving signatures.

    Args:
        model: keras.Model. The generator (float32 [0, 1] in, float out).
        max_pixels: int. Pixel budget: LR pixels per request (`serving_default`) or per image
            (`serving_bytes`). Defaults to `DEFAULT_MAX_PIXELS`.

    Returns:
        keras.export.ExportArchive, ready for `write_out`.
    """
    import keras
    import tensorflow as tf

    upscale = _uint8_graph(model)

    def serve_images(images: Any) -> dict[str, Any]:
        shape = tf.shape(images, out_type=tf.int64)
        with tf.control_dependencies(
            [_check_budget(shape[0] * shape[1] * shape[2], max_pixels, "the batch")]
        ):
            images = tf.identity(images)
        return {"upscaled": upscale(images)}

    def serve_bytes(image_bytes: Any) -> dict[str, Any]:
        def one(data: Any) -> Any:
            with tf.control_dependencies(
                [_check_budget(_header_pixels(data), max_pixels, "an image")]
            ):
                data = tf.identity(data)
            # 16-bit PNGs are rescaled to uint8 by dtype=uint8; alpha is dropped (channels=3).
            image = tf.io.decode_image(data, channels=3, dtype=tf.uint8, expand_animations=False)
            shape = tf.shape(image, out_type=tf.int64)
            with tf.control_dependencies(
                [_check_budget(shape[0] * shape[1], max_pixels, "an image")]
            ):
                image = tf.identity(image)
            return tf.io.encode_png(upscale(image[None])[0])

        # One image at a time: the budget bounds the memory of a request.
        png = tf.map_fn(one, image_bytes, fn_output_signature=tf.string, parallel_iterations=1)
        return {"png_bytes": png}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        IMAGES_SIGNATURE,
        serve_images,
        input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name="images")],
    )
    archive.add_endpoint(
        BYTES_SIGNATURE,
        serve_bytes,
        input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")],
    )
    return archive


def model_metadata(model: Any, max_pixels: int = DEFAULT_MAX_PIXELS) -> dict[str, Any]:
    """What inference needs beyond the graph: scale, receptive-field radius (for tiling) and
    the pixel budget of the signatures."""
    from keras_srfm.inference.upscalers import _model_scale
    from keras_srfm.models.generator import generator_config_of

    meta: dict[str, Any] = {
        "scale": _model_scale(model),
        "receptive_radius": receptive_radius(model),
        "max_pixels": max_pixels,
    }
    with contextlib.suppress(Exception):  # a model not made by build_generator has no config
        meta["generator_config"] = generator_config_of(model).to_dict()
    return meta


def export_saved_model(
    model: Any,
    base_dir: str | os.PathLike,
    *,
    name: str = DEFAULT_NAME,
    version: int = 1,
    overwrite: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Path:
    """Exports a generator for TF Serving as `<base_dir>/<name>/<version>/`, atomically.

    The SavedModel is written to a hidden temporary folder next to the target and renamed
    into place, so TF Serving (which polls `<base_dir>/<name>/`) never sees a partial version.

    Args:
        model: keras.Model or path. The generator, or a `.keras` file holding it.
        base_dir: str or path. TF Serving's `--model_base_path` parent.
        name: str. Model name (TF Serving `--model_name`). Defaults to "srfm".
        version: int >= 1. Version folder. Defaults to 1.
        overwrite: bool. Replace an existing version. Defaults to False.
        max_pixels: int >= 1. Pixel budget of both signatures (see the module docstring).
            Defaults to `DEFAULT_MAX_PIXELS` (512 * 512).

    Returns:
        Path of the version folder.
    """
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"version must be an integer >= 1. Received: version={version!r}")
    if not isinstance(max_pixels, int) or max_pixels < 1:
        raise ValueError(f"max_pixels must be an integer >= 1. Received: max_pixels={max_pixels!r}")
    if not name or os.sep in name or name.startswith("."):
        raise ValueError(f"name must be a plain folder name. Received: name={name!r}")
    if isinstance(model, (str, os.PathLike)):
        model = load_keras_generator(model)
    target = Path(base_dir) / name / str(version)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} already exists (use --overwrite or another --version)")
    target.parent.mkdir(parents=True, exist_ok=True)
    # A whole folder, swapped by `_replace_dir` (not `keras_srfm.imaging.atomic`: a rename cannot
    # replace a non-empty folder).
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{version}.tmp-"))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp's 0700 would hide the model from another server user
    try:
        build_export_archive(model, max_pixels).write_out(str(tmp), verbose=False)
        extra = tmp / "assets.extra"  # TF Serving ignores this folder apart from warm-up data.
        extra.mkdir(exist_ok=True)
        (extra / METADATA_FILE).write_text(json.dumps(model_metadata(model, max_pixels), indent=2))
        _replace_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _replace_dir(src: Path, dst: Path) -> None:
    """Renames `src` to `dst`; an existing `dst` is moved aside first and deleted after."""
    if not dst.exists():
        os.replace(src, dst)
        return
    old = Path(tempfile.mkdtemp(dir=dst.parent, prefix=f".{dst.name}.old-"))
    os.replace(dst, old / dst.name)
    os.replace(src, dst)
    shutil.rmtree(old, ignore_errors=True)
