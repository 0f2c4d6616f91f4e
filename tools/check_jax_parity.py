"""Checks that tools/train_jax.py takes the same step as `SRFM.train_step`.

Runs one SGD(1.0) step of variant `p` or `pcsa` from identical weights on an identical batch,
once with `SRFM.train_step` on TensorFlow (this interpreter) and once with train_jax's step on
JAX (`--jax-python`, an interpreter with JAX and Keras but possibly no TensorFlow). With a rate
of 1 the weight change *is* the gradient, so the two changes must agree. The batch is cut from
the project's synthetic chart, so no dataset is needed.

    python tools/check_jax_parity.py --jax-python /path/to/jax-env/bin/python --variant pcsa

`--tf-xla` also prints TensorFlow eager against TensorFlow XLA on the same step: the float-noise
floor that the JAX difference should be compared with (BatchNorm on a batch of 8 amplifies it).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def make_batch(work: Path, batch: int = 8) -> None:
    from keras_srfm.demo import render_chart
    from keras_srfm.imresize import imresize

    chart = render_chart(384)
    hrs = [chart[y : y + 96, x : x + 96] for y in (0, 96, 192, 288) for x in (0, 192)][:batch]
    lr = np.stack([imresize(h, 0.25) for h in hrs]).astype("float32") / 255.0
    np.savez(work / "batch.npz", lr=lr, hr=np.stack(hrs).astype("float32") / 255.0)


def tf_side(work: Path, variant: str, xla: bool) -> tuple[int, list[np.ndarray]]:
    """Builds and saves the networks; returns (number of G variables, weight changes of one TF step)."""
    import keras
    import tensorflow as tf

    from keras_srfm import SRFM, build_discriminator, build_generator

    keras.utils.set_random_seed(1)
    g = build_generator(num_blocks=2, filters=8)
    d = build_discriminator(sync_batchnorm=False)
    if not (work / "g.keras").exists():
        g.save(work / "g.keras")
        d.save_weights(work / "d.weights.h5")
    g = keras.saving.load_model(work / "g.keras")
    d.load_weights(work / "d.weights.h5")
    model = SRFM(g, d if variant != "p" else None, variant=variant)
    model.compile(g_optimizer=keras.optimizers.SGD(1.0), d_optimizer=keras.optimizers.SGD(1.0))
    variables = g.trainable_variables + (d.trainable_variables if variant != "p" else [])
    before = [v.numpy().copy() for v in variables]
    batch = np.load(work / "batch.npz")
    step = tf.function(model.train_step, jit_compile=True) if xla else model.train_step
    step((tf.constant(batch["lr"]), tf.constant(batch["hr"])))
    return len(g.trainable_variables), [b - v.numpy() for b, v in zip(before, variables)]


def jax_side(work: Path, variant: str) -> None:
    """Runs in the JAX interpreter: one train_jax step, weight changes saved to jax_delta.npz."""
    os.environ["KERAS_BACKEND"] = "jax"
    sys.path[:0] = [str(ROOT), str(ROOT / "tools")]
    import jax.numpy as jnp
    import keras
    import train_jax

    from keras_srfm.models.discriminator import build_discriminator

    batch = np.load(work / "batch.npz")
    lr, hr = jnp.asarray(batch["lr"]), jnp.asarray(batch["hr"])
    train_jax.sample_batch = lambda key, pool_lr, pool_hr, n: (lr, hr)  # the fixed batch
    g = keras.saving.load_model(work / "g.keras")
    d = None
    if variant != "p":
        d = build_discriminator(sync_batchnorm=False)
        d.load_weights(work / "d.weights.h5")
    g_opt = keras.optimizers.SGD(1.0)
    g_opt.build(g.trainable_variables)
    d_opt = None
    if d is not None:
        d_opt = keras.optimizers.SGD(1.0)
        d_opt.build(d.trainable_variables)
    state = train_jax.initial_state(g, d, g_opt, d_opt, seed=0)
    loss_fn = train_jax.make_losses(g, d, variant)
    if d is not None:  # calibrate on the same batch, as SRFM does on its first step
        train_jax.calibrate(state, loss_fn, lr, hr)
    before = [np.asarray(v) for v in state["g_tv"] + state["d_tv"]]
    state = train_jax.make_step(loss_fn, g_opt, d_opt, len(batch["lr"]))(state, jnp.zeros(1), jnp.zeros(1))
    after = [np.asarray(v) for v in state["g_tv"] + state["d_tv"]]
    np.savez(work / "jax_delta.npz", *[b - a for b, a in zip(before, after)])


def relative_l2(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    """||a - b|| / ||b|| over all the arrays together.

    Not a per-weight maximum: the biases of convs followed by BatchNorm have a gradient that is
    mathematically zero, so theirs is pure float noise and a per-weight ratio is meaningless.
    """
    diff = sum(float(np.sum((x - y) ** 2)) for x, y in zip(a, b))
    return (diff / sum(float(np.sum(y**2)) for y in b)) ** 0.5


def report(name: str, n_g: int, a: list[np.ndarray], b: list[np.ndarray]) -> None:
    line = f"{name}: generator {relative_l2(a[:n_g], b[:n_g]):.2e}"
    if len(b) > n_g:
        line += f", discriminator {relative_l2(a[n_g:], b[n_g:]):.2e}"
    print(line + " (relative L2 of the weight changes)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variant", choices=("p", "pcsa"), default="pcsa")
    p.add_argument("--jax-python", help="interpreter with JAX + Keras")
    p.add_argument("--tf-xla", action="store_true", help="also print TF eager vs TF XLA")
    p.add_argument("--jax-side", metavar="WORK", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.jax_side:
        jax_side(Path(args.jax_side), args.variant)
        return
    if not args.jax_python:
        p.error("--jax-python is required")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        make_batch(work)
        n_g, tf_delta = tf_side(work, args.variant, xla=False)
        subprocess.run([args.jax_python, __file__, "--variant", args.variant, "--jax-side", tmp], check=True)
        jax_file = np.load(work / "jax_delta.npz")
        jax_delta = [jax_file[f"arr_{i}"] for i in range(len(jax_file.files))]
        if len(jax_delta) != len(tf_delta):
            sys.exit(f"variable counts differ: TF {len(tf_delta)}, JAX {len(jax_delta)}")
        report(f"{args.variant}, TF vs JAX", n_g, jax_delta, tf_delta)
        if args.tf_xla:
            report(f"{args.variant}, TF eager vs TF XLA", n_g, tf_side(work, args.variant, xla=True)[1], tf_delta)


if __name__ == "__main__":
    main()
