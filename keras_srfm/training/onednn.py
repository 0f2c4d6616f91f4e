"""Which TensorFlow CPU kernels a training run uses: oneDNN's custom operations, on x86-64.

TensorFlow's x86-64 wheels carry two sets of CPU kernels: Eigen's, and oneDNN's custom
operations (fused convolution + bias + activation, blocked layouts). TensorFlow turns oneDNN's on
by default only on CPUs with AVX-512 VNNI / BF16 or AMX; elsewhere (e.g. an AMD EPYC with AVX2
only) it runs Eigen's. The switch is the environment variable `TF_ENABLE_ONEDNN_OPTS`, read when
TensorFlow is imported (setting it later has no effect on the graph passes: measured).

Measured (issue 26; 2-core AMD EPYC, AVX2 only, TensorFlow 2.21, float32, XLA off, batch 16,
24 -> 96, paper-size networks, median s per update, each setting in its own process, stepped in
lockstep on a quiet machine: `benchmarks/speed_table.py`): the `pcsva` update 9.25 s with Eigen,
5.84 s with oneDNN (1.58x; PyTorch's SRGAN step 7.64 s); `pcsa` 6.36 and 3.54 s (1.8x); `p` 1.32
and 1.15 s (1.15x). So `srfm train` on the TensorFlow backend turns oneDNN on where TensorFlow
left the choice open: x86-64, `TF_ENABLE_ONEDNN_OPTS` unset, TensorFlow not imported yet. A value
you set wins (`TF_ENABLE_ONEDNN_OPTS=0` gives Eigen's kernels back).

Inference is the other way round on that CPU: the `srfm_mp` generator on a 256 -> 1024 image took
2.14 s with Eigen and 5.04 s with oneDNN (`srfm bench --variants keras`), so `srfm upscale`,
`srfm evaluate` and the rest keep TensorFlow's own default. Both kernel sets are tested:
`.ci/run` runs the suite with oneDNN on and the numeric tests again with it off.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import MutableMapping

VARIABLE = "TF_ENABLE_ONEDNN_OPTS"
# Machines whose TensorFlow wheels carry oneDNN's custom operations (platform.machine() names).
X86_64 = ("x86_64", "AMD64")


def enable_for_training(environ: MutableMapping[str, str] | None = None, machine: str | None = None,
                        tensorflow_imported: bool | None = None) -> str:
    """Turns oneDNN's custom operations on for a training run where nobody chose; says what it did.

    Sets `TF_ENABLE_ONEDNN_OPTS=1` in `environ` (which child processes inherit) only when the
    machine is x86-64, the variable is unset and TensorFlow is not imported yet (later, the
    variable would reach child processes but not this one's kernels).

    Args:
        environ: the environment to change. Defaults to `os.environ`.
        machine: `platform.machine()` of the host. Defaults to this one's.
        tensorflow_imported: whether this process has imported TensorFlow. Defaults to
            `"tensorflow" in sys.modules`.

    Returns:
        str. One line for the run's log: the kernels the run uses and why.
    """
    environ = os.environ if environ is None else environ
    machine = platform.machine() if machine is None else machine
    imported = "tensorflow" in sys.modules if tensorflow_imported is None else tensorflow_imported
    if environ.get(VARIABLE, "").strip():
        return f"TensorFlow kernels: {VARIABLE}={environ[VARIABLE].strip()}, as set"
    if machine not in X86_64:
        return f"TensorFlow kernels: TensorFlow's default on {machine or 'this machine'} (oneDNN switch left alone)"
    if imported:
        return (f"TensorFlow kernels: TensorFlow's default (it was imported before {VARIABLE} could be "
                "set; set it before importing TensorFlow to choose)")
    environ[VARIABLE] = "1"
    return (f"TensorFlow kernels: oneDNN's custom operations ({VARIABLE}=1: 1.15-1.8x faster updates "
            f"measured on an AVX2 CPU; {VARIABLE}=0 gives Eigen's)")
