"""Benchmark: seconds per training step of SRFM (issue #2), with and without XLA.

One step = `SRFM.train_step` through `model.fit` on a repeated in-memory batch: batch 16, LR
24x24 -> HR 96x96, the paper-size networks (Sec. III-A: generator with 16 blocks and 64
filters, the 8-conv discriminator, VGG19 up to block5_conv4 for L_vgg). VGG19 gets random
weights (`weights=None`): ImageNet weights cannot be downloaded here and cost the same.

Each configuration (variant x XLA) runs in its own subprocess, so its peak RSS
(`getrusage(RUSAGE_SELF).ru_maxrss` in the child) is its own. Warm-up steps (tracing, XLA
compilation) are excluded from the median and reported separately.

Usage:
    python benchmarks/train_step.py [--variants p pcsva] [--warmup 2] [--steps 5] [--xla both]

Writes benchmarks/results/train_step.json and benchmarks/results/train_step.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
BATCH, LR_SIZE, SCALE = 16, 24, 4
NOTE = (
    "A load average well above 0 means other work shared the CPU while this ran, and the "
    "absolute times are pessimistic; compare rows of one run."
)


# === Child: one configuration ===


def measure(variant: str, xla: bool, warmup: int, steps: int, seed: int = 0) -> dict:
    """Builds the paper-size SRFM for `variant`, runs warmup + steps, returns timings and RSS."""
    import resource

    import keras
    import numpy as np
    import tensorflow as tf

    from keras_srfm.config import loss_config_for
    from keras_srfm.models.discriminator import build_discriminator
    from keras_srfm.models.generator import build_generator
    from keras_srfm.models.vgg import build_vgg_features
    from keras_srfm.training.tf_step import SRFM

    keras.utils.set_random_seed(seed)
    cfg = loss_config_for(variant)
    hr_size = LR_SIZE * SCALE
    start = time.perf_counter()
    discriminator = build_discriminator() if cfg.needs_discriminator else None
    vgg = build_vgg_features(weights=None, patch_size=hr_size) if cfg.use_vgg else None
    model = SRFM(build_generator(), discriminator, vgg, loss_config=cfg)
    model.compile(
        g_optimizer=keras.optimizers.Adam(1e-4),
        d_optimizer=keras.optimizers.Adam(1e-4) if discriminator is not None else None,
        jit_compile=xla,  # explicit: Keras' "auto" means False on a CPU-only machine
    )
    build_s = time.perf_counter() - start
    rng = np.random.default_rng(seed)
    lr = rng.random((BATCH, LR_SIZE, LR_SIZE, 3), dtype=np.float32)
    hr = rng.random((BATCH, hr_size, hr_size, 3), dtype=np.float32)
    dataset = tf.data.Dataset.from_tensors((lr, hr)).repeat()

    class StepTimer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.times: list[float] = []

        def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
            self._start = time.perf_counter()

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            self.times.append(time.perf_counter() - self._start)

    timer = StepTimer()
    model.fit(dataset, steps_per_epoch=warmup + steps, epochs=1, verbose=0, callbacks=[timer])
    timed = timer.times[warmup:]
    return {
        "variant": variant,
        "xla": xla,
        "median_s": statistics.median(timed),
        "min_s": min(timed),
        "max_s": max(timed),
        "warmup_s": timer.times[:warmup],
        "step_s": timed,
        "build_s": build_s,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "generator_params": int(model.generator.count_params()),
        "discriminator_params": int(discriminator.count_params()) if discriminator else 0,
    }


# === Parent: every configuration, report ===


def run_child(variant: str, xla: bool, warmup: int, steps: int) -> dict:
    command = [
        sys.executable,
        __file__,
        "--child",
        json.dumps({"variant": variant, "xla": xla, "warmup": warmup, "steps": steps}),
    ]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        return {"variant": variant, "xla": xla, "error": " | ".join(tail)}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["wall_s"] = time.perf_counter() - start
    return result


def machine_info() -> dict:
    import keras
    import tensorflow as tf

    from keras_srfm.training.precision import detect

    hardware = detect()
    return {
        "cpu_model": hardware.cpu_model,
        "cpu_flags": list(hardware.cpu_flags),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "load_average_start": [round(v, 2) for v in os.getloadavg()],
    }


def markdown(document: dict) -> str:
    info, args = document["machine"], document["settings"]
    lines = [
        "# SRFM training-step time",
        "",
        f"Machine: {info.get('cpu_model', info['machine'])}, {info['cpu_count']} CPU cores, "
        f"TensorFlow {info['tensorflow']}, "
        f"Keras {info['keras']}; 1-min load average {info['load_average_start'][0]} at the start "
        f"and {info['load_average_end'][0]} at the end. {NOTE}",
        "",
        f"CPU flags: {' '.join(info.get('cpu_flags', [])) or 'not recorded'}",
        "",
        f"One step = `SRFM.train_step` via `model.fit`: batch {BATCH}, LR {LR_SIZE}x{LR_SIZE} -> "
        f"HR {LR_SIZE * SCALE}x{LR_SIZE * SCALE}, paper-size generator (16 blocks, 64 filters), "
        "discriminator (8 convs) and VGG19 (random weights, same cost as ImageNet ones) where the "
        f"variant needs them. Median over {args['steps']} steps after {args['warmup']} warm-up "
        "steps; the first step includes tracing (and XLA compilation). Peak RSS of the "
        "configuration's own process.",
        "",
        "| Variant | XLA | Median s / step | Min - max s | First step s | Peak RSS MiB |",
        "|---|---|---|---|---|---|",
    ]
    for row in document["results"]:
        xla = "yes" if row["xla"] else "no"
        if "error" in row:
            lines.append(f"| {row['variant']} | {xla} | failed: {row['error']} | | | |")
            continue
        lines.append(
            f"| {row['variant']} | {xla} | {row['median_s']:.2f} | {row['min_s']:.2f} - "
            f"{row['max_s']:.2f} | {row['warmup_s'][0]:.1f} | {row['peak_rss_mib']:.0f} |"
        )
    lines += [
        "",
        "Reference: an unoptimised plain-Keras SRGAN step of this size takes about 7-8 s on "
        "this 2-core CPU.",
        "",
        "Reproduce: `python benchmarks/train_step.py "
        f"--variants {' '.join(args['variants'])} --warmup {args['warmup']} --steps {args['steps']}`",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="+", default=["p", "pcsva"])
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps (default: 2)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps (default: 5)")
    parser.add_argument("--xla", choices=("both", "on", "off"), default="both")
    parser.add_argument("--output-dir", type=Path, default=RESULTS)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(**json.loads(args.child))))
        return 0
    if args.warmup < 1 or args.steps < 1:
        raise SystemExit(
            f"--warmup and --steps must be >= 1. Received: {args.warmup}, {args.steps}"
        )
    from keras_srfm.config import VARIANTS

    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variants {unknown}; choose from {sorted(VARIANTS)}")
    info = machine_info()
    xla_modes = {"both": (False, True), "on": (True,), "off": (False,)}[args.xla]
    results = []
    for variant in args.variants:
        for xla in xla_modes:
            row = run_child(variant, xla, args.warmup, args.steps)
            results.append(row)
            summary = row.get("error") or (
                f"{row['median_s']:.2f} s/step, first {row['warmup_s'][0]:.1f} s, "
                f"RSS {row['peak_rss_mib']:.0f} MiB"
            )
            print(f"{variant:6s} xla={'on ' if xla else 'off'} {summary}", flush=True)
    info["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    document = {
        "machine": info,
        "note": NOTE,
        "settings": {
            "variants": args.variants,
            "warmup": args.warmup,
            "steps": args.steps,
            "batch": BATCH,
            "lr_size": LR_SIZE,
            "hr_size": LR_SIZE * SCALE,
        },
        "results": results,
    }
    from keras_srfm.imaging.atomic import atomic_write, write_json

    text = markdown(document)
    print("\n" + text)
    write_json(args.output_dir / "train_step.json", document)
    atomic_write(args.output_dir / "train_step.md", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
