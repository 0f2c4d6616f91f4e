"""Fault soak: kills, full disks and second writers against the real `srfm` command line.

Not part of the test suite (it runs for minutes; `tests/project/test_fault_soak.py` runs a small
subset). Every fault is injected into a real `python -m keras_srfm.cli ...` process on tiny
configurations (2 residual blocks, 8 filters, three 112x128 images made in a temp folder):

a. **SIGKILL at random moments** of `srfm train`, `--kills` times per backend (tensorflow,
   jax): during start-up, a train step, a history row or a checkpoint save. Every restart
   must resume from the newest complete checkpoint (or, if the kill cut the newest save
   short, say so and take the one before); at the end `history.csv` holds each checkpoint
   step exactly once and `resume_log.jsonl` every change of `--steps` made on a restart.
b. **A full disk at each write site**: checkpoint (both backends), history CSV, curve PNG,
   exported model, upscaled image, evaluation JSON, MOS database. The output folder is on a
   3-16 MiB tmpfs (`mount -t tmpfs`, so this part needs root); `fault_shim/sitecustomize.py`
   fills it (a real ENOSPC from the kernel, also for the C++ writers) the moment the site's
   file is opened. The command must fail with one line, leave no half-written file and lose
   no file it had written before; after the filler is deleted, the same command finishes.
c. **Two writers on one folder**: `srfm train` (both backends), `srfm degrade --out`,
   `srfm mos prepare --out`, `srfm mos serve`. The first is stopped (SIGSTOP) once it holds
   the folder's lock; the second must refuse in one line naming the first's pid and change
   nothing; after a SIGKILL of the first, the command runs again.

"Data lost" counts files written before a fault that are gone or changed afterwards, steps a
resume went back beyond the newest complete checkpoint, and half-written files left under a
final name. Writes `benchmarks/results/fault_soak.json` and `.md` with the date and the CPU.

    python benchmarks/fault_soak.py                 # the full soak (~10-15 min on 2 idle cores)
    python benchmarks/fault_soak.py --kills 1 --parts a c --backends tensorflow
    # the parts at the same time, then one report:
    python benchmarks/fault_soak.py --parts a --out /tmp/a & ...
    python benchmarks/fault_soak.py --combine /tmp/a/fault_soak.json /tmp/b/fault_soak.json /tmp/c/fault_soak.json
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import datetime
import http.cookiejar
import importlib.util
import json
import os
import platform
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHIM = Path(__file__).resolve().parent / "fault_shim"
RESULTS = Path(__file__).resolve().parent / "results"
CKPT_EVERY = 2
TINY = ["--variant", "p", "--blocks", "2", "--filters", "8", "--batch-size", "2",
        "--patches-per-image", "2", "--checkpoint-every", str(CKPT_EVERY), "--vgg-weights", "none",
        "--verbose", "0"]
START_RE = re.compile(r"srfm train: (starting in|resuming at step (\d+))")
UNREADABLE_RE = re.compile(r"unreadable checkpoint\(s\) (.*) moved")
PART_RE = re.compile(r"\.srfm-\d+-[A-Za-z0-9_]+\.part")


@dataclasses.dataclass
class Case:
    """One kind of fault against one target, and what became of it."""

    part: str
    target: str
    fault: str
    injected: int = 0
    survived: int = 0
    lost: int = 0
    seconds: float = 0.0
    notes: list[str] = dataclasses.field(default_factory=list)

    def fail(self, note: str) -> None:
        self.notes.append(note)
        print(f"  ! {self.target}: {note}", flush=True)


# === Processes ===


def env(**extra: str) -> dict[str, str]:
    """The environment of an `srfm` process: this tree first, no TF_CPP_MIN_LOG_LEVEL (the CLI
    sets its own), and the shim's variables when given."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("SRFM_SOAK_") and k != "TF_CPP_MIN_LOG_LEVEL"}
    path = [str(REPO)] + ([str(SHIM)] if extra else []) + [base.get("PYTHONPATH", "")]
    return {**base, "PYTHONPATH": os.pathsep.join(p for p in path if p), "PYTHONUNBUFFERED": "1", **extra}


