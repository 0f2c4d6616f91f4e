"""`srfm demo`: offline x4 demo on a synthetic test chart (no data or download needed)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo",
        help="super-resolve a built-in synthetic test chart and write a side-by-side figure",
        description=(
            "Renders a synthetic test chart (text, edges, zone plate, frequency sweep, gradients, "
            "colour patches), downsamples it x4 with MATLAB bicubic, upscales it with the model "
            "and with bicubic, and writes LR (nearest x4) | bicubic | model | HR side by side. "
            "Prints PSNR / SSIM (Y channel, 4 pixels shaved). Runs offline."
        ),
    )
    p.add_argument(
        "--model",
        default="default",
        help="'default' (the default shipped model), a shipped model's name (see `srfm models`), "
        "a .keras file, a SavedModel folder, "
        "a .tflite file, 'bicubic' or 'nearest' (default: default)",
    )
    p.add_argument(
        "--output", "-o", default="srfm_demo.png", help="figure file (default: srfm_demo.png)"
    )
    p.add_argument(
        "--size", type=int, default=384, help="chart width and height in HR pixels (default: 384)"
    )
    p.add_argument(
        "--save-chart",
        default=None,
        metavar="FILE",
        help="also write the HR chart itself (e.g. as an --image for `srfm compare`)",
    )
    p.add_argument(
        "--tile-size",
        type=int,
        default=None,
        help="LR tile edge for large charts (default: 256; 0: never tile)",
    )
    p.add_argument(
        "--real",
        action="store_true",
        help="also degrade the chart realistically (blur, resize, noise, JPEG; as `srfm degrade`) "
        "and upscale both LRs with every shipped model (or --model): which model suits photos",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="seed of the realistic degradation with --real (default: 0)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from keras_srfm.evaluation import compare, demo

    if not demo.MIN_SIZE <= args.size <= demo.MAX_SIZE:
        raise ValueError(
            f"--size must be in [{demo.MIN_SIZE}, {demo.MAX_SIZE}]. Received: {args.size}"
        )
    output = compare.check_output_path(args.output)
    chart_path = compare.check_output_path(args.save_chart) if args.save_chart else None

    from PIL import Image

    from keras_srfm.imaging.image_io import write_image
    from keras_srfm.inference.upscalers import load_upscaler

    if args.real:
        return run_real(args, output, chart_path)
    start = time.perf_counter()
    upscaler = load_upscaler(args.model, tile_size=args.tile_size)
    load_s = time.perf_counter() - start
    chart = demo.render_chart(args.size)
    print(
        f"srfm demo: {args.size}x{args.size} chart -> LR {args.size // 4}x{args.size // 4} "
        f"(MATLAB bicubic 1/4) -> {upscaler.name} ...",
        file=sys.stderr,
        flush=True,
    )
    result = demo.run_demo(upscaler, chart, name=upscaler.name)
    write_image(demo.demo_figure(result), output)
    if chart_path is not None:
        write_image(Image.fromarray(chart), chart_path)
    for label in dict.fromkeys(("bicubic", upscaler.name)):
        scores = result.scores[label]
        print(f"{label:<24s} PSNR {scores['psnr']:6.2f} dB  SSIM {scores['ssim']:.4f}")
    total = time.perf_counter() - start
    print(
        f"srfm demo: {upscaler.name} took {result.seconds[upscaler.name]:.2f} s "
        f"(load {load_s:.2f} s, total {total:.2f} s); wrote {output}"
        + (f" and {chart_path}" if chart_path else ""),
        file=sys.stderr,
    )
    return 0


REAL_MODEL = "srfm_real"


def run_real(args: argparse.Namespace, output: Path, chart_path: Path | None) -> int:
    """`--real`: clean and realistic LR of the chart, upscaled by each shipped model."""
    from PIL import Image

    from keras_srfm.evaluation import demo
    from keras_srfm.imaging.image_io import write_image
    from keras_srfm.inference.upscalers import load_upscaler

    start = time.perf_counter()
    if args.model == "default":
        from keras_srfm.inference.presets import list_models

        specs = {m.name: str(m.keras_file) for m in list_models()}
        if REAL_MODEL not in specs:
            print(
                f"srfm demo: no {REAL_MODEL} in exported_models/ yet. The shipped models "
                f"({', '.join(specs) or 'none'}) learned clean bicubic LR only: on the realistic "
                "row they sharpen noise and JPEG blocks. See docs/real_photos.md.",
                file=sys.stderr,
            )
    else:
        specs = {args.model: args.model}
    upscalers = {}
    for name, spec in specs.items():
        upscaler = load_upscaler(spec, tile_size=args.tile_size)
        upscalers[name if args.model == "default" else upscaler.name] = upscaler
    chart = demo.render_chart(args.size)
    print(
        f"srfm demo: {args.size}x{args.size} chart -> clean LR (MATLAB bicubic 1/4) and realistic LR "
        f"(seed {args.seed}) -> {', '.join(upscalers) or 'bicubic only'} ...",
        file=sys.stderr,
        flush=True,
    )
    result = demo.run_real_demo(upscalers, chart, seed=args.seed)
    write_image(demo.real_demo_figure(result), output)
    if chart_path is not None:
        write_image(Image.fromarray(chart), chart_path)
    ending = "a JPEG file" if result.ends_in_jpeg else "a sinc-filtered PNG"
    print(f"realistic LR: blur, resize, noise, JPEG, resize; ends as {ending}")
    print(f"{'model':<24s} {'clean LR':>24s} {'realistic LR':>24s}")
    for label in result.clean.scores:
        if label == demo.NEAREST_LABEL:
            continue
        clean, real = result.clean.scores[label], result.real.scores[label]
        print(
            f"{label:<24s} {clean['psnr']:8.2f} dB / {clean['ssim']:.4f} "
            f"{real['psnr']:8.2f} dB / {real['ssim']:.4f}"
        )
    print(
        f"srfm demo: took {time.perf_counter() - start:.2f} s; wrote {output}"
        + (f" and {chart_path}" if chart_path else ""),
        file=sys.stderr,
    )
    return 0
