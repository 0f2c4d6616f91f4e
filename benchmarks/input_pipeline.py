"""Benchmark: training input throughput (patches/s) against what a train step consumes.

Batches of 16 aligned 24x24 LR / 96x96 HR patches (Sec. V-A) from the DIV2K-like 2K images
in the shared samples (2 DIV2K + 4 Flickr2K HR, mixed by size as DIV2K + Flickr2K are in the
paper), with `DataConfig`'s defaults (16 patches per decoded image, shuffle buffer 512) and
no image cache, so every image is decoded again each time. Three ways in:

- `tfds`: the `srfm_div2k` + `srfm_flickr2k` TFDS datasets (built from the samples first):
  decode HR and LR PNG.
- `folder`: the HR folders; LR made from each whole image with `imresize_tf` (the default).
- `folder-window`: the HR folders; LR made per patch window (`lr_from="window"`), which
  gives the same pixels.

Each mode runs in its own process (so peak RSS is its own). Reported: first-batch latency
(fills the shuffle buffer), steady patches/s, the ratio to the train step's consumption
(16 patches per step; seconds per step from benchmarks/results/train_step.json if present,
else `--step-seconds`, else the lead's 1-8 s range), decode cost per patch measured alone,
and peak RSS.

Usage:
    python benchmarks/input_pipeline.py [--data-dir ../shared/data] [--batches 40]
        [--step-seconds S]

Writes benchmarks/results/input_pipeline.json and benchmarks/results/input_pipeline.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
MODES = ("tfds", "folder", "folder-window")
BATCH = 16


def _config(mode: str, samples: Path, data_dir: str):
    from keras_srfm.config import DataConfig

    if mode == "tfds":
        sources = ("srfm_div2k", "srfm_flickr2k")
    else:
        sources = (str(samples / "DIV2K" / "HR"), str(samples / "Flickr2K" / "HR"))
    return DataConfig(sources=sources, batch_size=BATCH, data_dir=data_dir, manual_dir=str(samples))


def _decode_cost(mode: str, config) -> float:
    """Seconds per patch spent decoding (and resizing) alone, averaged over the images."""
    import tensorflow as tf

    from keras_srfm.data.pipeline import (
        bicubic_lr,
        decode_hr,
        random_window_patches,
        resolve_source,
    )

    scale, count = config.scale, config.patches_per_image
    seed = tf.constant([0, 0], tf.int64)
    seconds = []
    for spec in config.sources:
        source = resolve_source(spec, config)
        if mode == "tfds":
            import tensorflow_datasets as tfds

            skip = tfds.decode.SkipDecoding()
            examples = source.builder.as_dataset(split="train", decoders={"hr": skip, "lr": skip})
            items = [(ex["lr"], ex["hr"]) for ex in examples]
            work = tf.function(lambda a, b: (tf.io.decode_png(a, 3), tf.io.decode_png(b, 3)))
        else:
            items = [(tf.constant(f),) for f in source.files]
            if mode == "folder":
                work = tf.function(lambda p: bicubic_lr(decode_hr(p, scale), scale))
            else:
                work = tf.function(
                    lambda p: random_window_patches(
                        decode_hr(p, scale),
                        seed,
                        count=count,
                        lr_patch=config.lr_patch,
                        scale=scale,
                    )
                )
        work(*items[0])  # trace
        for item in items:
            start = time.perf_counter()
            work(*item)
            seconds.append(time.perf_counter() - start)
    return sum(seconds) / len(seconds) / count


def run_child(mode: str, samples: Path, data_dir: str, batches: int) -> dict:
    from keras_srfm.data.pipeline import make_train_dataset

    config = _config(mode, samples, data_dir)
    start = time.perf_counter()
    ds = make_train_dataset(
        config, cache=False, lr_from="window" if mode == "folder-window" else "image"
    )
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
    del iterator, ds
    decode_s = _decode_cost(mode, config)
    return {
        "mode": mode,
        "build_s": round(build_s, 2),
        "first_batch_s": round(first_s, 2),
        "batches": batches,
        "steady_s": round(steady_s, 2),
        "patches_per_s": round(batches * BATCH / steady_s, 1),
        "decode_ms_per_patch": round(1000 * decode_s, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def step_seconds(arg: float | None) -> tuple[list[float], str]:
    path = RESULTS / "train_step.json"
    if path.exists():
        data = json.loads(path.read_text())
        for key in ("step_seconds", "seconds_per_step", "mean_step_s", "step_s"):
            if isinstance(data.get(key), (int, float)):
                return [float(data[key])], f"{path.relative_to(ROOT)} ({key})"
    if arg:
        return [arg], "--step-seconds"
    return [1.0, 8.0], "the lead's estimate of a paper-size step on this CPU (1-8 s)"


def prepare_tfds(samples: Path, data_dir: str) -> float:
    import tensorflow_datasets as tfds

    import tfds_builders  # noqa: F401

    start = time.perf_counter()
    for name in ("srfm_div2k", "srfm_flickr2k"):
        builder = tfds.builder(name, data_dir=data_dir)
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(manual_dir=str(samples))
        )
    return time.perf_counter() - start


def to_markdown(result: dict) -> str:
    steps = result["step_seconds"]
    lines = [
        "# Input pipeline throughput",
        "",
        f"Machine: {result['machine']}; load average {result['load_before']} before, "
        f"{result['load_after']} after (shared with a training run and other work, so these are "
        "lower bounds). Batch 16 of 24x24 LR / 96x96 HR patches, 16 patches per decoded image, "
        f"shuffle buffer 512, no image cache; images: {result['images']}. Consumption: 16 patches "
        f"per train step of {' or '.join(f'{s:g}' for s in steps)} s ({result['step_source']}).",
        "",
        "| Mode | First batch s | Patches/s | "
        + " | ".join(f"x step {s:g} s" for s in steps)
        + " | Decode ms/patch | Peak RSS MiB |",
        "|---|---|---|" + "---|" * len(steps) + "---|---|",
    ]
    for row in result["modes"]:
        ratios = " | ".join(f"{r:.1f}x" for r in row["ratio"])
        lines.append(
            f"| {row['mode']} | {row['first_batch_s']} | {row['patches_per_s']} | {ratios} | "
            f"{row['decode_ms_per_patch']} | {row['peak_rss_mib']} |"
        )
    lines += [
        "",
        "`tfds`: srfm_div2k + srfm_flickr2k (decode HR + LR PNG). `folder`: HR folders, LR from "
        "the whole image by `imresize_tf`. `folder-window`: LR per patch window (same pixels). "
        f"Preparing the two TFDS datasets from the samples took {result['tfds_prepare_s']} s "
        "(once). Decode ms/patch: decode (+ resize) of one image alone, divided by 16.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--batches", type=int, default=40, help="timed batches per mode")
    parser.add_argument("--step-seconds", type=float, help="seconds per train step")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--tfds-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    samples = args.data_dir / "samples"
    if args.child:
        print(json.dumps(run_child(args.child, samples, args.tfds_dir, args.batches)))
        return

    import tensorflow as tf

    steps, step_source = step_seconds(args.step_seconds)
    load_before = [round(v, 1) for v in os.getloadavg()]
    with tempfile.TemporaryDirectory() as tfds_dir:
        prepare_s = prepare_tfds(samples, tfds_dir) if "tfds" in args.modes else 0.0
        rows = []
        for mode in args.modes:
            cmd = [sys.executable, __file__, "--child", mode, "--tfds-dir", tfds_dir,
                   "--data-dir", str(args.data_dir), "--batches", str(args.batches)]  # fmt: skip
            out = subprocess.run(cmd, check=True, capture_output=True, text=True)
            row = json.loads(out.stdout.strip().splitlines()[-1])
            row["ratio"] = [row["patches_per_s"] / (BATCH / s) for s in steps]
            rows.append(row)
            print(json.dumps(row), flush=True)
    images = sorted(str(p.relative_to(samples)) for p in samples.glob("*/HR/*.png"))
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, TensorFlow {tf.__version__}",
        "load_before": load_before,
        "load_after": [round(v, 1) for v in os.getloadavg()],
        "images": images,
        "step_seconds": steps,
        "step_source": step_source,
        "tfds_prepare_s": round(prepare_s, 1),
        "modes": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "input_pipeline.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "input_pipeline.md").write_text(to_markdown(result))
    print(to_markdown(result))


if __name__ == "__main__":
    main()