def srfm(args: list[str], log: Path, extra: dict[str, str] | None = None) -> subprocess.Popen:
    """Starts `python -m keras_srfm.cli ARGS`, stdout and stderr to `log` (no pipe to fill)."""
    with open(log, "w") as handle:
        return subprocess.Popen([sys.executable, "-m", "keras_srfm.cli", *args], stdout=handle,
                                stderr=subprocess.STDOUT, env=env(**(extra or {})), cwd=log.parent)


def srfm_run(args: list[str], log: Path, extra: dict[str, str] | None = None, timeout: float = 600) -> tuple[int, str]:
    proc = srfm(args, log, extra)
    try:
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, log.read_text(errors="replace")


def error_lines(text: str) -> list[str]:
    """The lines a user sees as errors: srfm's `error:` lines and anything not srfm's own."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("[soak]")]
    own = re.compile(r"^(srfm \w+( \w+)?: (configuration|starting|resuming|changed|note|removed|wrote|"
                     r"\d+ replicas|phase)|step \d+:|upscaled \d|\s|[{}]|Study written|Serving|\|)")
    return [ln for ln in lines if "error" in ln.lower() or not own.match(ln)]


def wait_for(predicate: Callable[[], bool], proc: subprocess.Popen, timeout: float = 300) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None or time.monotonic() > deadline:
            return predicate()
        time.sleep(0.02)
    return True


def lock_pid(lock_file: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(lock_file.read_text().strip())
    return None


# === Data ===


def make_images(folder: Path, count: int = 3, size: tuple[int, int] = (112, 128)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0 : size[0], 0 : size[1]]
    for i in range(count):
        img = (127 + 120 * np.sin((xx * (i + 1) + yy) / 5.0))[..., None] * np.array([1.0, 0.8, 0.6])
        img = np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(folder / f"img{i}.png")
    return folder


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Relative path -> (size, mtime) of every file under `folder`."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def digests(folder: Path, names: list[str]) -> dict[str, bytes]:
    return {n: (folder / n).read_bytes() for n in names if (folder / n).is_file()}


def parts_left(folder: Path) -> list[str]:
    return [str(p.relative_to(folder)) for p in folder.rglob("*") if PART_RE.search(p.name) or p.name.endswith("_temp")]


def checkpoint_steps(run: Path, backend: str) -> list[int]:
    suffix = ".npz" if backend == "jax" else ".index"
    steps = []
    for path in (run / "checkpoints").glob(f"ckpt-*{suffix}"):
        stem = path.name[len("ckpt-") : -len(suffix)]
        if stem.isdigit():
            steps.append(int(stem))
    return sorted(steps)


def history_steps(run: Path) -> list[int]:
    """The steps of `history.csv`'s rows; a last line cut short by a kill is not a row."""
    path = run / "history.csv"
    if not path.exists():
        return []
    text = path.read_text()
    text = text[: text.rfind("\n") + 1]
    return [int(float(row["step"])) for row in csv.DictReader(text.splitlines())]


def rows_so_far(run: Path) -> int:
    """History rows written so far (while the run writes them: a row may be half there)."""
    try:
        return len(history_steps(run))
    except (ValueError, TypeError, KeyError, OSError):
        return 0


def is_keras_archive(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None and "config.json" in archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


# === tmpfs ===


@contextlib.contextmanager
def tmpfs(where: Path, size_mb: int) -> Iterator[Path]:
    """A `size_mb` MiB tmpfs mounted on `where` for the block (root only)."""
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(where)], check=True,
                   capture_output=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False, capture_output=True)


def tmpfs_works(scratch: Path) -> bool:
    try:
        with tmpfs(scratch / "probe", 1):
            return True
    except (subprocess.CalledProcessError, FileNotFoundError, PermissionError):
        return False


def free_disk(mount: Path) -> None:
    (mount / ".soak-filler").unlink(missing_ok=True)


def fill(mount: Path) -> None:
    """Fills `mount` from this process (between two requests of a server), with the shim's own
    loop (`fault_shim/sitecustomize.py`, which installs nothing without its variables)."""
    spec = importlib.util.spec_from_file_location("soak_fault_shim", SHIM / "sitecustomize.py")
    shim = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shim)
    shim.fill_disk(mount)


