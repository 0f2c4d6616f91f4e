"""Shared base of the `srfm_*` TFDS builders: HR/LR pairs for x2/x3/x4 super-resolution.

Every builder yields the same features (`hr`, `lr`, `filename`, `lr_source`,
`original_size`, `original_channels`) and finds its images the same way, from either:

- the public archives, downloaded (`dl_manager.download_and_extract`), or
- `manual_dir` (offline): the original archive(s), or the extracted images at any depth,
  e.g. `<manual_dir>/HR/*.png`, `<manual_dir>/DIV2K_train_HR/0001.png` or the SelfExSR
  pack's `<manual_dir>/Set5/image_SRF_4/img_001_SRF_4_HR.png`.

HR follows benchmark convention: mod-cropped to a multiple of the scale, grayscale made
3-channel, original size recorded. LR images shipped with the source are used when present
(bicubic only; "unknown"/"mild"/... degradations are ignored); otherwise LR is made from
the mod-cropped HR with `keras_srfm.imaging.imresize.imresize` (MATLAB bicubic, uint8, as the
official DIV2K/benchmark LR were made). Each example says which in `lr_source`.
"""

from __future__ import annotations

import dataclasses
import io
import re
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import tensorflow_datasets as tfds
from absl import logging
from etils import epath
from PIL import Image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
SCALES = (2, 3, 4)
LR_PROVIDED = "provided"
LR_GENERATED = "generated"
# EDSR's pack of the four benchmarks (HR + LR_bicubic X2/X3/X4), used by all four builders.
EDSR_BENCHMARK_URL = "https://cv.snu.ac.kr/research/EDSR/benchmark.tar"

# EDSR / DIV2K naming: `LR_bicubic/X4/0001x4.png`; SelfExSR: `img_001_SRF_4_HR.png`.
_EDSR_LR_NAME = re.compile(r"^(?P<key>.+)x(?P<scale>\d)$", re.IGNORECASE)
_SRF_NAME = re.compile(r"^(?P<key>.+)_SRF_(?P<scale>\d)_(?P<kind>HR|LR)$", re.IGNORECASE)
_SCALE_DIR = re.compile(r"^x\d$", re.IGNORECASE)


class SRConfig(tfds.core.BuilderConfig):
    """One upscaling factor: `bicubic_x2`, `bicubic_x3` or `bicubic_x4` (the default).

    Args:
        scale: int. Upscaling factor between `lr` and `hr`.
    """

    def __init__(self, *, scale: int, **kwargs) -> None:
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}. Received: scale={scale}")
        super().__init__(
            name=f"bicubic_x{scale}",
            description=f"HR mod-cropped to a multiple of {scale}, LR = bicubic 1/{scale}.",
            **kwargs,
        )
        self.scale = scale


@dataclasses.dataclass(frozen=True)
class ImagePair:
    """One example to write: its key, HR file and LR file (None: make LR from HR)."""

    key: str
    hr: epath.Path
    lr: epath.Path | None


# === File discovery ===


def _walk_files(root: epath.Path) -> Iterator[epath.Path]:
    # `walk`, not `rglob("**")`: epath refuses recursive globs (they are costly on GCS).
    for folder, _, names in root.walk():
        for name in names:
            yield folder / name


def _walk_images(root: epath.Path) -> list[epath.Path]:
    return sorted(p for p in _walk_files(root) if p.suffix.lower() in IMAGE_SUFFIXES)


def _dir_tokens(path: epath.Path, root: epath.Path) -> set[str]:
    """Lower-case words of the folders between `root` and the file (`LR_bicubic` -> lr, bicubic)."""
    parts = path.relative_to(root).parts[:-1]
    return {tok for part in parts for tok in re.split(r"[_\-\s.]+", part.lower()) if tok}


def _in_dataset_dir(path: epath.Path, root: epath.Path, aliases: Sequence[str]) -> bool:
    parts = [p.lower() for p in path.relative_to(root).parts[:-1]]
    return any(p == a or p.startswith(a + "_") for p in parts for a in aliases)


