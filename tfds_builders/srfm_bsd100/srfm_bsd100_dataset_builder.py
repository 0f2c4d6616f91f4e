"""`srfm_bsd100`: the BSD100 (B100) test set (100 images), HR with bicubic LR; one `test` split.

One of the paper's four benchmarks (Sec. V-A). Martin et al., ICCV 2001; the BSDS300 test split.
"""

from __future__ import annotations

from tfds_builders.sr_builder import BenchmarkBuilder, benchmark_instructions


class Builder(BenchmarkBuilder):
    """BSD100 (B100): 100 test images."""

    DATASET_DIRS = ("bsd100", "b100")
    HOMEPAGE = "https://github.com/jbhuang0604/SelfExSR"
    MANUAL_DOWNLOAD_INSTRUCTIONS = benchmark_instructions("B100", "img_001")