# === a. SIGKILL at random moments ===


def kill_soak(work: Path, backend: str, kills: int, rng: random.Random) -> Case:
    """Kills `srfm train` `kills` times at random moments, restarting it each time."""
    case = Case("a", f"srfm train --backend {backend}", "SIGKILL at a random moment")
    began = time.monotonic()
    data = make_images(work / "hr")
    run = work / f"kill_{backend}"
    target, changes, attempt = 12, [], 0
    base = ["train", *TINY, "--data", str(data), "--run-dir", str(run), "--backend", backend]
    while case.injected < kills and attempt < 4 * kills:
        attempt += 1
        expected = checkpoint_steps(run, backend)
        log = work / f"kill_{backend}_{attempt}.log"
        proc = srfm([*base, "--steps", str(target)], log)
        if rng.random() < 0.2:  # during start-up (imports, preflight, the lock, the restore)
            time.sleep(rng.uniform(0.5, 6.0))
        else:  # during training: a step, a history row, a checkpoint save
            wait_for(lambda: START_RE.search(log.read_text(errors="replace")) is not None, proc)  # noqa: B023
            rows = rows_so_far(run) + rng.randint(0, 2)  # 0-2 intervals on, then within one
            wait_for(lambda: rows_so_far(run) >= rows, proc)  # noqa: B023
            time.sleep(rng.uniform(0.0, 1.5))
        killed = proc.poll() is None
        if killed:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        text = log.read_text(errors="replace")
        check_start(case, text, expected, attempt)
        if killed:
            case.injected += 1
            problem = check_folder_after_kill(run, backend)
            if problem:
                case.fail(f"kill {case.injected}: {problem}")
            else:
                case.survived += 1
        elif proc.returncode == 0:  # finished before the kill: train longer next time
            changes.append(f"train.steps: {target} -> {target + 10}")
            target += 10
        else:
            case.fail(f"start {attempt} exited {proc.returncode}: {error_lines(text)[:2]}")
    # The last start runs to the end: the record of the whole run must be exact.
    expected = checkpoint_steps(run, backend)
    code, text = srfm_run([*base, "--steps", str(target)], work / f"kill_{backend}_final.log")
    check_start(case, text, expected, "final")
    if code != 0:
        case.fail(f"final run exited {code}: {error_lines(text)[:2]}")
    steps = history_steps(run)
    whole = (run / "history.csv").read_text().endswith("\n") if (run / "history.csv").exists() else False
    if not whole or steps != list(range(CKPT_EVERY, target + 1, CKPT_EVERY)):
        case.lost += 1
        case.fail(f"history.csv steps {steps} != every {CKPT_EVERY} to {target}")
    logged = [c for line in (run / "resume_log.jsonl").read_text().splitlines() if line.strip()
              for c in json.loads(line)["changes"]] if (run / "resume_log.jsonl").exists() else []
    missing = [c for c in changes if c not in logged]
    if missing or len(logged) != len(set(logged)):
        case.fail(f"resume_log.jsonl holds {logged}, expected {changes}")
    if not is_keras_archive(run / "generator.keras"):
        case.fail("generator.keras is missing or not a whole archive")
    if parts_left(run):
        case.fail(f"temporary files left: {parts_left(run)}")
    case.notes.append(f"{attempt + 1} starts, trained to step {target}")
    case.seconds = time.monotonic() - began
    return case


def check_start(case: Case, text: str, expected: list[int], attempt: object) -> None:
    """A start that got as far as restoring resumed from the newest complete checkpoint."""
    match = START_RE.search(text)
    if match is None:
        return  # killed before it restored anything
    step = int(match.group(2)) if match.group(2) else 0
    newest = expected[-1] if expected else 0
    if step == newest:
        return
    unreadable = UNREADABLE_RE.search(text)
    # The kill cut the newest save short: that one is set aside, the one before is used.
    if unreadable and f"ckpt-{newest}" in unreadable.group(1) and len(expected) > 1 and step == expected[-2]:
        case.notes.append(f"start {attempt}: the interrupted save ckpt-{newest} was set aside")
        return
    case.lost += max(newest - step, 0)
    case.fail(f"start {attempt} resumed at step {step}, the newest checkpoint was {newest}")