def find_pairs(
    roots: Sequence[epath.Path], scale: int, dataset_dirs: Sequence[str] = ()
) -> list[ImagePair]:
    """Finds the HR images under `roots` and the bicubic LR image of each, if any.

    Args:
        roots: list of folders. Searched recursively.
        scale: int. LR files are matched for this factor only.
        dataset_dirs: list of str. Folder names of this dataset (e.g. `("bsd100", "b100")`);
            when any file lies below such a folder, files elsewhere are ignored, so one
            folder (or archive) may hold several datasets.

    Returns:
        The pairs, sorted by key. Keys are the HR file stems (SelfExSR's `_SRF_k_HR`
        removed).
    """
    aliases = tuple(a.lower() for a in dataset_dirs)
    files = [(root, p) for root in roots for p in _walk_images(root)]
    if aliases and any(_in_dataset_dir(p, r, aliases) for r, p in files):
        files = [(r, p) for r, p in files if _in_dataset_dir(p, r, aliases)]

    hr_files: dict[str, list[tuple[bool, epath.Path]]] = {}
    lr_files: dict[str, epath.Path] = {}
    srf_hr: dict[str, dict[int, epath.Path]] = {}
    srf_lr: dict[tuple[str, int, str], epath.Path] = {}
    for root, path in files:
        srf = _SRF_NAME.match(path.stem)
        if srf:
            key, k = srf["key"], int(srf["scale"])
            if srf["kind"].upper() == "HR":
                srf_hr.setdefault(key, {}).setdefault(k, path)
            else:
                srf_lr.setdefault((key, k, str(path.parent)), path)
            continue
        tokens = _dir_tokens(path, root)
        parts = path.relative_to(root).parts[:-1]
        if "lr" in tokens or any(_SCALE_DIR.match(p) for p in parts):
            edsr = _EDSR_LR_NAME.match(path.stem)
            if edsr and int(edsr["scale"]) == scale and "bicubic" in tokens:
                lr_files.setdefault(edsr["key"], path)
            continue  # other LR factors and non-bicubic degradations are not HR either
        hr_files.setdefault(path.stem, []).append(("hr" in tokens, path))

    # SelfExSR: the HR of this factor's folder if present, else the x4 folder's (the pack's
    # benchmark crops); its LR only when it sits beside that HR with the same factor.
    for key, by_scale in srf_hr.items():
        k = scale if scale in by_scale else (4 if 4 in by_scale else min(by_scale))
        hr_files.setdefault(key, []).append((True, by_scale[k]))
        if k == scale and (key, k, str(by_scale[k].parent)) in srf_lr:
            lr_files.setdefault(key, srf_lr[(key, k, str(by_scale[k].parent))])

    marked_only = any(marked for cands in hr_files.values() for marked, _ in cands)
    pairs = []
    for key in sorted(hr_files):
        cands = [p for marked, p in hr_files[key] if marked or not marked_only]
        if not cands:
            continue
        if len(cands) > 1:
            logging.warning(
                "Several HR files for %r: using %s, ignoring %s", key, cands[0], cands[1:]
            )
        pairs.append(ImagePair(key=key, hr=cands[0], lr=lr_files.get(key)))
    return pairs


# === Image handling ===


def read_image(path: epath.Path) -> tuple[np.ndarray, int]:
    """Decodes an image file to uint8 RGB; grayscale is replicated to 3 channels.

    Returns:
        `(image, channels)`: uint8 array (H, W, 3), and the file's channel count.

    Raises:
        ValueError: naming the file, if it is missing, truncated or not an image.
    """
    try:
        with Image.open(io.BytesIO(epath.Path(path).read_bytes())) as img:
            img.load()
            channels = len(img.getbands())
            rgb = np.asarray(img.convert("RGB"), dtype=np.uint8)
    except FileNotFoundError as err:
        raise ValueError(f"Image file not found: {path}") from err
    except Exception as err:  # Pillow raises OSError, SyntaxError, ValueError, zlib.error...
        raise ValueError(f"Cannot read image {path}: {type(err).__name__}: {err}") from err
    return rgb, channels


def mod_crop(image: np.ndarray, scale: int) -> np.ndarray:
    """Crops bottom/right so that height and width are multiples of `scale` (benchmark rule)."""
    h, w = image.shape[:2]
    return image[: h - h % scale, : w - w % scale]


