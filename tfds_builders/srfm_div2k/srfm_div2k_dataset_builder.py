"""`srfm_div2k`: DIV2K HR images with bicubic LR (train 800 / validation 100).

The paper trains on the 800 DIV2K training images plus Flickr2K (Sec. V-A, "Data
Preparation"). TFDS has its own `div2k`; this one adds mod-crop, grayscale handling,
`filename`, offline preparation and LR generation (see `tfds_builders.sr_builder`).
"""

from __future__ import annotations

from tfds_builders.sr_builder import SCALES, ImagePair, SRBuilder

_DL_URL = "https://data.vision.ee.ethz.ch/cvl/DIV2K/"


def _urls(scale: int) -> dict[str, str]:
    return {
        "train_hr": _DL_URL + "DIV2K_train_HR.zip",
        "valid_hr": _DL_URL + "DIV2K_valid_HR.zip",
        "train_lr": _DL_URL + f"DIV2K_train_LR_bicubic_X{scale}.zip",
        "valid_lr": _DL_URL + f"DIV2K_valid_LR_bicubic_X{scale}.zip",
    }


class Builder(SRBuilder):
    """DIV2K (Agustsson & Timofte, NTIRE 2017): 800 train + 100 validation 2K images."""

    DATASET_DIRS = ("div2k",)
    SPLITS = ("train", "validation")
    HOMEPAGE = _DL_URL
    URLS = {s: _urls(s) for s in SCALES}
    MANUAL_ARCHIVES = tuple(
        sorted({u.rsplit("/", 1)[-1] for s in SCALES for u in _urls(s).values()})
    )
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
Put into `manual_dir` the DIV2K archives from https://data.vision.ee.ethz.ch/cvl/DIV2K/
(`DIV2K_train_HR.zip`, `DIV2K_valid_HR.zip`, optionally `DIV2K_{train,valid}_LR_bicubic_X4.zip`),
as downloaded or extracted (`DIV2K_train_HR/0001.png`, `DIV2K_train_LR_bicubic/X4/0001x4.png`),
or only HR images at any depth (e.g. `<manual_dir>/HR/0001.png`). Images 0001-0800 go to
`train`, 0801-0900 to `validation`. Missing LR images are made with keras_srfm.imaging.imresize.
"""

    def _split_of(self, pair: ImagePair) -> str | None:
        if pair.key.isdigit():
            number = int(pair.key)
            if number <= 800:
                return "train"
            return "validation" if number <= 900 else None  # 0901-1000: test HR is not public
        return "validation" if "valid" in pair.hr.parent.name.lower() else "train"