def check_folder_after_kill(run: Path, backend: str) -> str | None:
    """What a kill may leave: rows up to one interval past the newest checkpoint, no more."""
    steps, ckpts = history_steps(run), checkpoint_steps(run, backend)
    if steps != sorted(set(steps)):
        return f"history.csv steps not increasing or repeated: {steps}"
    if steps and steps[-1] > (ckpts[-1] if ckpts else 0) + CKPT_EVERY:
        return f"history.csv reaches step {steps[-1]}, the newest checkpoint is {ckpts[-1:]}"
    return None


# === b. A full disk at each write site ===


@dataclasses.dataclass(frozen=True)
class Site:
    """A write site: the command, the file whose opening fills the disk, what must hold."""

    name: str
    args: Callable[[Path, Path], list[str]]  # (data folder, folder on the tmpfs) -> arguments
    fill_on: str  # regular expression of the path opened
    fill_at: int = 1
    size_mb: int = 16
    keep: tuple[str, ...] = ()  # files (on the tmpfs) written before the fault that must survive
    prepare: Callable[[Path, Path, Path], None] | None = None  # (data, mount, scratch) before the run
    check: Callable[[Path], str | None] | None = None  # after the failed run


def _train_args(backend: str, steps: int = 6, bench: bool = False) -> Callable[[Path, Path], list[str]]:
    def args(data: Path, mount: Path) -> list[str]:
        extra = ["--bench-dir", str(data)] if bench else []
        return ["train", *TINY, "--data", str(data), "--run-dir", str(mount / "run"), "--steps", str(steps),
                "--backend", backend, *extra]

    return args


def _no_half_history(mount: Path) -> str | None:
    path = mount / "run" / "history.csv"
    if path.exists() and not path.read_text().endswith("\n"):
        return "history.csv ends in a half-written row"
    return None


def _no_half_model(mount: Path) -> str | None:
    path = mount / "run" / "generator.keras"
    if path.exists() and not is_keras_archive(path):
        return "generator.keras is half-written"
    return None


def _upscale_args(data: Path, mount: Path) -> list[str]:
    return ["upscale", str(data), "-o", str(mount / "out"), "--model", "bicubic", "--quiet", "--skip-existing"]


def _evaluate_args(data: Path, mount: Path) -> list[str]:
    return ["evaluate", "--model", "bicubic", "--hr-dir", str(data), "--json", str(mount / "eval.json"),
            "--no-progress", "--metrics", "psnr,ssim"]


def _old_evaluation(data: Path, mount: Path, scratch: Path) -> None:
    """An evaluation JSON from before, which the failed run must leave as it was."""
    code, text = srfm_run(_evaluate_args(data, mount), scratch / "eval_before.log")
    if code != 0:
        raise RuntimeError(f"the first evaluation failed: {text[-500:]}")


def sites() -> list[Site]:
    ckpt = r"history\.csv$"  # the 2nd row's header read: that row fits its page, the checkpoint after it does not
    return [
        Site("checkpoint (tensorflow)", _train_args("tensorflow"), ckpt, fill_at=2),
        Site("checkpoint (jax)", _train_args("jax"), ckpt, fill_at=2),
        Site("history CSV", _train_args("tensorflow"), r"history\.csv$", check=_no_half_history),
        Site("curve PNG", _train_args("tensorflow", bench=True), r"\.curve\.png\.srfm-"),
        Site("exported model", _train_args("tensorflow"), r"\.generator\.keras\.srfm-", check=_no_half_model),
        Site("upscaled image", _upscale_args, r"\.img1_x4\.png\.srfm-"),
        Site("evaluation JSON", _evaluate_args, r"\.eval\.json\.srfm-", keep=("eval.json",),
             prepare=_old_evaluation),
    ]


