"""Where the time of one full GAN update goes (issue 26), TensorFlow, float32, paper size.

Times, in one process and interleaved round by round (so load hits every part alike), the
pieces of `SRFM.train_step` for batch 16, 24 -> 96, each as its own `tf.function`:

- `G fwd+bwd`: the generator with a pixel loss, forward and weight gradients (the `p` update
  minus Adam);
- `D fwd [HR;SR]`: the discriminator on the 32-image batch, training mode;
- `D fwd+bwd weights`: the same plus Eq. 5's gradients for D's weights (the d tape);
- `D fwd+bwd input`: the same plus the gradient to its input (what the g tape runs through D);
- `D dense1 fwd+bwd`: the 18432 -> 1024 dense layer alone (weights and input gradients);
- `D BatchNorm fwd+bwd`: D's seven BatchNorm layers alone on their input shapes;
- `VGG fwd HR`: VGG19 to block5_conv4 on 16 images (the constant target of Eq. 3);
- `VGG fwd+bwd SR`: the same plus the input gradient (L_vgg's path to G);
- `Adam G`, `Adam D`: one optimizer update of each network's weights;
- `update pcsa`, `update pcsva`: the whole `SRFM.train_step` through Keras' train function.

TensorFlow's kernels are those `srfm train` runs (oneDNN's on x86-64 unless TF_ENABLE_ONEDNN_OPTS
is set: keras_srfm.training.onednn); the report names them.

Usage:
    python benchmarks/profile_gan_step.py [--rounds 3] [--xla]
Writes benchmarks/results/profile_gan_step{_xla}.json and .md.
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


def parts(xla: bool) -> dict:
    import keras
    import tensorflow as tf

    from keras_srfm.models.discriminator import build_discriminator
    from keras_srfm.models.generator import build_generator
    from keras_srfm.models.vgg import build_vgg_features
    from keras_srfm.training import step_bench

    keras.utils.set_random_seed(0)
    lr, hr = (tf.constant(a) for a in step_bench._batch(step_bench.Spec()))
    both = tf.concat([hr, hr], axis=0)
    g, d, vgg = build_generator(), build_discriminator(), build_vgg_features(weights=None, patch_size=96)
    fn = (lambda f: tf.function(f, jit_compile=True)) if xla else tf.function

    @fn
    def g_fwd_bwd():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(g(lr, training=True) - hr))
        return tape.gradient(loss, g.trainable_variables)

    @fn
    def d_fwd():
        return d(both, training=True)["logit"]

    @fn
    def d_bwd_weights():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.nn.softplus(d(both, training=True)["logit"]))
        return tape.gradient(loss, d.trainable_variables)

    @fn
    def d_bwd_input():
        with tf.GradientTape() as tape:
            tape.watch(both)
            out = d(both, training=True)
            loss = tf.reduce_mean(out["logit"]) + sum(tf.reduce_mean(tf.square(out[f"conv{i}"])) for i in range(1, 9))
        return tape.gradient(loss, both)

    dense = d.get_layer("dense1")
    flat = tf.random.uniform((32, dense.kernel.shape[0]))

    @fn
    def dense_fwd_bwd():
        with tf.GradientTape() as tape:
            tape.watch(flat)
            loss = tf.reduce_mean(dense(flat))
        return tape.gradient(loss, [flat, *dense.trainable_variables])

    bns = [layer for layer in d.layers if isinstance(layer, keras.layers.BatchNormalization)]
    bn_inputs = [tf.random.uniform((32, *layer.input.shape[1:])) for layer in bns]

    @fn
    def bn_fwd_bwd():
        with tf.GradientTape() as tape:
            for x in bn_inputs:
                tape.watch(x)
            loss = sum(tf.reduce_mean(bn(x, training=True)) for bn, x in zip(bns, bn_inputs))
        return tape.gradient(loss, bn_inputs)

    @fn
    def vgg_fwd():
        return vgg(hr, training=False)

    @fn
    def vgg_fwd_bwd():
        with tf.GradientTape() as tape:
            tape.watch(hr)
            loss = tf.reduce_mean(tf.square(vgg(hr, training=False)))
        return tape.gradient(loss, hr)

    g_opt, d_opt = keras.optimizers.Adam(1e-4), keras.optimizers.Adam(1e-4)
    g_opt.build(g.trainable_variables)
    d_opt.build(d.trainable_variables)
    g_grads = [tf.zeros_like(v) + 1e-3 for v in g.trainable_variables]
    d_grads = [tf.zeros_like(v) + 1e-3 for v in d.trainable_variables]

    @fn
    def adam_g():
        g_opt.apply_gradients(zip(g_grads, g.trainable_variables))

    @fn
    def adam_d():
        d_opt.apply_gradients(zip(d_grads, d.trainable_variables))

    found = {
        "G fwd+bwd": g_fwd_bwd, "D fwd [HR;SR]": d_fwd, "D fwd+bwd weights": d_bwd_weights,
        "D fwd+bwd input": d_bwd_input, "D dense1 fwd+bwd": dense_fwd_bwd, "D BatchNorm fwd+bwd": bn_fwd_bwd,
        "VGG fwd HR": vgg_fwd, "VGG fwd+bwd SR": vgg_fwd_bwd, "Adam G": adam_g, "Adam D": adam_d,
    }
    for variant in ("pcsa", "pcsva"):
        spec = step_bench.Spec(variant=variant)
        found[f"update {variant}"] = step_bench.tf_update(spec, step_bench.Setting("tensorflow", "off", xla))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--xla", action="store_true")
    args = parser.parse_args()
    from keras_srfm.training import onednn

    kernels = onednn.enable_for_training()  # before TensorFlow loads: the kernels `srfm train` runs
    import tensorflow as tf

    from keras_srfm.imaging.atomic import atomic_write, write_json
    from keras_srfm.training import precision

    pieces = parts(args.xla)

    def run(f):
        out = f()
        tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t, out)

    for f in pieces.values():
        run(f)  # trace / compile
    times = {name: [] for name in pieces}
    load = [os.getloadavg()[0]]
    for _ in range(args.rounds):
        for name, f in pieces.items():
            start = time.perf_counter()
            run(f)
            times[name].append(time.perf_counter() - start)
    load.append(os.getloadavg()[0])
    hardware = precision.detect()
    medians = {name: statistics.median(t) for name, t in times.items()}
    lines = [f"# Where a GAN update's time goes (TensorFlow, float32, XLA {'on' if args.xla else 'off'})", "",
             f"CPU: {hardware.cpu_model}, {len(os.sched_getaffinity(0))} cores; flags: {' '.join(hardware.cpu_flags)}",
             f"1-min load average {load[0]:.2f} -> {load[1]:.2f}; median of {args.rounds} interleaved rounds; "
             "batch 16, 24 -> 96, paper-size networks.", f"{kernels}.", "",
             "| part | median s | share of `pcsva` update |", "|---|---|---|"]
    whole = medians["update pcsva"]
    for name, value in medians.items():
        lines.append(f"| {name} | {value:.3f} | {100 * value / whole:.0f} % |")
    text = "\n".join(lines) + "\n"
    print(text)
    suffix = "_xla" if args.xla else ""
    results = ROOT / "benchmarks" / "results"
    write_json(results / f"profile_gan_step{suffix}.json",
               {"hardware": {"cpu_model": hardware.cpu_model, "cpu_flags": hardware.cpu_flags},
                "load_average": load, "kernels": kernels, "rounds": args.rounds, "xla": args.xla, "times": times, "medians": medians})
    atomic_write(results / f"profile_gan_step{suffix}.md", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
