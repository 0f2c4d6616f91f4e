"""Shipped generators in the paper's order, and model arguments as `.keras` files.

Both delegate to the registry of shipped models, `keras_srfm.presets` (folders
`<root>/<name>/<name>.keras`; env `SRFM_MODELS_DIR` names another root). This module adds the
paper's order of its five models (Table I, Fig. 3: M_p, M_pva, M_pca, M_pcsa, M_pcsva), which
`srfm mos prepare --shipped` and `srfm plot-pd --shipped` use.

Example:
>>> list(shipped_models())  # ['srfm_mp', 'srfm_pcsa'] with two models shipped
>>> resolve_model_path("srfm_mp")  # <root>/srfm_mp/srfm_mp.keras
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from keras_srfm.presets import list_models, models_root, resolve_model

__all__ = ["PAPER_ORDER", "models_root", "resolve_model_path", "shipped_models"]

# The paper's order of its models (Table I, Fig. 3): how shipped variants are listed.
PAPER_ORDER = ("mp", "pva", "pca", "pcsa", "pcsva")


def _paper_rank(name: str) -> tuple[int, str]:
    """Sort key: `srfm_<variant>[_suffix]` in the paper's order, other names after, by name."""
    match = re.fullmatch(r"srfm_([a-z]+)(?:_.*)?", name)
    variant = match.group(1) if match else ""
    rank = PAPER_ORDER.index(variant) if variant in PAPER_ORDER else len(PAPER_ORDER)
    return rank, name


def shipped_models(root: str | os.PathLike | None = None) -> dict[str, Path]:
    """Every shipped generator, name -> `.keras` file, in the paper's order (M_p ... M_pcsva).

    Args:
        root: folder of model folders. Defaults to `keras_srfm.presets.models_root()`.
    """
    models = {m.name: m.keras_file for m in list_models(root)}
    return {name: models[name] for name in sorted(models, key=_paper_rank)}


def resolve_model_path(spec: str | os.PathLike, root: str | os.PathLike | None = None) -> Path:
    """A generator argument (an existing path, "default" or a shipped name) -> its file.

    Raises:
        FileNotFoundError: neither a file nor a shipped model (one line listing the shipped).
        ValueError: "bicubic" / "nearest", which are not generators.
    """
    resolved = resolve_model(spec, root)
    if not isinstance(resolved, Path):
        raise ValueError(f"{os.fspath(spec)!r} is an interpolation, not a generator file")
    return resolved
