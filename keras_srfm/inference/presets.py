"""Shipped models by name, like keras-hub presets: `load_generator("srfm_mp")`.

A shipped model is a folder `<root>/<name>/` holding `<name>.keras` (the generator), and
optionally `<name>_fp16.tflite`, a TF Serving SavedModel `1/`, `MODEL_CARD.md` (its first
heading, `# <name>: <description>`, is the one-line description) and `evaluation.json`.
`<root>/DEFAULT` names the default model. Models are discovered from the folder, never listed
in code, so adding a folder to `exported_models/` ships it.

The root is the source tree's `exported_models/` when the package runs from a clone (the
source of truth; an editable install), else the copy a wheel carries in
`keras_srfm/exported_models/` (made by `setup.py`'s build step: `.keras`, `.tflite`, card and
evaluation only). `SRFM_MODELS_DIR` overrides both.

Example:

>>> import keras_srfm
>>> generator = keras_srfm.load_generator("srfm_mp")   # name, .keras path or URL
>>> [m.name for m in keras_srfm.list_models()]
['srfm_mp', 'srfm_pcsa']
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # keras_srfm/ (this file is in keras_srfm/inference/)
SOURCE_MODELS_DIR = PACKAGE_DIR.parent / "exported_models"
PACKAGED_MODELS_DIR = PACKAGE_DIR / "exported_models"
MODELS_DIR_ENV = "SRFM_MODELS_DIR"
DEFAULT_FILE = "DEFAULT"
CARD_FILE = "MODEL_CARD.md"
# Files of a model folder that a wheel carries (the SavedModel `1/` is left out: see docs/install.md).
WHEEL_FILES = ("{name}.keras", "{name}*.tflite", CARD_FILE, "evaluation.json", "recipe.json")
RESIZE_METHODS = ("bicubic", "nearest")
# The paper's order of its models (Table I, Fig. 3): how shipped variants are listed.
PAPER_ORDER = ("mp", "pva", "pca", "pcsa", "pcsva")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclasses.dataclass(frozen=True)
class ShippedModel:
    """One model folder.

    Attributes:
        name: str. The folder name, e.g. "srfm_mp".
        folder: Path. The model folder.
        description: str. One line, from the card's first heading.
        keras_file: Path. The `.keras` generator.
        tflite_file: Path or None. The float16 `.tflite`, if shipped.
        saved_model: Path or None. The TF Serving SavedModel version folder, if shipped.
    """

    name: str
    folder: Path
    description: str
    keras_file: Path
    tflite_file: Path | None
    saved_model: Path | None


def data_root() -> Path:
    """The data folder (`benchmarks/`, `train/`, `samples/`): env `SRFM_DATA_DIR`, else
    `../shared/data` beside the repository (a source checkout's layout)."""
    return Path(os.environ.get("SRFM_DATA_DIR", PACKAGE_DIR.parent.parent / "shared" / "data"))


def models_root() -> Path:
    """The folder shipped models are read from (see the module docstring)."""
    override = os.environ.get(MODELS_DIR_ENV)
    if override:
        return Path(override).expanduser()
    if (SOURCE_MODELS_DIR / DEFAULT_FILE).is_file() or not PACKAGED_MODELS_DIR.is_dir():
        return SOURCE_MODELS_DIR
    return PACKAGED_MODELS_DIR


def _description(folder: Path) -> str:
    card = folder / CARD_FILE
    if not card.is_file():
        return ""
    for line in card.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            title = line[2:].strip()
            prefix = f"{folder.name}:"
            return title[len(prefix) :].strip() if title.startswith(prefix) else title
    return ""


def _shipped_model(folder: Path) -> ShippedModel | None:
    keras_file = folder / f"{folder.name}.keras"
    if not keras_file.is_file():
        return None
    tflite = sorted(folder.glob(f"{folder.name}*fp16.tflite")) or sorted(folder.glob("*.tflite"))
    versions = [p for p in folder.iterdir() if p.name.isdigit() and (p / "saved_model.pb").is_file()]
    return ShippedModel(
        name=folder.name,
        folder=folder,
        description=_description(folder),
        keras_file=keras_file,
        tflite_file=tflite[0] if tflite else None,
        saved_model=max(versions, key=lambda p: int(p.name)) if versions else None,
    )


def _paper_rank(name: str) -> tuple[int, str]:
    """Sort key: `srfm_<variant>[_suffix]` in the paper's order, other names after, by name."""
    match = re.fullmatch(r"srfm_([a-z]+)(?:_.*)?", name)
    variant = match.group(1) if match else ""
    rank = PAPER_ORDER.index(variant) if variant in PAPER_ORDER else len(PAPER_ORDER)
    return rank, name


def list_models(root: str | os.PathLike | None = None) -> list[ShippedModel]:
    """Every shipped model under `root` (default: `models_root()`), in the paper's order
    (M_p, M_pva, M_pca, M_pcσa, M_pcσva), other names after them by name."""
    root = Path(root) if root is not None else models_root()
    if not root.is_dir():
        return []
    found = (_shipped_model(p) for p in root.iterdir() if p.is_dir())
    return sorted((model for model in found if model is not None), key=lambda m: _paper_rank(m.name))


def default_model_name(root: str | os.PathLike | None = None) -> str:
    """The name in `<root>/DEFAULT`, else the first shipped model.

    Raises:
        FileNotFoundError: nothing is shipped.
    """
    root = Path(root) if root is not None else models_root()
    marker = root / DEFAULT_FILE
    if marker.is_file():
        lines = marker.read_text().strip().splitlines()
        if lines:
            return lines[0].strip()
    models = list_models(root)
    if not models:
        raise FileNotFoundError(
            f"no model is shipped in {root}; pass --model with a .keras file, a SavedModel "
            "folder, a .tflite file, or 'bicubic'"
        )
    return models[0].name


def get_model(name: str, root: str | os.PathLike | None = None) -> ShippedModel:
    """The shipped model called `name` ("default" gives the default one).

    Raises:
        FileNotFoundError: no such model; the message lists the shipped ones.
    """
    root = Path(root) if root is not None else models_root()
    if name == "default":
        name = default_model_name(root)
    found = _shipped_model(root / name) if name and (root / name).is_dir() else None
    if found is None:
        names = ", ".join(m.name for m in list_models(root)) or "none"
        raise FileNotFoundError(
            f"no shipped model {name!r} (shipped: {names}; see `srfm models`) and no such file"
        )
    return found


def looks_like_name(spec: str) -> bool:
    """True for a bare model name (no folder separator, no file suffix)."""
    return bool(re.fullmatch(r"[A-Za-z0-9_\-]+", spec))


def resolve_model(spec: str | os.PathLike, root: str | os.PathLike | None = None) -> str | Path:
    """A model spec as `load_upscaler` takes it -> "bicubic" / "nearest" or a path.

    An existing path wins; then "default" and shipped names (under `root`, default
    `models_root()`) give the model's `.keras` file.

    Raises:
        FileNotFoundError: neither an existing path nor a shipped model's name.
    """
    text = os.fspath(spec)
    if text in RESIZE_METHODS:
        return text
    path = Path(text).expanduser()
    if path.exists():
        return path
    if looks_like_name(text):
        return get_model(text, root).keras_file
    raise FileNotFoundError(f"model not found: {path}")


def resolve_weights(spec: str) -> str:
    """A generator to start training from (`--init-from`): an existing file as given, else a
    shipped model's `.keras` file by name.

    Raises:
        FileNotFoundError: neither a file nor a shipped name (the message lists the names).
    """
    if Path(spec).expanduser().exists() or not looks_like_name(spec):
        return spec
    return str(get_model(spec).keras_file)


def _url_and_hash(url: str, file_hash: str | None) -> tuple[str, str | None]:
    base, _, fragment = url.partition("#")
    if fragment.startswith("sha256="):
        fragment_hash = fragment[len("sha256=") :].lower()
        if not _SHA256.match(fragment_hash):
            raise ValueError(f"#sha256= needs 64 hex digits. Received: {url}")
        if file_hash and file_hash.lower() != fragment_hash:
            raise ValueError(f"file_hash and the URL's #sha256= differ. Received: {url}")
        file_hash = fragment_hash
    return base, file_hash


def fetch(url: str, file_hash: str | None = None, cache_dir: str | None = None) -> Path:
    """Downloads a `.keras` file once into `~/.keras/keras_srfm/` and checks its hash.

    Args:
        url: str. http(s) (or file://) URL; a `#sha256=<hex>` fragment gives the expected hash.
        file_hash: str or None. Expected sha256 (or md5) hex digest. Defaults to the
            fragment's, or no check.
        cache_dir: str or None. Cache root. Defaults to Keras' (`~/.keras`).

    Returns:
        Path of the cached file.
    """
    import keras

    base, file_hash = _url_and_hash(url, file_hash)
    fname = base.rstrip("/").rsplit("/", 1)[-1]
    if not fname.endswith(".keras"):
        raise ValueError(f"the URL must name a .keras file. Received: {url}")
    if cache_dir is not None:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)  # else Keras falls back to /tmp/.keras
    path = keras.utils.get_file(
        fname, origin=base, file_hash=file_hash, cache_subdir="keras_srfm", cache_dir=cache_dir
    )
    return Path(path)


