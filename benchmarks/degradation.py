"""Benchmark: the realistic degradation's patch throughput against a training step's consumption.

Batches of 16 aligned 24x24 LR / 96x96 HR patches from the shared DIV2K + Flickr2K HR
samples (folders, no image cache, 16 patches per decoded image), made three ways, each in
its own process:

- `bicubic-window`: MATLAB bicubic LR per patch window (`lr_from="window"`), today's fastest
  folder mode, as the reference;
- `realistic`: `DataConfig.degradation="realistic"` with Real-ESRGAN's default ranges
  (`DegradationConfig()`: 4 LR pixels of context per patch);
- `realistic-usm`: the same with the sharpened target (`usm_target=True`).

Reported per mode: first-batch latency (tracing and filling the shuffle buffer), steady
patches/s, and the ratio to the samples/s of a train step (16 samples per step, median
seconds per step of variants `p` and `pcsva` without XLA from
benchmarks/results/train_step.json). Also the chain alone: seconds per `degrade` call on 16
windows of 128x128 (one image's patches), traced once.

Usage:
    python benchmarks/degradation.py [--data-dir ../shared/data] [--batches 30]

Writes benchmarks/results/degradation.json and benchmarks/results/degradation.md, with the
CPU model and flags from `lscpu`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
MODES = ("bicubic-window", "realistic", "realistic-usm")
BATCH = 16


def _config(mode: str, samples: Path):
    from keras_srfm.config import DataConfig, DegradationConfig

    sources = (str(samples / "DIV2K" / "HR"), str(samples / "Flickr2K" / "HR"))
    degradation = "bicubic" if mode == "bicubic-window" else "realistic"
    realistic = DegradationConfig(usm_target=mode == "realistic-usm")
    return DataConfig(sources=sources, batch_size=BATCH, degradation=degradation, realistic=realistic)


def _chain_seconds(calls: int) -> float:
    """Median seconds of one traced `degrade` call on 16 windows of 128x128 (24 + 2 x 4 LR px)."""
    import numpy as np
    import tensorflow as tf

    from keras_srfm.config import DegradationConfig
    from keras_srfm.data.degradation import degrade

    config = DegradationConfig()
    hr = tf.constant(np.random.default_rng(0).integers(0, 256, (BATCH, 128, 128, 3)), tf.uint8)
    fn = tf.function(lambda x, s: degrade(x, s, config).lr)
    fn(hr, tf.constant([0, 0], tf.int64))
    times = []
    for i in range(calls):
        start = time.perf_counter()
        fn(hr, tf.constant([0, i + 1], tf.int64)).numpy()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def run_child(mode: str, samples: Path, batches: int) -> dict:
    from keras_srfm.data.pipeline import make_train_dataset

    config = _config(mode, samples)
    start = time.perf_counter()
    ds = make_train_dataset(config, cache=False, lr_from="window")
    iterator = iter(ds)
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    next(iterator)
    first_s = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(batches):
        lr, hr = next(iterator)
    steady_s = time.perf_counter() - start
    assert tuple(lr.shape) == (BATCH, 24, 24, 3) and tuple(hr.shape) == (BATCH, 96, 96, 3)
    row = {
        "mode": mode,
        "build_s": round(build_s, 2),
        "first_batch_s": round(first_s, 2),
        "batches": batches,
        "steady_s": round(steady_s, 2),
        "patches_per_s": round(batches * BATCH / steady_s, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    if mode == "realistic":
        del iterator, ds
        row["chain_s_per_16_windows"] = round(_chain_seconds(8), 3)
    return row


def step_rates() -> tuple[dict[str, float], str]:
    """Samples/s of a train step per variant (median, no XLA) from train_step.json."""
    path = RESULTS / "train_step.json"
    data = json.loads(path.read_text())
    batch = data["settings"]["batch"]
    rates = {
        r["variant"]: round(batch / r["median_s"], 2) for r in data["results"] if not r["xla"]
    }
    return rates, f"{path.relative_to(ROOT)} (median s/step, batch {batch}, no XLA)"


def lscpu() -> dict[str, str]:
    """CPU model name and flags as `lscpu` reports them."""
    try:
        text = subprocess.run(["lscpu"], check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {"model_name": platform.processor() or "unknown", "flags": "unknown (no lscpu)"}
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    return {
        "model_name": fields.get("Model name", "unknown").strip(),
        "flags": fields.get("Flags", "unknown").strip(),
    }


def unloaded_reference() -> dict | None:
    """`folder-window` patches/s of benchmarks/results/input_pipeline.json (a quieter run)."""
    path = RESULTS / "input_pipeline.json"
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    row = next((r for r in data.get("modes", []) if r.get("mode") == "folder-window"), None)
    if row is None:
        return None
    return {
        "patches_per_s": row["patches_per_s"],
        "load": data.get("load_before"),
        "source": f"{path.relative_to(ROOT)}, mode folder-window",
    }


def to_markdown(result: dict) -> str:
    rates = result["train_samples_per_s"]
    cpu = result["cpu"]
    lines = [
        "# Realistic degradation throughput",
        "",
        f"CPU: {cpu['model_name']} ({result['machine']}); load average {result['load_before']} "
        f"before, {result['load_after']} after (the machine is shared with other work, so these "
        "are lower bounds). Batch 16 of 24x24 LR / 96x96 HR patches from the DIV2K + Flickr2K "
        "HR samples (folders, no cache, 16 patches per decoded image). Consumption: "
        + ", ".join(f"`{v}` {r} samples/s" for v, r in rates.items())
        + f" ({result['step_source']}).",
        "",
        "| Mode | First batch s | Patches/s | "
        + " | ".join(f"x `{v}` step" for v in rates)
        + " | Peak RSS MiB |",
        "|---|---|---|" + "---|" * len(rates) + "---|",
    ]
    for row in result["modes"]:
        ratios = " | ".join(f"{row['patches_per_s'] / r:.1f}x" for r in rates.values())
        lines.append(
            f"| {row['mode']} | {row['first_batch_s']} | {row['patches_per_s']} | {ratios} | "
            f"{row['peak_rss_mib']} |"
        )
    chain = next((r["chain_s_per_16_windows"] for r in result["modes"] if "chain_s_per_16_windows" in r), None)
    lines += [
        "",
        "A ratio above 1 means the input pipeline outruns the train step (it runs on the same "
        "cores here, so it also competes with the step for them).",
    ]
    if chain is not None:
        lines.append(
            f"The chain alone: {chain} s per `degrade` call on 16 windows of 128x128 "
            f"({BATCH / chain:.0f} windows/s)."
        )
    reference = result.get("unloaded_bicubic_window")
    bicubic = next((r for r in result["modes"] if r["mode"] == "bicubic-window"), None)
    if reference and bicubic:
        factor = reference["patches_per_s"] / bicubic["patches_per_s"]
        estimates = ", ".join(
            f"{r['mode']} ~{r['patches_per_s'] * factor:.0f} patches/s "
            f"(~{r['patches_per_s'] * factor / rates.get('p', 1):.0f}x the `p` step)"
            for r in result["modes"]
            if r["mode"] != "bicubic-window"
        )
        lines += [
            "",
            f"Load correction (an estimate, not a measurement): the same `bicubic-window` mode ran "
            f"at {reference['patches_per_s']} patches/s at load {reference['load']} "
            f"({reference['source']}), {factor:.1f}x faster than here. Scaled by that factor: "
            f"{estimates}. The train step figures were measured with the machine nearly idle.",
        ]
    lines += ["", f"CPU flags: {cpu['flags']}", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--batches", type=int, default=30, help="timed batches per mode")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument(
        "--markdown-only", action="store_true", help="re-render degradation.md from degradation.json"
    )
    args = parser.parse_args()
    samples = args.data_dir / "samples"
    if args.markdown_only:
        result = json.loads((RESULTS / "degradation.json").read_text())
        result.setdefault("unloaded_bicubic_window", unloaded_reference())
        (RESULTS / "degradation.md").write_text(to_markdown(result))
        print(to_markdown(result))
        return
    if args.child:
        print(json.dumps(run_child(args.child, samples, args.batches)))
        return

    import tensorflow as tf

    rates, step_source = step_rates()
    load_before = [round(v, 1) for v in os.getloadavg()]
    rows = []
    for mode in args.modes:
        cmd = [sys.executable, __file__, "--child", mode, "--data-dir", str(args.data_dir),
               "--batches", str(args.batches)]  # fmt: skip
        out = subprocess.run(cmd, check=True, capture_output=True, text=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(json.dumps(row), flush=True)
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, TensorFlow {tf.__version__}",
        "cpu": lscpu(),
        "load_before": load_before,
        "load_after": [round(v, 1) for v in os.getloadavg()],
        "train_samples_per_s": rates,
        "step_source": step_source,
        "modes": rows,
        "unloaded_bicubic_window": unloaded_reference(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "degradation.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "degradation.md").write_text(to_markdown(result))
    print(to_markdown(result))


if __name__ == "__main__":
    main()
