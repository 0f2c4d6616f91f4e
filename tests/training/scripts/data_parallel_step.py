"""One SGD(1.0) `JaxSRFM.step` on 1 device and on every device, same weights, same global batch.

Run with `KERAS_BACKEND=jax XLA_FLAGS=--xla_force_host_platform_device_count=2` (two CPU
devices) by the `jax_sgd_steps` fixture (tests/training/conftest.py):

    python tests/training/scripts/data_parallel_step.py WORK CASE [CASE ...]

For each case (`sgd_step.CASES`: tiny networks) it writes `WORK/CASE/parallel.npz`: the weight
changes of both runs (`one_<i>`, `all_<i>`), Eq. 7's scales of both, the logged values of both,
and how many devices "all" used; and `WORK/CASE/jax.npz`, the one-device step as
tests/training/test_jax_parity.py compares it with TensorFlow's (`delta_<i>`, `scales`). With a
rate of 1 the weight change is the gradient. The cases' weights are drawn here on the first run
and saved under `WORK/CASE` (`sgd_step.build`); the TensorFlow side loads them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

import sgd_step  # noqa: E402


def run(case: str, work: Path) -> None:
    import jax
    import keras

    from keras_srfm.training.jax_devices import placement
    from keras_srfm.training.jax_step import JaxSRFM

    batch = np.load(work / "batch.npz")
    out: dict[str, np.ndarray] = {}
    for name, devices in (("one", jax.devices()[:1]), ("all", jax.devices())):
        config, g, d, vgg = sgd_step.build(case, work)
        trainer = JaxSRFM(g, d, vgg, config, keras.optimizers.SGD(1.0), keras.optimizers.SGD(1.0) if d else None)
        where = placement(devices)
        state = where.put_state(trainer.initial_state())
        before = [np.asarray(v) for v in state["g_tv"] + state["d_tv"]]
        step = jax.jit(trainer.step, out_shardings=where.replicated)
        state, logs = step(state, where.put_batch(batch["lr"]), where.put_batch(batch["hr"]))
        after = [np.asarray(v) for v in state["g_tv"] + state["d_tv"]]
        out.update({f"{name}_{i}": b - a for i, (b, a) in enumerate(zip(before, after))})
        out[f"{name}_scales"] = np.asarray(state["scales"])
        out.update({f"{name}_log_{k}": np.asarray(v) for k, v in logs.items()})
        out[f"{name}_devices"] = np.asarray(where.devices)
        out[f"{name}_input_shards"] = np.asarray(len(where.put_batch(batch["hr"]).addressable_shards))
    np.savez(work / case / "parallel.npz", **out)
    count = len([k for k in out if k.startswith("one_") and k[4:].isdigit()])
    np.savez(work / case / "jax.npz", scales=out["one_scales"], **{f"delta_{i}": out[f"one_{i}"] for i in range(count)})


def main() -> None:
    sys.meta_path.insert(0, sgd_step.HideTensorFlow())
    if os.environ.get("KERAS_BACKEND") != "jax":
        sys.exit("run with KERAS_BACKEND=jax")
    work = Path(sys.argv[1])
    for case in sys.argv[2:]:
        run(case, work)


if __name__ == "__main__":
    main()
