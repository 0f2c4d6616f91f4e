"""Benchmark evaluation of Table I (Sec. V): PSNR / SSIM / VIF of an x4 upscaler on test sets.

Protocol (the VDSR/SRCNN MATLAB convention, computed from the HR images only):

1. Read HR as uint8 RGB; remember whether the file was grayscale.
2. Mod-crop to a multiple of 4 (bottom / right).
3. LR = MATLAB `imresize(HR, 1/4, 'bicubic')` on uint8 (rounded after each 1-D pass).
4. SR = upscaler(LR), uint8 (4H, 4W, 3). The `bicubic` baseline is MATLAB bicubic x4 on uint8.
5. Y = MATLAB `rgb2ycbcr` (rounded); a grayscale HR is its own Y and the SR is reduced to
   the same full-range luma (`keras_srfm.metrics`).
6. Shave 4 pixels from every border; PSNR (peak 255), SSIM (Wang), VIF-P; mean over images.

Image sources are folders of HR images or the `srfm_*` TFDS builders of `tfds_builders`.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from keras_srfm.imresize import imresize
from keras_srfm.metrics import psnr, ssim, vif

SCALE = 4
METRICS = ("psnr", "ssim", "vif")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
# `--dataset` names: the TFDS builders of tfds_builders and their display names (Table I rows).
TFDS_DATASETS = {
    "srfm_set5": "Set5",
    "srfm_set14": "Set14",
    "srfm_bsd100": "BSD100",
    "srfm_urban100": "Urban100",
}
PROTOCOL = (
    "HR uint8 -> mod-crop x4 -> LR = MATLAB bicubic 1/4 on uint8 -> model -> uint8 -> "
    "Y (MATLAB rgb2ycbcr; gray images: the gray values) -> shave 4 -> PSNR / SSIM (Wang) / VIF-P"
)


# === Images ===


@dataclasses.dataclass(frozen=True)
class EvalImage:
    """One HR test image.

    Attributes:
        name: str. File name, the key of per-image results.
        hr: np.ndarray uint8 (H, W, 3). Grayscale files replicated to 3 channels.
        gray: bool. The source file was grayscale: its gray values are its Y.
        lr: np.ndarray uint8 (H/4, W/4, 3) or None. An LR read from an LR folder, used
            instead of the bicubic of `hr` (`paired_folder_source`).
    """

    name: str
    hr: np.ndarray
    gray: bool = False
    lr: np.ndarray | None = None  # given LR (e.g. from `srfm degrade`) instead of step 3


@dataclasses.dataclass(frozen=True)
class ImageSource:
    """A test set: display name, image count and a way to iterate its images."""

    name: str
    size: int
    images: Callable[[], Iterator[EvalImage]]


def folder_display_name(path: str | os.PathLike) -> str:
    """Table row of a folder: its name, or its parent's for `.../Set5/HR`."""
    path = Path(path).resolve()
    return path.parent.name if path.name.lower() in ("hr", "gt") and path.parent.name else path.name


def read_hr(path: str | os.PathLike) -> EvalImage:
    """Reads an HR image; grayscale files (L, LA, 16-bit gray...) are flagged.

    Raises:
        ValueError: one line naming the file, if it cannot be decoded.
    """
    from keras_srfm.inference import read_image

    path = Path(path)
    try:
        loaded = read_image(path)
    except (ValueError, OSError) as err:
        raise ValueError(f"cannot read image {path}: {err}") from err
    return EvalImage(name=path.name, hr=loaded.rgb, gray=loaded.grayscale)


def folder_source(path: str | os.PathLike) -> ImageSource:
    """The HR images of a folder (not recursive), sorted by name.

    Raises:
        FileNotFoundError: the folder does not exist.
        ValueError: it is not a folder, or holds no images.
    """
    folder = Path(path).expanduser()
    if not folder.exists():
        raise FileNotFoundError(f"HR folder not found: {folder}")
    if not folder.is_dir():
        raise ValueError(f"not a folder: {folder}")
    files = sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
    )
    if not files:
        raise ValueError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in {folder}")
    return ImageSource(
        name=folder_display_name(folder),
        size=len(files),
        images=lambda: (read_hr(p) for p in files),
    )


