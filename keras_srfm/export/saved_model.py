"""Generator -> SavedModel for TensorFlow Serving (`srfm export`).

Writes the layout TF Serving scans, `<base>/<name>/<version>/saved_model.pb` + `variables/`,
with two signatures built by Keras 3's `keras.export.ExportArchive`:

- `serving_default`: `images` uint8 `(batch, H, W, 3)` of any H, W -> `upscaled` uint8
  `(batch, 4H, 4W, 3)`; the generator's float output is clipped to [0, 1], scaled and rounded
  inside the graph.
- `serving_bytes`: `image_bytes` string `(batch,)` (encoded PNG / JPEG / BMP / GIF, as sent by
  the REST API as `{"b64": ...}`) -> `png_bytes` string `(batch,)`. Names ending in `_bytes`
  make TF Serving's REST API base64-encode them in JSON.

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

from keras_srfm.inference import METADATA_FILE, load_keras_generator, receptive_radius

DEFAULT_NAME = "srfm"
IMAGES_SIGNATURE = "serving_default"
BYTES_SIGNATURE = "serving_bytes"


def _uint8_graph(model: Any) -> Any:
    """uint8 (B, H, W, 3) -> uint8 (B, sH, sW, 3): [0, 1] float in, round(clip(y) * 255) out."""
    import tensorflow as tf

    def upscale(images: Any) -> Any:
        y = model(tf.cast(images, tf.float32) / 255.0, training=False)
        return tf.cast(tf.round(tf.clip_by_value(y, 0.0, 1.0) * 255.0), tf.uint8)

    return upscale


def build_export_archive(model: Any) -> Any:
    """Builds the `keras.export.ExportArchive` with both serving signatures.

    Args:
        model: keras.Model. The generator (float32 [0, 1] in, float out).

    Returns:
        keras.export.ExportArchive, ready for `write_out`.
    """
    import keras
    import tensorflow as tf

    upscale = _uint8_graph(model)

    def serve_images(images: Any) -> dict[str, Any]:
        return {"upscaled": upscale(images)}

    def serve_bytes(image_bytes: Any) -> dict[str, Any]:
        def one(data: Any) -> Any:
            # 16-bit PNGs are rescaled to uint8 by dtype=uint8; alpha is dropped (channels=3).
            image = tf.io.decode_image(data, channels=3, dtype=tf.uint8, expand_animations=False)
            return tf.io.encode_png(upscale(image[None])[0])

        return {"png_bytes": tf.map_fn(one, image_bytes, fn_output_signature=tf.string)}

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


def model_metadata(model: Any) -> dict[str, Any]:
    """What inference needs beyond the graph: scale and receptive-field radius (for tiling)."""
    from keras_srfm.inference import _model_scale
    from keras_srfm.models.generator import generator_config_of

    meta: dict[str, Any] = {
        "scale": _model_scale(model),
        "receptive_radius": receptive_radius(model),
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

    Returns:
        Path of the version folder.
    """
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"version must be an integer >= 1. Received: version={version!r}")
    if not name or os.sep in name or name.startswith("."):
        raise ValueError(f"name must be a plain folder name. Received: name={name!r}")
    if isinstance(model, (str, os.PathLike)):
        model = load_keras_generator(model)
    target = Path(base_dir) / name / str(version)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} already exists (use --overwrite or another --version)")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{version}.tmp-"))
    try:
        build_export_archive(model).write_out(str(tmp), verbose=False)
        extra = tmp / "assets.extra"  # TF Serving ignores this folder apart from warm-up data.
        extra.mkdir(exist_ok=True)
        (extra / METADATA_FILE).write_text(json.dumps(model_metadata(model), indent=2))
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
