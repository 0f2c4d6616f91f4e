"""TFDS builders of the SR datasets; importing this package registers them.

Names: `srfm_div2k`, `srfm_flickr2k` (training, Sec. V-A) and `srfm_set5`, `srfm_set14`,
`srfm_bsd100`, `srfm_urban100` (benchmarks). Each has configs `bicubic_x2`, `bicubic_x3`
and `bicubic_x4` (default). Example:

    import tensorflow_datasets as tfds
    import tfds_builders  # noqa: F401  (registers the builders)

    ds = tfds.load(
        "srfm_set5",
        split="test",
        download_and_prepare_kwargs={
            "download_config": tfds.download.DownloadConfig(manual_dir="path/to/Set5")
        },
    )
"""

from __future__ import annotations

from tfds_builders.srfm_bsd100 import srfm_bsd100_dataset_builder
from tfds_builders.srfm_div2k import srfm_div2k_dataset_builder
from tfds_builders.srfm_flickr2k import srfm_flickr2k_dataset_builder
from tfds_builders.srfm_set5 import srfm_set5_dataset_builder
from tfds_builders.srfm_set14 import srfm_set14_dataset_builder
from tfds_builders.srfm_urban100 import srfm_urban100_dataset_builder

BUILDERS = {
    module.Builder.name: module.Builder
    for module in (
        srfm_div2k_dataset_builder,
        srfm_flickr2k_dataset_builder,
        srfm_set5_dataset_builder,
        srfm_set14_dataset_builder,
        srfm_bsd100_dataset_builder,
        srfm_urban100_dataset_builder,
    )
}
NAMES = tuple(BUILDERS)

__all__ = ["BUILDERS", "NAMES"]