def paired_folder_source(hr_dir: str | os.PathLike, lr_dir: str | os.PathLike) -> ImageSource:
    """HR images with given LR images (e.g. written by `srfm degrade`), paired by file stem.

    Every HR image needs exactly one LR file of the same stem (any extension) whose size is
    the mod-cropped HR's divided by 4; the row is named `<HR name> (<LR folder name>)`.

    Raises:
        FileNotFoundError: a folder does not exist.
        ValueError: an HR image without LR, or a stem with several LR files (one line).
    """
    hr_source = folder_source(hr_dir)
    folder = Path(lr_dir).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"LR folder not found: {folder}")
    by_stem: dict[str, list[Path]] = {}
    for p in folder.iterdir():
        if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS:
            by_stem.setdefault(p.stem, []).append(p)
    hr_files = sorted(
        p for p in Path(hr_dir).expanduser().iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
    )
    pairs = []
    for hr_path in hr_files:
        found = by_stem.get(hr_path.stem, [])
        if len(found) != 1:
            problem = "no LR file" if not found else f"{len(found)} LR files"
            raise ValueError(f"{problem} for {hr_path.name} in {folder} (LR files are paired by stem)")
        pairs.append((hr_path, found[0]))

    def images() -> Iterator[EvalImage]:
        from keras_srfm.inference import read_image

        for hr_path, lr_path in pairs:
            image = read_hr(hr_path)
            try:
                lr = read_image(lr_path).rgb
            except (ValueError, OSError) as err:
                raise ValueError(f"cannot read image {lr_path}: {err}") from err
            yield dataclasses.replace(image, lr=lr)

    return ImageSource(f"{hr_source.name} ({folder.name})", len(pairs), images)


def tfds_name(name: str) -> str:
    """`Set5`, `set5` or `srfm_set5` -> `srfm_set5`; other names are kept (lower case)."""
    key = name.strip().lower()
    return key if key.startswith("srfm_") else f"srfm_{key}"


def tfds_source(
    name: str, data_dir: str | None = None, manual_dir: str | None = None
) -> ImageSource:
    """A test set from its TFDS builder (`srfm_set5`, ...), prepared on first use.

    Uses the builder's `hr` (already mod-cropped) and `original_channels` (1: grayscale); its
    `lr` is ignored: LR is always recomputed from HR.

    Raises:
        ValueError: unknown name, or the dataset cannot be prepared (one line).
    """
    import tensorflow_datasets as tfds

    import tfds_builders  # noqa: F401  (registers the srfm_* builders)

    builder_name = tfds_name(name)
    if builder_name not in TFDS_DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose from {sorted(TFDS_DATASETS.values())}")
    kwargs: dict[str, Any] = {}
    if manual_dir:
        kwargs["download_config"] = tfds.download.DownloadConfig(manual_dir=os.fspath(manual_dir))
    try:
        dataset, info = tfds.load(
            builder_name,
            split="test",
            data_dir=data_dir,
            with_info=True,
            download_and_prepare_kwargs=kwargs,
        )
    except Exception as err:  # TFDS raises many types (download, manual_dir, assertion)
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"cannot load dataset {builder_name}: {first}") from err

    def images() -> Iterator[EvalImage]:
        for example in tfds.as_numpy(dataset):
            filename = example["filename"]
            yield EvalImage(
                name=filename.decode() if isinstance(filename, bytes) else str(filename),
                hr=example["hr"],
                gray=int(example["original_channels"]) == 1,
            )

    return ImageSource(TFDS_DATASETS[builder_name], info.splits["test"].num_examples, images)


# === Protocol ===


def mod_crop(image: np.ndarray, scale: int = SCALE) -> np.ndarray:
    """Crops bottom / right to multiples of `scale` (benchmark convention)."""
    h, w = image.shape[:2]
    return image[: h - h % scale, : w - w % scale]


def degrade(hr: np.ndarray, scale: int = SCALE) -> tuple[np.ndarray, np.ndarray]:
    """Mod-crops HR and makes its LR with MATLAB bicubic on uint8 (steps 2-3).

    Returns:
        (hr, lr): uint8 (sH, sW, 3) and (H, W, 3).
    """
    hr = mod_crop(np.asarray(hr, dtype=np.uint8), scale)
    if min(hr.shape[:2]) < scale:
        raise ValueError(f"HR image smaller than the scale {scale}. Received: shape={hr.shape}")
    return hr, imresize(hr, scale=1.0 / scale)


def score(
    hr: np.ndarray, sr: np.ndarray, gray: bool = False, scale: int = SCALE
) -> dict[str, float]:
    """PSNR / SSIM / VIF-P on Y with `scale` pixels shaved (steps 5-6).

    Args:
        hr: np.ndarray uint8 (H, W, 3). Mod-cropped ground truth.
        sr: np.ndarray uint8 (H, W, 3). Upscaled image.
        gray: bool. The HR file was grayscale: its first channel is Y.
        scale: int. Pixels shaved per border. Defaults to 4.

    Returns:
        dict with float `psnr`, `ssim`, `vif`.
    """
    reference = hr[..., 0] if gray else hr
    return {
        "psnr": psnr(reference, sr, shave=scale),
        "ssim": ssim(reference, sr, shave=scale),
        "vif": vif(reference, sr, shave=scale),
    }


