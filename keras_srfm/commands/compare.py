"""`srfm compare`: paper-style zoomed comparison figure (Figs. 4-5) for any image and models."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "compare",
        help="qualitative comparison figure: HR with a zoom box, then zoomed bicubic / model / HR crops",
        description=(
            "Makes the LR of an HR image with MATLAB bicubic 1/4, upscales it with bicubic and "
            "each model, and draws the full HR image with the zoom box next to the zoomed crops "
            "of every result, labelled with name and PSNR / SSIM (Y channel), as in Figs. 4-5 "
            "of the paper."
        ),
    )
    p.add_argument("--image", required=True, help="HR image (any format Pillow reads)")
    p.add_argument(
        "--models",
        nargs="+",
        required=True,
        metavar="NAME=SPEC",
        help="models to compare; SPEC is 'default', a .keras file, a SavedModel folder, a "
        ".tflite file or 'nearest' (bicubic is always included)",
    )
    p.add_argument(
        "--box",
        default=None,
        metavar="X,Y,W,H",
        help="zoom box in HR pixels (default: the most detailed square window)",
    )
    p.add_argument(
        "--box-size",
        type=int,
        default=None,
        help="side of the automatic box (default: a quarter of the shorter side, 16-128)",
    )
    p.add_argument(
        "--metrics",
        choices=("image", "crop"),
        default="image",
        help="PSNR / SSIM of the whole image (Table I protocol) or of the crop (default: image)",
    )
    p.add_argument(
        "--zoom", type=int, default=192, help="size of each zoomed crop in pixels (default: 192)"
    )
    p.add_argument("--tile-size", type=int, default=None, help="LR tile edge (default: 256)")
    p.add_argument("--output", "-o", required=True, help="figure file (.png, .jpg, ...)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from keras_srfm import compare, evaluation

    # Every input is checked before a model is loaded or anything is written.
    output = compare.check_output_path(args.output)
    specs = compare.parse_model_specs(args.models)
    box = compare.parse_box(args.box) if args.box is not None else None
    if args.zoom < compare.MIN_BOX:
        raise ValueError(f"--zoom must be >= {compare.MIN_BOX}. Received: {args.zoom}")
    if args.box_size is not None and args.box_size < compare.MIN_BOX:
        raise ValueError(f"--box-size must be >= {compare.MIN_BOX}. Received: {args.box_size}")
    image_path = Path(args.image)
    if not image_path.is_file():
        raise FileNotFoundError(f"image not found: {image_path}")
    source = evaluation.read_hr(image_path)
    hr = compare.hr_for_figure(source.hr)
    if min(hr.shape[:2]) < compare.MIN_BOX + 2 * evaluation.SCALE:
        raise ValueError(f"image too small to compare. Received: {hr.shape[1]}x{hr.shape[0]}")
    if box is None:
        box = compare.auto_box(hr, args.box_size)
    compare.check_box(box, hr.shape)

    from keras_srfm.inference import load_upscaler, write_image

    start = time.perf_counter()
    upscalers = [("bicubic", load_upscaler("bicubic"))]
    upscalers += [(name, load_upscaler(spec, tile_size=args.tile_size)) for name, spec in specs]

    def progress(name: str) -> None:
        print(f"srfm compare: upscaling with {name} ...", file=sys.stderr, flush=True)

    panels = compare.compare_models(
        hr, upscalers, box, gray=source.gray, metrics=args.metrics, on_model=progress
    )
    figure = compare.comparison_figure(hr, panels, box, zoom=args.zoom, title=image_path.name)
    write_image(figure, output)
    for panel in panels[:-1]:
        print(f"{panel.name:<24s} {compare.metric_caption(panel.scores)}")
    print(
        f"srfm compare: box {box} ({args.metrics} metrics); {time.perf_counter() - start:.1f} s; "
        f"wrote {output}",
        file=sys.stderr,
    )
    return 0
