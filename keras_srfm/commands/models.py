"""`srfm models`: the shipped models, by name, with a one-line description each."""

from __future__ import annotations

import argparse
import json


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "models",
        help="list the shipped models (usable by name: --model NAME)",
        description="Lists the models shipped with the package (the source tree's "
        "exported_models/, or the copy in the installed wheel). Any of them can be passed by "
        "name wherever a model is accepted, e.g. `srfm upscale --model srfm_pcsa`, or loaded "
        "with keras_srfm.load_generator(NAME). The default model is marked with '*'.",
    )
    p.add_argument(
        "--paths", action="store_true", help="also print each model's files (.keras, .tflite, SavedModel)"
    )
    p.set_defaults(func=run)


def _set5_psnr(folder) -> str:  # folder: Path
    path = folder / "evaluation.json"
    try:
        value = json.loads(path.read_text())["datasets"]["Set5"]["mean"]["psnr"]
    except (OSError, ValueError, KeyError, TypeError):
        return ""
    return f"Set5 {value:.2f} dB"


def run(args: argparse.Namespace) -> int:
    from keras_srfm.inference import presets

    models = presets.list_models()
    root = presets.models_root()
    if not models:
        raise FileNotFoundError(f"no model is shipped in {root}")
    default = presets.default_model_name()
    width = max(len(m.name) for m in models)
    for model in models:
        mark = "*" if model.name == default else " "
        print(f"{mark} {model.name:<{width}}  {_set5_psnr(model.folder):<14s} {model.description}")
        if args.paths:
            for path in (model.keras_file, model.tflite_file, model.saved_model):
                if path is not None:
                    print(f"    {path}")
    return 0
