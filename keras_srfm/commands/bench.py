"""`srfm bench`: time Keras, the SavedModel, each TFLite and each ONNX Runtime variant on this CPU."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from keras_srfm.config import VARIANTS as VARIANTS_TRAIN
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
    p.add_argument("--repeats", type=int, default=3,
                   help="timed calls per variant, or timed updates per setting with --train (default: 3)")
    p.add_argument(
        "--variants",
        nargs="+",
        choices=RUNTIMES,
        default=list(DEFAULT_RUNTIMES),
        help=f"what to time (default: {' '.join(DEFAULT_RUNTIMES)})",
    )
    p.add_argument("--json", default=None, metavar="FILE", help="also write the results as JSON")
    train = p.add_argument_group(
        "training (--train)",
        "time the srfm train update instead: backend (TensorFlow, JAX where installed) x precision "
        "(float32, bfloat16; float16 on a GPU) x XLA, each setting in its own process, stepped in "
        "lockstep; the result is cached for srfm train --mixed-precision auto",
    )
    train.add_argument("--train", action="store_true", help="time the training update (not --model)")
    train.add_argument("--variant", default="p", choices=list(VARIANTS_TRAIN),
                       help="variant whose update is timed (default: p; pcsva needs ~3 GB per setting)")
    train.add_argument("--backends", nargs="+", choices=("tensorflow", "jax"), default=None,
                       help="backends to time (default: those installed)")
    train.add_argument("--precisions", nargs="+", choices=("off", "bfloat16", "float16"), default=None,
                       help="precisions to time (default: off and bfloat16, plus float16 on a GPU)")
    train.add_argument("--xla", choices=("both", "on", "off"), default="both",
                       help="XLA settings of the TensorFlow step to time (default: both)")
    train.add_argument("--warmup", type=int, default=2, help="untimed updates per setting (default: 2)")
    train.add_argument("--blocks", type=int, default=16, help="generator residual blocks (default: 16)")
    train.add_argument("--filters", type=int, default=64, help="generator filters (default: 64)")
    train.add_argument("--batch-size", type=int, default=16, help="global batch (default: 16)")
    train.add_argument("--lr-patch", type=int, default=24, help="LR patch side (default: 24 -> 96)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.train:
        return run_train(args)
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


def run_train(args: argparse.Namespace) -> int:
    """`srfm bench --train`: the table, the fastest setting, and the cache entry."""
    from keras_srfm.imaging.atomic import write_json
    from keras_srfm.training import precision, step_bench

    sizes = (args.blocks, args.filters, args.batch_size, args.lr_patch, args.repeats)
    if min(sizes) < 1 or args.warmup < 1:
        raise ValueError(
            "--blocks, --filters, --batch-size, --lr-patch, --repeats and --warmup must be >= 1. "
            f"Received: {sizes + (args.warmup,)}"
        )
    if args.json is not None and not Path(args.json).parent.is_dir():
        raise FileNotFoundError(f"--json folder does not exist: {Path(args.json).parent}")
    spec = step_bench.Spec(variant=args.variant, blocks=args.blocks, filters=args.filters,
                           batch=args.batch_size, lr_patch=args.lr_patch, warmup=args.warmup,
                           steps=args.repeats)
    hardware = precision.detect()
    xla = {"both": (False, True), "on": (True,), "off": (False,)}[args.xla]
    settings = step_bench.default_settings(hardware, args.backends, args.precisions, xla)
    if not settings:
        raise ValueError(
            "nothing to time: no installed backend supports these settings here. Received: "
            f"--backends {args.backends}, --precisions {args.precisions}, --xla {args.xla}"
        )

    def log(line: str) -> None:
        print(f"srfm bench: {line}", file=sys.stderr, flush=True)

    report = step_bench.run_train_bench(spec, settings, hardware, log=log)
    print(step_bench.format_report(report))
    if report["fastest"] is not None:
        log(f"cached in {precision.write_cache(hardware, spec.key, report)}")
    if args.json is not None:
        write_json(args.json, report)
        log(f"wrote {args.json}")
    return 0 if report["fastest"] is not None else 1
