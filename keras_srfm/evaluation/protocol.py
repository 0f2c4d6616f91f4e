"""Benchmark evaluation of Table I (Sec. V): PSNR / SSIM / VIF (and NIQE) of an x4 upscaler.

Protocol (the VDSR/SRCNN MATLAB convention, computed from the HR images only):

1. Read HR as uint8 RGB; remember whether the file was grayscale.
2. Mod-crop to a multiple of 4 (bottom / right).
3. LR = MATLAB `imresize(HR, 1/4, 'bicubic')` on uint8 (rounded after each 1-D pass).
4. SR = upscaler(LR), uint8 (4H, 4W, 3). The `bicubic` baseline is MATLAB bicubic x4 on uint8.
5. Y = MATLAB `rgb2ycbcr` (rounded); a grayscale HR is its own Y and the SR is reduced to
   the same full-range luma (`keras_srfm.metrics`).
6. Shave 4 pixels from every border; PSNR (peak 255), SSIM (Wang), VIF-P; mean over images.
7. On request (`metrics=(..., "niqe")`), NIQE (Mittal et al. 2013; no reference, lower is
   better) of the SR on the same Y and shave, and of the HR itself (the ground truth's NIQE,
   the point at PSNR = inf of the perception-distortion plane).

Image sources are folders of HR images or the `srfm_*` TFDS builders of `tfds_builders`.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from keras_srfm.imaging import formats
from keras_srfm.imaging.atomic import atomic_write
from keras_srfm.imaging.imresize import imresize
from keras_srfm.metrics.fidelity import psnr, rgb_to_gray, ssim
from keras_srfm.metrics.niqe import niqe
from keras_srfm.metrics.vif import vif

SCALE = 4
METRICS = ("psnr", "ssim", "vif", "niqe")  # what `metrics=` / `--metrics` may name
DEFAULT_METRICS = ("psnr", "ssim", "vif")  # Table I's columns
LOWER_IS_BETTER = ("niqe",)
NIQE_NOTE = "NIQE: lower is better (no reference; HR NIQE = the ground truth's own NIQE)"
IMAGE_EXTENSIONS = formats.IMAGE_EXTENSIONS  # read with Pillow (`read_hr`)
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
NIQE_PROTOCOL = (
    "; NIQE (Mittal et al. 2013, MATLAB release, 96x96 blocks; lower is better) of SR and of HR "
    "on the same Y, shave 4"
)


def parse_metrics(text: str | Sequence[str]) -> tuple[str, ...]:
    """`"psnr,ssim,vif,niqe"` (or a list) -> validated metric names, in order, no repeats.

    Raises:
        ValueError: an unknown or empty name (one line).
    """
    names = text.split(",") if isinstance(text, str) else list(text)
    names = [n.strip().lower() for n in names]
    unknown = [n for n in names if n not in METRICS]
    if unknown or not names:
        raise ValueError(
            f"unknown metric(s) {unknown or names}; choose from {', '.join(METRICS)}. "
            f"Received: {text!r}"
        )
    return tuple(dict.fromkeys(names))


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
    """A test set: display name, image count and a way to iterate its images.

    Attributes:
        name: str. Display name (the Table I row).
        size: int. Number of images.
        images: callable returning an iterator of `EvalImage`. An iterator may raise
            `ImageReadError` for one file and go on with the next (`folder_source`).
        skipped_note: str or None. One line naming files of the folder that were left out.
    """

    name: str
    size: int
    images: Callable[[], Iterator[EvalImage]]
    skipped_note: str | None = None


class ImageReadError(ValueError):
    """One test image cannot be read; `name` is its file name (the per-image key)."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


class _FolderImages:
    """Reads a folder's images one by one; a bad file raises `ImageReadError`, and iteration
    can go on with the next file (a generator would end at the first exception)."""

    def __init__(self, files: Sequence[Path]) -> None:
        self._files = iter(files)

    def __iter__(self) -> _FolderImages:
        return self

    def __next__(self) -> EvalImage:
        path = next(self._files)
        try:
            return read_hr(path)
        except ValueError as err:
            raise ImageReadError(path.name, str(err)) from err


