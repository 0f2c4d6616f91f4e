"""`srfm_urban100`: the Urban100 test set (100 images), HR with bicubic LR; one `test` split.

One of the paper's four benchmarks (Sec. V-A). Huang et al., CVPR 2015.
"""

from __future__ import annotations

from tfds_builders.sr_builder import BenchmarkBuilder, benchmark_instructions


class Builder(BenchmarkBuilder):
    """Urban100: 100 test images."""

    DATASET_DIRS = ("urban100",)
    HOMEPAGE = "https://github.com/jbhuang0604/SelfExSR"
    MANUAL_DOWNLOAD_INSTRUCTIONS = benchmark_instructions("Urban100", "img_001")
