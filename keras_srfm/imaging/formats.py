"""Image file formats: the one list of extensions the package reads and writes.

Every command that takes a folder of images reads the same extensions, `IMAGE_EXTENSIONS`,
and reports the files it leaves out (`FolderListing.skipped_note`). Where a decoder cannot
read a format, the list is narrowed here, with the reason, and not in the command:

- `srfm upscale`, `srfm evaluate`, `srfm compare`, `srfm mos prepare`: Pillow
  (`keras_srfm.imaging.image_io.read_image`) reads every listed format; GIF, APNG, WebP animations
  and multi-page TIFF give their first frame.
- Training folders (`keras_srfm.data.files.list_images`): `tf.io.decode_image` inside tf.data
  has no TIFF decoder (`TRAIN_EXTENSIONS` leaves TIFF out), and cannot decode a WebP with an
  alpha channel to RGB (such files fail `check_image`).

Outputs are written by Pillow in the formats of `OUTPUT_FORMATS` (no GIF: 256 colours).
This module imports nothing heavy, so light commands (`srfm mos serve`) can use it.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
# tf.io.decode_image (TF 2.21) decodes PNG, JPEG, BMP, GIF and WebP, not TIFF.
TF_UNSUPPORTED = {".tif": "tf.data has no TIFF decoder", ".tiff": "tf.data has no TIFF decoder"}
TRAIN_EXTENSIONS = tuple(e for e in IMAGE_EXTENSIONS if e not in TF_UNSUPPORTED)
# Output extension -> Pillow format name.
OUTPUT_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}
_NAMES_SHOWN = 5  # file names listed in a skipped-files note


@dataclasses.dataclass(frozen=True)
class FolderListing:
    """The image files of a folder, and the visible files left out.

    Attributes:
        folder: Path. The folder listed.
        images: tuple of Path. Regular files with an accepted extension, sorted.
        skipped: tuple of Path. Other files (not hidden, not folders): another extension, a
            format the decoder cannot read, or not a regular file (a FIFO, a device).
        extensions: tuple of str. The accepted extensions.
        subfolders: tuple of Path. Sub-folders not walked (not recursive; hidden ones are
            not listed).
    """

    folder: Path
    images: tuple[Path, ...]
    skipped: tuple[Path, ...]
    extensions: tuple[str, ...]
    subfolders: tuple[Path, ...] = ()

    def skipped_note(self) -> str | None:
        """One line naming the skipped files (the first few) and why, or None if none were."""
        if not self.skipped:
            return None
        names = [os.path.relpath(p, self.folder) for p in self.skipped[:_NAMES_SHOWN]]
        extra = len(self.skipped) - _NAMES_SHOWN
        more = f" and {extra} more" if extra > 0 else ""
        suffixes = {p.suffix.lower() for p in self.skipped}
        reasons = sorted({why for s, why in TF_UNSUPPORTED.items() if s in suffixes})
        why = f"; {', '.join(reasons)}" if reasons else ""
        return (
            f"skipped {len(self.skipped)} file(s) in {self.folder} that are not images it reads "
            f"({' '.join(self.extensions)}{why}): {', '.join(names)}{more}"
        )


def is_image_name(path: str | os.PathLike, extensions: tuple[str, ...] = IMAGE_EXTENSIONS) -> bool:
    """True if the file name ends in one of `extensions` (case-insensitive)."""
    return Path(path).suffix.lower() in extensions


def list_image_files(
    folder: str | os.PathLike,
    *,
    extensions: tuple[str, ...] = IMAGE_EXTENSIONS,
    recursive: bool = False,
) -> FolderListing:
    """Lists a folder's image files (optionally its whole tree), sorted, with what was left out.

    Hidden files and folders (a leading `.`: `.DS_Store`, temp files) are ignored silently.

    Args:
        folder: str or path. An existing folder.
        extensions: tuple of str. Accepted extensions, lower case. Defaults to
            `IMAGE_EXTENSIONS`.
        recursive: bool. Descend into sub-folders. Defaults to False.

    Returns:
        FolderListing.
    """
    root = Path(folder)
    images, skipped, subfolders = [], [], []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        if not recursive:
            subfolders += [Path(dirpath) / d for d in dirnames]
            dirnames[:] = []
        for name in filenames:
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            if path.suffix.lower() in extensions and path.is_file():
                images.append(path)
            else:
                skipped.append(path)
    return FolderListing(
        root, tuple(sorted(images)), tuple(sorted(skipped)), tuple(extensions), tuple(subfolders)
    )


# === `srfm degrade --copies` training sets (read by the JAX path, refused by tf.data) ===


def is_training_set(folder: str | os.PathLike) -> bool:
    """True for a folder laid out by `srfm degrade --copies` (HR/ and LR/ sub-folders)."""
    return (Path(folder) / "HR").is_dir() and (Path(folder) / "LR").is_dir()


def training_pairs(folder: str | os.PathLike) -> list[tuple[Path, list[Path]]]:
    """Reads a training set written by `srfm degrade --copies`: (HR file, its LR copies) per
    image. HR/<stem>.png, LR/<stem>_<k>.jpg (or .png when copy k ended in the sinc filter).

    Needs no TensorFlow, so a trainer on another backend (JAX) can read a set prepared on CPU.

    Raises:
        FileNotFoundError: `folder` has no HR/ or LR/ sub-folder.
        ValueError: an HR image without LR copies.
    """
    root = Path(folder)
    hr_dir, lr_dir = root / "HR", root / "LR"
    if not is_training_set(root):
        raise FileNotFoundError(f"{root} is not a `srfm degrade --copies` folder (needs HR/ and LR/)")
    copies: dict[str, list[Path]] = {}
    for path in sorted(lr_dir.iterdir()):
        stem, _, index = path.stem.rpartition("_")
        if path.suffix in (".jpg", ".png") and index.isdigit():
            copies.setdefault(stem, []).append(path)
    pairs = []
    for hr in sorted(hr_dir.glob("*.png")):
        found = sorted(copies.get(hr.stem, []), key=lambda p: int(p.stem.rpartition("_")[2]))
        if not found:
            raise ValueError(f"no LR copies of {hr.name} in {lr_dir}")
        pairs.append((hr, found))
    return pairs
