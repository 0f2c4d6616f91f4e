"""A prepared MOS study on disk: its manifest, its files, and each rater's item order.

Layout of a study directory (written by `keras_srfm.mos.prepare.prepare_study`):

    study.json            manifest: methods, images, items, calibration pairs, sha256 per file
    items/<token>.png     one file per (image, method); the token is all the browser sees
    calibration/<token>.png
    ratings.sqlite        written by the server (keras_srfm.mos.db)
    secret.key            signs the raters' session cookies (made by the server)

Tokens are opaque (an HMAC of the image and method names), so neither a URL nor a file name
tells a rater which method made an image (Sec. V-C: the 8 versions are rated blind).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

MANIFEST_NAME = "study.json"
DB_NAME = "ratings.sqlite"
FORMAT = "srfm-mos-study"
FORMAT_VERSION = 1
LOW_METHOD = "NN"  # calibration anchor for score 1 (Sec. V-C)
HIGH_METHOD = "HR"  # calibration anchor for score 5
MIN_SCORE, MAX_SCORE = 1, 5
TOKEN_RE = re.compile(r"[0-9a-f]{24}")  # use with fullmatch


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def make_token(key: bytes, kind: str, image: str, method: str) -> str:
    """Opaque, deterministic id of one image file: HMAC-SHA256(key, kind/image/method)[:24]."""
    message = f"{kind}/{image}/{method}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:24]


@dataclasses.dataclass(frozen=True)
class Item:
    """One image file of the study.

    Args:
        token: str. Opaque id the browser sees (`/img/<token>`).
        image: str. Name of the source HR image (file stem).
        method: str. The version: "NN", "bicubic", a model name, or "HR".
        file: str. Path relative to the study directory.
        sha256: str. Hex digest of the file.
    """

    token: str
    image: str
    method: str
    file: str
    sha256: str


@dataclasses.dataclass(frozen=True)
class Study:
    """A loaded study: the manifest plus lookup tables.

    Args:
        root: Path. The study directory.
        manifest: dict. The parsed `study.json`.
    """

    root: Path
    manifest: dict[str, Any]

    @property
    def seed(self) -> int:
        return int(self.manifest["seed"])

    @property
    def methods(self) -> list[str]:
        """Method names in report order: NN, bicubic, models..., HR."""
        return [m["name"] for m in self.manifest["methods"]]

    @property
    def images(self) -> list[str]:
        """Study image names in the seeded selection order (rater windows cut this list)."""
        return [im["name"] for im in self.manifest["images"]]

    @property
    def images_per_rater(self) -> int:
        return int(self.manifest["images_per_rater"])

    @property
    def items(self) -> list[Item]:
        return [Item(**it) for it in self.manifest["items"]]

    @property
    def calibration(self) -> list[tuple[Item, Item]]:
        """(score-1 example, score-5 example) pairs, in display order."""
        return [(Item(**c["low"]), Item(**c["high"])) for c in self.manifest["calibration"]]

    @property
    def db_path(self) -> Path:
        return self.root / DB_NAME

    def manifest_sha256(self) -> str:
        return sha256_file(self.root / MANIFEST_NAME)

    def items_by_token(self) -> dict[str, Item]:
        return {it.token: it for it in self.items}

    def entries(self) -> list[Item]:
        """Every file of the study: the rated items, then the calibration pairs."""
        entries = list(self.items)
        for low, high in self.calibration:
            entries += [low, high]
        return entries

    def read_verified(self, item: Item) -> bytes:
        """The bytes of one study file, checked against its manifest sha256.

        Raises:
            ValueError: naming the file, if it is missing, not a regular file, unreadable or
                altered.
        """
        path = self.root / item.file
        if not path.is_file():
            raise ValueError(f"Study file missing (or not a regular file): {path}")
        try:
            data = path.read_bytes()
        except OSError as err:
            raise ValueError(f"Study file unreadable: {path} ({err.strerror or err})") from err
        if hashlib.sha256(data).hexdigest() != item.sha256:
            raise ValueError(f"Study file altered (sha256 mismatch): {path}")
        return data

    def verify(self) -> None:
        """Checks that every file exists, is readable and matches its manifest sha256.

        Raises:
            ValueError: naming the first missing, unreadable or altered file.
        """
        for it in self.entries():
            self.read_verified(it)

    def rater_images(self, rater_index: int) -> list[str]:
        """The images the `rater_index`-th rater sees: a cyclic window of the selection.

        With 100 images and 20 per rater (the paper's design, Sec. V-C), raters 0-4 cover all
        100 images once, so 25 raters give every image 5 ratings per method.
        """
        images = self.images
        k = self.images_per_rater
        start = (rater_index * k) % len(images)
        return [images[(start + j) % len(images)] for j in range(k)]

    def rater_order(self, rater_id: str, rater_index: int) -> list[str]:
        """Item tokens for one rater, in a random order seeded by (study seed, rater id)."""
        wanted = set(self.rater_images(rater_index))
        tokens = sorted(it.token for it in self.items if it.image in wanted)
        digest = hashlib.sha256(f"{self.seed}:{rater_id}".encode()).digest()
        rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
        return [tokens[i] for i in rng.permutation(len(tokens))]


def load_study(root: str | Path, verify: bool = False) -> Study:
    """Reads `root/study.json`.

    Args:
        root: str or Path. A directory made by `srfm mos prepare`.
        verify: bool. Also check every file's sha256. Defaults to False.

    Returns:
        Study, whose `root` is absolute (a relative `root` is resolved against the current
        working directory once, here).

    Raises:
        FileNotFoundError: if the directory or its manifest is missing.
        ValueError: if the manifest is not a study manifest, or (with `verify`) a file is off.
    """
    # Absolute from here on: Flask's send_file and any later chdir must not reinterpret it.
    root = Path(root).expanduser().resolve()
    path = root / MANIFEST_NAME
    if not path.is_file():
        raise FileNotFoundError(f"No study manifest at {path} (make one with `srfm mos prepare`)")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"Study manifest {path} is not valid JSON: {err}") from err
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"{path} is not an srfm MOS study manifest")
    if manifest.get("version") != FORMAT_VERSION:
        raise ValueError(
            f"Unsupported study manifest version. Received: version={manifest.get('version')}"
        )
    study = Study(root=root, manifest=manifest)
    if verify:
        study.verify()
    return study


def validate_method_names(names: Sequence[str]) -> None:
    """Model names must be unique, short, printable and not a baseline's name."""
    seen: set[str] = set()
    reserved = {LOW_METHOD, "bicubic", HIGH_METHOD}
    for name in names:
        if not name or len(name) > 64 or not name.isprintable() or name != name.strip():
            raise ValueError(f"Model names must be 1-64 printable characters. Received: {name!r}")
        if name in reserved:
            raise ValueError(
                f"Model name clashes with a baseline {sorted(reserved)}. Received: {name!r}"
            )
        if name in seen:
            raise ValueError(f"Model names must be unique. Received: {name!r} twice")
        seen.add(name)
