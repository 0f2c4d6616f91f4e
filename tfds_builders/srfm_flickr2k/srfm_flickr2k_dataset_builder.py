"""`srfm_flickr2k`: Flickr2K, 2650 2K images with bicubic LR (one `train` split).

Released with EDSR (Lim et al., 2017); the paper trains on DIV2K + Flickr2K (Sec. V-A).
"""

from __future__ import annotations

from tfds_builders.sr_builder import SCALES, SRBuilder

_URL = "https://cv.snu.ac.kr/research/EDSR/Flickr2K.tar"


class Builder(SRBuilder):
    """Flickr2K: 2650 2K images from Flickr, HR + LR_bicubic X2/X3/X4."""

    DATASET_DIRS = ("flickr2k",)
    SPLITS = ("train",)
    HOMEPAGE = "https://github.com/LimBee/NTIRE2017"
    URLS = {s: {"flickr2k": _URL} for s in SCALES}
    MANUAL_ARCHIVES = ("Flickr2K.tar",)
    MANUAL_DOWNLOAD_INSTRUCTIONS = f"""\
Put into `manual_dir` `Flickr2K.tar` ({_URL}), as downloaded or extracted
(`Flickr2K/Flickr2K_HR/000001.png`, `Flickr2K/Flickr2K_LR_bicubic/X4/000001x4.png`), or only
HR images at any depth (e.g. `<manual_dir>/HR/000001.png`). Missing LR images are made
with keras_srfm.imaging.imresize; the `Flickr2K_LR_unknown` images are never used.
"""
