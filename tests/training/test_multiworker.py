"""Two worker processes on 127.0.0.1 (TF_CONFIG) train like one process with the same batch.

The one-process reference runs in the test's own process (`multiworker_step.single`) while the
workers run: a TensorFlow start fewer than a third process.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # two worker processes

SCRIPT = Path(__file__).parent / "scripts" / "multiworker_step.py"


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_two_workers_match_single_process(tmp_path, training_script):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("TF_CONFIG", None)
    ports = [str(p) for p in free_ports(2)]
    workers = [
        subprocess.Popen([sys.executable, str(SCRIPT), "worker", str(i), *ports, str(tmp_path)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
        for i in range(2)
    ]
    try:
        training_script("multiworker_step").single(tmp_path)
        outputs = [w.communicate(timeout=240)[0] for w in workers]
    finally:
        for w in workers:  # never leave a worker behind
            if w.poll() is None:
                w.kill()
                w.wait()
    for w, out in zip(workers, outputs):
        assert w.returncode == 0, out[-3000:]
    assert "2 replicas, custom loop" in outputs[0]
    w0, w1, one = (np.load(tmp_path / f"{n}.npz") for n in ("worker0", "worker1", "single"))
    assert len(w0.files) == len(one.files)
    for key in one.files:
        np.testing.assert_array_equal(w0[key], w1[key])  # replicas stay in lockstep
        np.testing.assert_allclose(w0[key], one[key], atol=2e-5, rtol=1e-4)
    # Chief-only writing: one checkpoint folder, one history, the exported generator.
    run_dir = tmp_path / "run"
    assert (run_dir / "generator.keras").exists()
    assert len((run_dir / "history.csv").read_text().strip().splitlines()) == 3
    assert sorted(p.name for p in (run_dir / "checkpoints").glob("ckpt-*.index")) == ["ckpt-1.index", "ckpt-2.index"]
