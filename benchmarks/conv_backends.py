"""Why the JAX step is slower than TensorFlow's on a CPU: one convolution, three ways (issue 26).

Times the three convolutions of a training update, forward, gradient to the input and gradient
to the kernel, for layer shapes of the paper-size networks (NHWC, float32), on TensorFlow's
own kernels (oneDNN), TensorFlow with XLA (`jit_compile=True`) and JAX (XLA CPU), all in one
process and interleaved round by round, so that load from other work hits all alike.

Usage:
    python benchmarks/conv_backends.py [--rounds 5]
    XLA_FLAGS=... python benchmarks/conv_backends.py      # an XLA CPU flag's effect
Writes benchmarks/results/conv_backends.json and .md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# (name, batch, H, W, C_in, C_out, kernel, stride): a generator body conv (LR 24x24), the
# generator's first x2 stage, a discriminator 3x3/1 and a 4x4/2 conv on [HR; SR], VGG block2.
SHAPES = (
    ("G body 3x3 64->64 @24", 16, 24, 24, 64, 64, 3, 1),
    ("G up 3x3 64->256 @48", 16, 48, 48, 64, 256, 3, 1),
    ("D 3x3 64->128 @48", 32, 48, 48, 64, 128, 3, 1),
    ("D 4x4/2 128->128 @48", 32, 48, 48, 128, 128, 4, 2),
    ("VGG 3x3 128->128 @48", 16, 48, 48, 128, 128, 3, 1),
)


def functions(shape: tuple) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np
    import tensorflow as tf

    _, n, h, w, cin, cout, k, s = shape
    rng = np.random.default_rng(0)
    x = rng.random((n, h, w, cin), dtype=np.float32)
    kern = rng.random((k, k, cin, cout), dtype=np.float32) * 0.01
    tx, tk = tf.constant(x), tf.constant(kern)
    jx, jk = jnp.asarray(x), jnp.asarray(kern)

    def tf_loss(a, b):
        return tf.reduce_sum(tf.nn.conv2d(a, b, s, "SAME"))

    def tf_fwd(a, b):
        return tf.nn.conv2d(a, b, s, "SAME")

    def tf_dx(a, b):
        with tf.GradientTape() as tape:
            tape.watch(a)
            loss = tf_loss(a, b)
        return tape.gradient(loss, a)

    def tf_dk(a, b):
        with tf.GradientTape() as tape:
            tape.watch(b)
            loss = tf_loss(a, b)
        return tape.gradient(loss, b)

    dn = ("NHWC", "HWIO", "NHWC")

    def j_fwd(a, b):
        return jax.lax.conv_general_dilated(a, b, (s, s), "SAME", dimension_numbers=dn)

    def j_loss(a, b):
        return jnp.sum(j_fwd(a, b))

    found = {}
    for op, tf_f, j_f in (("fwd", tf_fwd, j_fwd), ("d input", tf_dx, jax.grad(j_loss, 0)),
                          ("d kernel", tf_dk, jax.grad(j_loss, 1))):
        plain, xla, jitted = tf.function(tf_f), tf.function(tf_f, jit_compile=True), jax.jit(j_f)
        found[(op, "TF oneDNN")] = lambda f=plain: f(tx, tk).numpy()
        found[(op, "TF XLA")] = lambda f=xla: f(tx, tk).numpy()
        found[(op, "JAX XLA")] = lambda f=jitted: np.asarray(f(jx, jk))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--output-dir", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    from keras_srfm.imaging.atomic import atomic_write, write_json
    from keras_srfm.training import precision

    table = {}
    load = [os.getloadavg()[0]]
    for shape in SHAPES:
        fns = functions(shape)
        for f in fns.values():
            f()
        times = {key: [] for key in fns}
        for _ in range(args.rounds):
            for key, f in fns.items():
                start = time.perf_counter()
                f()
                times[key].append(time.perf_counter() - start)
        table[shape[0]] = {f"{op} | {how}": statistics.median(t) for (op, how), t in times.items()}
    load.append(os.getloadavg()[0])
    hw = precision.detect()
    lines = ["# One convolution on TensorFlow (oneDNN), TensorFlow XLA and JAX (XLA CPU)", "",
             f"CPU: {hw.cpu_model}, {len(os.sched_getaffinity(0))} cores; flags: {' '.join(hw.cpu_flags)}",
             f"XLA_FLAGS: `{os.environ.get('XLA_FLAGS', '')}`; 1-min load average {load[0]:.2f} -> {load[1]:.2f}; "
             f"median ms of {args.rounds} interleaved rounds; NHWC float32.", "",
             "| layer | op | TF oneDNN ms | TF XLA ms | JAX XLA ms | JAX / TF oneDNN |", "|---|---|---|---|---|---|"]
    for name, row in table.items():
        for op in ("fwd", "d input", "d kernel"):
            a, b, c = (row[f"{op} | {how}"] * 1e3 for how in ("TF oneDNN", "TF XLA", "JAX XLA"))
            lines.append(f"| {name} | {op} | {a:.1f} | {b:.1f} | {c:.1f} | {c / a:.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    suffix = "_flags" if os.environ.get("XLA_FLAGS") else ""
    write_json(args.output_dir / f"conv_backends{suffix}.json",
               {"cpu_model": hw.cpu_model, "cpu_flags": hw.cpu_flags, "xla_flags": os.environ.get("XLA_FLAGS", ""),
                "load_average": load, "rounds": args.rounds, "median_s": table})
    atomic_write(args.output_dir / f"conv_backends{suffix}.md", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
