"""Recipes: where a shipped model came from, as `srfm train` settings that reproduce it.

Each shipped model's folder has a `recipe.json` (as BasicSR's option files record a run): the
deviations from the paper and one entry per training phase. A phase that `srfm train` can rerun
holds `srfm_train`, a list of *calls*: dicts of `srfm train` options by their argparse names
(`variant`, `data`, `g_lr`, `decay_at`, `init_from`, `bench_dir`, ...). The first call holds the
whole configuration; each later call lists only what changed when that run was resumed (the
schedule changes `resume_log.jsonl` records), and its `steps` is where it stopped.

    srfm train --config exported_models/srfm_pcsa/recipe.json --run-dir runs/pcsa
    srfm train --config srfm_mp --phase CPU --steps 750 --run-dir runs/mp_check

`--config` takes a recipe file or a shipped model's name; options given on the command line win
over the recipe's, and `--steps N` stops the phase at total step N. String values may use
`$SRFM_DATA_DIR` (the data folder; default `../shared/data` beside the repository) and other
environment variables. Imports no TensorFlow.
"""

from __future__ import annotations

import json
import os
import string
from pathlib import Path
from typing import Any

RECIPE_FILE = "recipe.json"
CALLS_KEY = "srfm_train"


class RecipeError(ValueError):
    """A recipe that cannot be read or run (one line, for the CLI)."""


def recipe_path(spec: str) -> Path:
    """A recipe file, or the `recipe.json` of a shipped model named `spec`."""
    path = Path(spec).expanduser()
    if path.is_dir():
        path = path / RECIPE_FILE
    if path.is_file():
        return path
    from keras_srfm.inference import presets

    if presets.looks_like_name(spec):
        folder = presets.get_model(spec).keras_file.parent  # FileNotFoundError lists the names
        if (folder / RECIPE_FILE).is_file():
            return folder / RECIPE_FILE
        raise FileNotFoundError(f"--config {spec}: the shipped model has no {RECIPE_FILE}")
    raise FileNotFoundError(f"--config file not found: {spec}")


def phase_calls(spec: str, phase: str | None = None) -> tuple[str, list[dict[str, Any]]]:
    """The `srfm train` calls of one phase of a recipe (default: its last runnable phase).

    Returns:
        (phase name, calls): each call is the full option dict of one `srfm train` run, with
        the earlier calls' values carried forward and environment variables expanded.

    Raises:
        RecipeError: not a recipe, no such phase, or a phase `srfm train` cannot rerun.
        FileNotFoundError: no such file or shipped model.
    """
    path = recipe_path(spec)
    try:
        recipe = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RecipeError(f"--config {path} is not a JSON file ({err})") from err
    if not isinstance(recipe, dict) or not isinstance(recipe.get("phases"), list):
        raise RecipeError(f"--config {path} is not a recipe (no \"phases\" list)")
    phases = [p for p in recipe["phases"] if isinstance(p, dict)]
    if phase is None:
        runnable = [p for p in phases if CALLS_KEY in p]
        if not runnable:
            raise RecipeError(f"--config {path}: no phase has {CALLS_KEY!r} settings")
        chosen = runnable[-1]
    else:
        chosen = next((p for p in phases if p.get("name") == phase), None)
        if chosen is None:
            names = ", ".join(str(p.get("name")) for p in phases)
            raise RecipeError(f"--phase {phase}: not in {path} (phases: {names})")
        if CALLS_KEY not in chosen:
            raise RecipeError(f"--phase {phase} of {path} has no {CALLS_KEY!r} settings: {chosen.get('note', '')}")
    calls = _calls(chosen[CALLS_KEY], path)
    _check_prepared(chosen, calls)
    return str(chosen.get("name")), calls


def _check_prepared(phase: dict[str, Any], calls: list[dict[str, Any]]) -> None:
    """A phase whose data its recipe makes first (`prepare`, e.g. `srfm degrade` sets): says how,
    in one line, when a data folder is missing."""
    prepare = phase.get("prepare")
    if not prepare:
        return
    missing = [d for call in calls for d in call.get("data") or [] if not Path(d).expanduser().exists()]
    if missing:
        steps = "; ".join(expand(command) for command in prepare)
        raise RecipeError(f"--data {missing[0]} not found: this phase's data is made first by: {steps}")


def _calls(raw: Any, path: Path) -> list[dict[str, Any]]:
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list) or not raw or not all(isinstance(c, dict) for c in raw):
        raise RecipeError(f"--config {path}: {CALLS_KEY!r} must be a list of option dicts")
    calls, current = [], {}
    for call in raw:
        current = {**current, **{key: expand(value) for key, value in call.items()}}
        if "steps" not in current:
            raise RecipeError(f"--config {path}: every {CALLS_KEY!r} call needs its \"steps\"")
        calls.append(dict(current))
    stops = [c["steps"] for c in calls]
    if stops != sorted(set(stops)):
        raise RecipeError(f"--config {path}: the calls' steps must increase. Received: {stops}")
    return calls


def expand(value: Any) -> Any:
    """Environment variables in strings (and lists of strings); `$SRFM_DATA_DIR` has a default."""
    if isinstance(value, list):
        return [expand(v) for v in value]
    if not isinstance(value, str) or "$" not in value:
        return value
    from keras_srfm.inference.presets import data_root

    text = string.Template(value).safe_substitute({**os.environ, "SRFM_DATA_DIR": str(data_root())})
    if "$" in text:
        raise RecipeError(f"recipe value {value!r}: an environment variable is not set")
    return text


def stop_calls(calls: list[dict[str, Any]], steps: int | None) -> list[dict[str, Any]]:
    """The calls up to total step `steps` (all when None); the last one stops there, or goes
    on with its settings when `steps` is past the end of the phase."""
    if steps is None:
        return calls
    kept = []
    for call in calls:
        kept.append({**call, "steps": min(call["steps"], steps)})
        if call["steps"] >= steps:
            return kept
    kept[-1]["steps"] = steps
    return kept
