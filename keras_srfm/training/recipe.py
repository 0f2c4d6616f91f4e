"""Recipes: where a shipped model came from, as `srfm train` settings that reproduce it.

Each shipped model's folder has a `recipe.json` (as BasicSR's option files record a run): the
deviations from the paper and one entry per training phase. A phase that `srfm train` can rerun
holds `srfm_train`, a list of *calls*. A call is a run's configuration (`RunConfig`), grouped as
the run's `config.json` groups it and with its field names:

    {"train": {"variant": "pcsa", "steps": 8250, "g_learning_rate": 0.0001, ...},
     "data": {"sources": ["$SRFM_DATA_DIR/train/T91/HR", ...], "batch_size": 16, ...},
     "generator": {...}, "discriminator": {...}, "loss": {...},
     "bench_dir": "$SRFM_DATA_DIR/benchmarks/Set5/HR"}

A group holds the fields that an option of `srfm train` sets (the one table
`CONFIG_OPTIONS` below, which also turns them back into options); fields
that follow from others (`data.seed` is `train.seed`, the loss terms come from the variant,
`discriminator.patch_size` from `data.lr_patch`) are not written. Beside the groups a call may
name the run options `bench_dir` (the learning curve's images) and `stats`.

The first call of a shipped recipe's phase writes *every* such field, at its default or not, so
that the recipe does not depend on the defaults of the version that reads it; a field a call
leaves out (as a short hand-written recipe does) takes the `srfm train` default, which is the
dataclass's. Each later call lists only what changed when that run was resumed (the schedule
changes `resume_log.jsonl` records), and its `train.steps` is where it stopped. An unknown group
or field is refused in one line (`RecipeError`), and so is a call in the format before this one
(`srfm train` option names such as `g_lr`): the error names the field of each. What a phase's
original trainer recorded (its arguments, command line, versions; some trainers were removed)
is kept under the phase's `history`, for the record: `srfm train` never reads it.

    srfm train --config exported_models/srfm_pcsa/recipe.json --run-dir runs/pcsa
    srfm train --config srfm_mp --phase CPU --steps 750 --run-dir runs/mp_check

`--config` takes a recipe file or a shipped model's name; options given on the command line win
over the recipe's, and `--steps N` stops the phase at total step N. String values may use
`$SRFM_DATA_DIR` (the data folder; default `../shared/data` beside a source checkout, none
in an installed wheel) and other
environment variables. Imports no TensorFlow.
"""

from __future__ import annotations

import json
import os
import string
from pathlib import Path
from typing import Any

# The one table of which `srfm train` option sets which field of the run's configuration
# (`RunConfig`, saved as a run's `config.json`): argparse dest -> (group, field).
# `srfm train`'s `configs_from_args` (keras_srfm.commands.train) builds the configs from it, and `--config` reads a recipe's calls (RunConfig
# fields) back into options with it, so the two directions cannot
# drift. Fields no option sets follow from these: `data.seed` is `train.seed`, the loss terms
# come from `train.variant` (`VARIANTS`), `discriminator.patch_size` is `data.hr_patch`.
CONFIG_OPTIONS: dict[str, tuple[str, str]] = {
    "variant": ("train", "variant"),
    "steps": ("train", "steps"),
    "g_lr": ("train", "g_learning_rate"),
    "d_lr": ("train", "d_learning_rate"),
    "decay_every": ("train", "decay_every"),
    "decay_factor": ("train", "decay_factor"),
    "decay_start": ("train", "decay_start"),
    "decay_at": ("train", "decay_at"),
    "warmup_steps": ("train", "warmup_steps"),
    "adam_epsilon": ("train", "adam_epsilon"),
    "checkpoint_every": ("train", "checkpoint_every"),
    "keep_checkpoints": ("train", "keep_checkpoints"),
    "ema": ("train", "use_ema"),
    "jit": ("train", "jit_compile"),
    "mixed_precision": ("train", "mixed_precision"),
    "strategy": ("train", "strategy"),
    "backend": ("train", "backend"),
    "init_from": ("train", "init_from"),
    "seed": ("train", "seed"),
    "data": ("data", "sources"),
    "data_weights": ("data", "weights"),
    "batch_size": ("data", "batch_size"),
    "patches_per_image": ("data", "patches_per_image"),
    "lr_patch": ("data", "lr_patch"),
    "degradation": ("data", "degradation"),
    "ladder": ("data", "ladder"),
    "data_dir": ("data", "data_dir"),
    "manual_dir": ("data", "manual_dir"),
    "blocks": ("generator", "num_blocks"),
    "filters": ("generator", "filters"),
    "rgb_mean": ("generator", "rgb_mean"),
    "vgg_weights": ("loss", "vgg_weights"),
    "vgg_layer": ("loss", "vgg_layer"),
    "vgg_normalise": ("loss", "vgg_normalise"),
    "content_mode": ("loss", "content_mode"),
    "huber_delta": ("loss", "huber_delta"),
    "tap": ("discriminator", "tap"),
}
# Options a recipe call may name beside its groups (top-level keys): the learning curve's images
# and a `srfm stats` file. Not config fields (--stats gives generator.rgb_mean unless --rgb-mean does).
RUN_OPTIONS = ("bench_dir", "stats")


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
        (phase name, calls): each call holds the RunConfig fields (by group) and run options of
        one `srfm train` run, with the earlier calls' values carried forward and environment
        variables expanded.

    Raises:
        RecipeError: not a recipe, no such phase, a phase `srfm train` cannot rerun, or a call
            with an unknown group or field (`check_call`).
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
    calls = _calls(chosen[CALLS_KEY], f"--config {path}, phase {chosen.get('name')!r}")
    _check_prepared(chosen, calls)
    return str(chosen.get("name")), calls


