"""One run setup for every training path (`fit`, multi-worker, JAX), with no TensorFlow import.

What a run folder holds and how it is resumed is decided here once: `RunConfig` (saved as
`config.json`), which settings may change on resume (`check_resume_config`) and the record of
those changes (`log_resume_changes`, `resume_log.jsonl`), the CSV logs (`history.csv`,
`curve.csv`: rows appended and fsynced before each checkpoint, trimmed back to a restored
step by `truncate_after_step`), the learning-curve plot and atomic JSON writes.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import time
from pathlib import Path
from typing import Any

from keras_srfm.config import (
    DataConfig,
    DegradationConfig,
    DiscriminatorConfig,
    GeneratorConfig,
    LossConfig,
    TrainConfig,
)
from keras_srfm.imaging import atomic
from keras_srfm.imaging.atomic import atomic_save, atomic_write


class RunStateError(ValueError):
    """A run folder that cannot be resumed as it is: one line that says what to do."""


# === Config ===


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Every config of a run; saved as `config.json` in the run directory."""

    train: TrainConfig
    data: DataConfig
    generator: GeneratorConfig
    discriminator: DiscriminatorConfig
    loss: LossConfig

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name).to_dict() for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunConfig:
        kinds = {"train": TrainConfig, "data": DataConfig, "generator": GeneratorConfig,
                 "discriminator": DiscriminatorConfig, "loss": LossConfig}
        return cls(**{name: kind.from_dict(values[name]) for name, kind in kinds.items()})

    def describe(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


# Fields that may change when a run is resumed (to train longer, or evaluate more often).
# Schedule settings may change on resume (e.g. to add a decay); they are logged in resume_log.jsonl.
_RESUMABLE_CHANGES = {
    ("train", key)
    for key in ("steps", "eval_every", "keep_checkpoints", "g_learning_rate", "d_learning_rate",
                "decay_every", "decay_factor", "decay_start", "decay_at", "adam_epsilon", "warmup_steps")
}
# What runs whose config.json predates a key actually used.
_DEFAULTS = {("train", "backend"): "tensorflow", ("train", "adam_epsilon"): 1e-7, ("train", "decay_start"): 0, ("train", "warmup_steps"): 0,
             ("train", "decay_at"): [], ("loss", "vgg_normalise"): "none"}
# Nested configs whose saved dicts may predate a field: missing fields took the class default.
_NESTED = {("data", "realistic"): DegradationConfig}


def check_resume_config(run_dir: Path, run: RunConfig) -> list[str]:
    """Refuses to resume a run directory with a different configuration; returns allowed changes."""
    saved_path = run_dir / "config.json"
    if not saved_path.exists():
        return []
    saved = json.loads(saved_path.read_text())
    current = json.loads(json.dumps(run.to_dict()))
    changes = []
    for group, values in current.items():
        for key, value in values.items():
            old = saved.get(group, {}).get(key, _DEFAULTS.get((group, key)))
            if (group, key) in _NESTED and isinstance(old, dict):
                old = {**json.loads(json.dumps(_NESTED[group, key]().to_dict())), **old}
            if old == value:
                continue
            if (group, key) not in _RESUMABLE_CHANGES:
                raise ValueError(
                    f"{run_dir} holds a run with {group}.{key}={old!r}; use a new --run-dir or the "
                    f"same settings. Received: {group}.{key}={value!r}"
                )
            changes.append(f"{group}.{key}: {old!r} -> {value!r}")
    return changes


class NonFiniteLossError(ValueError):
    """The run diverged: a logged loss is NaN or infinite (one line, for the CLI)."""


# Logged values that are metrics, not losses (a PSNR of identical images is +inf).
_NOT_LOSSES = ("psnr", "bench_psnr")


def check_finite(values: dict[str, float], step: int, run_dir: Path) -> None:
    """Stops a diverged run before its interval's log row and checkpoint are written.

    Called at each checkpoint interval by every path (fit, multi-worker, JAX), so the newest
    checkpoint stays the last good one: a NaN written there would, after `keep_checkpoints`
    intervals, have replaced every checkpoint the run had. The loss lags the update by one step:
    an update that blows the weights up on an interval's very last step is caught one interval
    later (its checkpoint is then the newest, and a resume needs a lower rate from there).

    Raises:
        NonFiniteLossError: names the values, the step and the checkpoint to resume from.
    """
    bad = sorted(k for k, v in values.items() if k not in _NOT_LOSSES and not math.isfinite(v))
    if bad:
        names = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        raise NonFiniteLossError(
            f"training diverged by step {step} ({names} not finite); nothing of it was saved "
            f"and the newest checkpoint is step {newest_checkpoint_step(run_dir)}: lower --g-lr / --d-lr "
            "(or raise --warmup-steps) and run again to resume from it"
        )


class SkippedUpdates:
    """Counts the train-step calls in a row that made no generator update, for every TF path.

    Under `--mixed-precision float16` the optimizers are Keras `LossScaleOptimizer`s: a call
    whose scaled gradients overflow is skipped (the scale halves, `iterations` stays), which is
    normal while the scale settles (a loss of 45 at the initial scale 2^15 skipped six updates in
    a row) and once per scale growth afterwards. A step of a run is a generator *update*, so the
    loops run on until `steps` updates are made; this stops a run that makes none at all.
    """

    # From the initial scale 2^15, 64 halvings reach 2^-49: gradients that still overflow are
    # not a matter of scale.
    MAX_IN_A_ROW = 64

    def __init__(self, step: int) -> None:
        self.last, self.in_a_row = step, 0

    def after_call(self, step: int, run_dir: Path) -> None:
        """Call after each train-step call with the step it left.

        Raises:
            NonFiniteLossError: `MAX_IN_A_ROW` calls in a row made no update.
        """
        self.in_a_row = 0 if step > self.last else self.in_a_row + 1
        self.last = step
        if self.in_a_row >= self.MAX_IN_A_ROW:
            raise NonFiniteLossError(
                f"training diverged by step {step} ({self.in_a_row} updates in a row skipped: their "
                f"float16 loss-scaled gradients were not finite); the newest checkpoint is step "
                f"{newest_checkpoint_step(run_dir)}: lower --g-lr / --d-lr (or use --mixed-precision off) "
                "and run again to resume from it"
            )


def check_all_updates_made(step: int, steps: int, run_dir: Path) -> None:
    """After `fit`: its epochs ran out before `steps` updates (float16 skipped too many).

    Raises:
        NonFiniteLossError: names the step reached and the checkpoint a rerun resumes from.
    """
    if step < steps:
        raise NonFiniteLossError(
            f"stopped at step {step} of {steps}: float16 loss scaling skipped more updates than the "
            f"run had room for; the newest checkpoint is step {newest_checkpoint_step(run_dir)}: "
            "run the same command again to resume from it"
        )


def disk_full_message(run_dir: Path) -> str:
    """The one line of a run stopped by a full disk (every path): the checkpoint it resumes from."""
    step = newest_checkpoint_step(run_dir)
    saved = f"the newest checkpoint is ckpt-{step}" if step else "no checkpoint was saved"
    return (f"disk full while writing to {run_dir} ({saved}); free some space and run the same "
            "command again to resume")


def checkpoint_files(directory: str | Path, suffix: str) -> list[tuple[int, Path]]:
    """`(step, path)` of every `ckpt-<step><suffix>` in `directory`, oldest first. Both backends
    name their checkpoints so: `.index` (TensorFlow), `.npz` (JAX)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = []
    for path in directory.glob(f"ckpt-*{suffix}"):
        stem = path.name[len("ckpt-") : -len(suffix)]
        if stem.isdigit():
            found.append((int(stem), path))
    return sorted(found)


def newest_checkpoint_step(run_dir: Path) -> int:
    """The step of the newest checkpoint file in `run_dir/checkpoints` (0 when none), either backend."""
    found = [step for suffix in (".index", ".npz") for step, _ in checkpoint_files(run_dir / "checkpoints", suffix)]
    return max(found, default=0)


RUN_BUSY = (
    "{folder} is in use by another srfm train (pid {pid}); wait for it to end or stop it, "
    "or use another --run-dir"
)


def writes_run_folder(tf_config: dict[str, Any] | None = None) -> bool:
    """Whether this task writes the run folder: the chief, or worker 0 of a cluster without
    one (TF's convention, `distributed.is_chief`); True outside a cluster (no TF_CONFIG).

    The multi-worker chief holds the run folder's lock and writes everything in it; the other
    workers only read its checkpoints, so they neither take nor wait for the lock.
    """
    if tf_config is None:
        tf_config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task = tf_config.get("task") or {}
    kind, index = task.get("type"), int(task.get("index", 0))
    if not kind:
        return True
    has_chief = "chief" in (tf_config.get("cluster") or {})
    return kind == "chief" or (not has_chief and kind == "worker" and index == 0)


def run_folder_lock(run_dir: Path, strategies: set[str] | frozenset[str] = frozenset()) -> Any:
    """The run folder's lock (`keras_srfm.imaging.locks.hold`) for the task that writes it;
    a do-nothing context for a multi-worker task, or a JAX process other than the first
    (`JAX_PROCESS_ID`), that only reads it."""
    import contextlib

    from keras_srfm.imaging import locks

    if "multiworker" in strategies and not writes_run_folder():
        return contextlib.nullcontext(None)
    if os.environ.get("JAX_PROCESS_ID", "0").strip() not in ("", "0"):
        return contextlib.nullcontext(None)
    return locks.hold(run_dir, busy=RUN_BUSY)


def open_run_dir(run_dir: Path, run: RunConfig) -> list[str]:
    """The start of every run (fit, multi-worker chief, JAX): creates `run_dir`, checks a resume
    against its `config.json`, prints the configuration and writes it (keys sorted).

    Returns:
        The settings changed on resume (for `log_resume_changes`).
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    changes = check_resume_config(run_dir, run)
    print(f"srfm train: configuration\n{run.describe()}", flush=True)
    atomic.write_json(run_dir / "config.json", run.to_dict(), sort_keys=True)
    return changes


def log_resume_changes(run_dir: Path, step: int, changes: list[str]) -> None:
    """Prints the settings changed on resume and appends them to `resume_log.jsonl`."""
    if not changes:
        return
    print(f"srfm train: changed on resume at step {step}: {'; '.join(changes)}", flush=True)
    with open(run_dir / "resume_log.jsonl", "a") as log:
        log.write(json.dumps({"step": step, "changes": changes}) + "\n")


def load_generator_weights(generator: Any, path: str) -> None:
    """Starts from trained generator weights (`.keras` model or `.weights.h5`, or a shipped
    model's name), any backend."""
    from keras_srfm.inference.presets import resolve_weights

    path = resolve_weights(path)
    if not Path(path).exists():
        raise FileNotFoundError(f"--init-from file not found: {path}")
    if path.endswith(".keras"):
        from keras_srfm.models.generator import load_keras_generator

        generator.set_weights(load_keras_generator(path).get_weights())
    else:
        generator.load_weights(path)


# === Logs ===


def append_csv_row(path: Path, row: dict[str, Any], columns: list[str]) -> None:
    """Appends `row` (header first when the file is new), flushed and fsynced.

    An existing header wins: keys it lacks are dropped, columns it has and `row` lacks stay
    empty (e.g. `bench_psnr` when `--bench-dir` is given only on resume).
    """
    header = read_csv_header(path)
    fields = header or columns
    size = path.stat().st_size if path.exists() else None
    try:
        with path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
            if not header:
                writer.writeheader()
            writer.writerow(row)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:  # a full disk mid-row: the file as it was, not half a row
        if size is None:
            path.unlink(missing_ok=True)
        else:
            os.truncate(path, size)
        raise


def read_csv_header(path: Path) -> list[str]:
    """The header row of a CSV file ([] when missing or empty)."""
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return next(csv.reader(f), [])


def _read_log(path: Path, steps_per_epoch: int) -> tuple[list[str], list[list[str]], list[int]]:
    """Header, rows and the step of each row of a CSV log ([] when missing or empty).

    Rows are keyed by their `step` column; logs written before that column existed by
    `epoch` (the step at the end of epoch e is `(e + 1) * steps_per_epoch`).
    """
    if not path.exists():
        return [], [], []
    text = path.read_text()
    if not text.endswith("\n"):  # a row cut short by a kill is not a row
        text = text[: text.rfind("\n") + 1]
    rows = [row for row in csv.reader(io.StringIO(text, newline="")) if row]
    if not rows:
        return [], [], []
    header, body = rows[0], rows[1:]
    if "step" in header:
        column = header.index("step")
        steps = [int(float(row[column])) for row in body]
    elif "epoch" in header:
        column = header.index("epoch")
        steps = [(int(float(row[column])) + 1) * steps_per_epoch for row in body]
    else:
        steps = [0] * len(body)
    return header, body, steps


def last_logged_step(path: str | Path, steps_per_epoch: int) -> int:
    """The largest step a CSV log holds a row for (0 when none)."""
    return max(_read_log(Path(path), steps_per_epoch)[2], default=0)


def truncate_after_step(path: str | Path, step: int, steps_per_epoch: int) -> int:
    """Drops the rows of a CSV log taken after `step` (atomically); returns how many."""
    path = Path(path)
    header, body, steps = _read_log(path, steps_per_epoch)
    kept = [row for row, at in zip(body, steps, strict=True) if at <= step]
    dropped = len(body) - len(kept)
    cut = path.exists() and path.stat().st_size and not path.read_bytes().endswith(b"\n")
    if (dropped or cut) and not header:  # not even a whole header: nothing was logged
        path.unlink()
    elif dropped or cut:
        text = io.StringIO()
        csv.writer(text).writerows([header, *kept])
        atomic_write(path, text.getvalue())
    return dropped


def align_logs(run_dir: Path, step: int, steps_per_epoch: int) -> int:
    """Makes a run folder's CSV logs agree with the restored checkpoint `step` (any backend).

    A fresh start (`step` 0) is refused when the folder shows training beyond the first epoch
    (a kill between the first row and the first checkpoint loses nothing, so its rows go), so
    a run folder is never reset silently; a resume drops the rows logged after `step`.

    Returns:
        The number of log rows dropped.

    Raises:
        RunStateError: the folder holds a trained run but no checkpoint to resume from.
    """
    logs = ("history.csv", "curve.csv")
    if step == 0:
        traces = [n for n in logs if last_logged_step(run_dir / n, steps_per_epoch) > steps_per_epoch]
        traces += ["generator.keras"] if (run_dir / "generator.keras").exists() else []
        if traces:
            raise RunStateError(
                f"{run_dir} holds a trained run ({', '.join(traces)}) but no checkpoint to resume from; "
                "use a new --run-dir (or move that folder away)"
            )
    return sum(truncate_after_step(run_dir / n, step, steps_per_epoch) for n in logs)


def append_history_row(history_csv: Path, epoch: int, step: int, values: dict[str, float]) -> None:
    """One `history.csv` row per checkpoint interval, for every path: `epoch`, `step`, then the
    logged values by name (rows of a resumed run are keyed by `step`, see `truncate_after_step`)."""
    append_csv_row(history_csv, {"epoch": epoch, "step": step, **values}, ["epoch", "step", *sorted(values)])


def append_curve_point(curve_csv: Path, step: int, psnr_y: float) -> None:
    """One learning-curve point (`--bench-dir`), for every path: the `curve.csv` row, then
    `curve.png` redrawn from the whole file."""
    append_csv_row(curve_csv, {"step": step, "psnr_y": f"{psnr_y:.4f}", "time": f"{time.time():.0f}"},
                   ["step", "psnr_y", "time"])
    plot_learning_curve(curve_csv, curve_csv.with_suffix(".png"))


def plot_learning_curve(curve_csv: str | Path, png: str | Path, baseline: float | None = None) -> Path:
    """Benchmark Y-PSNR vs step from `curve.csv` as a PNG (written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with Path(curve_csv).open(newline="") as f:
        rows = list(csv.DictReader(f))
    steps = [int(r["step"]) for r in rows]
    values = [float(r["psnr_y"]) for r in rows]
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.plot(steps, values, marker="o", markersize=3, label="model")
    if baseline is not None:
        ax.axhline(baseline, color="gray", linestyle="--", label=f"bicubic {baseline:.2f} dB")
        ax.legend(loc="lower right")
    ax.set_xlabel("generator updates")
    ax.set_ylabel("PSNR on Y, shave 4 (dB)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    png = Path(png)
    try:
        atomic_save(png, lambda handle: fig.savefig(handle, format="png"))
    finally:
        plt.close(fig)
    return png