def disk_full_soak(work: Path, site: Site) -> Case:
    """One full disk at `site`: a one-line error, nothing half-written or lost, then recovery."""
    case = Case("b", site.name, "disk full (tmpfs) at the write")
    began = time.monotonic()
    data = make_images(work / "hr")
    slug = re.sub(r"\W+", "_", site.name)
    with tmpfs(work / f"disk_{slug}", site.size_mb) as mount:
        if site.prepare:
            site.prepare(data, mount, work)
        kept = digests(mount, list(site.keep))
        shim = {"SRFM_SOAK_FILL_DIR": str(mount), "SRFM_SOAK_FILL_ON": site.fill_on,
                "SRFM_SOAK_FILL_AT": str(site.fill_at)}
        code, text = srfm_run(site.args(data, mount), work / f"disk_{slug}.log", shim)
        filled = "[soak] disk filled" in text
        case.injected += filled
        errors = error_lines(text)
        before = snapshot(mount)
        problems = []
        if not filled:
            problems.append("the site was never reached (no fault injected)")
        if code == 0:
            problems.append("exited 0 on a full disk")
        if site.name == "upscaled image":  # one line per image that could not be written
            if not errors or any("srfm upscale: error:" not in e for e in errors):
                problems.append(f"errors are not one line per image: {errors}")
        elif len(errors) != 1:
            problems.append(f"{len(errors)} error lines: {errors[:3]}")
        left = parts_left(mount)
        if left:
            problems.append(f"temporary files left: {left}")
        if site.check and site.check(mount):
            problems.append(site.check(mount))
        if digests(mount, list(site.keep)) != kept:
            case.lost += 1
            problems.append(f"{site.keep} changed by the failed run")
        checkpoints_before = {"tensorflow": checkpoint_steps(mount / "run", "tensorflow"),
                              "jax": checkpoint_steps(mount / "run", "jax")}
        free_disk(mount)
        code, text = srfm_run(site.args(data, mount), work / f"disk_{slug}_again.log")
        if code != 0:
            problems.append(f"after freeing the disk the same command exited {code}: {error_lines(text)[:2]}")
        match = START_RE.search(text)
        for backend, steps in checkpoints_before.items():
            if match and steps and int(match.group(2) or 0) != steps[-1]:
                case.lost += 1
                problems.append(f"the rerun resumed at {match.group(2) or 0}, not at ckpt-{steps[-1]} ({backend})")
        lost_files = [n for n in before if not n.startswith(".soak") and not (mount / n).exists()
                      and not PART_RE.search(n) and "checkpoints/" not in n]
        if lost_files:
            case.lost += len(lost_files)
            problems.append(f"files gone after the rerun: {lost_files}")
        if site.name.startswith("checkpoint") or site.name in ("history CSV", "curve PNG", "exported model"):
            steps = history_steps(mount / "run")
            if steps != list(range(CKPT_EVERY, 7, CKPT_EVERY)):
                case.lost += 1
                problems.append(f"history.csv steps after the rerun: {steps}")
        for problem in problems:
            case.fail(problem)
        case.survived += filled and not problems
        case.notes.append(f"error: {errors[0][:160]}" if errors else "no error line")
    case.seconds = time.monotonic() - began
    return case


class Rater:
    """A scripted rater over plain HTTP, with a cookie jar for the session."""

    TOKEN = re.compile(r'name="token" value="([0-9a-f]{24})"')

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path.lstrip("/"), timeout=60) as resp:
            return resp.read().decode()

    def post(self, path: str, **fields: str) -> str:
        data = urllib.parse.urlencode(fields).encode()
        with self.opener.open(self.base + path.lstrip("/"), data=data, timeout=60) as resp:
            return resp.read().decode()

    def rate(self, score: int) -> str:
        token = self.TOKEN.search(self.get("/rate")).group(1)
        with self.opener.open(f"{self.base}img/{token}", timeout=60) as resp:
            resp.read()
        self.post("/rate", token=token, score=str(score))
        return token


def start_server(study: Path, log: Path) -> tuple[subprocess.Popen, str]:
    proc = srfm(["mos", "serve", str(study), "--port", "0"], log)
    url: list[str] = []

    def listening() -> bool:
        found = re.search(r"at (http://\S+/)", log.read_text(errors="replace"))
        if found:
            url.append(found.group(1))
        return bool(found)

    if not wait_for(listening, proc, timeout=120):
        proc.kill()
        raise RuntimeError(f"server did not start: {log.read_text()[-500:]}")
    return proc, url[0]


