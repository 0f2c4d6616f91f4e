"""Issue 26's table, re-measured on the machine at hand with one command.

Seconds per training update, batch 16, LR 24x24 -> HR 96x96, paper-size networks, for the
PyTorch baseline (benchmarks/torch_srgan_step.py: BasicSR's SRGAN step restated with the same
networks), plain Keras (the generator compiled with a Huber loss and `fit`-style
`train_on_batch`, no GAN) and keras-srfm's update on TensorFlow and JAX
(`keras_srfm.training.step_bench`: what `srfm train` runs).

Each configuration runs in its own process; the processes of a group are stepped in lockstep
(every one warms up, then one timed update each per round), so load from other work falls on
all of a group alike: compare rows within a group, and read the ratios. Groups run one after
the other (their processes stay alive together, so a group's memory is the sum of its rows'):

- `g`: the generator-only update (`p`) in float32 and bfloat16;
- `pcsva`, `pcsa`: the full GAN update against PyTorch's SRGAN step.

keras-srfm's TensorFlow rows run the kernels `srfm train` runs (oneDNN's on x86-64 unless
TF_ENABLE_ONEDNN_OPTS is set); each group has one more such row with Eigen's kernels
(TF_ENABLE_ONEDNN_OPTS=0), TensorFlow's own default on CPUs without AVX-512 VNNI / BF16 or AMX.

Usage:
    python benchmarks/speed_table.py [--groups g pcsva pcsa] [--warmup 2] [--steps 5]

Writes benchmarks/results/speed_table.json and .md, naming the CPU (lscpu model name and flags).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from keras_srfm.training import precision, step_bench  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
TORCH = str(ROOT / "benchmarks" / "torch_srgan_step.py")


@dataclasses.dataclass(frozen=True)
class Row:
    """One configuration: `group`, table `workload`, `column` (who runs it), how to start it."""

    group: str
    workload: str
    column: str
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()


def srfm_row(group: str, workload: str, variant: str, backend: str, mode: str, xla: bool,
             eigen: bool = False) -> Row:
    """keras-srfm's update as `srfm train` runs it (TensorFlow: oneDNN's kernels on x86-64, see
    `keras_srfm.training.onednn`), or with `eigen`, TensorFlow's Eigen kernels (oneDNN off)."""
    spec = {**dataclasses.asdict(step_bench.Spec(variant=variant)), "warmup": 0}
    setting = dataclasses.asdict(step_bench.Setting(backend, mode, xla))
    column = f"keras-srfm {'TensorFlow' if backend == 'tensorflow' else 'JAX'}" + (" XLA" if xla else "")
    env: tuple[tuple[str, str], ...] = (("KERAS_BACKEND", backend),)
    if eigen:
        column += ", Eigen kernels (TF_ENABLE_ONEDNN_OPTS=0)"
        env += (("TF_ENABLE_ONEDNN_OPTS", "0"),)
    argv = (sys.executable, "-m", "keras_srfm.training.step_bench", "--child",
            json.dumps({"spec": spec, "setting": setting}))
    return Row(group, workload, column, argv, env)


def torch_row(group: str, workload: str, kind: str, dtype: str) -> Row:
    payload = json.dumps({"kind": kind, "dtype": dtype, "warmup": 0})
    return Row(group, workload, "PyTorch (BasicSR-style)", (sys.executable, TORCH, "--child", payload))


def plain_keras_row(group: str, workload: str) -> Row:
    return Row(group, workload, "plain Keras", (sys.executable, __file__, "--plain-keras-child", "0"),
               (("KERAS_BACKEND", "tensorflow"),))


def rows() -> list[Row]:
    g32, g16 = "G-only update (`p`), float32", "G-only update (`p`), bfloat16"
    full = "full GAN update (`pcsva`; PyTorch: SRGAN step), float32"
    pcsa = "`pcsa` (PyTorch: SRGAN step), float32"
    return [
        torch_row("g", g32, "g", "float32"),
        plain_keras_row("g", g32),
        srfm_row("g", g32, "p", "tensorflow", "off", False),
        srfm_row("g", g32, "p", "tensorflow", "off", False, eigen=True),
        srfm_row("g", g32, "p", "tensorflow", "off", True),
        srfm_row("g", g32, "p", "jax", "off", True),
        torch_row("g", g16, "g", "bfloat16"),
        srfm_row("g", g16, "p", "tensorflow", "bfloat16", False),
        torch_row("pcsva", full, "gan", "float32"),
        srfm_row("pcsva", full, "pcsva", "tensorflow", "off", False),
        srfm_row("pcsva", full, "pcsva", "tensorflow", "off", False, eigen=True),
        srfm_row("pcsva", full, "pcsva", "tensorflow", "off", True),
        srfm_row("pcsva", full, "pcsva", "jax", "off", True),
        torch_row("pcsa", pcsa, "gan", "float32"),
        srfm_row("pcsa", pcsa, "pcsa", "tensorflow", "off", False),
        srfm_row("pcsa", pcsa, "pcsa", "tensorflow", "off", False, eigen=True),
        srfm_row("pcsa", pcsa, "pcsa", "tensorflow", "off", True),
        srfm_row("pcsa", pcsa, "pcsa", "jax", "off", True),
    ]


