"""The JAX step and `SRFM.train_step` take the same update (one objective, two backends).

One SGD(1.0) step from identical weights on an identical batch, for `p`, `pcsa`, `pcsva` (a
small VGG19 with random weights) and the authors' content mode: with a rate of 1 the weight
change is the gradient, so the changes must agree up to float rounding. A process has one
Keras backend, so the JAX side runs in a subprocess (`KERAS_BACKEND=jax`, TensorFlow hidden):
the one-device steps of tests/training/test_jax_data_parallel.py's process (the `jax_sgd_steps`
fixture of tests/training/conftest.py; `SRFM_JAX_PYTHON` may name its interpreter).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")
pytest.importorskip("jax")

from keras_srfm import SRFM  # noqa: E402

SCRIPT = Path(__file__).parent / "scripts" / "sgd_step.py"
_spec = importlib.util.spec_from_file_location("sgd_step", SCRIPT)
sgd_step = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sgd_step)

# The noise floor: TensorFlow against itself on this test's networks and batch, as the relative
# L2 of the weight changes (`sgd_step.relative_l2`), measured on an Intel Xeon (AVX-512/AMX),
# TF 2.21, JAX 0.10.2 (docs/training.md has the table). Eager vs XLA (jit_compile) reached
# 1.96e-5 (pcsva's generator; 2.1e-6 pcsa, 4.5e-6 authors, 6e-8 p) and oneDNN on vs off 9.0e-6.
# TensorFlow vs JAX measured 1.4e-6 (p), 2.4e-6 (pcsa), 2.0e-5 (pcsva), 2.6e-6 (authors): the
# same order, and for p (no BatchNorm, where XLA happened to sum like eager) still 14x below the
# floor. One tolerance for all cases: twice the largest floor. A wrong objective misses it by
# orders of magnitude (`test_a_wrong_objective_is_far_outside_the_tolerance`).
# The JAX side compiles at XLA -O0 (`sgd_step.FAST_XLA_FLAGS`: its subprocess 123 s -> 48 s); it is
# now data_parallel_step.py's one-device step (the same `JaxSRFM.step`, placed on one device),
# which also draws the weights: measured then on the same kind of EPYC, generator 6.4e-7 (p),
# 1.7e-6 (pcsa), 6.8e-6 (pcsva), 9.6e-7 (authors); discriminators 1.0e-6; scales 2.6e-7 relative.
# TensorFlow vs JAX re-measured on a 2-core AMD EPYC (AVX2), generator at the default level /
# at -O0: 1.4e-6 / 1.4e-6 (p), 1.9e-6 / 1.5e-6 (pcsa), 1.6e-5 / 9.2e-6 (pcsva), 3.9e-6 / 3.3e-6
# (authors); discriminators 1.8e-6 / 1.9e-6; Eq. 7's scales at most 2.6e-7 / 3.9e-7 relative.
NOISE_FLOOR = 1.96e-5
TOLERANCE = 2 * NOISE_FLOOR


def tf_step(case: str, work: Path, xla: bool = False) -> tuple[int, list[np.ndarray], np.ndarray]:
    """(number of G variables, weight changes of one TF step, Eq. 7 scales after it)."""
    config, g, d, vgg = sgd_step.build(case, work)
    model = SRFM(g, d, vgg, loss_config=config)
    model.compile(g_optimizer=keras.optimizers.SGD(1.0), d_optimizer=keras.optimizers.SGD(1.0) if d else None)
    variables = g.trainable_variables + (d.trainable_variables if d is not None else [])
    before = [v.numpy().copy() for v in variables]
    batch = np.load(work / "batch.npz")
    step = tf.function(model.train_step, jit_compile=True) if xla else model.train_step
    step((tf.constant(batch["lr"]), tf.constant(batch["hr"])))
    deltas = [b - v.numpy() for b, v in zip(before, variables)]
    return len(g.trainable_variables), deltas, model.content_scales.numpy()


# One xdist worker runs this file and test_jax_data_parallel.py (README: `--dist loadgroup`):
# their JAX process (`jax_sgd_steps`) runs once, not once per file or worker.
pytestmark = pytest.mark.xdist_group("jax_sgd_steps")


@pytest.fixture(scope="module")
def steps(jax_sgd_steps: Path) -> dict:
    """The JAX steps of every case (one process, shared), then the TF steps from the same weights."""
    return {"work": jax_sgd_steps, "tf": {case: tf_step(case, jax_sgd_steps) for case in sgd_step.CASES}}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(sgd_step.CASES))
def test_jax_step_equals_tf_step(case: str, steps: dict) -> None:
    n_g, tf_deltas, tf_scales = steps["tf"][case]
    saved = np.load(steps["work"] / case / "jax.npz")
    jax_deltas = [saved[f"delta_{i}"] for i in range(len(tf_deltas))]
    assert len(saved.files) == len(tf_deltas) + 1  # same variables on both sides
    assert all(np.isfinite(x).all() for x in tf_deltas) and sum(float(np.sum(x**2)) for x in tf_deltas) > 0
    assert sgd_step.relative_l2(jax_deltas[:n_g], tf_deltas[:n_g]) < TOLERANCE, "generator"
    if len(tf_deltas) > n_g:
        assert sgd_step.relative_l2(jax_deltas[n_g:], tf_deltas[n_g:]) < TOLERANCE, "discriminator"
    # Eq. 7's rescale, calibrated on this batch (all ones where the variant does not rescale).
    np.testing.assert_allclose(saved["scales"], tf_scales, rtol=1e-5)


@pytest.mark.slow
def test_a_wrong_objective_is_far_outside_the_tolerance(steps: dict) -> None:
    """The tolerance discriminates: dropping L_adv's weight to 0 moves pcsa's G update by far more."""
    import dataclasses

    n_g, reference, _ = steps["tf"]["pcsa"]
    config, g, d, vgg = sgd_step.build("pcsa", steps["work"])
    model = SRFM(g, d, vgg, loss_config=dataclasses.replace(config, lambda_adv=0.0))
    model.compile(g_optimizer=keras.optimizers.SGD(1.0), d_optimizer=keras.optimizers.SGD(1.0))
    before = [v.numpy().copy() for v in g.trainable_variables]
    batch = np.load(steps["work"] / "batch.npz")
    model.train_step((tf.constant(batch["lr"]), tf.constant(batch["hr"])))
    wrong = [b - v.numpy() for b, v in zip(before, g.trainable_variables)]
    assert sgd_step.relative_l2(wrong, reference[:n_g]) > 100 * TOLERANCE


@pytest.mark.slow
def test_srfm_train_backend_jax_runs_without_tensorflow(tmp_path, write_stripes) -> None:
    """`srfm train --config RECIPE` with a JAX recipe trains (with a learning curve) where only JAX
    is installed, as on the lent GPU machines: TensorFlow is hidden from the process, and
    KERAS_BACKEND is unset (the recipe's backend selects it)."""
    root = Path(__file__).resolve().parents[2]
    folder = write_stripes(tmp_path / "hr")
    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps({"phases": [{"name": "gpu", "srfm_train": [{
        "train": {"backend": "jax", "variant": "pcsa", "checkpoint_every": 2, "steps": 2},
        "data": {"sources": [str(folder)], "batch_size": 2, "lr_patch": 12},
        "generator": {"num_blocks": 1, "filters": 8}, "bench_dir": str(folder)}]}]}))
    code = (
        f"import sys; sys.path[:0] = [{str(SCRIPT.parent)!r}, {str(root)!r}]\n"
        "from sgd_step import HideTensorFlow; sys.meta_path.insert(0, HideTensorFlow())\n"
        "from keras_srfm.cli import main\n"
        f"sys.exit(main(['train', '--config', {str(recipe)!r}, '--run-dir', {str(tmp_path / 'run')!r}]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env=sgd_step.jax_env(keras_backend=None))
    assert out.returncode == 0, out.stderr[-3000:]
    assert "tensorflow" not in out.stderr.lower()
    assert (tmp_path / "run" / "generator.keras").is_file() and (tmp_path / "run" / "curve.csv").is_file()
