"""`srfm mos prepare`: make every version of every chosen image, plus the calibration pairs.

The versions follow Sec. V-C of the paper: nearest neighbour (NN), bicubic, each model and the
ground truth (HR). The LR input is MATLAB's bicubic x1/4 downscale of the mod-4-cropped HR
(`keras_srfm.imaging.imresize`), the protocol of Sec. V; NN is pixel replication x4 of that LR and
bicubic is MATLAB bicubic x4 of it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm import tqdm

from keras_srfm.imaging.formats import IMAGE_EXTENSIONS, list_image_files
from keras_srfm.mos.study import (
    FORMAT,
    FORMAT_VERSION,
    HIGH_METHOD,
    LOW_METHOD,
    MANIFEST_NAME,
    make_token,
    sha256_file,
    validate_method_names,
)

SCALE = 4
IMAGE_SUFFIXES = IMAGE_EXTENSIONS  # read with Pillow: every format of keras_srfm.imaging.formats
logger = logging.getLogger("keras_srfm.mos")

Upscaler = Callable[[np.ndarray], np.ndarray]


def default_hr_dir() -> Path | None:
    """BSD100's HR folder of the benchmark data (`$SRFM_DATA_DIR/benchmarks/BSD100/HR`, the
    variable defaulting to `../shared/data` beside the repository), or None if absent."""
    from keras_srfm.inference.presets import data_root

    folder = data_root() / "benchmarks" / "BSD100" / "HR"
    return folder if folder.is_dir() else None


def list_images(hr_dir: Path) -> list[Path]:
    """Image files directly in `hr_dir`, sorted by name; other files are named in a warning."""
    if not hr_dir.is_dir():
        raise FileNotFoundError(f"HR directory not found: {hr_dir}")
    listing = list_image_files(hr_dir, extensions=IMAGE_SUFFIXES)
    if listing.skipped:
        logger.warning("%s", listing.skipped_note())
    return list(listing.images)


def load_hr(path: Path) -> np.ndarray:
    """The HR image as uint8 RGB, cropped to a multiple of the scale (the mod-4 crop).

    Decoded like every other command's input (`keras_srfm.imaging.image_io.read_image`: EXIF
    orientation applied, 16-bit and palette images converted).
    """
    from keras_srfm.imaging.image_io import read_image

    try:
        hr = read_image(path).rgb
    except ValueError as err:
        raise ValueError(f"cannot read image {path}: {err}") from err
    h, w = (hr.shape[0] // SCALE) * SCALE, (hr.shape[1] // SCALE) * SCALE
    if h == 0 or w == 0:
        raise ValueError(f"Image smaller than {SCALE}x{SCALE}. Received: {path} {hr.shape}")
    return hr[:h, :w]


def _resolve_models(
    models: Mapping[str, str | Upscaler], load_model: Callable[[str], Upscaler] | None
) -> dict[str, tuple[str, Upscaler]]:
    """name -> (source description, callable); strings go through `load_model`."""
    validate_method_names(list(models))
    resolved: dict[str, tuple[str, Upscaler]] = {}
    for name, spec in models.items():
        if isinstance(spec, str):
            if load_model is None:
                raise ValueError(
                    f"Model {name!r} is a spec string; pass load_model= (e.g. load_upscaler) "
                    f"or a callable. Received: {name}={spec!r}"
                )
            resolved[name] = (spec, load_model(spec))
        elif callable(spec):
            resolved[name] = (str(getattr(spec, "name", type(spec).__name__)), spec)
        else:
            raise ValueError(
                f"A model must be a path/spec or a callable. Received: {name}={spec!r}"
            )
    return resolved


def make_versions(hr: np.ndarray, models: Mapping[str, Upscaler]) -> dict[str, np.ndarray]:
    """All versions of one HR image, in report order (NN, bicubic, models..., HR).

    Args:
        hr: np.ndarray uint8 (H, W, 3), H and W multiples of 4.
        models: name -> upscaler taking uint8 (H/4, W/4, 3) to uint8 (H, W, 3).

    Returns:
        dict of name -> np.ndarray uint8 (H, W, 3).
    """
    from keras_srfm.imaging.imresize import imresize, nearest

    lr = imresize(hr, scale=1 / SCALE)
    versions = {LOW_METHOD: nearest(lr, SCALE), "bicubic": imresize(lr, scale=SCALE)}
    for name, upscale in models.items():
        out = np.asarray(upscale(lr))
        if out.shape != hr.shape or out.dtype != np.uint8:
            raise ValueError(
                f"Model {name!r} must map uint8 {lr.shape} to uint8 {hr.shape}. "
                f"Received: {out.dtype} {out.shape}"
            )
        versions[name] = out
    versions[HIGH_METHOD] = hr
    return versions


def _write_png(array: np.ndarray, path: Path) -> str:
    """Writes a PNG without metadata (nothing in the file names its method); returns sha256."""
    Image.fromarray(array).save(path, format="PNG")
    return sha256_file(path)


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ValueError(f"Study directory is not empty; choose a new one. Received: {out_dir}")


def prepare_study(
    hr_dir: str | Path,
    out_dir: str | Path,
    models: Mapping[str, str | Upscaler] | None = None,
    num_images: int = 20,
    num_calibration: int = 5,
    images_per_rater: int | None = None,
    seed: int = 0,
    progress: bool = True,
    load_model: Callable[[str], Upscaler] | None = None,
) -> Path:
    """Makes a MOS study directory (Sec. V-C): all versions of `num_images` random HR images.

    The directory is built in a temporary sibling and renamed into place, so a failure leaves
    nothing half-written. Same inputs and seed give byte-identical files and manifest.

    Args:
        hr_dir: str or Path. Folder of ground-truth images (e.g. BSD100 `HR/`).
        out_dir: str or Path. New (or empty) study directory.
        models: mapping of name -> a callable uint8 LR -> uint8 4x image, or a spec string
            for `load_model` (a `.keras` file, SavedModel, `.tflite`...). Defaults to none
            (NN, bicubic and HR only).
        num_images: int. Images in the study. Defaults to 20 (the paper's per-rater count).
        num_calibration: int. Calibration pairs (NN = score 1, HR = score 5). Defaults to 5.
        images_per_rater: int or None. Each rater rates a cyclic window of this many images
            (the paper: 20 of 100, so every image gets 5 raters out of 25). Defaults to all.
        seed: int. Seeds image selection, tokens and each rater's order. Defaults to 0.
        progress: bool. Show a tqdm bar. Defaults to True.
        load_model: callable or None. Turns a spec string of `models` into an upscaler and
            is needed only for those: `srfm mos prepare` passes `load_upscaler` of
            `keras_srfm.inference.upscalers` (TensorFlow is then imported), so that this module stays
            free of the upscalers. Defaults to None.

    Returns:
        Path of the written `study.json`.
    """
    hr_dir, out_dir = Path(hr_dir), Path(out_dir)
    if num_images < 1:
        raise ValueError(f"`num_images` must be >= 1. Received: num_images={num_images}")
    if num_calibration < 0:
        raise ValueError(
            f"`num_calibration` must be >= 0. Received: num_calibration={num_calibration}"
        )
    per_rater = num_images if images_per_rater is None else images_per_rater
    if not 1 <= per_rater <= num_images:
        raise ValueError(
            f"`images_per_rater` must be in [1, num_images={num_images}]. "
            f"Received: images_per_rater={images_per_rater}"
        )
    _check_out_dir(out_dir)
    files = list_images(hr_dir)
    if len(files) < num_images:
        raise ValueError(
            f"{hr_dir} has {len(files)} images; the study needs num_images={num_images}"
        )
    stems = [p.stem for p in files]
    if len(set(stems)) != len(stems):
        raise ValueError(f"Image names in {hr_dir} must be unique without their suffix")

    # Selection: the first `num_images` of a seeded permutation; calibration images come from
    # the rest, falling back to study images only when the folder is too small.
    order = np.random.default_rng(seed).permutation(len(files))
    chosen = [files[i] for i in order[:num_images]]
    spare = [files[i] for i in order[num_images:]]
    if num_calibration > len(files):
        raise ValueError(f"{hr_dir} has {len(files)} images; num_calibration={num_calibration}")
    calib = (spare + chosen)[:num_calibration]

    resolved = _resolve_models(models or {}, load_model)
    upscalers = {name: fn for name, (_, fn) in resolved.items()}
    source_hashes = {p: sha256_file(p) for p in dict.fromkeys(chosen + calib)}
    # The token key depends on the seed and the source pixels: deterministic, yet not
    # computable by a rater who only knows image and method names.
    key = hashlib.sha256(
        f"srfm-mos:{seed}:".encode() + "".join(source_hashes[p] for p in chosen + calib).encode()
    ).digest()

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    # A whole study folder, built aside and renamed in (not `keras_srfm.imaging.atomic`, which writes files).
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        manifest = _build(tmp, chosen, calib, upscalers, source_hashes, key, progress)
        manifest.update(
            format=FORMAT,
            version=FORMAT_VERSION,
            seed=seed,
            scale=SCALE,
            images_per_rater=per_rater,
            methods=[
                {"name": LOW_METHOD, "source": "nearest"},
                {"name": "bicubic", "source": "bicubic"},
            ]
            + [{"name": n, "source": src} for n, (src, _) in resolved.items()]
            + [{"name": HIGH_METHOD, "source": "ground truth"}],
        )
        (tmp / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        _check_out_dir(out_dir)
        if out_dir.exists():
            out_dir.rmdir()
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir / MANIFEST_NAME


def _build(
    root: Path,
    chosen: list[Path],
    calib: list[Path],
    upscalers: Mapping[str, Upscaler],
    source_hashes: Mapping[Path, str],
    key: bytes,
    progress: bool,
) -> dict[str, Any]:
    """Writes items/ and calibration/ under `root`; returns the manifest's content lists."""
    (root / "items").mkdir()
    (root / "calibration").mkdir()
    images, items, calibration = [], [], []
    for path in tqdm(chosen, desc="study images", unit="image", disable=not progress):
        hr = load_hr(path)
        images.append(
            {
                "name": path.stem,
                "file": path.name,
                "source_sha256": source_hashes[path],
                "height": hr.shape[0],
                "width": hr.shape[1],
            }
        )
        for method, array in make_versions(hr, upscalers).items():
            token = make_token(key, "item", path.stem, method)
            rel = f"items/{token}.png"
            items.append(
                {
                    "token": token,
                    "image": path.stem,
                    "method": method,
                    "file": rel,
                    "sha256": _write_png(array, root / rel),
                }
            )
    for path in tqdm(calib, desc="calibration", unit="image", disable=not progress):
        versions = make_versions(load_hr(path), {})
        pair = {}
        for role, method in (("low", LOW_METHOD), ("high", HIGH_METHOD)):
            token = make_token(key, "calibration", path.stem, method)
            rel = f"calibration/{token}.png"
            pair[role] = {
                "token": token,
                "image": path.stem,
                "method": method,
                "file": rel,
                "sha256": _write_png(versions[method], root / rel),
            }
        calibration.append(pair)
    return {"images": images, "items": items, "calibration": calibration}