def steps_of(call: dict[str, Any]) -> int:
    """The total step a call trains to (`train.steps`)."""
    return call["train"]["steps"]


def sources_of(call: dict[str, Any]) -> list[str]:
    """The data a call reads (`data.sources`; empty when the call leaves the default)."""
    return list((call.get("data") or {}).get("sources") or [])


def _check_prepared(phase: dict[str, Any], calls: list[dict[str, Any]]) -> None:
    """A phase whose data its recipe makes first (`prepare`, e.g. `srfm degrade` sets): says how,
    in one line, when a data folder is missing."""
    prepare = phase.get("prepare")
    if not prepare:
        return
    missing = [d for call in calls for d in sources_of(call) if not Path(d).expanduser().exists()]
    if missing:
        steps = "; ".join(expand(command) for command in prepare)
        raise RecipeError(f"--data {missing[0]} not found: this phase's data is made first by: {steps}")


def check_call(call: dict[str, Any], where: str) -> None:
    """Refuses, in one line, a call key that is neither a RunConfig group holding fields that
    `srfm train` sets nor a run option (`bench_dir`, `stats`). A call of the older format
    (`srfm train` option names) is told the group and field of each of its options."""
    fields: dict[str, list[str]] = {}
    for group, field in CONFIG_OPTIONS.values():
        fields.setdefault(group, []).append(field)
    # "data" is an option (a list of sources) and a group (a dict of fields): the value decides.
    old = [k for k, v in call.items() if k in CONFIG_OPTIONS and not (k in fields and isinstance(v, dict))]
    if old:
        moves = ", ".join(f"{k} -> {'.'.join(CONFIG_OPTIONS[k])}" for k in old)
        raise RecipeError(f"{where}: the call names srfm train options (the recipe format before RunConfig "
                          f"fields); write each as a field under its group, as config.json does: {moves}")
    for key, value in call.items():
        if key in RUN_OPTIONS:
            continue
        if key not in fields:
            raise RecipeError(f"{where}: {key!r} is not a RunConfig group ({', '.join(fields)}) "
                              f"nor one of {', '.join(RUN_OPTIONS)}")
        if not isinstance(value, dict):
            raise RecipeError(f"{where}: {key!r} must be a dict of {key} fields. Received: {value!r}")
        unknown = sorted(set(value) - set(fields[key]))
        if unknown:
            raise RecipeError(f"{where}: {', '.join(f'{key}.{f}' for f in unknown)} is not a field that "
                              f"srfm train sets (its {key} fields: {', '.join(fields[key])})")


def _merge(current: dict[str, Any], call: dict[str, Any]) -> dict[str, Any]:
    """`call`'s fields over `current`'s, group by group."""
    merged = dict(current)
    for key, value in call.items():
        merged[key] = {**merged.get(key, {}), **value} if isinstance(value, dict) else value
    return merged


def _calls(raw: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list) or not raw or not all(isinstance(c, dict) for c in raw):
        raise RecipeError(f"{where}: {CALLS_KEY!r} must be a list of calls (dicts of RunConfig groups)")
    calls, current = [], {}
    for number, call in enumerate(raw, start=1):
        check_call(call, f"{where}, call {number}")
        current = _merge(current, expand(call))
        if "steps" not in current.get("train", {}):
            raise RecipeError(f"{where}, call {number}: every {CALLS_KEY!r} call needs its train.steps")
        calls.append(current)
    stops = [steps_of(c) for c in calls]
    if stops != sorted(set(stops)):
        raise RecipeError(f"{where}: the calls' train.steps must increase. Received: {stops}")
    return calls


def expand(value: Any) -> Any:
    """Environment variables in strings (and in lists and dicts of them); `$SRFM_DATA_DIR` has a
    default."""
    if isinstance(value, list):
        return [expand(v) for v in value]
    if isinstance(value, dict):
        return {key: expand(v) for key, v in value.items()}
    if not isinstance(value, str) or "$" not in value:
        return value
    from keras_srfm.inference.presets import data_root

    names = dict(os.environ)
    if "SRFM_DATA_DIR" in value:  # FileNotFoundError in a wheel install without the variable
        names["SRFM_DATA_DIR"] = str(data_root())
    text = string.Template(value).safe_substitute(names)
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
        kept.append(_merge(call, {"train": {"steps": min(steps_of(call), steps)}}))
        if steps_of(call) >= steps:
            return kept
    kept[-1] = _merge(kept[-1], {"train": {"steps": steps}})
    return kept