def plain_keras_child() -> None:
    """The generator alone, `compile(Adam, Huber)` and `train_on_batch`: Keras without keras-srfm's step."""
    import keras
    import numpy as np

    from keras_srfm.models.generator import build_generator

    model = build_generator()
    model.compile(keras.optimizers.Adam(1e-4), keras.losses.Huber(1.0), jit_compile=False)
    rng = np.random.default_rng(0)
    lr = rng.random((16, 24, 24, 3), dtype=np.float32)
    hr = rng.random((16, 96, 96, 3), dtype=np.float32)
    step_bench.serve(lambda: model.train_on_batch(lr, hr), warmup=0)


def measure(selected: list[Row], warmup: int, steps: int, log) -> list[dict]:
    """Warm-up updates are untimed lockstep rounds (children start with warmup=0)."""
    commands = [(f"{r.column}: {r.workload}", list(r.argv), {"TF_CPP_MIN_LOG_LEVEL": "2", **dict(r.env)})
                for r in selected]
    children = step_bench.lockstep(commands, warmup + steps, log)
    results = []
    for row, child in zip(selected, children):
        timed = child.times[warmup:]
        results.append({"group": row.group, "workload": row.workload, "column": row.column,
                        "warmup_s": child.times[:warmup], "step_s": timed,
                        "median_s": statistics.median(timed) if timed else None,
                        "peak_rss_mib": child.peak_rss_mib, "error": child.error})
    return results


def markdown(document: dict) -> str:
    hw = document["hardware"]
    lines = [
        "# Training update: keras-srfm against PyTorch and plain Keras (issue 26)",
        "",
        f"CPU: {hw['cpu_model']}, {document['cores']} cores; flags: {' '.join(hw['cpu_flags'])}",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in document["versions"].items()),
        "",
        f"Batch 16, 24 -> 96, paper-size networks; median s per update over {document['steps']} lockstep "
        f"rounds after {document['warmup']} untimed ones, each configuration in its own process. "
        "1-min load average per group (start -> end): "
        + "; ".join(f"{g} {a} -> {b}" for g, (a, b) in document["load"].items())
        + ". Compare rows of one group.",
        "",
        "keras-srfm TensorFlow rows run the kernels `srfm train` runs: oneDNN's custom operations on "
        "x86-64 unless TF_ENABLE_ONEDNN_OPTS is set (keras_srfm.training.onednn; set for this run: "
        f"{document.get('onednn_env') or 'no'}); the Eigen rows set TF_ENABLE_ONEDNN_OPTS=0, TensorFlow's "
        "own default on CPUs without AVX-512 VNNI / BF16 or AMX.",
        "",
        "| group | workload | configuration | median s | min - max s | x PyTorch | peak RSS MiB |",
        "|---|---|---|---|---|---|---|",
    ]
    reference = {}
    for r in document["results"]:
        if r["column"].startswith("PyTorch") and r["median_s"]:
            reference[(r["group"], r["workload"])] = r["median_s"]
    for r in document["results"]:
        head = f"| {r['group']} | {r['workload']} | {r['column']} |"
        if not r["median_s"]:
            lines.append(f"{head} failed: {(r['error'] or '')[:120]} | | | |")
            continue
        ref = reference.get((r["group"], r["workload"]))
        ratio = f"{ref / r['median_s']:.2f}x faster" if ref and not r["column"].startswith("PyTorch") else ""
        rss = f"{r['peak_rss_mib']:.0f}" if r["peak_rss_mib"] else "-"
        lines.append(f"{head} {r['median_s']:.2f} | {min(r['step_s']):.2f} - {max(r['step_s']):.2f} | "
                     f"{ratio} | {rss} |")
    only = " --only " + " ".join(f"'{o}'" for o in document["only"]) if document.get("only") else ""
    lines += ["", f"Reproduce: `python benchmarks/speed_table.py --groups {' '.join(document['groups'])}{only} "
              f"--warmup {document['warmup']} --steps {document['steps']}`", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", nargs="+", default=["g", "pcsva", "pcsa"], choices=["g", "pcsva", "pcsa"])
    parser.add_argument("--only", nargs="+", default=None, metavar="TEXT",
                        help="keep the rows whose configuration contains one of these (e.g. PyTorch 'TensorFlow XLA')")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--output-dir", type=Path, default=RESULTS)
    parser.add_argument("--plain-keras-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.plain_keras_child is not None:
        plain_keras_child()
        return 0

    def log(line: str) -> None:
        print(f"speed_table: {line}", file=sys.stderr, flush=True)

    results, load = [], {}
    for group in args.groups:
        start = round(os.getloadavg()[0], 2)
        selected = [r for r in rows() if r.group == group
                    and (not args.only or any(text in r.column for text in args.only))]
        results += measure(selected, args.warmup, args.steps, log)
        load[group] = (start, round(os.getloadavg()[0], 2))
    hardware = precision.detect()
    document = {"hardware": dataclasses.asdict(hardware), "cores": len(os.sched_getaffinity(0)),
                "versions": {**precision.versions(), "torch": _torch_version()}, "groups": args.groups, "only": args.only,
                "warmup": args.warmup, "steps": args.steps, "load": load,
                "onednn_env": os.environ.get("TF_ENABLE_ONEDNN_OPTS"), "results": results}
    from keras_srfm.imaging.atomic import atomic_write, write_json

    text = markdown(document)
    print(text)
    write_json(args.output_dir / "speed_table.json", document)
    atomic_write(args.output_dir / "speed_table.md", text)
    return 0


def _torch_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return "not installed"


if __name__ == "__main__":
    sys.exit(main())
