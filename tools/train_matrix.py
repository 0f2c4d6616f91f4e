"""The `srfm train` combination matrix, generated from the config dataclasses and the CLI.

An *axis* is a `srfm train` option with a finite set of values (`choices`, or an on/off
flag) that sets a field of the run's config dataclasses; its values are found by parsing,
and the field it sets by building the `RunConfig` with each value. A new enum or boolean
option therefore joins the matrix by construction, and `enum_fields()` lists every config
field with a finite set of values (found by trying a value the dataclass must refuse) so
that a test can check that each one is an axis or deliberately left out (`NOT_ON_CLI`).

`pairwise()` is a small greedy all-pairs generator (AETG-style, deterministic): every value
of every axis meets every value of every other axis in at least one row. It keeps the
smallest of a few seeded constructions, and among those the cheapest to run (`row_cost`:
`--jit`, whose XLA compilation dominates the tier's time, most of all with `multiworker`). Rows whose values
this machine refuses (`keras_srfm.training.runner.unsupported`) are kept apart and checked to be
refused in one line. Every option that takes a value (`VALUE_FLAGS`) is set in one pairwise
row per precision.

Run `python tools/train_matrix.py --write docs/training.md` to regenerate the table of
tested combinations in that page (between the `train-matrix` markers).
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from keras_srfm.commands import train as train_command  # noqa: E402
from keras_srfm.config import (  # noqa: E402
    DataConfig,
    DiscriminatorConfig,
    GeneratorConfig,
    LossConfig,
    TrainConfig,
)

CONFIGS = {"train": TrainConfig, "data": DataConfig, "generator": GeneratorConfig,
           "discriminator": DiscriminatorConfig, "loss": LossConfig}

# Options the test harness sets itself in every row (tiny networks, a few steps). vgg_layer is
# one of them: block1_conv2 keeps a row's L_vgg (its ops, gradients and normalisation) at 2
# VGG19 convolutions instead of the paper's 16, which every trace and XLA compile repeats.
HARNESS_FLAGS = ("run_dir", "data", "steps", "batch_size", "patches_per_image", "lr_patch",
                 "checkpoint_every", "blocks", "filters", "vgg_weights", "vgg_layer", "verbose", "export_only")
# Options tested on their own rather than in the matrix, and where.
SEPARATE = {
    "config": "tests/training/test_recipe.py",  # a recipe sets the other options
    "phase": "tests/training/test_recipe.py",
    "backend": "train.backend",  # jax: tests/training/test_jax_run.py and tests/training/test_jax_parity.py (own process)
    # The realistic chain runs per image in tf.data, too slow for every row: trained in
    # tests/commands/test_train_cli.py, the mixture in tests/data/test_degradation.py.
    "degradation": "data.degradation",
    "ladder": "data.ladder",
}
# One test value per option that takes a value; `{name}` is a fixture path of the harness.
VALUE_FLAGS: dict[str, list[str]] = {
    "data_weights": ["1"],
    "data_dir": ["{tmp}/tfds"],
    "manual_dir": ["{tmp}/manual"],
    "g_lr": ["2e-4"],
    "d_lr": ["5e-5"],
    "decay_every": ["2"],
    "decay_factor": ["0.5"],
    "decay_start": ["1"],
    "decay_at": ["2"],
    "warmup_steps": ["2"],
    "adam_epsilon": ["1e-8"],
    "keep_checkpoints": ["2"],
    "rgb_mean": ["0.45", "0.44", "0.40"],
    "stats": ["{stats}"],
    "huber_delta": ["0.5"],
    "init_from": ["{init}"],
    "bench_dir": ["{bench}"],
    "seed": ["7"],
}
# Config fields with a finite set of values that `srfm train` does not expose, and why.
NOT_ON_CLI = {
    "data.on_bad_image": "folder checks; tested in tests/data/test_data_pipeline.py",
    "data.degradation": "--degradation: trained apart (tests/commands/test_train_cli.py), the chain being slow per row",
    "discriminator.pooling": "'avg' is for the library's variable-size patches",
    "discriminator.sync_batchnorm": "always on for srfm train",
    "loss.use_point": "set by --variant",
    "loss.use_content": "set by --variant",
    "loss.use_adv": "set by --variant",
    "loss.use_vgg": "set by --variant",
    "loss.content_weighting": "set by --variant",
    "loss.content_rescale": "set by --variant",
    "train.backend": "--backend jax runs in its own process: tests/training/test_jax_run.py",
    "loss.vgg_layer": "16 values, matters with L_vgg only: tests/commands/test_train_options.py",
}
PRECISION = "mixed_precision"
STRATEGY = "strategy"


def row_cost(row: Row) -> float:
    """A row's run time in plain rows (a part-made row: of the values set so far), for `pairwise`
    to prefer the covering set that runs fastest among the smallest ones. `--jit` XLA-compiles
    the GAN step in each of the row's runs: about 3-4x a plain row on a 2-core CPU, 6x with the
    multi-worker custom loop (measured on the matrix tier)."""
    jit = bool(row.get("jit"))
    return 1.0 + 2.5 * jit + 3.0 * (jit and row.get(STRATEGY) == "multiworker")


@dataclasses.dataclass(frozen=True)
class Axis:
    """One option of the matrix.

    Args:
        dest: str. The argparse destination (`mixed_precision`).
        flag: str. The option (`--mixed-precision`).
        values: tuple. Its values (`choices`, or `(False, True)` for an on/off flag).
        fields: tuple of str. The config fields it sets (`train.mixed_precision`).
    """

    dest: str
    flag: str
    values: tuple[Any, ...]
    fields: tuple[str, ...]

    def argv(self, value: Any) -> list[str]:
        """The command-line words that give this axis `value`."""
        if isinstance(value, bool):
            return [self.flag] if value else []
        return [self.flag, str(value)]


def train_parser() -> argparse.ArgumentParser:
    """The `srfm train` parser alone."""
    parser = argparse.ArgumentParser(prog="srfm")
    train_command.add_parser(parser.add_subparsers(dest="command"))
    return parser


def _flat(args: argparse.Namespace) -> dict[str, Any]:
    run = train_command.run_config_from_args(args).to_dict()
    return {f"{group}.{key}": value for group, values in run.items() for key, value in values.items()}


def _base_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    return parser.parse_args(["train", "--run-dir", "r", "--vgg-weights", "none"])


def axes(parser: argparse.ArgumentParser | None = None) -> list[Axis]:
    """Every finite-valued option of `srfm train` that sets config fields, in parser order."""
    parser = parser or train_parser()
    base_args = _base_args(parser)
    base = _flat(base_args)
    found = []
    for action in _train_actions(parser):
        if action.dest in HARNESS_FLAGS or action.dest in SEPARATE:
            continue
        if action.choices is not None:
            # "auto" (--mixed-precision) resolves to one of the other values before the config
            # is made: tests/training/test_precision.py.
            values: tuple[Any, ...] = tuple(v for v in action.choices if v != "auto")
        elif action.nargs == 0 and (action.const is True or isinstance(action, argparse.BooleanOptionalAction)):
            values = (False, True)  # store_true, or --flag/--no-flag
        else:
            continue
        fields: set[str] = set()
        for value in values:
            args = argparse.Namespace(**{**vars(base_args), action.dest: value})
            try:
                changed = _flat(args)
            except ValueError:  # a value the config refuses alone is still a value of the axis
                continue
            fields |= {k for k in base if changed[k] != base[k]}
        if fields:
            flag = action.option_strings[0 if isinstance(action, argparse.BooleanOptionalAction) else -1]
            found.append(Axis(action.dest, flag, values, tuple(sorted(fields))))
    return found


def _train_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return list(sub.choices["train"]._actions)


def value_flags(parser: argparse.ArgumentParser | None = None) -> list[str]:
    """Destinations of the options that take a free value (not axes, not harness options)."""
    parser = parser or train_parser()
    axis_dests = {a.dest for a in axes(parser)}
    return [a.dest for a in _train_actions(parser)
            if a.option_strings and a.dest not in axis_dests and a.dest not in HARNESS_FLAGS
            and a.dest not in SEPARATE and a.dest != "help"]


def enum_fields() -> list[str]:
    """Config fields with a finite set of values: booleans and strings the dataclass checks."""
    found = []
    for group, kind in CONFIGS.items():
        default = kind()
        for field in dataclasses.fields(kind):
            if field.type == "bool":
                found.append(f"{group}.{field.name}")
            elif field.type == "str":
                try:
                    dataclasses.replace(default, **{field.name: "\0not-a-choice"})
                except ValueError:
                    found.append(f"{group}.{field.name}")
    return found


Row = dict[str, Any]
Cost = Callable[[Row], float]


def pairwise(values: dict[str, Sequence[Any]], cost: Cost | None = None, tries: int = 64) -> list[Row]:
    """Rows in which every pair of values of two different axes occurs at least once.

    The fewest rows of `tries` greedy constructions, then the cheapest (sum of `cost` over
    the rows). Each construction is AETG-style: a row starts from a pair not yet covered,
    then each other axis takes the value that covers most new pairs with the values already
    chosen (ties: the cheaper value, then the one listed first). The first construction takes
    the first uncovered pair and the axes in order; the others draw both from a generator
    seeded with their number, so the result is the same on every run.

    Args:
        values: dict of axis name -> its values.
        cost: callable(row) -> float, what a row costs to run, also asked of part-made rows
            (only the axes chosen so far are keys) to break ties (default: all equal).
        tries: int. How many constructions to compare (at least 1).

    Returns:
        list of rows (dict axis name -> value), in the order they were made.
    """
    cost = cost or (lambda row: 0.0)
    made = [_greedy_pairwise(values, cost, random.Random(seed) if seed else None) for seed in range(max(tries, 1))]
    return min(made, key=lambda rows: (len(rows), sum(cost(row) for row in rows)))


def _greedy_pairwise(values: dict[str, Sequence[Any]], cost: Cost, rng: random.Random | None) -> list[Row]:
    names = sorted(values, key=lambda n: -len(values[n]))
    index = {n: i for i, n in enumerate(names)}

    def key(a: str, va: Any, b: str, vb: Any) -> tuple:
        return (a, repr(va), b, repr(vb)) if index[a] < index[b] else (b, repr(vb), a, repr(va))

    todo = {key(a, va, b, vb) for i, a in enumerate(names) for b in names[i + 1:]
            for va in values[a] for vb in values[b]}
    lookup = {(n, repr(v)): v for n in names for v in values[n]}
    rows: list[Row] = []
    while todo:
        uncovered = sorted(todo, key=lambda k: (index[k[0]], index[k[2]], k[1], k[3]))
        a, ra, b, rb = uncovered[0] if rng is None else rng.choice(uncovered)
        row = {a: lookup[(a, ra)], b: lookup[(b, rb)]}
        rest = [n for n in names if n not in row]
        if rng is not None:
            rng.shuffle(rest)
        for name in rest:
            row[name] = max(values[name], key=lambda v: (
                sum(key(name, v, other, row[other]) in todo for other in row),
                -cost({**row, name: v}), -list(values[name]).index(v)))
        rows.append({n: row[n] for n in names})
        todo -= {key(a, row[a], b, row[b]) for i, a in enumerate(names) for b in names[i + 1:]}
    return rows


@dataclasses.dataclass(frozen=True)
class Matrix:
    """The rows the matrix tier runs.

    Args:
        axes: list of Axis.
        pairwise: list of rows (axis dest -> value) that must train.
        all_flags: list of rows of `pairwise`, one per precision, that also set every
            `VALUE_FLAGS` option.
        refused: list of (row, reason): rows this machine refuses with one line.
    """

    axes: list[Axis]
    pairwise: list[Row]
    all_flags: list[Row]
    refused: list[tuple[Row, str]]

    def rows(self) -> list[tuple[str, Row]]:
        """(kind, row) for every row: kind is `pairwise`, `pairwise + all flags` or `refused`."""
        flagged = {id(r) for r in self.all_flags}
        return ([("pairwise + all flags" if id(r) in flagged else "pairwise", r) for r in self.pairwise]
                + [("refused", r) for r, _ in self.refused])


def build_matrix(unsupported: Any = None) -> Matrix:
    """The matrix for this machine.

    Args:
        unsupported: callable(row) -> str or None, the reason a row is refused here. Defaults
            to `keras_srfm.training.runner.unsupported_value` (TensorFlow imported on first use).
    """
    if unsupported is None:
        from keras_srfm.training.runner import unsupported_value as unsupported
    found = axes()
    defaults = {a.dest: a.values[0] if not isinstance(a.values[0], bool) else False for a in found}
    defaults.update({a.dest: _cli_default(a) for a in found})
    usable: dict[str, list[Any]] = {}
    refused: list[tuple[Row, str]] = []
    for axis in found:
        usable[axis.dest] = []
        for value in axis.values:
            reason = unsupported(axis.dest, value)
            if reason:
                refused.append(({**defaults, axis.dest: value}, reason))
            else:
                usable[axis.dest].append(value)
    rows = pairwise(usable, cost=row_cost)
    order = [a.dest for a in found]
    rows = [{n: r[n] for n in order} for r in rows]
    # The value options ride on pairwise rows (one per precision, single device where there
    # is one): a row of their own would add a run and prove nothing more.
    all_flags = [min((r for r in rows if r[PRECISION] == p), key=lambda r: r.get(STRATEGY) != "default")
                 for p in usable.get(PRECISION, [])]
    return Matrix(found, rows, all_flags, refused)


def _cli_default(axis: Axis) -> Any:
    parser = train_parser()
    return getattr(_base_args(parser), axis.dest)


def markdown(matrix: Matrix) -> str:
    """The Markdown table of tested combinations (the docs page embeds it)."""
    names = [a.flag for a in matrix.axes]
    lines = ["| # | kind | " + " | ".join(f"`{n}`" for n in names) + " |",
             "|---|---|" + "---|" * len(names)]
    for i, (kind, row) in enumerate(matrix.rows(), start=1):
        cells = [_cell(row[a.dest]) for a in matrix.axes]
        lines.append(f"| {i} | {kind} | " + " | ".join(cells) + " |")
    notes = [f"- refused here: `{a}` = `{v}`: {reason}" for row, reason in matrix.refused
             for a, v in _differing(row, matrix)]
    value_opts = ", ".join(f"`--{d.replace('_', '-')}`" for d in sorted(VALUE_FLAGS))
    return "\n".join([
        *lines, "",
        f"{len(matrix.pairwise)} pairwise rows cover every pair of values of the "
        f"{len(names)} options above; each `pairwise + all flags` row also sets {value_opts}.",
        *notes,
    ])


def _differing(row: Row, matrix: Matrix) -> list[tuple[str, Any]]:
    defaults = {a.dest: _cli_default(a) for a in matrix.axes}
    return [(next(a.flag for a in matrix.axes if a.dest == k), v) for k, v in row.items() if defaults[k] != v]


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


BEGIN, END = "<!-- train-matrix:begin (generated by tools/train_matrix.py) -->", "<!-- train-matrix:end -->"


def update_page(path: Path, table: str) -> str:
    """The page's text with the table between the markers replaced (appended if missing)."""
    text = path.read_text() if path.exists() else ""
    block = f"{BEGIN}\n{table}\n{END}"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        return head + block + rest.split(END, 1)[1]
    return text.rstrip("\n") + ("\n\n" if text else "") + block + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, help="update the table in this Markdown page")
    args = parser.parse_args(argv)
    table = markdown(build_matrix())
    if args.write:
        args.write.write_text(update_page(args.write, table))
    else:
        print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
