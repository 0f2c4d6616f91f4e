"""One writer per folder (`keras_srfm.imaging.locks`): the lock, and the commands that take it.

The command tests start two real `srfm` processes on one folder: the first is stopped
(SIGSTOP) once it holds the lock, the second must refuse in one line naming the first's pid
and leave the folder as it was; after a SIGKILL of the first, the kernel has released it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from keras_srfm.imaging import locks
from keras_srfm.training.run_setup import writes_run_folder

SRFM = [sys.executable, "-m", "keras_srfm.cli"]
HOLD = ("import sys, time; from keras_srfm.imaging import locks\n"
        "with locks.hold(sys.argv[1]):\n    print('held', flush=True); time.sleep(600)")


def test_hold_makes_and_removes_an_unused_folder(tmp_path):
    folder = tmp_path / "new" / "run"
    with locks.hold(folder) as lock_file:
        assert lock_file == folder / locks.LOCK_NAME
        assert locks.holder_pid(lock_file) == os.getpid()
        with locks.hold(folder):  # the same process again: nested, a no-op
            pass
        assert locks.holder_pid(lock_file) == os.getpid()
    assert not folder.exists()  # made here, nothing written: gone again


def test_hold_keeps_a_used_folder_and_removes_on_request(tmp_path):
    with locks.hold(tmp_path / "a") as lock_file:
        (tmp_path / "a" / "data.txt").write_text("x")
    assert lock_file.exists() and (tmp_path / "a" / "data.txt").exists()
    with locks.hold(tmp_path, name=".beside.lock", remove=True) as lock_file:
        assert lock_file.exists()
    assert not lock_file.exists()


def test_missing_folder_without_create_is_one_line(tmp_path):
    with pytest.raises(locks.FolderLockedError, match="cannot lock"), locks.hold(tmp_path / "missing", create=False):
        pass


@pytest.mark.parametrize("config, writes", [
    ({}, True),
    ({"cluster": {"chief": ["a"], "worker": ["b"]}, "task": {"type": "chief", "index": 0}}, True),
    ({"cluster": {"chief": ["a"], "worker": ["b"]}, "task": {"type": "worker", "index": 0}}, False),
    ({"cluster": {"worker": ["a", "b"]}, "task": {"type": "worker", "index": 0}}, True),
    ({"cluster": {"worker": ["a", "b"]}, "task": {"type": "worker", "index": 1}}, False),
])
def test_only_the_chief_writes_the_run_folder(config, writes):
    assert writes_run_folder(config) is writes


def _wait_for_lock(proc: subprocess.Popen, lock_file: Path, timeout: float = 240) -> None:
    """Until `proc` holds `lock_file` (its pid is written there just after the flock)."""
    deadline = time.monotonic() + timeout
    while locks.holder_pid(lock_file) != proc.pid:
        if proc.poll() is not None:
            raise AssertionError(f"exited ({proc.returncode}) before taking the lock: {proc.stderr.read()}")
        assert time.monotonic() < deadline, "the first process never took the lock"
        time.sleep(0.02)


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*"))} if folder.exists() else {}


@pytest.mark.slow
def test_a_folder_held_by_another_process_is_refused_with_its_pid(tmp_path):
    folder = tmp_path / "f"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(locks.FolderLockedError, match=f"pid {holder.pid}") as err, locks.hold(folder):
            pass
        assert err.value.pid == holder.pid
    finally:
        holder.kill()
        holder.wait()
    with locks.hold(folder):  # the kernel released it with the killed process
        pass


def _images(folder: Path, count: int = 3, size: int = 112) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / f"img{i}.png")
    return folder


def _commands(tmp_path: Path) -> dict[str, tuple[list[str], Path, Path]]:
    """name -> (arguments, the folder the command owns, its lock file)."""
    hr = _images(tmp_path / "hr")
    run = tmp_path / "run"
    study = tmp_path / "studies" / "study"
    return {
        "train": (["train", "--variant", "p", "--data", str(hr), "--run-dir", str(run), "--blocks", "2",
                   "--filters", "8", "--batch-size", "2", "--patches-per-image", "2", "--steps", "4",
                   "--checkpoint-every", "2", "--vgg-weights", "none", "--verbose", "0"],
                  run, run / locks.LOCK_NAME),
        "degrade": (["degrade", "--hr-dir", str(hr), "--out", str(tmp_path / "lr"), "--no-progress"],
                    tmp_path / "lr", tmp_path / "lr" / locks.LOCK_NAME),
        "mos prepare": (["mos", "prepare", "--hr-dir", str(hr), "--out", str(study), "--images", "2",
                         "--calibration", "1", "--models", "srfm_mp"],
                        study.parent, study.parent / ".study.srfm.lock"),
    }


@pytest.mark.slow
@pytest.mark.parametrize("command", ["train", "degrade", "mos prepare"])
def test_a_second_writer_is_refused_in_one_line(tmp_path, command):
    args, folder, lock_file = _commands(tmp_path)[command]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    first = subprocess.Popen([*SRFM, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    try:
        _wait_for_lock(first, lock_file)
        first.send_signal(signal.SIGSTOP)  # holds the lock, writes nothing more
        before = _snapshot(folder)
        second = subprocess.run([*SRFM, *args], capture_output=True, text=True, env=env, timeout=300)
        assert second.returncode != 0
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and f"pid {first.pid}" in lines[0], second.stderr
        assert _snapshot(folder) == before
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
        first.stderr.close()
    with locks.hold(folder, name=lock_file.name, create=False):  # released by the kernel
        pass

