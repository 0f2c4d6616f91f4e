"""Human evaluation: the mean-opinion-score study of Sec. V-C (Fig. 3) as a tool.

`prepare_study` makes the images, `create_app`/`serve` run the rating web app (Flask, SQLite)
and `write_report` computes MOS with 95% intervals. The `srfm mos` command wraps all three.
Heavy imports (Flask, matplotlib, TensorFlow) happen only in the submodule that needs them.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "prepare_study": "keras_srfm.mos.prepare",
    "load_study": "keras_srfm.mos.study",
    "RatingStore": "keras_srfm.mos.db",
    "create_app": "keras_srfm.mos.server",
    "serve": "keras_srfm.mos.server",
    "write_report": "keras_srfm.mos.report",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'keras_srfm.mos' has no attribute {name!r}")
