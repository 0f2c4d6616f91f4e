"""`srfm upscale` as a real process, killed by real signals while it writes an output.

The input is an 800x800 noise image and the model `nearest`, so the x4 PNG (3200x3200, about
30 MB raw, incompressible) takes a second or more to encode: the test waits until the hidden
`.part` temp file exists and then sends the signal, so the signal lands during the write.
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

SRFM = [sys.executable, "-c", "import sys; from keras_srfm.cli import main; sys.exit(main())"]


def _inputs(folder: Path) -> list[Path]:
    folder.mkdir()
    rng = np.random.default_rng(0)
    big = folder / "a_big.png"
    Image.fromarray(rng.integers(0, 256, (800, 800, 3), dtype=np.uint8)).save(big)
    small = folder / "b_small.png"
    Image.fromarray(rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)).save(small)
    return [big, small]


def _parts(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob(".*.part"))


def _upscale(inputs: list[Path], out: Path) -> list[str]:
    return [*SRFM, "upscale", *map(str, inputs), "-o", str(out), "--model", "nearest", "-q"]


def _signal_during_write(inputs: list[Path], out: Path, signum: int) -> subprocess.CompletedProcess:
    """Starts `srfm upscale`, sends `signum` once a `.part` file exists, waits for the exit."""
    proc = subprocess.Popen(_upscale(inputs, out), stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not _parts(out):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"no .part file seen before the process ended: {proc.communicate()[1]}")
        time.sleep(0.002)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, "", err)


@pytest.mark.slow
def test_sigkill_during_a_write_leaves_a_part_file_that_the_next_run_removes(tmp_path: Path):
    inputs, out = _inputs(tmp_path / "in"), tmp_path / "out"
    killed = _signal_during_write(inputs, out, signal.SIGKILL)
    assert killed.returncode == -signal.SIGKILL
    left = _parts(out)  # nothing can clean up after SIGKILL ...
    assert len(left) == 1 and left[0].startswith(".a_big_x4.png.srfm-")
    assert not (out / "a_big_x4.png").exists()  # ... but no truncated output either
    rerun = subprocess.run(_upscale(inputs, out), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert "removed 1 partial file(s)" in rerun.stderr
    assert _parts(out) == []  # ... the next run removes it
    for path in inputs:
        with Image.open(out / f"{path.stem}_x4.png") as img, Image.open(path) as src:
            assert img.size == (4 * src.width, 4 * src.height)


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_sigterm_and_sigint_during_a_write_remove_the_part_file(tmp_path: Path, signum, status):
    inputs, out = _inputs(tmp_path / "in"), tmp_path / "out"
    result = _signal_during_write(inputs, out, signum)
    assert result.returncode == status, result.stderr
    assert _parts(out) == [] and os.listdir(out) == []  # no temp file, no half output
    assert "Traceback" not in result.stderr
    assert ("terminated" if signum == signal.SIGTERM else "interrupted") in result.stderr
