"""`srfm_set14`: the Set14 test set (14 images), HR with bicubic LR; one `test` split.

One of the paper's four benchmarks (Sec. V-A). Zeyde et al., Curves and Surfaces 2010.
"""

from __future__ import annotations

from tfds_builders.sr_builder import BenchmarkBuilder, benchmark_instructions


class Builder(BenchmarkBuilder):
    """Set14: 14 test images."""

    DATASET_DIRS = ("set14",)
    HOMEPAGE = "https://github.com/jbhuang0604/SelfExSR"
    MANUAL_DOWNLOAD_INSTRUCTIONS = benchmark_instructions("Set14", "baboon")