def load_generator(
    spec: str | os.PathLike, file_hash: str | None = None, cache_dir: str | None = None
) -> Any:
    """Loads a generator by shipped name, `.keras` path or URL (safe mode, not compiled).

    Args:
        spec: str or path. A shipped model's name ("srfm_mp", "default"; see `list_models`),
            a `.keras` file, or an http(s) URL of one (optionally ending in `#sha256=<hex>`).
        file_hash: str or None. Expected hash of a downloaded file, checked by
            `keras.utils.get_file`. Defaults to None (the URL's fragment, if any).
        cache_dir: str or None. Where a download is cached. Defaults to Keras' (`~/.keras`).

    Returns:
        keras.Model: float32 RGB in [0, 1], (batch, H, W, 3) -> (batch, 4H, 4W, 3).

    Example:

    >>> generator = load_generator("srfm_pcsa")
    >>> generator.predict(lr_batch)  # doctest: +SKIP
    """
    text = os.fspath(spec)
    if text.startswith(("http://", "https://", "file://")):
        path = fetch(text, file_hash, cache_dir)
    else:
        path = resolve_model(text)
        if not isinstance(path, Path) or path.suffix != ".keras":
            raise ValueError(
                f"load_generator takes a shipped name, a .keras file or its URL. Received: {text}"
            )
    import keras

    from keras_srfm import register_keras_objects

    register_keras_objects()
    return keras.saving.load_model(os.fspath(path), compile=False, safe_mode=True)
