"""`srfm_set5`: the Set5 test set (5 images), HR with bicubic LR; one `test` split.

One of the paper's four benchmarks (Sec. V-A). Bevilacqua et al., BMVC 2012.
"""

from __future__ import annotations

from tfds_builders.sr_builder import BenchmarkBuilder, benchmark_instructions


class Builder(BenchmarkBuilder):
    """Set5: 5 test images."""

    DATASET_DIRS = ("set5",)
    HOMEPAGE = "https://github.com/jbhuang0604/SelfExSR"
    MANUAL_DOWNLOAD_INSTRUCTIONS = benchmark_instructions("Set5", "baby")