def mos_disk_full(work: Path) -> Case:
    """The MOS database on a full disk: the rating is refused, the earlier ones stay."""
    from keras_srfm.mos.db import RatingStore
    from keras_srfm.mos.study import load_study

    case = Case("b", "MOS database", "disk full (tmpfs) between two ratings")
    began = time.monotonic()
    data = make_images(work / "hr_mos", count=4, size=(48, 48))
    with tmpfs(work / "disk_mos", 3) as mount:
        code, text = srfm_run(["mos", "prepare", "--hr-dir", str(data), "--out", str(mount / "study"),
                               "--images", "3", "--calibration", "1"], work / "mos_prepare.log")
        if code != 0:
            case.fail(f"prepare failed: {text[-300:]}")
            return case
        log = work / "mos_serve.log"
        proc, base = start_server(mount / "study", log)
        given, problems = [], []
        try:
            rater = Rater(base)
            rater.post("/start", rater_id="soak")
            rater.post("/calibration/done")
            given.append(rater.rate(4))
            fill(mount)
            case.injected += 1
            try:
                rater.rate(2)
                problems.append("a rating was accepted on a full disk")
            except urllib.error.HTTPError as err:
                case.notes.append(f"refused with HTTP {err.code}")
            if proc.poll() is not None:
                problems.append("the server died on a full disk")
            free_disk(mount)
            given.append(rater.rate(5))  # the same rater goes on once there is space
        except Exception as err:  # noqa: BLE001  (reported, not raised: the soak goes on)
            problems.append(f"{type(err).__name__}: {err}")
        finally:
            proc.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        stored = [r["token"] for r in RatingStore(load_study(mount / "study").db_path).ratings()]
        if stored != given:
            case.lost += len(set(given) - set(stored))
            problems.append(f"stored ratings {stored} != given {given}")
        server_errors = [ln for ln in log.read_text(errors="replace").splitlines() if "Traceback" in ln]
        if server_errors:
            problems.append("the server printed a traceback")
        for problem in problems:
            case.fail(problem)
        case.survived += case.injected and not problems
    case.seconds = time.monotonic() - began
    return case


# === c. Two writers on one folder ===


def two_writers(work: Path, name: str, args: list[str], folder: Path, lock_file: Path) -> Case:
    """The first holds the lock (stopped), the second must refuse in one line and change nothing."""
    case = Case("c", name, "a second writer on the same folder")
    began = time.monotonic()
    slug = re.sub(r"\W+", "_", name)
    first = srfm(args, work / f"two_{slug}_1.log")
    problems = []
    try:
        held = wait_for(lambda: lock_pid(lock_file) == first.pid, first, timeout=300)
        if not held or first.poll() is not None:
            problems.append(f"the first never held the lock: {(work / f'two_{slug}_1.log').read_text()[-300:]}")
        else:
            first.send_signal(signal.SIGSTOP)
            case.injected += 1
            before = snapshot(folder)
            code, text = srfm_run(args, work / f"two_{slug}_2.log", timeout=300)
            lines = [ln for ln in text.splitlines() if ln.strip()]
            if code == 0 or len(lines) != 1 or f"pid {first.pid}" not in lines[0]:
                problems.append(f"second writer: exit {code}, {lines[:3]}")
            else:
                case.notes.append(lines[0][:200])
            if snapshot(folder) != before:
                case.lost += 1
                problems.append("the second writer changed the folder")
            first.send_signal(signal.SIGKILL)
    finally:
        if first.poll() is None:
            first.kill()
        first.wait()
    if lock_pid(lock_file) == first.pid or not problems:  # the kernel released the killed holder's lock
        code, text = srfm_run(args, work / f"two_{slug}_3.log", timeout=600)
        if code != 0:
            problems.append(f"after the kill the command exited {code}: {error_lines(text)[:2]}")
    for problem in problems:
        case.fail(problem)
    case.survived += case.injected and not problems
    case.seconds = time.monotonic() - began
    return case


