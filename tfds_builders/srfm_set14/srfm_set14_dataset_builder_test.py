"""`srfm_set14` built from its `dummy_data/` (used as `manual_dir`: the offline way in)."""

from tensorflow_datasets import testing

from tfds_builders.srfm_set14 import srfm_set14_dataset_builder


class SrfmSet14Test(testing.DatasetBuilderTestCase):
    DATASET_CLASS = srfm_set14_dataset_builder.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["bicubic_x4"]
    SPLITS = {"test": 2}


if __name__ == "__main__":
    testing.test_main()
