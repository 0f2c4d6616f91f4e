"""Training input (Sec. V-A) and dataset statistics.

- `pipeline`: `make_train_dataset(config)` gives endless `(lr, hr)` float32 batches for
  `model.fit`; `make_dataset_fn(config)` the same per replica for
  `distribute_datasets_from_function`.
- `degradation`: the realistic degradation chain (blur, resize, noise, JPEG) of `srfm degrade`.
- `files`: listing and checking the image files of a training set.
- `stats`: `compute_rgb_stats` / `srfm stats` measure the dataset mean the generator subtracts.
"""
