"""Dataset RGB mean (and std) on [0, 1], for the generator's mean subtraction (Sec. V-A).

The paper subtracts "the mean of the entire training dataset" from the input. The mean is
measured here over every HR pixel of the given sources (so larger images weigh more, as
in a per-pixel mean of the whole set), stored as JSON, and read back by training through
`load_rgb_mean`, rather than hard-coded.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from keras_srfm.config import DataConfig
from keras_srfm.imaging.atomic import write_json


def _image_dataset(spec: str, config: DataConfig) -> tuple[Any, int]:
    """(dataset of uint8 HR images, image count) of one source."""
    import tensorflow as tf

    from keras_srfm.data.files import list_images
    from keras_srfm.data.pipeline import AUTOTUNE, resolve_source

    if Path(spec).expanduser().is_dir():
        files = list_images(Path(spec).expanduser(), on_bad_image=config.on_bad_image)

        def decode(path: tf.Tensor) -> tf.Tensor:
            data = tf.io.read_file(path)
            return tf.io.decode_image(data, channels=3, expand_animations=False)

        ds = tf.data.Dataset.from_tensor_slices(files)
        return ds.map(decode, num_parallel_calls=AUTOTUNE), len(files)
    import tensorflow_datasets as tfds

    source = resolve_source(spec, config)
    ds = source.builder.as_dataset(split=config.split, decoders={"hr": tfds.decode.SkipDecoding()})
    ds = ds.map(lambda ex: tf.io.decode_png(ex["hr"], channels=3), num_parallel_calls=AUTOTUNE)
    return ds, source.num_images


def compute_rgb_stats(
    sources: Sequence[str],
    *,
    split: str = "train",
    data_dir: str | None = None,
    manual_dir: str | None = None,
    on_bad_image: str = "skip",
    scale: int = 4,
) -> dict[str, Any]:
    """Per-channel mean and standard deviation of all HR pixels of `sources`, on [0, 1].

    Args:
        sources: list of str. Folders of HR images (searched recursively) or TFDS names,
            as in `DataConfig.sources`.
        split: str. TFDS split. Defaults to `"train"`.
        data_dir: str or None. TFDS data_dir.
        manual_dir: str or None. TFDS manual_dir, to prepare a dataset offline.
        on_bad_image: str. `"skip"` or `"error"` for unreadable files in folders.
        scale: int. Which `bicubic_xN` config of a TFDS builder to read (HR differ only by
            the mod-crop). Defaults to 4.

    Returns:
        dict with `rgb_mean` and `rgb_std` (3 floats each, on [0, 1]), `num_images`,
        `num_pixels`, `sources`, `split`.
    """
    import tensorflow as tf

    if not sources:
        raise ValueError(f"Give at least one source. Received: sources={sources}")
    config = DataConfig(
        sources=tuple(sources),
        split=split,
        scale=scale,
        on_bad_image=on_bad_image,
        data_dir=data_dir,
        manual_dir=manual_dir,
    )
    total = np.zeros(3, np.float64)
    total_sq = np.zeros(3, np.float64)
    pixels = 0
    images = 0

    def moments(image: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        x = tf.cast(tf.reshape(image, [-1, 3]), tf.int64)  # exact integer sums
        return tf.reduce_sum(x, 0), tf.reduce_sum(x * x, 0), tf.shape(x, out_type=tf.int64)[0]

    for spec in sources:
        ds, count = _image_dataset(spec, config)
        ds = ds.map(moments, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
        for s, sq, n in tqdm(
            ds.as_numpy_iterator(), total=count, desc=f"stats {spec}", leave=False
        ):
            total += s
            total_sq += sq
            pixels += int(n)
            images += 1
    mean = total / pixels / 255.0
    std = np.sqrt(np.maximum(total_sq / pixels / 255.0**2 - mean**2, 0.0))
    return {
        "rgb_mean": [round(float(v), 6) for v in mean],
        "rgb_std": [round(float(v), 6) for v in std],
        "num_images": images,
        "num_pixels": pixels,
        "sources": list(sources),
        "split": split,
    }


def save_rgb_stats(stats: dict[str, Any], path: str | Path) -> None:
    """Writes `stats` as JSON atomically (temp file + rename: never half-written)."""
    write_json(path, stats)


def load_rgb_mean(path: str | Path) -> tuple[float, float, float]:
    """The `rgb_mean` stored by `srfm stats --json` (for `GeneratorConfig.rgb_mean`).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file has no valid `rgb_mean` (3 numbers in [0, 1]).
    """
    path = Path(path)
    try:
        mean = json.loads(path.read_text())["rgb_mean"]
        values = tuple(float(v) for v in mean)
    except FileNotFoundError:
        raise
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path} has no valid 'rgb_mean': {err}") from err
    if len(values) != 3 or not all(0.0 <= v <= 1.0 for v in values):
        raise ValueError(f"rgb_mean in {path} must be 3 values in [0, 1]. Received: {values}")
    return values  # type: ignore[return-value]
