"""`srfm_urban100` built from its `dummy_data/` (used as `manual_dir`: the offline way in)."""

from tensorflow_datasets import testing

from tfds_builders.srfm_urban100 import srfm_urban100_dataset_builder


class SrfmUrban100Test(testing.DatasetBuilderTestCase):
    DATASET_CLASS = srfm_urban100_dataset_builder.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["bicubic_x4"]
    SPLITS = {"test": 2}


if __name__ == "__main__":
    testing.test_main()
