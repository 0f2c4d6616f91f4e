"""Atomic file writes: a file appears under its final name complete, or not at all.

Every file the package writes (images, JSON and CSV reports, logs rewritten on resume,
checkpoints, `.keras` and `.tflite` models) is first written to a temporary file in the same
folder and then renamed over the final name with `os.replace`, which is atomic within one
file system. A crash, Ctrl-C or kill in the middle of a write therefore never leaves a
half-written file under the final name: a reader (a resumed run, `srfm upscale` skipping
done outputs, a server loading a model) finds the old file or the new one, whole.

- `atomic_save(path, write)`: the content is written by a callback to a binary file object.
- `atomic_write(path, data)`: a str (UTF-8) or bytes.
- `write_json(path, document)`: indented JSON with a final newline.
- `atomic_path(path)`: for libraries that write only to a path of their own (Keras
  `Model.save`, the LiteRT exporter): a temp path with the same extension, then the rename.

The temp file is `.<name>.srfm-<pid>-<random>.part` (hidden, next to the target, so the
rename stays on one file system). It names the writer's pid, so that
`keras_srfm.imaging.image_io.remove_stale_parts` can tell a killed writer's leftover from a live
one's. An exception (including KeyboardInterrupt, or SIGTERM turned into one) deletes it; a
SIGKILL or power loss leaves it behind. With `fsync=True` the data reaches the disk before
the rename (training checkpoints, which a resume after a power loss must find whole); other
outputs skip the cost.

Folders (a SavedModel version, a MOS study) are swapped whole by their own modules: a rename
of a folder cannot replace a non-empty one.

Only the standard library is imported: any module may use this one (no TensorFlow, no cycle).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

PART_SUFFIX = ".part"
PART_RE = re.compile(r"\..+\.srfm-(\d+)-[A-Za-z0-9_]+\.part")  # `atomic_save`'s temp names
_TRIES = 100


def _part_path(path: Path, suffix: str = "") -> Path:
    """A fresh temp name next to `path`: `.<name>.srfm-<pid>-<random>.part<suffix>`."""
    return (
        path.parent / f".{path.name}.srfm-{os.getpid()}-{secrets.token_hex(4)}{PART_SUFFIX}{suffix}"
    )


def atomic_save(
    path: str | os.PathLike, write: Callable[[BinaryIO], Any], *, fsync: bool = False
) -> None:
    """Writes a file through `.<name>.srfm-<pid>-<random>.part` in its folder, then `os.replace`.

    Interrupted by an exception, SIGINT, or SIGTERM turned into one (`srfm upscale`), the
    temp file is deleted and `path` is left as it was. A SIGKILL or power loss leaves the temp
    file behind: `keras_srfm.imaging.image_io.remove_stale_parts` finds it by the writer's pid.

    Args:
        path: str or path. The final file; replaced only once it is complete. Its folder must
            exist.
        write: callable. Writes the whole content to the binary handle it is given.
        fsync: bool. Flush the content to disk before the rename. Defaults to False.
    """
    path = Path(path)
    for _ in range(_TRIES):
        # The name (with this process's pid) is fixed before the file exists, so a signal at
        # any moment inside `try`, even during the open, still finds the file to delete;
        # `tempfile.mkstemp` can be interrupted between creating a file and returning its name.
        tmp = _part_path(path)
        try:
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # umask applies
            except FileExistsError:
                continue  # drawn twice: draw again
            with os.fdopen(fd, "wb") as handle:
                write(handle)
                if fsync:
                    handle.flush()
                    os.fsync(handle.fileno())
            os.replace(tmp, path)
            return
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
    raise FileExistsError(f"no free temporary name next to {path}")


def atomic_write(path: str | os.PathLike, data: str | bytes, *, fsync: bool = False) -> None:
    """Writes `data` (a str is encoded as UTF-8) atomically; creates the parent folders.

    Args:
        path: str or path. The final file.
        data: str or bytes. The whole content.
        fsync: bool. Flush to disk before the rename. Defaults to False.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode() if isinstance(data, str) else data
    atomic_save(path, lambda handle: handle.write(payload), fsync=fsync)


def write_json(path: str | os.PathLike, document: Any, *, sort_keys: bool = False) -> None:
    """Writes `document` as JSON (indent 2, a final newline) atomically; creates the folders.

    Args:
        path: str or path. The final file.
        document: a JSON-serialisable value (a dict, usually).
        sort_keys: bool. Sort the keys of every object (a run's `config.json`). Defaults to
            False: the document's own order.
    """
    atomic_write(path, json.dumps(document, indent=2, sort_keys=sort_keys) + "\n")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temp path next to `path`, renamed to `path` when the block ends without an exception.

    For writers that take a path, not a file object. The temp name keeps the extension
    (`.<name>.srfm-<pid>-<random>.part<ext>`), which such writers read the format from (Keras
    `Model.save` wants `.keras`). On an exception whatever the writer left there, a file or a
    folder, is deleted and `path` is left as it was.

    Args:
        path: str or path. The final file. Its folder must exist.

    Yields:
        Path: where the writer should write.
    """
    path = Path(path)
    for _ in range(_TRIES):
        tmp = _part_path(path, path.suffix)
        if not os.path.lexists(tmp):
            break
    else:
        raise FileExistsError(f"no free temporary name next to {path}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        raise
