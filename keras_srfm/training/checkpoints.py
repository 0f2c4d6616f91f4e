"""A run folder's checkpoints, read so that a run can never be reset silently.

`tf.train.CheckpointManager` trusts the small `checkpoints/checkpoint` state file: when it is
missing or garbled the manager sees no checkpoint, training restarts at step 0 and its saves
delete the real ones. Here the `ckpt-<step>.index` files themselves are the truth:

- `clean_interrupted` removes what an interrupted save leaves (`ckpt-<step>_temp/`, state-file
  temporaries);
- `restore_newest_intact` reads every tensor of the newest checkpoint (so a truncated or
  bit-flipped file is found before any variable changes), falls back to older ones, moves the
  unreadable ones to `checkpoints/corrupt/` and rewrites the state file for the manager;
- with checkpoints present but none readable it refuses with one line (`RunStateError`).
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import tensorflow as tf

from keras_srfm.imaging.atomic import PART_RE, atomic_write
from keras_srfm.training.run_setup import (
    RunStateError,
    checkpoint_files,
)

STATE_FILE = "checkpoint"
CORRUPT_DIR = "corrupt"


class DiskFullError(OSError):
    """The disk filled while the run wrote its state; what was saved before is intact."""


@dataclasses.dataclass(frozen=True)
class Restored:
    """Outcome of `restore_newest_intact`.

    Args:
        step: int. Step of the restored checkpoint; 0 when there was none.
        path: str or None. Prefix of the restored checkpoint.
        skipped: tuple of (step, reason). Newer checkpoints that could not be read.
    """

    step: int
    path: str | None
    skipped: tuple[tuple[int, str], ...] = ()

    def describe(self) -> str:
        """One line for the log; empty when nothing unusual happened."""
        if not self.skipped:
            return ""
        bad = ", ".join(f"ckpt-{step} ({reason})" for step, reason in self.skipped)
        return (f"unreadable checkpoint(s) {bad} moved to checkpoints/{CORRUPT_DIR}/; "
                f"resuming from the newest intact one, ckpt-{self.step}")


def list_checkpoints(directory: str | Path) -> list[tuple[int, str]]:
    """`(step, prefix)` of every `ckpt-<step>.index` in `directory`, oldest first."""
    return [(step, str(path.with_suffix(""))) for step, path in checkpoint_files(directory, ".index")]


def clean_interrupted(directory: str | Path) -> list[str]:
    """Removes the staging files of interrupted saves; returns their names.

    TensorFlow writes a sharded checkpoint into `ckpt-<step>_temp/` and renames the files
    when done, and the state file through `checkpoint.tmp<random>` (`write_state` through
    `keras_srfm.imaging.atomic`'s `.checkpoint.srfm-<pid>-<random>.part`); a kill in between leaves
    them behind. None of them is ever read.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    removed = []
    for path in sorted(directory.iterdir()):
        if path.name.startswith("ckpt-") and "_temp" in path.name:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
            removed.append(path.name)
        elif path.name.startswith(f"{STATE_FILE}.tmp") or (
            path.name.startswith(f".{STATE_FILE}.") and PART_RE.fullmatch(path.name)
        ):
            path.unlink()
            removed.append(path.name)
    return removed


def unreadable_reason(prefix: str) -> str | None:
    """Why the checkpoint at `prefix` cannot be read (None when every tensor reads back).

    Reads every tensor, so a truncated data file or a flipped bit (CRC mismatch) is found
    here and not half-way through a restore.
    """
    try:
        reader = tf.train.load_checkpoint(prefix)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except Exception as err:  # noqa: BLE001  (TF raises OpError, IndexError, ValueError...)
        lines = str(err).strip().splitlines()
        return f"{type(err).__name__}: {lines[0] if lines else ''}"[:160]
    return None


def write_state(directory: str | Path, steps: list[int]) -> None:
    """Writes the `checkpoint` state file that `tf.train.CheckpointManager` reads (atomically).

    Each checkpoint gets its file time as its timestamp, after `last_preserved_timestamp`,
    so that the manager rotates them by `max_to_keep` as if it had saved them itself.

    Args:
        directory: str or Path. The checkpoint folder.
        steps: list of int. Steps of the checkpoints to list, oldest first; the last one is
            the latest.
    """
    directory = Path(directory)
    times = [(directory / f"ckpt-{step}.index").stat().st_mtime for step in steps]
    lines = [f'model_checkpoint_path: "ckpt-{steps[-1]}"']
    lines += [f'all_model_checkpoint_paths: "ckpt-{step}"' for step in steps]
    lines += [f"all_model_checkpoint_timestamps: {t!r}" for t in times]
    lines += [f"last_preserved_timestamp: {min(times) - 1.0!r}"]
    atomic_write(directory / STATE_FILE, "\n".join(lines) + "\n")


def _quarantine(directory: Path, step: int) -> None:
    target = directory / CORRUPT_DIR
    target.mkdir(exist_ok=True)
    for path in directory.glob(f"ckpt-{step}.*"):
        path.replace(target / path.name)


def restore_newest_intact(
    checkpoint: tf.train.Checkpoint, directory: str | Path, read_only: bool = False
) -> Restored:
    """Restores the newest readable checkpoint in `directory` into `checkpoint`.

    Unreadable newer checkpoints are moved to `directory/corrupt/` (never deleted) and the
    state file is rewritten to list the checkpoints that remain, so that
    `tf.train.CheckpointManager` keeps and rotates them as before.

    Args:
        checkpoint: tf.train.Checkpoint. The objects to restore.
        directory: str or Path. The run's `checkpoints/` folder.
        read_only: bool. Move and write nothing (a non-chief worker, `--export-only` while
            the run goes on). Defaults to False.

    Returns:
        Restored: the step (0 without any checkpoint) and the skipped checkpoints.

    Raises:
        RunStateError: checkpoints exist but none of them can be read.
    """
    directory = Path(directory)
    found = list_checkpoints(directory)
    skipped: list[tuple[int, str]] = []
    for step, prefix in reversed(found):
        reason = unreadable_reason(prefix)
        if reason is None:
            try:
                checkpoint.restore(prefix)
            except Exception as err:  # noqa: BLE001  (does not match this run's objects)
                reason = f"{type(err).__name__}: {str(err).strip().splitlines()[0][:120]}"
        if reason is not None:
            skipped.append((step, reason))
            continue
        if not read_only:
            for bad_step, _ in skipped:
                _quarantine(directory, bad_step)
            write_state(directory, [s for s, _ in found if s <= step])
        return Restored(step, prefix, tuple(skipped))
    if found:
        newest, reason = skipped[0]
        raise RunStateError(
            f"none of the {len(found)} checkpoints in {directory} can be read (ckpt-{newest}: {reason}); "
            "move that folder away to start afresh"
        )
    return Restored(0, None)


def is_disk_full(err: BaseException) -> bool:
    """True for the errors a full disk (or quota) gives, from Python or from TensorFlow."""
    import errno

    if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(err)
    return isinstance(err, tf.errors.OpError) and ("No space left" in text or "Disk quota" in text)
