"""Inference speed of a paper-size generator (16 blocks, 64 filters) through every backend.

Median seconds per image for 128x128 -> 512x512 and 256x256 -> 1024x1024 through Keras
(eager call, traced `tf.function`, XLA), the TF Serving SavedModel and TFLite (float32,
float16, int8 dynamic range; LiteRT interpreter with XNNPACK), the parity of the TFLite models
with Keras, and one tiled 2048x2048 -> 8192x8192 run of `srfm upscale` (PNG in and out) with
its peak RSS. Backends are timed in interleaved rounds, so load from other processes on a
shared CPU hits them alike: compare ratios within one run.

Usage:
    python benchmarks/inference.py                      # everything (~30 min on 2 busy cores)
    python benchmarks/inference.py --skip-tiled --repeats 3
    python benchmarks/inference.py --model exported_models/srfm.keras

Writes benchmarks/results/inference.json and inference.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SET5_LR = "benchmarks/Set5/LR_bicubic/X4/birdx4.png"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help=".keras generator (default: fresh paper-size one)")
    p.add_argument(
        "--init-scale", type=float, default=0.5, help="init of the fresh generator (see --model)"
    )
    p.add_argument("--sizes", type=int, nargs="+", default=[128, 256], help="LR edge lengths")
    p.add_argument("--repeats", type=int, default=5, help="timed runs per backend and size")
    p.add_argument(
        "--backends",
        nargs="+",
        default=[
            "keras_eager",
            "keras",
            "keras_xla",
            "savedmodel",
            "tflite_fp32",
            "tflite_fp16",
            "tflite_int8",
        ],
    )
    p.add_argument("--tiled-size", type=int, default=2048, help="LR edge of the tiled case")
    p.add_argument("--tiled-backends", nargs="+", default=["keras_xla", "tflite_fp32"])
    p.add_argument("--skip-tiled", action="store_true")
    p.add_argument("--out", default=str(RESULTS))
    p.add_argument("--tiled-child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return p.parse_args(argv)


# === Models ===


def prepare_models(args: argparse.Namespace, workdir: Path) -> tuple[Any, dict[str, Path]]:
    """The generator and its files: .keras, SavedModel, three .tflite."""
    import keras

    from keras_srfm.export.saved_model import export_saved_model
    from keras_srfm.export.tflite import convert_to_tflite
    from keras_srfm.inference.upscalers import load_keras_generator
    from keras_srfm.models.generator import build_generator

    if args.model:
        model = load_keras_generator(args.model)
    else:
        # x0.5 instead of the paper's x0.1 init so outputs vary (parity is then meaningful);
        # the weights' values do not change the speed.
        keras.utils.set_random_seed(0)
        model = build_generator(init_scale=args.init_scale)
    files = {"keras": workdir / "generator.keras"}
    model.save(files["keras"])
    files["savedmodel"] = export_saved_model(model, workdir / "serving")
    for q, key in [("float32", "tflite_fp32"), ("float16", "tflite_fp16"), ("int8", "tflite_int8")]:
        files[key] = convert_to_tflite(model, workdir / f"generator_{q}.tflite", quantize=q)
    return model, files


def make_runner(backend: str, model: Any, files: dict[str, Path]) -> Any:
    """A callable uint8 (H, W, 3) -> uint8 (4H, 4W, 3), untiled."""
    import tensorflow as tf

    from keras_srfm.inference.upscalers import KerasUpscaler, load_upscaler

    if backend == "keras_eager":  # a plain Keras call, the baseline

        def eager(image: np.ndarray) -> np.ndarray:
            y = model(tf.constant(image[None], tf.float32) / 255.0, training=False)
            return np.rint(np.clip(y.numpy()[0], 0, 1) * 255).astype(np.uint8)

        return eager
    if backend in ("keras", "keras_xla"):
        return KerasUpscaler(model, tile_size=0, jit_compile=backend == "keras_xla")
    return load_upscaler(files[backend], tile_size=0)


# === Measurements ===


def time_backends(
    args: argparse.Namespace, model: Any, files: dict[str, Path]
) -> list[dict[str, Any]]:
    rows = []
    rng = np.random.default_rng(0)
    for size in args.sizes:
        image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        runners = {}
        first = {}
        for backend in args.backends:
            runners[backend] = make_runner(backend, model, files)
            start = time.perf_counter()
            runners[backend](image)  # warm-up: tracing, XLA compilation, tensor allocation
            first[backend] = time.perf_counter() - start
        times: dict[str, list[float]] = {b: [] for b in args.backends}
        for _ in range(args.repeats):  # interleaved rounds
            for backend, run in runners.items():
                start = time.perf_counter()
                run(image)
                times[backend].append(time.perf_counter() - start)
        for backend in args.backends:
            row = {
                "backend": backend,
                "lr": size,
                "hr": 4 * size,
                "median_s": statistics.median(times[backend]),
                "min_s": min(times[backend]),
                "first_call_s": first[backend],
                "runs": times[backend],
            }
            rows.append(row)
            print(f"{backend:12s} {size}->{4 * size}: median {row['median_s']:.2f} s", flush=True)
    return rows


def parity(model: Any, files: dict[str, Path]) -> dict[str, Any]:
    """TFLite float outputs vs Keras on a real LR image (Set5 bird) or a synthetic one."""
    from PIL import Image

    from keras_srfm.inference.upscalers import TFLiteUpscaler

    data = Path(os.environ.get("SRFM_DATA_DIR", ROOT.parent / "shared" / "data")) / SET5_LR
    if data.is_file():
        image, source = np.asarray(Image.open(data).convert("RGB")), "Set5 bird LR (72x72)"
    else:
        image, source = (
            np.random.default_rng(1).integers(0, 256, (72, 72, 3), dtype=np.uint8),
            "random 72x72",
        )
    batch = image[None].astype(np.float32) / 255.0
    reference = model(batch, training=False).numpy()
    outputs = {}
    for key in ("tflite_fp32", "tflite_fp16", "tflite_int8"):
        upscaler = TFLiteUpscaler(files[key], tile_size=0)
        outputs[key] = upscaler._invoke(batch)[None]

    def psnr(a: np.ndarray, b: np.ndarray) -> float:
        mse = float(np.mean((np.clip(a, 0, 1) - np.clip(b, 0, 1)) ** 2))
        return 10 * np.log10(1 / mse) if mse > 0 else float("inf")

    return {
        "input": source,
        "keras_output_std": float(reference.std()),
        "fp32_max_abs_diff_vs_keras": float(np.abs(outputs["tflite_fp32"] - reference).max()),
        "fp16_psnr_vs_fp32_db": psnr(outputs["tflite_fp16"], outputs["tflite_fp32"]),
        "int8_psnr_vs_fp32_db": psnr(outputs["tflite_int8"], outputs["tflite_fp32"]),
        "file_mb": {k: round(files[k].stat().st_size / 1e6, 2) for k in outputs},
    }


def tiled_run(
    args: argparse.Namespace, files: dict[str, Path], workdir: Path, backend: str
) -> dict[str, Any]:
    """`srfm upscale` on a synthetic 2048x2048 PNG in a fresh process; wall time and peak RSS."""
    from PIL import Image

    source = workdir / f"big_{args.tiled_size}.png"
    if not source.exists():
        rng = np.random.default_rng(2)
        small = rng.integers(
            0, 256, (args.tiled_size // 8, args.tiled_size // 8, 3), dtype=np.uint8
        )
        big = Image.fromarray(small).resize((args.tiled_size, args.tiled_size), Image.BICUBIC)
        noise = rng.integers(-12, 13, (args.tiled_size, args.tiled_size, 3))
        Image.fromarray(np.clip(np.asarray(big) + noise, 0, 255).astype(np.uint8)).save(source)
    model = files["keras"] if backend.startswith("keras") else files[backend]
    cli = [
        "upscale",
        "-q",
        str(source),
        "-o",
        str(workdir / f"out_{backend}"),
        "--model",
        str(model),
    ]
    if backend == "keras_xla":
        cli.append("--jit")
    command = [sys.executable, __file__, "--tiled-child", *cli]
    start = time.perf_counter()
    done = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"tiled run failed: {done.stderr[-2000:]}")
    child = json.loads(done.stdout.strip().splitlines()[-1])
    output = workdir / f"out_{backend}" / f"{source.stem}_x4.png"
    with Image.open(output) as result:
        size = result.size
    row = {
        "backend": backend,
        "lr": args.tiled_size,
        "hr": size[0],
        "wall_s": wall,
        "upscale_s": child["seconds"],
        "peak_rss_gib": child["peak_rss_kib"] / 2**20,
        "tile_size": 256,
        "output_mb": round(output.stat().st_size / 1e6, 1),
    }
    print(
        f"tiled {backend} {args.tiled_size}->{size[0]}: {wall:.0f} s, peak RSS {row['peak_rss_gib']:.2f} GiB",
        flush=True,
    )
    return row


def peak_rss_kib() -> int:
    """This process's peak RSS in KiB: VmHWM of its own address space.

    Not `getrusage().ru_maxrss`: Linux carries that across fork + exec, so a child would
    report the benchmark parent's peak.
    """
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def tiled_child(cli_args: list[str]) -> None:
    from keras_srfm.cli import main

    start = time.perf_counter()
    status = main(cli_args)
    seconds = time.perf_counter() - start
    peak = peak_rss_kib()
    print(json.dumps({"status": status, "seconds": seconds, "peak_rss_kib": peak}))
    sys.exit(status)


# === Report ===


def environment() -> dict[str, Any]:
    import keras
    import tensorflow as tf

    try:
        from importlib.metadata import version

        litert = version("ai-edge-litert")
    except Exception:
        litert = "not installed"
    load = os.getloadavg()
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "load_average_1_5_15": [round(v, 2) for v in load],
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "ai_edge_litert": litert,
        "note": "CPU shared with a training run and other jobs; compare ratios within this run only",
    }


def markdown(report: dict[str, Any]) -> str:
    env = report["environment"]
    lines = [
        "# Inference benchmark (paper-size generator: 16 blocks, 64 filters, x4)",
        "",
        f"{env['cores']} CPU cores, TF {env['tensorflow']}, Keras {env['keras']}, "
        f"ai-edge-litert {env['ai_edge_litert']}; load average at start "
        f"{env['load_average_1_5_15'][0]} (1 min). {env['note']}.",
        "",
        "Median seconds per image (interleaved rounds), untiled; speed-up vs a plain Keras call.",
        "",
    ]
    sizes = sorted({r["lr"] for r in report["untiled"]})
    header = "| backend | " + " | ".join(f"{s}→{4 * s} (s)" for s in sizes) + " | speed-up |"
    lines += [header, "|---" * (len(sizes) + 2) + "|"]
    by = {(r["backend"], r["lr"]): r for r in report["untiled"]}
    for backend in dict.fromkeys(r["backend"] for r in report["untiled"]):
        cells = [f"{by[(backend, s)]['median_s']:.2f}" for s in sizes]
        base = by.get(("keras_eager", sizes[-1]))
        ratio = f"{base['median_s'] / by[(backend, sizes[-1])]['median_s']:.2f}x" if base else "-"
        lines.append(f"| {backend} | " + " | ".join(cells) + f" | {ratio} |")
    if report.get("parity"):
        p = report["parity"]
        lines += [
            "",
            f"TFLite parity on {p['input']} (Keras output std {p['keras_output_std']:.3f}): "
            f"fp32 max |diff| {p['fp32_max_abs_diff_vs_keras']:.1e}; "
            f"fp16 {p['fp16_psnr_vs_fp32_db']:.1f} dB and int8 {p['int8_psnr_vs_fp32_db']:.1f} dB PSNR vs fp32. "
            f"Sizes (MB): {p['file_mb']}.",
        ]
    if report.get("tiled"):
        lines += [
            "",
            "Tiled `srfm upscale` (PNG in, PNG out, tile 256 incl. 36-pixel overlap, fresh process):",
            "",
            "| backend | input → output | wall (s) | peak RSS (GiB) |",
            "|---|---|---|---|",
        ]
        for r in report["tiled"]:
            lines.append(
                f"| {r['backend']} | {r['lr']}² → {r['hr']}² | {r['wall_s']:.0f} | {r['peak_rss_gib']:.2f} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.tiled_child is not None:
        tiled_child(args.tiled_child)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"environment": environment(), "repeats": args.repeats}
    with tempfile.TemporaryDirectory(prefix="srfm-bench-") as tmp:
        workdir = Path(tmp)
        model, files = prepare_models(args, workdir)
        report["model"] = args.model or f"fresh paper-size generator, init_scale={args.init_scale}"
        report["untiled"] = time_backends(args, model, files)
        report["parity"] = parity(model, files)
        print(json.dumps(report["parity"]), flush=True)
        report["tiled"] = (
            []
            if args.skip_tiled
            else [tiled_run(args, files, workdir, b) for b in args.tiled_backends]
        )
    report["environment"]["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    (out / "inference.json").write_text(json.dumps(report, indent=2))
    (out / "inference.md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
