"""`srfm_bsd100` built from its `dummy_data/` (used as `manual_dir`: the offline way in)."""

from tensorflow_datasets import testing

from tfds_builders.srfm_bsd100 import srfm_bsd100_dataset_builder


class SrfmBsd100Test(testing.DatasetBuilderTestCase):
    DATASET_CLASS = srfm_bsd100_dataset_builder.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["bicubic_x4", "bicubic_x2"]
    SPLITS = {"test": 2}


if __name__ == "__main__":
    testing.test_main()
