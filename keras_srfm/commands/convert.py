"""`srfm convert`: generator -> TFLite / LiteRT, ONNX or ncnn (see docs/on-device.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

FORMATS = ("tflite", "onnx", "ncnn")
SUFFIX = {"tflite": ".tflite", "onnx": ".onnx", "ncnn": ".param"}
SHORT = {"float32": "", "float16": "_fp16", "int8": "_int8"}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "convert",
        help="convert a generator to TFLite / LiteRT, ONNX or ncnn",
        description="Float RGB on [0, 1] in, x4 out. tflite: builtin ops only, 1xHxWx3; without "
        "--tile the input shape is dynamic, with --tile N it is 1xNxNx3 (GPU/NPU delegates). "
        "onnx: dynamic 1x3xHxW (NCHW, what chaiNNer feeds; --layout nhwc for 1xHxWx3), output "
        "clipped to [0, 1], for ONNX Runtime, chaiNNer and `srfm web`. ncnn: NAME.param + NAME.bin "
        "with blobs data/output, for realesrgan-ncnn-vulkan, upscayl and chaiNNer. "
        "`srfm upscale --model FILE.tflite|FILE.onnx` tiles on the host either way.",
    )
    p.add_argument(
        "model_arg",
        nargs="?",
        default=None,
        metavar="MODEL",
        help="a shipped model's name (see `srfm models`), 'default', a .keras generator or a "
        "SavedModel written by `srfm export` (or give it as --model)",
    )
    p.add_argument("--model", default=None, help="the same as MODEL")
    p.add_argument("--format", default="tflite", choices=FORMATS, help="what to write")
    p.add_argument(
        "--output",
        default=None,
        help="the file to write (.tflite, .onnx, or the ncnn .param; its .bin goes beside it); "
        "default: MODEL_NAME[_fp16|_int8] + the format's suffix in the current folder",
    )
    p.add_argument(
        "--quantize",
        default="float32",
        choices=["float32", "float16", "int8"],
        help="float32; float16 weights (ONNX: every tensor float16); int8 = dynamic-range int8 "
        "weights, tflite only (default: float32)",
    )
    p.add_argument(
        "--layout",
        default="nchw",
        choices=["nchw", "nhwc"],
        help="ONNX input/output layout: nchw 1x3xHxW (chaiNNer's) or nhwc 1xHxWx3",
    )
    p.add_argument(
        "--tile",
        type=int,
        default=None,
        help="tflite: fixed LR input edge (default: dynamic shape)",
    )
    p.set_defaults(func=run)


def _model_spec(args: argparse.Namespace) -> str:
    if args.model_arg and args.model and args.model_arg != args.model:
        raise ValueError(
            f"give the model once. Received: {args.model_arg} and --model {args.model}"
        )
    spec = args.model_arg or args.model
    if not spec:
        raise ValueError("name the model to convert: srfm convert MODEL --format onnx")
    return spec


def _check_options(args: argparse.Namespace) -> None:
    if args.format != "tflite" and args.quantize == "int8":
        raise ValueError(f"--quantize int8 is for tflite; {args.format} takes float32 or float16")
    if args.format != "tflite" and args.tile is not None:
        raise ValueError(f"--tile is for tflite; {args.format} models take any height and width")
    if args.format != "onnx" and args.layout != "nchw":
        raise ValueError("--layout is for onnx")


def _default_output(source: Path, args: argparse.Namespace) -> Path:
    stem = source.parent.name if source.is_dir() and source.name.isdigit() else source.stem
    return Path(f"{stem}{SHORT[args.quantize]}{SUFFIX[args.format]}")


def run(args: argparse.Namespace) -> int:
    from keras_srfm.export.source import source_path

    spec = _model_spec(args)
    _check_options(args)
    source = source_path(spec)
    output = Path(args.output) if args.output else _default_output(source, args)
    if output.suffix != SUFFIX[args.format]:
        raise ValueError(
            f"--output must end with {SUFFIX[args.format]} for --format {args.format}. "
            f"Received: {output}"
        )
    if not output.parent.is_dir():
        raise FileNotFoundError(f"--output folder does not exist: {output.parent}")
    if args.format == "onnx":
        return _onnx(source, output, args)
    if args.format == "ncnn":
        return _ncnn(source, output, args)
    return _tflite(source, output, args)


def _tflite(source: Path, output: Path, args: argparse.Namespace) -> int:
    from keras_srfm.export.source import load_source_generator
    from keras_srfm.export.tflite import convert_to_tflite, tflite_ops

    model = load_source_generator(source)
    output = convert_to_tflite(model, output, quantize=args.quantize, tile=args.tile)
    ops = sorted(set(tflite_ops(output)))
    shape = f"1x{args.tile}x{args.tile}x3" if args.tile else "1xHxWx3 (dynamic)"
    size_mb = output.stat().st_size / 1e6
    print(
        f"wrote {output} ({size_mb:.2f} MB, {args.quantize}, input {shape}, ops: {', '.join(ops)})"
    )
    return 0


def _onnx(source: Path, output: Path, args: argparse.Namespace) -> int:
    from keras_srfm.export.onnx import convert_to_onnx
    from keras_srfm.export.source import model_label

    output = convert_to_onnx(
        source, output, precision=args.quantize, layout=args.layout, source=model_label(source)
    )
    shape = "1x3xHxW" if args.layout == "nchw" else "1xHxWx3"
    size_mb = output.stat().st_size / 1e6
    print(
        f"wrote {output} ({size_mb:.2f} MB, {args.quantize}, input 'input' {shape} RGB on [0, 1], "
        f"output 'output' x4 clipped to [0, 1])"
    )
    return 0


def _ncnn(source: Path, output: Path, args: argparse.Namespace) -> int:
    from keras_srfm.export.ncnn import INPUT_BLOB, OUTPUT_BLOB, convert_to_ncnn

    param, weights = convert_to_ncnn(source, output, precision=args.quantize)
    size_mb = weights.stat().st_size / 1e6
    print(
        f"wrote {param} and {weights.name} ({size_mb:.2f} MB, {args.quantize}, blobs "
        f"{INPUT_BLOB!r} -> {OUTPUT_BLOB!r}, RGB on [0, 1], x4)"
    )
    return 0