def folder_display_name(path: str | os.PathLike) -> str:
    """Table row of a folder: its name, or its parent's for `.../Set5/HR`."""
    path = Path(path).resolve()
    return path.parent.name if path.name.lower() in ("hr", "gt") and path.parent.name else path.name


def read_hr(path: str | os.PathLike) -> EvalImage:
    """Reads an HR image; grayscale files (L, LA, 16-bit gray...) are flagged.

    Raises:
        ValueError: one line naming the file, if it cannot be decoded.
    """
    from keras_srfm.imaging.image_io import read_image

    path = Path(path)
    try:
        loaded = read_image(path)
    except (ValueError, OSError) as err:
        raise ValueError(f"cannot read image {path}: {err}") from err
    return EvalImage(name=path.name, hr=loaded.rgb, gray=loaded.grayscale)


def folder_source(path: str | os.PathLike) -> ImageSource:
    """The HR images of a folder (not recursive), sorted by name.

    Every extension of `keras_srfm.imaging.formats.IMAGE_EXTENSIONS` is read (GIF: its first frame);
    other files are named in `ImageSource.skipped_note`. A file that cannot be decoded raises
    `ImageReadError` when its turn comes, and the iteration can go on.

    Raises:
        FileNotFoundError: the folder does not exist.
        ValueError: it is not a folder, or holds no images.
    """
    folder = Path(path).expanduser()
    if not folder.exists():
        raise FileNotFoundError(f"HR folder not found: {folder}")
    if not folder.is_dir():
        raise ValueError(f"not a folder: {folder}")
    listing = formats.list_image_files(folder, extensions=IMAGE_EXTENSIONS)
    files = listing.images
    if not files:
        raise ValueError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in {folder}")
    return ImageSource(
        name=folder_display_name(folder),
        size=len(files),
        images=lambda: _FolderImages(files),
        skipped_note=listing.skipped_note(),
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
        from keras_srfm.imaging.image_io import read_image

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
    hr: np.ndarray,
    sr: np.ndarray,
    gray: bool = False,
    scale: int = SCALE,
    metrics: Sequence[str] = DEFAULT_METRICS,
) -> dict[str, float]:
    """PSNR / SSIM / VIF-P (and NIQE) on Y with `scale` pixels shaved (steps 5-7).

    Args:
        hr: np.ndarray uint8 (H, W, 3). Mod-cropped ground truth.
        sr: np.ndarray uint8 (H, W, 3). Upscaled image.
        gray: bool. The HR file was grayscale: its first channel is Y.
        scale: int. Pixels shaved per border. Defaults to 4.
        metrics: names from `METRICS`. Defaults to `DEFAULT_METRICS`.

    Returns:
        dict of float per metric, in the order of `metrics`.
    """
    reference = hr[..., 0] if gray else hr
    full_reference = {"psnr": psnr, "ssim": ssim, "vif": vif}
    out = {}
    for name in metrics:
        if name == "niqe":
            out[name] = niqe_of(sr, gray, scale)
        else:
            out[name] = full_reference[name](reference, sr, shave=scale)
    return out


def niqe_of(image: np.ndarray, gray: bool = False, scale: int = SCALE) -> float:
    """NIQE of one image on the channel PSNR uses: Y, or the gray luma for a gray source.

    Raises:
        ValueError: the image is too small for NIQE (two 96x96 blocks after the shave).
    """
    return niqe(rgb_to_gray(image) if gray else image, shave=scale)


