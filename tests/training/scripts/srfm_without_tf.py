"""`srfm` with TensorFlow (and TFDS) hidden, as on the lent GPU machines: python srfm_without_tf.py ARGS..."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from sgd_step import HideTensorFlow  # noqa: E402

sys.meta_path.insert(0, HideTensorFlow())
runpy.run_module("keras_srfm.cli", run_name="__main__")
