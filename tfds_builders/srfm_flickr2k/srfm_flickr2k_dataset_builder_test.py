"""`srfm_flickr2k` built from its `dummy_data/` (used as `manual_dir`: the offline way in)."""

from tensorflow_datasets import testing

from tfds_builders.srfm_flickr2k import srfm_flickr2k_dataset_builder


class SrfmFlickr2kTest(testing.DatasetBuilderTestCase):
    DATASET_CLASS = srfm_flickr2k_dataset_builder.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["bicubic_x4"]
    SPLITS = {"train": 2}


if __name__ == "__main__":
    testing.test_main()
