"""Benchmark: wall time of `srfm evaluate` on Set5, Set14 and BSD100 (Table I protocol).

Times the whole protocol (read HR, MATLAB bicubic LR, upscale, Y, PSNR / SSIM / VIF-P) for
the bicubic baseline and for a paper-size generator (Sec. III-A: 16 blocks, 64 filters; random
weights, which cost the same as trained ones), loaded from a `.keras` file through
`keras_srfm.inference.upscalers.load_upscaler` as `srfm evaluate --model file.keras` does. Seconds
are split into model time (the upscaler call) and the rest (I/O, resize, metrics).

Usage:
    python benchmarks/evaluate.py [--data-dir ../shared/data] [--sets Set5 Set14 BSD100]

Writes benchmarks/results/evaluate.json and benchmarks/results/evaluate.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


class TimedUpscaler:
    """Wraps an upscaler and accumulates the seconds spent inside it."""

    def __init__(self, upscaler) -> None:
        self.upscaler = upscaler
        self.name = upscaler.name
        self.seconds = 0.0

    def __call__(self, image: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        out = self.upscaler(image)
        self.seconds += time.perf_counter() - start
        return out


def run_model(spec: str, label: str, sets: list[Path]) -> dict:
    from keras_srfm.evaluation import protocol
    from keras_srfm.inference.upscalers import load_upscaler

    start = time.perf_counter()
    upscaler = TimedUpscaler(load_upscaler(spec))
    load_s = time.perf_counter() - start
    rows = {}
    for folder in sets:
        source = protocol.folder_source(folder)
        upscaler.seconds = 0.0
        start = time.perf_counter()
        result = protocol.evaluate_source(upscaler, source, progress=False)
        total = time.perf_counter() - start
        rows[source.name] = {
            "images": source.size,
            "seconds": round(total, 2),
            "model_seconds": round(upscaler.seconds, 2),
            "other_seconds": round(total - upscaler.seconds, 2),
            "mean": {k: round(v, 4) for k, v in result.mean.items()},
        }
        print(
            f"{label:10s} {source.name:8s} {total:7.1f} s (model {upscaler.seconds:.1f} s)",
            flush=True,
        )
    return {
        "label": label,
        "load_seconds": round(load_s, 2),
        "total_seconds": round(load_s + sum(r["seconds"] for r in rows.values()), 2),
        "sets": rows,
    }


def markdown(document: dict) -> str:
    lines = [
        "# `srfm evaluate` timing",
        "",
        f"Machine: {document['machine']}. Whole protocol per set (read HR, MATLAB bicubic LR, "
        "upscale, Y, PSNR/SSIM/VIF-P); `model` = time inside the upscaler. The generator has "
        "random weights (its metrics are meaningless; its time is that of a trained one).",
        "",
        "| Model | Set | Images | Seconds | Model s | Other s | s / image | PSNR/SSIM/VIF |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in document["runs"]:
        for name, row in run["sets"].items():
            m = row["mean"]
            lines.append(
                f"| {run['label']} | {name} | {row['images']} | {row['seconds']:.1f} | "
                f"{row['model_seconds']:.1f} | {row['other_seconds']:.1f} | "
                f"{row['seconds'] / row['images']:.2f} | {m['psnr']:.2f}/{m['ssim']:.3f}/{m['vif']:.3f} |"
            )
        lines.append(
            f"| {run['label']} | **total** (incl. {run['load_seconds']:.1f} s load) | | "
            f"**{run['total_seconds']:.1f}** | | | | |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_data = Path(os.environ.get("SRFM_DATA_DIR", ROOT.parent / "shared" / "data"))
    parser.add_argument("--data-dir", type=Path, default=default_data)
    parser.add_argument("--sets", nargs="+", default=["Set5", "Set14", "BSD100"])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    import tensorflow as tf

    from keras_srfm.imaging.atomic import atomic_write, write_json
    from keras_srfm.models.generator import build_generator

    sets = [args.data_dir / "benchmarks" / name / "HR" for name in args.sets]
    load_before = os.getloadavg()[0]  # the machine may be shared: report how busy it was
    runs = [run_model("bicubic", "bicubic", sets)]
    with tempfile.TemporaryDirectory() as tmp:
        model_path = Path(tmp) / "generator_16x64.keras"
        build_generator().save(model_path)  # paper size: 16 blocks, 64 filters
        runs.append(run_model(str(model_path), "generator 16x64", sets))

    document = {
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} CPU cores, TensorFlow {tf.__version__}; "
            f"1-min load average {load_before:.1f} before and {os.getloadavg()[0]:.1f} after"
        ),
        "runs": runs,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "evaluate.json", document)
    atomic_write(args.out / "evaluate.md", markdown(document))
    print(markdown(document))


if __name__ == "__main__":
    main()
