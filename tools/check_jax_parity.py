"""Checks that the JAX step takes the same update as `SRFM.train_step` (a thin wrapper).

Runs `tests/training/test_jax_parity.py` (one SGD step of p, pcsa, pcsva and the authors' mode on both
backends, compared with TensorFlow eager vs XLA as the noise floor), with the JAX side in
`--jax-python`, e.g. an interpreter that has JAX and Keras but no TensorFlow:

    python tools/check_jax_parity.py --jax-python /path/to/jax-env/bin/python
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--jax-python", default=sys.executable, help="interpreter with JAX + Keras (default: this one)")
    args = p.parse_args()
    env = {**os.environ, "SRFM_JAX_PYTHON": args.jax_python}
    test = str(ROOT / "tests" / "training" / "test_jax_parity.py")
    return subprocess.run([sys.executable, "-m", "pytest", "-q", test], env=env, cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
