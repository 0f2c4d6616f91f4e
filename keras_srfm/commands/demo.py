"""`srfm demo`: offline x4 demo on a synthetic test chart (no data or download needed)."""

from __future__ import annotations

import argparse
import sys
import time


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
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from keras_srfm import compare, demo

    if not demo.MIN_SIZE <= args.size <= demo.MAX_SIZE:
        raise ValueError(
            f"--size must be in [{demo.MIN_SIZE}, {demo.MAX_SIZE}]. Received: {args.size}"
        )
    output = compare.check_output_path(args.output)
    chart_path = compare.check_output_path(args.save_chart) if args.save_chart else None

    from PIL import Image

    from keras_srfm.inference import load_upscaler, write_image

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
