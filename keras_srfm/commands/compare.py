"""`srfm compare`: a paper-style figure (Figs. 4-5) from an HR image, or a slider page from a photo.

`--image HR.png -o fig.png`: the zoomed comparison figure with PSNR / SSIM (needs the HR image).
`--lr photo.jpg -o page.html`: no HR needed; one self-contained HTML page with a bicubic | model
before/after slider per model and synchronized zoom and pan.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "compare",
        help="compare models: a paper-style figure from an HR image (--image), or a "
        "before/after slider page from any photo (--lr)",
        description=(
            "--image HR: makes the LR of an HR image with MATLAB bicubic 1/4, upscales it with "
            "bicubic and each model, and draws the full HR image with the zoom box next to the "
            "zoomed crops of every result, labelled with name and PSNR / SSIM (Y channel), as "
            "in Figs. 4-5 of the paper. --lr PHOTO: upscales the photo itself (no HR, no "
            "scores) and writes one self-contained HTML page with a bicubic | model "
            "before/after slider per model and zoom and pan shared by all panels."
        ),
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--image", help="HR image (any format Pillow reads): the figure")
    source.add_argument("--lr", help="a photo to upscale as it is: the HTML slider page")
    p.add_argument(
        "--models",
        nargs="+",
        required=True,
        metavar="NAME=SPEC",
        help="models to compare; SPEC is a shipped model's name (e.g. srfm_mp), 'default', a "
        ".keras file, a SavedModel folder, a .tflite file or 'nearest' (bicubic is always "
        "included)",
    )
    p.add_argument(
        "--box",
        default=None,
        metavar="X,Y,W,H",
        help="--image: zoom box in HR pixels (default: the most detailed square window); "
        "--lr: the region of the photo to upscale (default: all of it)",
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
        default=None,
        help="PSNR / SSIM of the whole image (Table I protocol) or of the crop (default: image)",
    )
    p.add_argument(
        "--zoom", type=int, default=None, help="size of each zoomed crop in pixels (default: 192)"
    )
    p.add_argument("--tile-size", type=int, default=None, help="LR tile edge (default: 256)")
    p.add_argument(
        "--output", "-o", required=True, help="figure file (.png, .jpg, ...); with --lr: .html"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.lr is not None:
        return run_page(args)
    return run_figure(args)


def run_figure(args: argparse.Namespace) -> int:
    from keras_srfm.evaluation import compare, protocol

    # Every input is checked before a model is loaded or anything is written.
    if Path(args.output).suffix.lower() in compare.PAGE_EXTENSIONS:
        raise ValueError(
            f"the HTML slider page is made from a photo: use --lr. Received: {args.output}"
        )
    args.metrics = args.metrics or "image"
    args.zoom = 192 if args.zoom is None else args.zoom
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
    source = protocol.read_hr(image_path)
    hr = compare.hr_for_figure(source.hr)
    if min(hr.shape[:2]) < compare.MIN_BOX + 2 * protocol.SCALE:
        raise ValueError(f"image too small to compare. Received: {hr.shape[1]}x{hr.shape[0]}")
    if box is None:
        box = compare.auto_box(hr, args.box_size)
    compare.check_box(box, hr.shape)

    from keras_srfm.imaging.image_io import write_image

    start = time.perf_counter()
    upscalers = [("bicubic", compare.load_model("bicubic"))]
    upscalers += [
        (name, compare.load_model(spec, tile_size=args.tile_size)) for name, spec in specs
    ]

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


def run_page(args: argparse.Namespace) -> int:
    from keras_srfm.evaluation import compare
    from keras_srfm.imaging.atomic import atomic_write

    # Every input is checked before a model is loaded or anything is written.
    for option, value in (
        ("--metrics", args.metrics),
        ("--zoom", args.zoom),
        ("--box-size", args.box_size),
    ):
        if value is not None:
            raise ValueError(
                f"{option} applies to --image figures only. Received: {option} {value}"
            )
    output = compare.check_page_path(args.output)
    specs = compare.parse_model_specs(args.models)
    box = compare.parse_box(args.box) if args.box is not None else None
    lr = compare.read_lr(args.lr, box)

    start = time.perf_counter()
    upscalers = [(name, compare.load_model(spec, tile_size=args.tile_size)) for name, spec in specs]
    bicubic = compare.load_model("bicubic")(lr)
    results = []
    for name, upscaler in upscalers:
        print(f"srfm compare: upscaling with {name} ...", file=sys.stderr, flush=True)
        began = time.perf_counter()
        sr = upscaler(lr)
        results.append(compare.PageResult(name, sr, time.perf_counter() - began))
        print(f"{name:<24s} {results[-1].seconds:.2f} s")
    atomic_write(output, compare.slider_page(Path(args.lr).name, lr, bicubic, results))
    print(
        f"srfm compare: {lr.shape[1]}x{lr.shape[0]} -> {bicubic.shape[1]}x{bicubic.shape[0]}, "
        f"{len(results)} model(s); {time.perf_counter() - start:.1f} s; wrote {output}",
        file=sys.stderr,
    )
    return 0