def two_server_writers(work: Path) -> Case:
    """Two `srfm mos serve` on one study: the second refuses in one line naming the first."""
    case = Case("c", "srfm mos serve", "a second writer on the same folder")
    began = time.monotonic()
    data = make_images(work / "hr_serve", count=3, size=(48, 48))
    study = work / "serve_study"
    code, text = srfm_run(["mos", "prepare", "--hr-dir", str(data), "--out", str(study), "--images", "2",
                           "--calibration", "1"], work / "serve_prepare.log")
    problems = []
    proc, _ = start_server(study, work / "serve_1.log")
    try:
        case.injected += 1
        before = snapshot(study)
        code, text = srfm_run(["mos", "serve", str(study), "--port", "0"], work / "serve_2.log", timeout=120)
        lines = [ln for ln in text.splitlines() if ln.strip()]
        if code == 0 or len(lines) != 1 or f"pid {proc.pid}" not in lines[0]:
            problems.append(f"second server: exit {code}, {lines[:3]}")
        else:
            case.notes.append(lines[0][:200])
        if {k: v for k, v in snapshot(study).items() if "ratings" not in k} != {
                k: v for k, v in before.items() if "ratings" not in k}:
            problems.append("the second server changed the study")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    again, url = start_server(study, work / "serve_3.log")  # the kernel released the lock
    try:
        # Ctrl+C once it answers: its "Serving" line comes before its loop runs, and a busy
        # machine can stretch that gap (a SIGINT sent into it hung this check once).
        with urllib.request.urlopen(f"{url}healthz", timeout=120) as resp:
            resp.read()
        again.send_signal(signal.SIGINT)
        again.wait(timeout=120)
        if again.returncode != 0:
            problems.append(f"the restarted server exited {again.returncode} on Ctrl+C")
    except (OSError, subprocess.TimeoutExpired) as err:
        problems.append(f"the restarted server did not answer and stop: {err}")
    finally:
        if again.poll() is None:
            again.kill()
            again.wait()
    for problem in problems:
        case.fail(problem)
    case.survived += case.injected and not problems
    case.seconds = time.monotonic() - began
    return case


def writer_cases(work: Path, backends: list[str]) -> list[tuple[str, list[str], Path, Path]]:
    data = make_images(work / "hr")
    many = make_images(work / "hr_many", count=12, size=(160, 160))
    cases = []
    for backend in backends:
        run = work / f"two_run_{backend}"
        cases.append((f"srfm train --backend {backend}",
                      ["train", *TINY, "--data", str(data), "--run-dir", str(run), "--steps", "4",
                       "--backend", backend], run, run / ".srfm.lock"))
    cases.append(("srfm degrade --out", ["degrade", "--hr-dir", str(many), "--out", str(work / "lr"),
                                         "--no-progress"], work / "lr", work / "lr" / ".srfm.lock"))
    studies = work / "studies"
    cases.append(("srfm mos prepare --out", ["mos", "prepare", "--hr-dir", str(many), "--out",
                                             str(studies / "study"), "--images", "3", "--calibration", "1",
                                             "--models", "srfm_mp"], studies, studies / ".study.srfm.lock"))
    return cases


# === Report ===


def cpu() -> dict[str, str]:
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {"model": platform.processor() or "unknown", "flags": ""}
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    flags = fields.get("Flags", "").split()
    relevant = [f for f in flags if f.startswith(("avx", "fma", "sse4", "amx"))]
    return {"model": fields.get("Model name", "unknown").strip(), "cores": str(os.cpu_count()),
            "flags": " ".join(relevant)}


def write_report(cases: list[Case], out: Path, started: float, args: argparse.Namespace) -> dict:
    document = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu(),
        "load_average_at_start": args.load,
        "seconds": round(time.monotonic() - started, 1),
        "kills_per_backend": args.kills,
        "seed": args.seed,
        "cases": [dataclasses.asdict(c) | {"seconds": round(c.seconds, 1)} for c in cases],
        "totals": {k: sum(getattr(c, k) for c in cases) for k in ("injected", "survived", "lost")},
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "fault_soak.json").write_text(json.dumps(document, indent=2) + "\n")
    (out / "fault_soak.md").write_text(markdown(document))
    return document


