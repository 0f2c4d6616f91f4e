"""The JAX process that tests/training/test_jax_parity.py and test_jax_data_parallel.py share."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).parent / "scripts"

# Both files mark themselves `pytest.mark.xdist_group("jax_sgd_steps")` (README: `--dist
# loadgroup`), so one worker runs them and the session fixture below runs once, not once per file
# or worker.


@pytest.fixture(scope="session")
def jax_sgd_steps(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SGD(1.0) `JaxSRFM.step` per `sgd_step.CASES` case on one CPU device and on two.

    One process (`scripts/data_parallel_step.py`, TensorFlow hidden, two host devices) writes
    `WORK/CASE/parallel.npz` for the data-parallel test and `WORK/CASE/jax.npz` (the one-device
    step) for the parity test; the parity test had a JAX process of its own that compiled the
    same one-device steps again. `SRFM_JAX_PYTHON` may name another interpreter for it (e.g. a
    JAX-only environment). Returns WORK, which also holds the batch and the cases' weights.
    """
    sys.path.insert(0, str(SCRIPTS))
    import sgd_step

    work = tmp_path_factory.mktemp("jax_sgd_steps")
    sgd_step.make_batch(work / "batch.npz")
    python = os.environ.get("SRFM_JAX_PYTHON", sys.executable)
    out = subprocess.run([python, str(SCRIPTS / "data_parallel_step.py"), str(work), *sgd_step.CASES],
                         capture_output=True, text=True, env=sgd_step.jax_env(devices=2), timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    return work