def evaluate_image(
    upscaler: Callable[[np.ndarray], np.ndarray], image: EvalImage, scale: int = SCALE
) -> tuple[dict[str, float], np.ndarray]:
    """Runs the whole protocol on one image.

    Returns:
        (scores, sr): the metrics dict of `score` and the uint8 SR image.
    """
    if image.lr is None:
        hr, lr = degrade(image.hr, scale)
    else:
        hr, lr = mod_crop(np.asarray(image.hr, dtype=np.uint8), scale), image.lr
        if lr.shape[0] * scale != hr.shape[0] or lr.shape[1] * scale != hr.shape[1]:
            raise ValueError(
                f"{image.name}: LR {lr.shape[1]}x{lr.shape[0]} is not the mod-cropped HR "
                f"{hr.shape[1]}x{hr.shape[0]} divided by {scale}"
            )
    sr = np.asarray(upscaler(lr))
    if sr.shape != hr.shape or sr.dtype != np.uint8:
        raise ValueError(
            f"{image.name}: the model must return uint8 {hr.shape}. Received: {sr.dtype} {sr.shape}"
        )
    return score(hr, sr, image.gray, scale), sr


@dataclasses.dataclass
class DatasetResult:
    """Per-image and mean metrics of one test set."""

    name: str
    per_image: dict[str, dict[str, float]]

    @property
    def mean(self) -> dict[str, float]:
        return {m: float(np.mean([v[m] for v in self.per_image.values()])) for m in METRICS}

    def to_dict(self) -> dict[str, Any]:
        return {"num_images": len(self.per_image), "mean": self.mean, "per_image": self.per_image}


def evaluate_source(
    upscaler: Callable[[np.ndarray], np.ndarray],
    source: ImageSource,
    *,
    scale: int = SCALE,
    save_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> DatasetResult:
    """Evaluates an upscaler on every image of a test set.

    Args:
        upscaler: callable uint8 (H, W, 3) -> uint8 (sH, sW, 3), e.g. from
            `keras_srfm.inference.load_upscaler`.
        source: ImageSource. From `folder_source` or `tfds_source`.
        scale: int. Defaults to 4.
        save_dir: folder or None. SR images are written to `<save_dir>/<set>/<stem>.png`
            (grayscale sources as gray PNGs of the luma that was scored).
        progress: bool. Show a tqdm bar. Defaults to True.

    Returns:
        DatasetResult.
    """
    from tqdm.auto import tqdm

    out_dir = None
    if save_dir is not None:
        out_dir = Path(save_dir) / source.name
        out_dir.mkdir(parents=True, exist_ok=True)
    per_image: dict[str, dict[str, float]] = {}
    bar = tqdm(
        source.images(), total=source.size, desc=source.name, unit="img", disable=not progress
    )
    for image in bar:
        scores, sr = evaluate_image(upscaler, image, scale)
        per_image[image.name] = scores
        if out_dir is not None:
            _save_sr(sr, image.gray, out_dir / f"{Path(image.name).stem}.png")
    if not per_image:
        raise ValueError(f"no images in dataset {source.name}")
    return DatasetResult(source.name, per_image)


def _save_sr(sr: np.ndarray, gray: bool, path: Path) -> None:
    from PIL import Image

    from keras_srfm.metrics import rgb_to_gray

    image = Image.fromarray(rgb_to_gray(sr), "L") if gray else Image.fromarray(sr, "RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    atomic_write(path, buffer.getvalue())


# === Reports ===


def unique_names(names: Sequence[str]) -> list[str]:
    """Makes display names unique: a repeated `Set5` becomes `Set5 (2)`."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return out


def markdown_table(model: str, results: Iterable[DatasetResult]) -> str:
    """Table I layout: one row per dataset, `PSNR/SSIM/VIF` in the model's column."""
    lines = [f"| Dataset | {model} (PSNR/SSIM/VIF) |", "|---|---|"]
    for result in results:
        m = result.mean
        lines.append(f"| {result.name} | {m['psnr']:.2f}/{m['ssim']:.3f}/{m['vif']:.3f} |")
    return "\n".join(lines)


def results_json(
    model: str, results: Iterable[DatasetResult], scale: int = SCALE
) -> dict[str, Any]:
    """The `--json` document: model, protocol and, per dataset, `mean` and `per_image`."""
    return {
        "model": model,
        "scale": scale,
        "protocol": PROTOCOL,
        "datasets": {r.name: r.to_dict() for r in results},
    }


def results_csv(results: Iterable[DatasetResult]) -> str:
    """Per-image CSV: dataset, image, psnr, ssim, vif."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["dataset", "image", *METRICS])
    for result in results:
        for name, values in result.per_image.items():
            writer.writerow([result.name, name, *(f"{values[m]:.6f}" for m in METRICS)])
    return buffer.getvalue()


def atomic_write(path: str | os.PathLike, data: str | bytes) -> None:
    """Writes a file through a temp file in the same folder and `os.replace`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode() if isinstance(data, str) else data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json(path: str | os.PathLike, document: dict[str, Any]) -> None:
    atomic_write(path, json.dumps(document, indent=2) + "\n")
