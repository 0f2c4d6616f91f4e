"""`srfm evaluate`: PSNR / SSIM / VIF of a model on benchmark sets (Table I, Sec. V)."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="PSNR/SSIM/VIF (Y channel, shave 4) of a model on Set5, Set14, BSD100, Urban100 or HR folders",
        description=(
            "Evaluates an x4 model with the benchmark protocol: HR uint8 -> mod-crop x4 -> LR = "
            "MATLAB bicubic 1/4 on uint8 -> model -> uint8 -> Y (MATLAB rgb2ycbcr; gray images "
            "use their gray values) -> shave 4 -> PSNR / SSIM / VIF-P. Prints a Markdown table."
        ),
    )
    p.add_argument(
        "--model",
        required=True,
        help="'bicubic', 'nearest', 'default', a .keras generator, a SavedModel directory or a .tflite file",
    )
    p.add_argument(
        "--hr-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="folder of HR images; repeatable. Its name (or its parent's, for .../Set5/HR) names the row",
    )
    p.add_argument(
        "--lr-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="LR images for the i-th --hr-dir (e.g. from `srfm degrade`), paired by file stem, "
        "used instead of the bicubic LR; give one per --hr-dir",
    )
    p.add_argument(
        "--dataset",
        action="append",
        default=[],
        metavar="NAME",
        help="TFDS benchmark: Set5, Set14, BSD100, Urban100 (or srfm_set5, ...); repeatable",
    )
    p.add_argument("--data-dir", default=None, help="TFDS data_dir for --dataset")
    p.add_argument(
        "--manual-dir", default=None, help="TFDS manual_dir for --dataset (offline preparation)"
    )
    p.add_argument(
        "--json", default=None, metavar="FILE", help="write means and per-image values as JSON"
    )
    p.add_argument("--csv", default=None, metavar="FILE", help="write per-image values as CSV")
    p.add_argument(
        "--save-sr", default=None, metavar="DIR", help="write SR images to DIR/<dataset>/<name>.png"
    )
    p.add_argument(
        "--tile-size",
        type=int,
        default=None,
        help="LR tile edge for large images (default 256; 0: never tile). Tiles overlap by the "
        "receptive field, so results do not change",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from keras_srfm import evaluation
    from keras_srfm.cli import CommandError

    if not args.hr_dir and not args.dataset:
        raise CommandError("give at least one --hr-dir or --dataset")
    # Check every input before the (slow) model load and evaluation.
    if args.lr_dir and len(args.lr_dir) != len(args.hr_dir):
        raise CommandError(
            f"give one --lr-dir per --hr-dir. Received: {len(args.hr_dir)} --hr-dir, {len(args.lr_dir)} --lr-dir"
        )
    if args.lr_dir:
        sources = [evaluation.paired_folder_source(h, lr) for h, lr in zip(args.hr_dir, args.lr_dir, strict=True)]
    else:
        sources = [evaluation.folder_source(d) for d in args.hr_dir]
    sources += [evaluation.tfds_source(n, args.data_dir, args.manual_dir) for n in args.dataset]
    names = evaluation.unique_names([s.name for s in sources])

    from keras_srfm.inference import load_upscaler

    upscaler = load_upscaler(args.model, tile_size=args.tile_size)
    results = []
    for source, name in zip(sources, names, strict=True):
        source = evaluation.ImageSource(name, source.size, source.images)
        results.append(
            evaluation.evaluate_source(
                upscaler, source, save_dir=args.save_sr, progress=not args.no_progress
            )
        )

    print(evaluation.markdown_table(upscaler.name, results))
    if args.json:
        document = evaluation.results_json(upscaler.name, results)
        if args.lr_dir:  # LR read from the folders, not made by bicubic (step 3)
            document["protocol"] = document["protocol"].replace(
                "LR = MATLAB bicubic 1/4 on uint8", "LR = the given LR file (paired by stem)"
            )
            document["lr_dirs"] = [str(d) for d in args.lr_dir]
        evaluation.write_json(args.json, document)
    if args.csv:
        evaluation.atomic_write(args.csv, evaluation.results_csv(results))
    return 0
