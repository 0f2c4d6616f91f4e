"""`srfm bench`: time Keras, the SavedModel, each TFLite and each ONNX Runtime variant on this CPU."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from keras_srfm.inference.bench import DEFAULT_RUNTIMES, RUNTIMES

    p = subparsers.add_parser(
        "bench",
        help="which way of running a model is fastest on this CPU (Keras, SavedModel, TFLite, "
        "ONNX Runtime)",
        description=(
            "Exports the generator as a SavedModel and converts it to each TFLite and ONNX variant "
            "in a temporary folder, then times every variant on one random image of --size (untiled, "
            "after a warm-up call, interleaved rounds), prints a table with the CPU it ran on, "
            "and names the fastest here. The fastest variant differs between CPUs."
        ),
    )
    p.add_argument(
        "--model",
        default="default",
        help="a .keras generator, a shipped model's name (e.g. srfm_mp) or 'default' "
        "(default: default)",
    )
    p.add_argument(
        "--size", type=int, default=256, help="LR edge of the test image (default: 256 -> 1024)"
    )
    p.add_argument("--repeats", type=int, default=3, help="timed calls per variant (default: 3)")
    p.add_argument(
        "--variants",
        nargs="+",
        choices=RUNTIMES,
        default=list(DEFAULT_RUNTIMES),
        help=f"what to time (default: {' '.join(DEFAULT_RUNTIMES)})",
    )
    p.add_argument("--json", default=None, metavar="FILE", help="also write the results as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from keras_srfm.imaging.atomic import write_json
    from keras_srfm.inference import bench
    from keras_srfm.inference.presets import resolve_model

    # Every input is checked before anything is built or written.
    if args.size < 8 or args.repeats < 1:
        raise ValueError(
            f"--size must be >= 8 and --repeats >= 1. Received: {args.size}, {args.repeats}"
        )
    path = Path(resolve_model(args.model))  # a shipped name, "default" or a path
    if not path.is_file():
        raise FileNotFoundError(f"model not found: {path}")
    if path.suffix != ".keras":
        raise ValueError(
            f"--model must be a .keras generator (the source of every variant). Received: {path}"
        )
    if args.json is not None and not Path(args.json).parent.is_dir():
        raise FileNotFoundError(f"--json folder does not exist: {Path(args.json).parent}")

    def log(line: str) -> None:
        print(f"srfm bench: {line}", file=sys.stderr, flush=True)

    report = bench.run_bench(
        path, size=args.size, repeats=args.repeats, variants=args.variants, log=log
    )
    print(bench.format_report(report))
    if args.json is not None:
        write_json(args.json, report.to_dict())
        log(f"wrote {args.json}")
    return 0