def markdown(document: dict) -> str:
    rows = ["| part | target | fault | injected | survived | data lost |", "|---|---|---|---:|---:|---:|"]
    for c in document["cases"]:
        rows.append(f"| {c['part']} | {c['target']} | {c['fault']} | {c['injected']} | {c['survived']} | {c['lost']} |")
    t = document["totals"]
    rows.append(f"| | **total** | | **{t['injected']}** | **{t['survived']}** | **{t['lost']}** |")
    cpu_info = document["cpu"]
    parallel = len(document.get("runs", [])) > 1
    how = (f"its parts run at the same time, {document['seconds']:.0f} s" if parallel
           else f"{document['seconds']:.0f} s in all")
    return (
        f"# Fault soak\n\n{document['date']}, {cpu_info['model']} ({cpu_info.get('cores', '?')} cores; "
        f"{cpu_info['flags']}), load average {document['load_average_at_start']} at the start (a shared "
        f"machine), {how}; `python benchmarks/fault_soak.py --kills {document['kills_per_backend']} "
        f"--seed {document['seed']}`.\n\n" + "\n".join(rows) + "\n"
    )


def combine(paths: list[Path], out: Path) -> int:
    """One report from the reports of soak runs made at the same time (one per part)."""
    documents = [json.loads(p.read_text()) for p in paths]
    cases = sorted((c for d in documents for c in d["cases"]), key=lambda c: c["part"])
    document = {
        **documents[0],
        "seconds": max(d["seconds"] for d in documents),
        "runs": [{k: d[k] for k in ("date", "load_average_at_start", "seconds", "kills_per_backend")}
                 for d in documents],
        "cases": cases,
        "totals": {k: sum(c[k] for c in cases) for k in ("injected", "survived", "lost")},
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "fault_soak.json").write_text(json.dumps(document, indent=2) + "\n")
    (out / "fault_soak.md").write_text(markdown(document))
    print(markdown(document))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=4, help="SIGKILLs per backend (part a)")
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "jax"])
    parser.add_argument("--parts", nargs="+", default=["a", "b", "c"], choices=["a", "b", "c"])
    parser.add_argument("--sites", nargs="+", default=None, help="part b: only these write sites")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS, help="where fault_soak.json and .md go")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temp folder)")
    parser.add_argument("--combine", nargs="+", type=Path, default=None, metavar="JSON",
                        help="only write one report from the fault_soak.json of runs made in parallel "
                             "(e.g. one per part)")
    args = parser.parse_args(argv)
    if args.combine:
        return combine(args.combine, args.out)
    # A shell starts a background job (`soak &`) with SIGINT ignored, and the children inherit
    # that: the servers this soak stops with Ctrl+C would never see it. Give them the default.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    args.load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    started = time.monotonic()
    rng = random.Random(args.seed)
    cases: list[Case] = []
    with tempfile.TemporaryDirectory(prefix="srfm-soak-", dir=args.work) as tmp:
        work = Path(tmp)
        if "a" in args.parts:
            for backend in args.backends:
                print(f"a: SIGKILL x{args.kills}, {backend}", flush=True)
                cases.append(kill_soak(work, backend, args.kills, rng))
        if "b" in args.parts:
            if not tmpfs_works(work):
                raise SystemExit("part b needs `mount -t tmpfs` (root); run it as root or leave it out")
            chosen = [s for s in sites() if args.sites is None or s.name in args.sites]
            chosen = [s for s in chosen if "(" not in s.name or s.name.split("(")[1][:-1] in args.backends]
            for site in chosen:
                print(f"b: disk full at {site.name}", flush=True)
                cases.append(disk_full_soak(work, site))
            if args.sites is None or "MOS database" in args.sites:
                print("b: disk full at MOS database", flush=True)
                cases.append(mos_disk_full(work))
        if "c" in args.parts:
            for name, cmd, folder, lock_file in writer_cases(work, args.backends):
                print(f"c: two writers, {name}", flush=True)
                cases.append(two_writers(work, name, cmd, folder, lock_file))
            print("c: two writers, srfm mos serve", flush=True)
            cases.append(two_server_writers(work))
    document = write_report(cases, args.out, started, args)
    print(markdown(document))
    totals = document["totals"]
    return 0 if totals["lost"] == 0 and totals["survived"] == totals["injected"] else 1


if __name__ == "__main__":
    sys.exit(main())