def bicubic_downscale(hr: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB `imresize(hr, 1/scale, 'bicubic')` on uint8 (per-pass rounding)."""
    from keras_srfm.imaging.imresize import imresize  # the only package import builders may use

    lr = imresize(hr, scale=1.0 / scale)
    expected = (hr.shape[0] // scale, hr.shape[1] // scale)
    if lr.shape[:2] != expected or lr.dtype != np.uint8:
        raise RuntimeError(
            f"keras_srfm.imaging.imresize returned {lr.dtype} {lr.shape}, expected uint8 {expected}"
        )
    return lr


# === Builder ===


class SRBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Base of the `srfm_*` builders; subclasses set the class constants below.

    Subclass constants:
        DATASET_DIRS: folder names of the dataset inside archives / `manual_dir`.
        SPLITS: split names, in order.
        HOMEPAGE: str.
        URLS: `{scale: {name: url}}`: what to download for each factor.
        MANUAL_ARCHIVES: archive file names looked for (at any depth) in `manual_dir`.
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS = [SRConfig(scale=s) for s in SCALES]
    DEFAULT_BUILDER_CONFIG_NAME = "bicubic_x4"

    DATASET_DIRS: tuple[str, ...] = ()
    SPLITS: tuple[str, ...] = ("test",)
    HOMEPAGE: str = ""
    URLS: Mapping[int, Mapping[str, str]] = {}
    MANUAL_ARCHIVES: tuple[str, ...] = ()

    @property
    def scale(self) -> int:
        return self.builder_config.scale

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "hr": tfds.features.Image(shape=(None, None, 3), encoding_format="png"),
                    "lr": tfds.features.Image(shape=(None, None, 3), encoding_format="png"),
                    "filename": tfds.features.Text(),
                    # "provided" (shipped with the source) or "generated" (keras_srfm.imaging.imresize).
                    "lr_source": tfds.features.Text(),
                    # (height, width) and channel count of the HR file before mod-crop / RGB.
                    "original_size": tfds.features.Tensor(shape=(2,), dtype=np.int32),
                    "original_channels": tfds.features.Tensor(shape=(), dtype=np.int32),
                }
            ),
            supervised_keys=("lr", "hr"),
            homepage=self.HOMEPAGE,
        )

    # --- where the files come from ---

    def _download_and_prepare(self, dl_manager, download_config=None):
        # Remember whether the user named a manual_dir: if so, a missing one is an error
        # rather than a silent switch to downloading.
        self._requested_manual_dir = download_config.manual_dir if download_config else None
        return super()._download_and_prepare(dl_manager, download_config)

    def _manual_root(self, dl_manager: tfds.download.DownloadManager) -> epath.Path | None:
        """`manual_dir` if it exists and holds something, else None (download instead)."""
        try:
            return epath.Path(dl_manager.manual_dir)
        except AssertionError as err:  # TFDS: missing or empty
            requested = getattr(self, "_requested_manual_dir", None)
            if requested:
                raise FileNotFoundError(
                    f"manual_dir {requested} does not exist or is empty. "
                    f"{self.MANUAL_DOWNLOAD_INSTRUCTIONS}"
                ) from err
            return None

    def _roots(self, dl_manager: tfds.download.DownloadManager) -> tuple[list[epath.Path], str]:
        manual = self._manual_root(dl_manager)
        if manual is not None:
            archives = sorted(p for p in _walk_files(manual) if p.name in self.MANUAL_ARCHIVES)
            extracted = [epath.Path(p) for p in dl_manager.extract(archives)] if archives else []
            return [manual, *extracted], f"manual_dir {manual}"
        urls = dict(self.URLS.get(self.scale, {}))
        if not urls:
            raise ValueError(
                f"{self.name} has no download for x{self.scale}; prepare it offline. "
                f"{self.MANUAL_DOWNLOAD_INSTRUCTIONS}"
            )
        paths = dl_manager.download_and_extract(urls)
        return [epath.Path(p) for p in paths.values()], "downloads " + ", ".join(urls.values())

    def _split_of(self, pair: ImagePair) -> str | None:
        """The split an image belongs to (None: leave it out). Default: the only split."""
        return self.SPLITS[0]

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        roots, origin = self._roots(dl_manager)
        pairs = find_pairs(roots, self.scale, self.DATASET_DIRS)
        by_split: dict[str, list[ImagePair]] = {s: [] for s in self.SPLITS}
        for pair in pairs:
            split = self._split_of(pair)
            if split is not None:
                by_split[split].append(pair)
        if not any(by_split.values()):
            raise FileNotFoundError(
                f"No {self.name} HR images found in {origin}. {self.MANUAL_DOWNLOAD_INSTRUCTIONS}"
            )
        for split, items in by_split.items():
            provided = sum(p.lr is not None for p in items)
            logging.info(
                "%s/%s %s: %d images from %s; LR x%d: %d provided, %d generated with "
                "keras_srfm.imaging.imresize (MATLAB bicubic)",
                self.name, self.builder_config.name, split, len(items), origin,
                self.scale, provided, len(items) - provided,
            )  # fmt: skip
            if not items:
                logging.warning(
                    "%s: no images for split %r in %s; leaving it out", self.name, split, origin
                )
        return {split: self._generate_examples(items) for split, items in by_split.items() if items}

    # --- examples ---

    def _generate_examples(self, pairs: Sequence[ImagePair]) -> Iterator[tuple[str, dict]]:
        for pair in pairs:
            yield pair.key, self._example(pair)

    def _example(self, pair: ImagePair) -> dict:
        scale = self.scale
        image, channels = read_image(pair.hr)
        hr = mod_crop(image, scale)
        if min(hr.shape[:2]) < scale:
            raise ValueError(f"HR image {pair.hr} is smaller than the scale {scale}: {image.shape}")
        if pair.lr is not None:
            lr, _ = read_image(pair.lr)
            expected = (hr.shape[0] // scale, hr.shape[1] // scale)
            if lr.shape[:2] != expected:
                raise ValueError(
                    f"LR image {pair.lr} is {lr.shape[0]}x{lr.shape[1]} (HxW); its HR {pair.hr} "
                    f"mod-cropped to x{scale} needs {expected[0]}x{expected[1]}"
                )
            source = LR_PROVIDED
        else:
            lr, source = bicubic_downscale(hr, scale), LR_GENERATED
        return {
            "hr": hr,
            "lr": lr,
            "filename": pair.key + pair.hr.suffix.lower(),
            "lr_source": source,
            "original_size": np.array(image.shape[:2], dtype=np.int32),
            "original_channels": np.int32(channels),
        }


class BenchmarkBuilder(SRBuilder, skip_registration=True):
    """Base of the four test sets: one `test` split, EDSR's `benchmark.tar` online.

    Offline, `manual_dir` may hold `benchmark.tar`, the SelfExSR repository archive
    (`SelfExSR-master.zip`), or extracted images in either layout, or just `HR/*.png`.
    """

    SPLITS = ("test",)
    URLS = {s: {"benchmark": EDSR_BENCHMARK_URL} for s in SCALES}
    MANUAL_ARCHIVES = ("benchmark.tar", "SelfExSR-master.zip")


def benchmark_instructions(folder: str, example: str) -> str:
    """`MANUAL_DOWNLOAD_INSTRUCTIONS` text of a benchmark builder."""
    return f"""\
Put into `manual_dir` any one of:
  * `benchmark.tar` ({EDSR_BENCHMARK_URL}), as downloaded or extracted
    (`benchmark/{folder}/HR/{example}.png`, `benchmark/{folder}/LR_bicubic/X4/{example}x4.png`);
  * the SelfExSR pack (https://github.com/jbhuang0604/SelfExSR, `SelfExSR-master.zip` or
    its `data/{folder}/image_SRF_4/*_SRF_4_{{HR,LR}}.png`);
  * or only the HR images at any depth, e.g. `<manual_dir>/HR/{example}.png` (or
    `<manual_dir>/{folder}/HR/...`); LR is then made with keras_srfm.imaging.imresize (MATLAB bicubic).
"""
