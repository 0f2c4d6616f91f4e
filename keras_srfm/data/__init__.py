"""Training input (Sec. V-A) and dataset statistics.

`make_train_dataset(config)` gives endless `(lr, hr)` float32 batches for `model.fit`;
`make_dataset_fn(config)` the same per replica for `distribute_datasets_from_function`.
`compute_rgb_mean` / `srfm stats` measure the dataset mean the generator subtracts.
"""

from __future__ import annotations

from keras_srfm.data.files import check_image, list_images
from keras_srfm.data.pipeline import (
    Source,
    bicubic_lr,
    decode_hr,
    make_dataset_fn,
    make_train_dataset,
    mod_crop,
    patch_stream,
    random_patches,
    random_window_patches,
    resolve_source,
)
from keras_srfm.data.stats import compute_rgb_stats, load_rgb_mean, save_rgb_stats

__all__ = [
    "Source",
    "bicubic_lr",
    "check_image",
    "compute_rgb_stats",
    "decode_hr",
    "list_images",
    "load_rgb_mean",
    "make_dataset_fn",
    "make_train_dataset",
    "mod_crop",
    "patch_stream",
    "random_patches",
    "random_window_patches",
    "resolve_source",
    "save_rgb_stats",
]
