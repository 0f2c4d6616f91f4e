"""Image folders: recursive listing with a cheap up-front check of every file.

A file that cannot be read is either skipped with one warning line or a hard error
(`on_bad_image`), so a bad file never stalls training half-way through. Files in formats the
tf.data decoder cannot read (TIFF; see `keras_srfm.imaging.formats`) are left out with one warning
line naming them.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image
from tqdm import tqdm

from keras_srfm.imaging.formats import TRAIN_EXTENSIONS, list_image_files

logger = logging.getLogger("keras_srfm.data")

# Formats `tf.io.decode_image` reads (so anything listed here decodes inside tf.data).
IMAGE_SUFFIXES = TRAIN_EXTENSIONS
ON_BAD_IMAGE = ("skip", "error")


def check_image(path: Path, min_size: int = 0) -> str | None:
    """Returns what is wrong with an image file, or None if it is usable.

    PNG files are checked with Pillow's `verify()` (every chunk's CRC, no decoding); other
    formats are decoded in full, since `verify()` does not catch a truncated JPEG.

    Args:
        path: Path. The file.
        min_size: int. Smallest acceptable height and width, in pixels.
    """
    try:
        with Image.open(path) as img:
            width, height = img.size
            if img.format == "WEBP" and "A" in img.mode:
                # tf.io.decode_image(channels=3) refuses a 4-channel WebP.
                return (
                    "WebP with an alpha channel: tf.data cannot decode it to RGB; convert it to PNG"
                )
            if img.format == "PNG":
                img.verify()
            else:
                img.load()
    except Exception as err:  # Pillow raises OSError, SyntaxError, ValueError, zlib.error...
        return f"{type(err).__name__}: {err}"
    if min(width, height) < min_size:
        return f"{width}x{height} is smaller than {min_size}x{min_size}"
    return None


def list_images(
    folder: str | Path,
    *,
    on_bad_image: str = "skip",
    min_size: int = 0,
    workers: int = 8,
) -> list[str]:
    """Image files under `folder` (searched recursively) that pass `check_image`.

    Hidden files and folders are ignored; other files with an extension outside
    `IMAGE_SUFFIXES` (e.g. TIFF, which tf.data cannot decode) are named in one warning line.

    Args:
        folder: str or Path. A folder of HR images; sub-folders are searched too.
        on_bad_image: str. `"skip"`: leave a bad file out with one warning line;
            `"error"`: raise. Defaults to `"skip"`.
        min_size: int. Images smaller than this (e.g. the HR patch) count as bad.
        workers: int. Threads for the checks (they are I/O and zlib bound).

    Returns:
        Sorted list of file paths (str).

    Raises:
        FileNotFoundError: `folder` does not exist.
        ValueError: a bad file when `on_bad_image="error"`, or no usable image at all.
    """
    if on_bad_image not in ON_BAD_IMAGE:
        raise ValueError(
            f"on_bad_image must be 'skip' or 'error'. Received: on_bad_image={on_bad_image!r}"
        )
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"Image folder not found: {root}")
    listing = list_image_files(root, extensions=IMAGE_SUFFIXES, recursive=True)
    if listing.skipped:
        logger.warning("%s", listing.skipped_note())
    paths = list(listing.images)
    if not paths:
        raise ValueError(f"No images ({', '.join(IMAGE_SUFFIXES)}) found under {root}")
    with ThreadPoolExecutor(max_workers=workers) as pool:
        checks = pool.map(lambda p: check_image(p, min_size), paths)
        problems = list(
            tqdm(checks, total=len(paths), desc=f"checking {root.name}", disable=len(paths) < 200)
        )
    good = []
    for path, problem in zip(paths, problems, strict=True):
        if problem is None:
            good.append(str(path))
        elif on_bad_image == "error":
            raise ValueError(f"Bad image {path}: {problem}")
        else:
            logger.warning("Skipping bad image %s: %s", path, problem)
    if not good:
        raise ValueError(f"No usable images under {root}: all {len(paths)} were skipped")
    return good
