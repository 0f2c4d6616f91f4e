"""Fault-soak shim: fills a real (tmpfs) disk the moment a chosen file is opened.

Used only by `benchmarks/fault_soak.py`, which puts this folder first on PYTHONPATH of the
`srfm` processes it starts, so Python imports it at start-up. With `SRFM_SOAK_FILL_DIR` (a
folder on a small tmpfs) and `SRFM_SOAK_FILL_ON` (a regular expression) set, an audit hook
(`sys.addaudithook`: every Python-level `open`, `os.open` and `sqlite3.connect`) watches the
paths opened; at the `SRFM_SOAK_FILL_AT`-th match (default 1) it writes a filler file into
`SRFM_SOAK_FILL_DIR` until the file system returns ENOSPC, then lets the open go on. The
write that follows (in Python, or in C++: TensorFlow's checkpoint writer, h5py, SQLite) then
meets a really full disk: the shim decides only *when* the disk fills, never fakes an error.

Without those variables it does nothing.
"""

from __future__ import annotations

import os
import re
import sys

_DIR = os.environ.get("SRFM_SOAK_FILL_DIR")
_PATTERN = os.environ.get("SRFM_SOAK_FILL_ON")


def fill_disk(folder: str | os.PathLike) -> None:
    """Writes `folder/.soak-filler` until ENOSPC, in ever smaller chunks (the disk ends full).

    Also used by `benchmarks/fault_soak.py` itself, between two requests of a server."""
    fd = os.open(os.path.join(folder, ".soak-filler"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        chunk = 1 << 20
        while chunk:
            try:
                os.write(fd, b"\0" * chunk)
            except OSError:
                chunk //= 2
    finally:
        os.close(fd)


_state = {"seen": 0, "busy": False, "done": False, "path": ""}


def _hook(event: str, args: tuple) -> None:
    if _state["done"] or _state["busy"] or event not in ("open", "sqlite3.connect"):
        return
    if not args or not isinstance(args[0], (str, bytes, os.PathLike)):
        return
    path = os.fsdecode(args[0])
    if not _REGEX.search(path):
        return
    _state["seen"] += 1
    if _state["seen"] < _AT:
        return
    _state["busy"], _state["done"], _state["path"] = True, True, path
    try:
        fill_disk(_DIR)
        print(f"[soak] disk filled at {path}", file=sys.stderr, flush=True)
    finally:
        _state["busy"] = False


if _DIR and _PATTERN:
    _REGEX = re.compile(_PATTERN)
    _AT = int(os.environ.get("SRFM_SOAK_FILL_AT", "1"))
    sys.addaudithook(_hook)
