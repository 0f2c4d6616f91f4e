"""`srfm export`: generator -> SavedModel in TF Serving's `<base>/<name>/<version>/` layout."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="export a generator as a SavedModel for TensorFlow Serving",
        description="Writes OUTPUT/NAME/VERSION/ with signatures serving_default (uint8 images of "
        "any size -> uint8 x4) and serving_bytes (PNG/JPEG bytes -> PNG bytes).",
    )
    p.add_argument(
        "--model",
        required=True,
        help="a .keras generator file, a shipped model's name (see `srfm models`) or 'default'",
    )
    p.add_argument(
        "--output",
        required=True,
        help="TF Serving base folder (the model goes in OUTPUT/NAME/VERSION)",
    )
    p.add_argument(
        "--name", default="srfm", help="model name, TF Serving's --model_name (default: srfm)"
    )
    p.add_argument("--version", type=int, default=1, help="version folder (default: 1)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing version")
    p.add_argument(
        "--max-pixels",
        type=int,
        default=512 * 512,
        help="pixel budget: larger requests (serving_default: B*H*W) or images (serving_bytes: "
        "H*W) get InvalidArgument instead of exhausting memory; the paper network needs 16 to 23 KB per LR pixel",
    )
    p.set_defaults(func=run)


def _keras_model_path(spec: str):  # -> Path
    from pathlib import Path

    from keras_srfm.inference.presets import resolve_model
    from keras_srfm.inference.upscalers import default_model_path

    path = default_model_path() if spec == "default" else Path(resolve_model(spec))
    if not path.is_file():
        raise FileNotFoundError(f"model not found: {path}")
    if path.suffix != ".keras":
        raise ValueError(f"--model must be a .keras generator file. Received: {path}")
    return path


def run(args: argparse.Namespace) -> int:
    from keras_srfm.commands.errors import CommandError
    from keras_srfm.export.saved_model import export_saved_model

    if args.max_pixels < 1:
        raise ValueError(f"--max-pixels must be >= 1. Received: {args.max_pixels}")
    path = _keras_model_path(args.model)
    try:
        target = export_saved_model(
            path,
            args.output,
            name=args.name,
            version=args.version,
            overwrite=args.overwrite,
            max_pixels=args.max_pixels,
        )
    except FileExistsError as err:
        raise CommandError(str(err)) from err
    print(f"wrote {target} (signatures: serving_default, serving_bytes)")
    print(
        f"serve: tensorflow_model_server --rest_api_port=8501 --model_name={args.name} "
        f"--model_base_path={target.parent.resolve()}"
    )
    return 0
