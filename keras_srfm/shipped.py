"""Shipped generators by name: the one place a model argument becomes a `.keras` file.

A shipped model is a folder `exported_models/<name>/` holding `<name>.keras` (env
`SRFM_MODELS_DIR` names another folder of model folders). `srfm blend`,
`srfm upscale --blend` and `srfm mos prepare --shipped` resolve their model arguments here, so
a registry of shipped models (names, URLs, checksums) plugs in by changing these two functions.

Example:
>>> resolve_model_path("srfm_mp")  # exported_models/srfm_mp/srfm_mp.keras
>>> resolve_model_path("runs/mine/generator.keras")  # a path is used as is
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from keras_srfm.inference import EXPORTED_MODELS_DIR

# The paper's order of its models (Table I, Fig. 3): how shipped variants are listed.
PAPER_ORDER = ("mp", "pva", "pca", "pcsa", "pcsva")
MODELS_DIR_ENV = "SRFM_MODELS_DIR"
_NAME = re.compile(r"[A-Za-z0-9_\-]+")


def _paper_rank(name: str) -> tuple[int, str]:
    """Sort key: `srfm_<variant>[_suffix]` in the paper's order, other names after, by name."""
    match = re.fullmatch(r"srfm_([a-z]+)(?:_.*)?", name)
    variant = match.group(1) if match else ""
    rank = PAPER_ORDER.index(variant) if variant in PAPER_ORDER else len(PAPER_ORDER)
    return rank, name


def models_root() -> Path:
    """The folder of model folders: env `SRFM_MODELS_DIR`, else the project's `exported_models/`."""
    override = os.environ.get(MODELS_DIR_ENV)
    return Path(override).expanduser() if override else EXPORTED_MODELS_DIR


def shipped_models(root: str | os.PathLike | None = None) -> dict[str, Path]:
    """Every shipped generator, name -> `.keras` file, in the paper's order (M_p ... M_pcsva).

    Args:
        root: folder of model folders. Defaults to `models_root()`.
    """
    root = Path(root) if root is not None else models_root()
    if not root.is_dir():
        return {}
    found = {
        p.name: p / f"{p.name}.keras"
        for p in root.iterdir()
        if p.is_dir() and (p / f"{p.name}.keras").is_file()
    }
    return {name: found[name] for name in sorted(found, key=_paper_rank)}


def resolve_model_path(spec: str | os.PathLike, root: str | os.PathLike | None = None) -> Path:
    """A generator argument -> its `.keras` file.

    Args:
        spec: an existing path, "default" (the model named in `<root>/DEFAULT`, else the
            first shipped one) or a shipped model's name ("srfm_mp").
        root: folder of model folders. Defaults to `models_root()`.

    Raises:
        FileNotFoundError: one line listing the shipped names.
    """
    text = os.fspath(spec)
    path = Path(text).expanduser()
    if path.exists():
        return path
    root = Path(root) if root is not None else models_root()
    models = shipped_models(root)
    if text == "default":
        marker = root / "DEFAULT"
        lines = marker.read_text().split() if marker.is_file() else []
        text = lines[0] if lines else next(iter(models), "default")
    if _NAME.fullmatch(text) and text in models:
        return models[text]
    raise FileNotFoundError(
        f"model not found: {text!r} is neither a file nor a shipped model "
        f"(shipped: {', '.join(models) or 'none'})"
    )
