"""`srfm plot-pd`: the perception-distortion plane (PSNR vs NIQE) from evaluation JSON files."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "plot-pd",
        help="draw PSNR vs NIQE (perception-distortion plane) from evaluation/sweep JSON files",
        description=(
            "Draws the perception-distortion plane of one test set: PSNR on Y (distortion, "
            "higher is better) against NIQE (perception, lower is better). Each `srfm evaluate "
            "--metrics psnr,...,niqe --json` file is a point, each `srfm blend --sweep` file a "
            "curve; the ground truth (PSNR = inf) is a horizontal line at its NIQE."
        ),
    )
    p.add_argument("results", nargs="*", metavar="JSON", help="evaluation or sweep JSON files")
    p.add_argument(
        "--shipped",
        action="store_true",
        help="add the evaluation.json of every shipped model (exported_models/*/)",
    )
    p.add_argument(
        "--dataset", default="BSD100", help="test set to draw (default: BSD100, the MOS set)"
    )
    p.add_argument("-o", "--output", required=True, metavar="FILE.png", help="PNG to write")
    p.add_argument("--title", default=None, help="figure title")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")

    from keras_srfm.evaluation import pd_plane

    files = list(args.results)
    if args.shipped:
        from keras_srfm.inference.presets import list_models

        files += [
            m.folder / "evaluation.json" for m in list_models() if (m.folder / "evaluation.json").is_file()
        ]
    if not str(args.output).lower().endswith(".png"):
        raise ValueError(f"the figure must be a .png file. Received: {args.output}")
    plane = pd_plane.collect(files, args.dataset)
    path = pd_plane.save_png(pd_plane.draw(plane, args.title), args.output)
    print(pd_plane.summary(plane))
    print(f"figure written: {path}")
    return 0
