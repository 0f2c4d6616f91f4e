"""`srfm models`: the shipped models, by name, with a one-line description each, and which of
them to use for which input, read from their degradation-ladder evaluations."""

from __future__ import annotations

import argparse
import json
from typing import Any


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


def _evaluation(folder) -> dict[str, Any]:  # folder: Path
    """A model's `evaluation.json`, or {} when it has none (or an unreadable one)."""
    try:
        document = json.loads((folder / "evaluation.json").read_text())
    except (OSError, ValueError):
        return {}
    return document if isinstance(document, dict) else {}


def _set5_psnr(evaluation: dict[str, Any]) -> str:
    try:
        value = evaluation["datasets"]["Set5"]["mean"]["psnr"]
    except (KeyError, TypeError):
        return ""
    return f"Set5 {value:.2f} dB"


def ladder_picks(evaluations: dict[str, dict[str, Any]]) -> dict[str, dict[str, str]]:
    """For each rung of the degradation ladder (`tools/ladder.py`: clean, mild, medium, strong,
    web), the model with the highest mean PSNR and the one with the lowest mean NIQE over the
    test sets every model was evaluated on; {} when fewer than two models have a ladder.

    Args:
        evaluations: model name -> its `evaluation.json` (the `ladder` key is read).
    Returns:
        {"psnr": {rung: name}, "niqe": {rung: name}}, rungs in ladder order.
    """
    ladders = {}
    for name, evaluation in evaluations.items():
        try:
            ladders[name] = evaluation["ladder"]["datasets"]
        except (KeyError, TypeError):
            continue
    if len(ladders) < 2:
        return {}
    picks: dict[str, dict[str, str]] = {"psnr": {}, "niqe": {}}
    rungs = list(next(iter(ladders.values())).get("BSD100", {}))
    for rung in rungs:
        sets = set.intersection(*({s for s, r in ladder.items() if rung in r} for ladder in ladders.values()))
        if not sets:
            continue
        for metric, best in (("psnr", max), ("niqe", min)):
            means = {name: sum(ladder[s][rung]["mean"][metric] for s in sets) / len(sets)
                     for name, ladder in ladders.items()}  # fmt: skip
            picks[metric][rung] = best(means, key=means.get)
    return picks


def run(args: argparse.Namespace) -> int:
    from keras_srfm.inference import presets

    models = presets.list_models()
    root = presets.models_root()
    if not models:
        raise FileNotFoundError(f"no model is shipped in {root}")
    default = presets.default_model_name()
    width = max(len(m.name) for m in models)
    evaluations = {model.name: _evaluation(model.folder) for model in models}
    for model in models:
        mark = "*" if model.name == default else " "
        print(f"{mark} {model.name:<{width}}  {_set5_psnr(evaluations[model.name]):<14s} {model.description}")
        if args.paths:
            for path in (model.keras_file, model.tflite_file, model.saved_model):
                if path is not None:
                    print(f"    {path}")
    picks = ladder_picks(evaluations)
    if picks:
        print("\nWhich model for which input (the degradation ladder of BSD100 and Urban100: clean is "
              "a MATLAB bicubic downscale, mild a phone or web photo, web made by Pillow; "
              "docs: real_photos.md):")
        for metric, label in (("psnr", "highest PSNR (fidelity)"), ("niqe", "lowest NIQE (natural look)")):
            print(f"  {label:<27s} " + ", ".join(f"{rung}: {name}" for rung, name in picks[metric].items()))
    return 0