def evaluate_image(
    upscaler: Callable[[np.ndarray], np.ndarray],
    image: EvalImage,
    scale: int = SCALE,
    metrics: Sequence[str] = DEFAULT_METRICS,
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
        raise ValueError(f"the model must return uint8 {hr.shape}. Received: {sr.dtype} {sr.shape}")
    # A ValueError (e.g. too small for VIF or NIQE) names no file: `evaluate_source` adds it.
    return score(hr, sr, image.gray, scale, metrics), sr


def _means(per_image: dict[str, dict[str, float]]) -> dict[str, float]:
    names = next(iter(per_image.values()), {})
    return {m: float(np.mean([v[m] for v in per_image.values()])) for m in names}


@dataclasses.dataclass
class DatasetResult:
    """Per-image and mean metrics of one test set, and the images that failed.

    Attributes:
        name: str. Display name (Table I row).
        per_image: image name -> metric -> value, for every SR image that was scored.
        hr: image name -> metric -> value of the HR images themselves (no-reference metrics
            only: NIQE); empty unless NIQE was asked for.
        failed: image name -> one-line reason, for images that could not be scored
            (unreadable, smaller than the SSIM / VIF windows after shaving...). The means are
            over `per_image` only.
        requested: the metric names asked for; () = those of the scored images.
    """

    name: str
    per_image: dict[str, dict[str, float]]
    hr: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)
    failed: dict[str, str] = dataclasses.field(default_factory=dict)
    requested: tuple[str, ...] = ()

    @property
    def metrics(self) -> tuple[str, ...]:
        """The metric names, in report order (even when every image failed)."""
        return self.requested or tuple(next(iter(self.per_image.values()), {}))

    @property
    def mean(self) -> dict[str, float]:
        return _means(self.per_image)

    @property
    def hr_mean(self) -> dict[str, float]:
        return _means(self.hr)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "num_images": len(self.per_image),
            "mean": self.mean if self.per_image else None,
            "per_image": self.per_image,
        }
        if self.hr:
            out["hr"] = {"mean": self.hr_mean, "per_image": self.hr}
        if self.failed:
            out["failed"] = self.failed
        return out


def evaluate_source(
    upscaler: Callable[[np.ndarray], np.ndarray],
    source: ImageSource,
    *,
    scale: int = SCALE,
    save_dir: str | os.PathLike | None = None,
    progress: bool = True,
    metrics: Sequence[str] = DEFAULT_METRICS,
    on_failure: Callable[[str, str, str], None] | None = None,
) -> DatasetResult:
    """Evaluates an upscaler on every image of a test set.

    Args:
        upscaler: callable uint8 (H, W, 3) -> uint8 (sH, sW, 3), e.g. from
            `keras_srfm.inference.upscalers.load_upscaler`.
        source: ImageSource. From `folder_source` or `tfds_source`.
        scale: int. Defaults to 4.
        save_dir: folder or None. SR images are written to `<save_dir>/<set>/<stem>.png`
            (grayscale sources as gray PNGs of the luma that was scored).
        progress: bool. Show a tqdm bar. Defaults to True.
        metrics: names from `METRICS`. Defaults to `DEFAULT_METRICS`. With "niqe", the HR
            images' NIQE is recorded too (`DatasetResult.hr`).
        on_failure: callable or None. Called with (dataset, file name, reason) for each image
            that cannot be read or scored, and the others are still evaluated. None (the
            default) raises instead, at the first such image.

    Returns:
        DatasetResult, with the failed images in `failed`.

    Raises:
        ValueError: naming the dataset and file, when an image fails and `on_failure` is None.
    """
    from tqdm.auto import tqdm

    out_dir = None
    if save_dir is not None:
        out_dir = Path(save_dir) / source.name
        out_dir.mkdir(parents=True, exist_ok=True)
    per_image: dict[str, dict[str, float]] = {}
    bar = tqdm(total=source.size, desc=source.name, unit="img", disable=not progress)
    failed: dict[str, str] = {}
    hr_scores: dict[str, dict[str, float]] = {}
    for outcome in _each_image(source):
        bar.update()
        if isinstance(outcome, ImageReadError):
            failed[outcome.name] = str(outcome)
            _report_failure(on_failure, source.name, outcome.name, failed[outcome.name])
            continue
        try:
            scores, sr = evaluate_image(upscaler, outcome, scale, metrics)
            if "niqe" in metrics:
                hr_niqe = niqe_of(mod_crop(outcome.hr, scale), outcome.gray, scale)
        except ValueError as err:  # e.g. smaller than the VIF window after shaving
            failed[outcome.name] = _first_line(err)
            _report_failure(on_failure, source.name, outcome.name, failed[outcome.name])
            continue
        per_image[outcome.name] = scores
        if "niqe" in metrics:
            hr_scores[outcome.name] = {"niqe": hr_niqe}
        if out_dir is not None:
            _save_sr(sr, outcome.gray, out_dir / f"{Path(outcome.name).stem}.png")
    bar.close()
    if not per_image and not failed:
        raise ValueError(f"no images in dataset {source.name}")
    return DatasetResult(source.name, per_image, hr_scores, failed, tuple(metrics))


