"""`srfm convert`: generator -> TFLite / LiteRT file (float32, float16 or int8 dynamic range)."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "convert",
        help="convert a generator to TFLite / LiteRT (builtin ops only)",
        description="Float32 [0,1] RGB in, float32 x4 out. Without --tile the input shape is "
        "dynamic (resize at run time); with --tile N it is fixed to 1xNxNx3 (GPU/NPU delegates); "
        "`srfm upscale --model FILE.tflite` tiles on the host either way.",
    )
    p.add_argument(
        "--model",
        required=True,
        help="a .keras generator file, a shipped model's name (see `srfm models`) or 'default'",
    )
    p.add_argument("--output", required=True, help="the .tflite file to write")
    p.add_argument(
        "--quantize",
        default="float32",
        choices=["float32", "float16", "int8"],
        help="float32; float16 weights; int8 = dynamic-range int8 weights (default: float32)",
    )
    p.add_argument(
        "--tile", type=int, default=None, help="fixed LR input edge (default: dynamic shape)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from keras_srfm.commands.export import _keras_model_path
    from keras_srfm.export.tflite import convert_to_tflite, tflite_ops

    path = _keras_model_path(args.model)
    output = convert_to_tflite(path, args.output, quantize=args.quantize, tile=args.tile)
    ops = sorted(set(tflite_ops(output)))
    shape = f"1x{args.tile}x{args.tile}x3" if args.tile else "1xHxWx3 (dynamic)"
    size_mb = output.stat().st_size / 1e6
    print(
        f"wrote {output} ({size_mb:.2f} MB, {args.quantize}, input {shape}, ops: {', '.join(ops)})"
    )
    return 0
