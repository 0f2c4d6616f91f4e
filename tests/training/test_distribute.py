"""Under MirroredStrategy (2 logical CPUs) one step equals one single-device step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # a process per variant

SCRIPT = Path(__file__).parent / "scripts" / "mirrored_step.py"


@pytest.mark.parametrize("variant", ["pcsva", "p"])
def test_mirrored_step_equals_single_device(variant):
    # A fresh process: logical devices must be configured before TensorFlow starts.
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, str(SCRIPT), variant], capture_output=True, text=True,
                         env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    assert result["moved"] > 1e-6  # the step really changed the weights (SGD, rate 0.1)
    # Loss scaling by the global batch, all-reduce before the softmax and synchronised
    # BatchNorm: any of them wrong moves weights by ~the step itself, not by rounding.
    tol = 1e-4 * result["moved"]  # relative to the step: rounding, not a mis-scaled update
    assert result["generator"] < tol
    assert result["discriminator"] < tol
    assert result["scales"] < 1e-4 * max(1.0, result["moved"])
    single, mirrored = result["logs"]["single"], result["logs"]["mirrored"]
    for key in single:
        assert mirrored[key] == pytest.approx(single[key], rel=1e-4, abs=1e-6), key
