"""Writes each builder's `dummy_data/`: tiny synthetic images in the source's own layout.

The pictures are drawn with NumPy (gradients, stripes, noise); no real image is copied.
Sizes are deliberately not multiples of 4 so that the builders' mod-crop is exercised.
Run from the repository root: `python -m tfds_builders.dummy_data_generation`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent


def _picture(height: int, width: int, seed: int, gray: bool = False) -> np.ndarray:
    """A smooth-plus-textured uint8 image (H, W, 3), or (H, W) when `gray`."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    base = [
        0.5 + 0.4 * np.sin(x / (3 + c + seed) + y / (5 + 2 * c)) * np.cos(y / (4 + c))
        for c in range(3)
    ]
    image = np.stack(base, axis=-1) + rng.normal(0.0, 0.05, (height, width, 3))
    image = np.clip(np.round(image * 255), 0, 255).astype(np.uint8)
    return image[..., 0] if gray else image


def _save(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)


def _hr_lr(folder: Path, hr_rel: str, lr_rel: str | None, size: tuple[int, int], seed: int,
           gray: bool = False) -> None:  # fmt: skip
    """An HR image and, if `lr_rel`, a x4 LR of its mod-4 crop (Pillow bicubic: content is moot)."""
    hr = _picture(*size, seed=seed, gray=gray)
    _save(folder / hr_rel, hr)
    if lr_rel:
        h, w = size[0] // 4, size[1] // 4
        lr = Image.fromarray(hr[: 4 * h, : 4 * w]).resize((w, h), Image.BICUBIC)
        _save(folder / lr_rel, np.asarray(lr))


def main() -> None:
    layouts = {
        # name: [(hr path, lr path or None, (height, width), gray)]
        "srfm_div2k": [
            ("DIV2K_train_HR/0001.png", "DIV2K_train_LR_bicubic/X4/0001x4.png", (38, 42), False),
            ("DIV2K_train_HR/0002.png", None, (44, 37), False),
            ("DIV2K_valid_HR/0801.png", "DIV2K_valid_LR_bicubic/X4/0801x4.png", (40, 46), False),
            ("DIV2K_train_LR_unknown/X4/0001x4.png", None, (9, 10), False),  # must be ignored
        ],
        "srfm_flickr2k": [
            (
                "Flickr2K/Flickr2K_HR/000001.png",
                "Flickr2K/Flickr2K_LR_bicubic/X4/000001x4.png",
                (41, 47),
                False,
            ),
            ("Flickr2K/Flickr2K_HR/000002.png", None, (36, 44), False),
            ("Flickr2K/Flickr2K_LR_unknown/X4/000001x4.png", None, (10, 11), False),  # ignored
        ],
        "srfm_set5": [
            ("Set5/HR/baby.png", "Set5/LR_bicubic/X4/babyx4.png", (40, 40), False),
            ("Set5/HR/bird.png", "Set5/LR_bicubic/X4/birdx4.png", (34, 45), False),
            ("Set14/HR/comic.png", None, (40, 36), False),  # another set in the same folder
        ],
        "srfm_set14": [
            ("Set14/HR/bridge.png", "Set14/LR_bicubic/X4/bridgex4.png", (42, 42), True),
            ("Set14/HR/comic.png", None, (41, 37), False),
        ],
        "srfm_bsd100": [  # SelfExSR pack layout, with one method's output as a distractor
            (
                "BSD100/image_SRF_4/img_001_SRF_4_HR.png",
                "BSD100/image_SRF_4/img_001_SRF_4_LR.png",
                (33, 49),
                False,
            ),
            ("BSD100/image_SRF_4/img_001_SRF_4_bicubic.png", None, (32, 48), False),
            ("BSD100/image_SRF_4/img_002_SRF_4_HR.png", None, (49, 33), False),
        ],
        "srfm_urban100": [
            ("HR/img_001.png", None, (45, 50), False),
            ("HR/img_002.png", None, (52, 39), True),
        ],
    }
    for name, files in layouts.items():
        folder = ROOT / name / "dummy_data"
        shutil.rmtree(folder, ignore_errors=True)
        for seed, (hr_rel, lr_rel, size, gray) in enumerate(files):
            _hr_lr(folder, hr_rel, lr_rel, size, seed=seed + 1, gray=gray)


if __name__ == "__main__":
    main()
