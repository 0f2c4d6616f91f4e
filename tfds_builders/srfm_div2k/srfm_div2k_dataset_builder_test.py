"""`srfm_div2k` built from its `dummy_data/` (used as `manual_dir`: the offline way in)."""

from tensorflow_datasets import testing

from tfds_builders.srfm_div2k import srfm_div2k_dataset_builder


class SrfmDiv2kTest(testing.DatasetBuilderTestCase):
    DATASET_CLASS = srfm_div2k_dataset_builder.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["bicubic_x4", "bicubic_x3"]
    SPLITS = {"train": 2, "validation": 1}


if __name__ == "__main__":
    testing.test_main()
