"""`srfm evaluate`: PSNR / SSIM / VIF (and NIQE) of a model on benchmark sets (Table I, Sec. V)."""

from __future__ import annotations

import argparse
import dataclasses
import sys

# keras_srfm.evaluation.protocol.DEFAULT_METRICS, spelled out so that `srfm --help` imports no NumPy
# (tests/evaluation/test_evaluate_niqe.py checks that they agree).
DEFAULT_METRICS = ("psnr", "ssim", "vif")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="PSNR/SSIM/VIF (and NIQE: --metrics) on Y, shave 4, of a model on Set5, Set14, "
        "BSD100, Urban100 or HR folders",
        description=(
            "Evaluates an x4 model with the benchmark protocol: HR uint8 -> mod-crop x4 -> LR = "
            "MATLAB bicubic 1/4 on uint8 -> model -> uint8 -> Y (MATLAB rgb2ycbcr; gray images "
            "use their gray values) -> shave 4 -> PSNR / SSIM / VIF-P (--metrics adds NIQE, no "
            "reference, lower is better). Prints a Markdown table."
        ),
    )
    p.add_argument(
        "--model",
        required=True,
        help="'bicubic', 'nearest', 'default', a .keras generator, a SavedModel directory, "
        "a .tflite or an .onnx file",
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
    p.add_argument(
        "--metrics",
        default=",".join(DEFAULT_METRICS),
        metavar="LIST",
        help="comma-separated, from psnr,ssim,vif,niqe (default: psnr,ssim,vif). NIQE (no "
        "reference, lower is better) is computed on the SR's Y with the same shave, and on the "
        "HR images too; it needs niqe_pris_params.npz (env SRFM_NIQE_PARAMS)",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from keras_srfm.commands.errors import CommandError
    from keras_srfm.evaluation import protocol
    from keras_srfm.imaging.atomic import atomic_write, write_json

    if not args.hr_dir and not args.dataset:
        raise CommandError("give at least one --hr-dir or --dataset")
    metrics = protocol.parse_metrics(args.metrics)
    if "niqe" in metrics:
        from keras_srfm.metrics.niqe import load_niqe_params

        load_niqe_params()  # a missing parameter file fails now, in one line
    # Check every input before the (slow) model load and evaluation.
    if args.lr_dir and len(args.lr_dir) != len(args.hr_dir):
        raise CommandError(
            f"give one --lr-dir per --hr-dir. Received: {len(args.hr_dir)} --hr-dir, {len(args.lr_dir)} --lr-dir"
        )
    if args.lr_dir:
        sources = [protocol.paired_folder_source(h, lr) for h, lr in zip(args.hr_dir, args.lr_dir, strict=True)]
    else:
        sources = [protocol.folder_source(d) for d in args.hr_dir]
    sources += [protocol.tfds_source(n, args.data_dir, args.manual_dir) for n in args.dataset]
    names = protocol.unique_names([s.name for s in sources])
    # ... and every output: a bad --json / --csv / --save-sr fails now, not after the run.
    for flag, path, folder in (
        ("--json", args.json, False),
        ("--csv", args.csv, False),
        ("--save-sr", args.save_sr, True),
    ):
        if path:
            protocol.check_writable(path, folder=folder, flag=flag)
    for source in sources:
        if source.skipped_note:
            print(f"srfm evaluate: note: {source.skipped_note}", file=sys.stderr)

    from keras_srfm.inference.upscalers import load_upscaler

    def report(dataset: str, image: str, reason: str) -> None:
        print(f"srfm evaluate: error: {dataset}/{image}: {reason}", file=sys.stderr)

    upscaler = load_upscaler(args.model, tile_size=args.tile_size)
    results = []
    for source, name in zip(sources, names, strict=True):
        source = dataclasses.replace(source, name=name)
        results.append(
            protocol.evaluate_source(
                upscaler,
                source,
                save_dir=args.save_sr,
                progress=not args.no_progress,
                metrics=metrics,
                on_failure=report,
            )
        )

    print(protocol.markdown_table(upscaler.name, results))
    if args.json:
        document = protocol.results_json(upscaler.name, results)
        if args.lr_dir:  # LR read from the folders, not made by bicubic (step 3)
            document["protocol"] = document["protocol"].replace(
                "LR = MATLAB bicubic 1/4 on uint8", "LR = the given LR file (paired by stem)"
            )
            document["lr_dirs"] = [str(d) for d in args.lr_dir]
        write_json(args.json, document)
    if args.csv:
        atomic_write(args.csv, protocol.results_csv(results))
    failed = sum(len(r.failed) for r in results)
    if failed:
        scored = sum(len(r.per_image) for r in results)
        print(
            f"srfm evaluate: {failed} image(s) could not be scored (named above); the means and "
            f"the reports hold the other {scored}",
            file=sys.stderr,
        )
    return 1 if failed else 0
