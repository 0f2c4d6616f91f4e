"""One writer per folder: an exclusive `fcntl.flock` on a lock file, held for a command's life.

A folder that a command fills over time (a training run, an `srfm degrade --out` set, a MOS
study being prepared or served) has one writer at a time. Two `srfm train` processes on one
run folder would otherwise both run and interleave their history rows and checkpoints, and
the record of the run would be silently wrong. `hold(folder)` takes an exclusive
`fcntl.flock` on `folder/.srfm.lock` (the name can be chosen) and writes the holder's pid in
it; a second process is refused at once with `FolderLockedError`, one line naming that pid,
before it changes anything.

- The kernel drops a `flock` when its process dies, even by SIGKILL or a power loss of the
  process, so a crashed writer never blocks the next one and there is no stale-lock cleanup.
- The lock file stays in the folder (the pid in it is only informative); a folder that `hold`
  made itself and that holds nothing else on release is removed again, so a command that
  fails before it writes leaves no empty folder.
- A process may hold a folder twice (the `srfm train` command, then the training function it
  calls): the inner `hold` is a no-op.
- `remove=True` deletes the lock file on release (a lock file beside a folder, for a writer
  that swaps the folder in whole). A process that opened it just before is not fooled: after
  `flock` it checks that the path still names the file it locked, else it starts again.

Only the standard library is imported (no TensorFlow): the CLI takes the lock first.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

LOCK_NAME = ".srfm.lock"
BUSY = "{folder} is in use by another process (pid {pid}); wait for it to end or stop it"
_HELD: dict[Path, int] = {}  # lock files this process holds -> nesting depth
_TRIES = 20


class FolderLockedError(RuntimeError):
    """Another process holds the folder's lock: one line naming its pid."""

    def __init__(self, message: str, pid: int | None = None) -> None:
        super().__init__(message)
        self.pid = pid


def holder_pid(lock_file: str | os.PathLike) -> int | None:
    """The pid written in a lock file (None when empty, unreadable or not a number)."""
    try:
        text = Path(lock_file).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _read_holder(fd: int) -> int | None:
    """The holder's pid; it writes it just after `flock`, so an empty file is read again briefly."""
    for _ in range(10):
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        if text.isdigit():
            return int(text)
        time.sleep(0.02)
    return None


def _acquire(lock_file: Path, busy: str, folder: Path) -> int:
    """Opens and locks `lock_file`; returns its descriptor. Raises FolderLockedError."""
    for _ in range(_TRIES):
        try:
            fd = os.open(lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as err:
            raise FolderLockedError(f"cannot lock {folder}: {err.strerror or err}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_holder(fd)
            os.close(fd)
            raise FolderLockedError(
                busy.format(folder=folder, pid=pid if pid is not None else "unknown"), pid
            ) from None
        try:
            same = os.stat(lock_file).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if not same:  # the previous holder removed the file as it released it: start again
            os.close(fd)
            continue
        with contextlib.suppress(OSError):  # the pid is informative; a full disk must not stop us
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return fd
    raise FolderLockedError(f"cannot lock {folder}: its lock file keeps being replaced")


@contextlib.contextmanager
def hold(
    folder: str | os.PathLike,
    *,
    name: str = LOCK_NAME,
    create: bool = True,
    remove: bool = False,
    busy: str = BUSY,
) -> Iterator[Path]:
    """Holds the exclusive lock of `folder` for the block; refuses at once if another has it.

    Args:
        folder: str or path. The folder one process writes.
        name: str. The lock file's name in `folder`. Defaults to `.srfm.lock`.
        create: bool. Create `folder` (and its parents) if missing; a folder made here that
            holds only the lock file on release is removed again. Defaults to True.
        remove: bool. Delete the lock file on release. Defaults to False.
        busy: str. The refusal, formatted with `folder` and `pid`.

    Yields:
        Path: the lock file.

    Raises:
        FolderLockedError: another process holds the lock (its pid is named), or the lock
            file cannot be made (a missing folder with `create=False`, no permission).
    """
    folder = Path(folder)
    lock_file = folder / name
    key = lock_file.absolute()
    if key in _HELD:  # this process holds it already: a nested hold is a no-op
        _HELD[key] += 1
        try:
            yield lock_file
        finally:
            _HELD[key] -= 1
        return
    created = create and not folder.exists()
    if create:
        folder.mkdir(parents=True, exist_ok=True)
    fd = _acquire(lock_file, busy, folder)
    _HELD[key] = 1
    try:
        yield lock_file
    finally:
        del _HELD[key]
        try:
            try:
                empty = created and [p.name for p in folder.iterdir()] == [name]
            except OSError:
                empty = False
            if empty or remove:
                lock_file.unlink(missing_ok=True)  # still locked: see `_acquire`'s check
            if empty:
                with contextlib.suppress(OSError):
                    folder.rmdir()
        finally:
            os.close(fd)