def _each_image(source: ImageSource) -> Iterator[EvalImage | ImageReadError]:
    """The source's images, with a per-file read error in place of its image."""
    iterator = iter(source.images())
    while True:
        try:
            yield next(iterator)
        except StopIteration:
            return
        except ImageReadError as err:
            yield err


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _report_failure(
    on_failure: Callable[[str, str, str], None] | None, dataset: str, name: str, reason: str
) -> None:
    if on_failure is None:  # strict: a mean over fewer images must not pass unnoticed
        raise ValueError(f"{dataset}/{name}: {reason}")
    on_failure(dataset, name, reason)


def _save_sr(sr: np.ndarray, gray: bool, path: Path) -> None:
    from PIL import Image

    from keras_srfm.metrics.fidelity import rgb_to_gray

    image = Image.fromarray(rgb_to_gray(sr), "L") if gray else Image.fromarray(sr, "RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    atomic_write(path, buffer.getvalue())


# === Learning curve ===


def curve_images(folder: str | os.PathLike) -> list[EvalImage]:
    """The images of a learning-curve folder (`srfm train --bench-dir`), decoded once.

    Read as `srfm evaluate --hr-dir` reads them (`folder_source`: every extension of
    `keras_srfm.imaging.formats`, grayscale files flagged), so that `curve_psnr` can score them at
    every checkpoint without decoding them again.

    Raises:
        FileNotFoundError: the folder is missing, is not a folder, or holds no image (one line).
        ValueError: an image cannot be decoded (`ImageReadError`, naming the file).
    """
    try:
        source = folder_source(folder)
    except ValueError as err:  # not a folder, or no image in it
        raise FileNotFoundError(str(err)) from err
    return list(source.images())


def curve_psnr(
    upscaler: Callable[[np.ndarray], np.ndarray], images: Sequence[EvalImage], scale: int = SCALE
) -> float:
    """A point of the learning curve: the mean Y-PSNR of `upscaler` on `images`.

    The protocol of `srfm evaluate` (`evaluate_image`: mod-crop, MATLAB bicubic LR on uint8,
    Y or the gray values, shave `scale`), PSNR only: for the same model and folder it equals
    the PSNR mean of `srfm evaluate --hr-dir folder`.

    Args:
        upscaler: callable uint8 LR (H, W, 3) -> uint8 SR (sH, sW, 3), e.g. `uint8_upscaler`
            of a generator's forward pass.
        images: sequence of EvalImage, e.g. from `curve_images`.
        scale: int. Defaults to 4.

    Raises:
        ValueError: no images, or the upscaler returns the wrong shape or dtype.
    """
    if not images:
        raise ValueError("curve_psnr needs at least one image")
    scores = [evaluate_image(upscaler, image, scale, ("psnr",))[0]["psnr"] for image in images]
    return float(np.mean(scores))


def uint8_upscaler(predict: Callable[[np.ndarray], Any]) -> Callable[[np.ndarray], np.ndarray]:
    """A uint8 image upscaler from a float forward pass, rounded as `srfm evaluate` rounds.

    Args:
        predict: callable float32 (1, H, W, 3) on [0, 1] -> array-like (1, sH, sW, 3), e.g. a
            Keras generator or a jitted JAX function of its weights.

    Returns:
        callable uint8 (H, W, 3) -> uint8 (sH, sW, 3): `keras_srfm.imaging.image_io.to_uint8` of the
        output, i.e. round(clip(x, 0, 1) * 255) like `KerasUpscaler`.
    """
    from keras_srfm.imaging.image_io import to_uint8

    def upscale(lr: np.ndarray) -> np.ndarray:
        return to_uint8(np.asarray(predict(lr[np.newaxis].astype(np.float32) / 255.0))[0])

    return upscale


# === Reports ===


def unique_names(names: Sequence[str]) -> list[str]:
    """Makes display names unique: a repeated `Set5` becomes `Set5 (2)`."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return out


_FORMATS = {"psnr": ".2f", "ssim": ".3f", "vif": ".3f", "niqe": ".3f"}


def _metric_names(results: Sequence[DatasetResult]) -> tuple[str, ...]:
    """The metrics of a report: those of the first dataset with a scored image."""
    return next((r.metrics for r in results if r.metrics), DEFAULT_METRICS)


def markdown_table(model: str, results: Iterable[DatasetResult]) -> str:
    """Table I layout: one row per dataset, `PSNR/SSIM/VIF` in the model's column.

    With NIQE, its value joins the model's column, an `HR NIQE` column follows and a line
    under the table says that lower is better.
    """
    results = list(results)
    names = _metric_names(results)
    label = "/".join(n.upper() for n in names)
    with_hr = "niqe" in names
    lines = [
        f"| Dataset | {model} ({label}) |" + (" HR NIQE |" if with_hr else ""),
        "|---|---|" + ("---|" if with_hr else ""),
    ]
    for result in results:
        m = result.mean
        cells = "/".join(f"{m[n]:{_FORMATS[n]}}" for n in names) if result.per_image else "-"
        if result.failed:
            total = len(result.failed) + len(result.per_image)
            cells += f" ({len(result.failed)} of {total} failed)"
        hr = ""
        if with_hr:
            hr = f" {result.hr_mean['niqe']:.3f} |" if result.hr else " - |"
        lines.append(f"| {result.name} | {cells} |{hr}")
    if with_hr:
        lines += ["", NIQE_NOTE]
    return "\n".join(lines)


def results_json(
    model: str, results: Iterable[DatasetResult], scale: int = SCALE
) -> dict[str, Any]:
    """The `--json` document: model, protocol and, per dataset, `mean` and `per_image`."""
    results = list(results)
    names = _metric_names(results)
    document: dict[str, Any] = {
        "model": model,
        "scale": scale,
        "protocol": PROTOCOL + (NIQE_PROTOCOL if "niqe" in names else ""),
        "datasets": {r.name: r.to_dict() for r in results},
    }
    if "niqe" in names:
        document["lower_is_better"] = [n for n in names if n in LOWER_IS_BETTER]
    return document


def results_csv(results: Iterable[DatasetResult]) -> str:
    """Per-image CSV: dataset, image, then the metrics (psnr, ssim, vif[, niqe, hr_niqe])."""
    results = list(results)
    names = _metric_names(results)
    with_hr = "niqe" in names
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["dataset", "image", *names, *(["hr_niqe"] if with_hr else [])])
    for result in results:
        for name, values in result.per_image.items():
            hr = [f"{result.hr[name]['niqe']:.6f}"] if with_hr else []
            writer.writerow([result.name, name, *(f"{values[m]:.6f}" for m in names), *hr])
    return buffer.getvalue()


def check_writable(path: str | os.PathLike, *, folder: bool, flag: str) -> None:
    """Checks, before a long run, that an output file or folder can be written.

    Writes and removes a probe file in the (parent) folder, or, when that folder does not exist
    yet, in its nearest existing ancestor (where it will be created), so a bad `--json`,
    `--csv`, `--save-sr` or `--output-dir` fails in one line before the run, not after it. It
    creates nothing: a command that fails later leaves no empty folder behind.

    Args:
        path: str or path. The output file, or with `folder` the output folder.
        folder: bool. `path` is a folder (else a file, replaced atomically).
        flag: str. The option, for the message.

    Raises:
        ValueError: one line naming the option and the path.
    """
    path = Path(path)
    if not folder and path.is_dir():
        raise ValueError(f"{flag} {path} is a folder; give a file name")
    where = path if folder else path.parent
    blocker = next((a for a in (where, *where.parents) if a.exists() and not a.is_dir()), None)
    if blocker is not None:
        raise ValueError(f"{flag} {path} is not writable ({blocker} is a file, not a folder)")
    existing = next(a for a in (where.absolute(), *where.absolute().parents) if a.exists())
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".srfm-write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise ValueError(f"{flag} {path} is not writable ({err.strerror or err})") from err
