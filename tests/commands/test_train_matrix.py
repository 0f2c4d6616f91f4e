"""`srfm train` through the CLI for a covering set of option combinations (issue 19).

The rows come from tools/train_matrix.py: pairwise coverage of every finite-valued option
(found in the CLI and the config dataclasses, so a new one joins by construction), of which
one row per precision also sets every option taking a value, and the refused rows. Each row
trains a 1-block, 4-filter generator on 4x4 LR patches (L_vgg on VGG19's block1_conv2) for 2 steps (2 epochs of 1 step: an
epoch boundary and 2 checkpoints), resumes to step 3, writes `--export-only`, and loads both
exported generators with `safe_mode=True` to upscale an image. Runs share this process
(the CLI's `main()`); two rows also run as real `srfm` processes.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from keras_srfm.cli import main  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import train_matrix  # noqa: E402

MATRIX = train_matrix.build_matrix()
ROWS = MATRIX.rows()
SUBPROCESS_ROWS = {  # one multi-worker row and one single-device row as real processes (no XLA: quicker)
    next(i for i, (k, r) in enumerate(ROWS) if k == "pairwise" and r["strategy"] == "multiworker" and not r["jit"]),
    next(i for i, (k, r) in enumerate(ROWS) if k == "pairwise" and r["strategy"] == "default" and not r["jit"]),
}
HARNESS = ["--batch-size", "2", "--patches-per-image", "2", "--lr-patch", "4", "--checkpoint-every", "1",
           "--blocks", "1", "--filters", "4", "--vgg-weights", "none", "--vgg-layer", "block1_conv2", "--verbose", "0"]


def row_id(index: int) -> str:
    kind, row = ROWS[index]
    cells = [("jit" if v else "nojit") if k == "jit" else ("ema" if v else "noema") if k == "ema" else str(v)
             for k, v in row.items()]
    return f"{index + 1:02d}-{kind.replace(' ', '').replace('+', '-')}-" + "-".join(cells)


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory) -> dict[str, str]:
    """Training images, a benchmark folder, a stats file and a generator to start from."""
    from PIL import Image

    from keras_srfm.models.generator import build_generator

    root = tmp_path_factory.mktemp("matrix")
    rng = np.random.default_rng(0)
    for folder, count, shape in (("hr", 3, (40, 48, 3)), ("bench", 2, (32, 32, 3))):
        (root / folder).mkdir()
        for i in range(count):
            Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(root / folder / f"{i}.png")
    (root / "stats.json").write_text(json.dumps({"rgb_mean": [0.5, 0.5, 0.5]}))
    build_generator(num_blocks=1, filters=4).save(root / "init.keras")
    return {"tmp": str(root), "data": str(root / "hr"), "bench": str(root / "bench"),
            "stats": str(root / "stats.json"), "init": str(root / "init.keras")}


def argv(kind: str, row: dict, run_dir: Path, fx: dict[str, str], steps: int) -> list[str]:
    words = ["train", "--run-dir", str(run_dir), "--data", fx["data"], "--steps", str(steps), *HARNESS]
    for axis in MATRIX.axes:
        words += axis.argv(row[axis.dest])
    if "all flags" in kind:
        for dest, values in train_matrix.VALUE_FLAGS.items():
            words += [f"--{dest.replace('_', '-')}", *(v.format(**fx) for v in values)]
    return words


def call(words: list[str], capsys) -> tuple[int, str, str]:
    """The CLI's main() in this process; fails on any warning it raises (but deprecations)."""
    capsys.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = main(words)
    out, err = capsys.readouterr()
    shown = [f"{w.category.__name__}: {w.message}" for w in caught
             if not issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning))]
    assert not shown, shown
    return code, out, err


def spawn(words: list[str], cwd: Path) -> tuple[int, str, str]:
    """`srfm` as a real process, as a user starts it; fails on any warning line it prints."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # the user's default
    done = subprocess.run([sys.executable, "-m", "keras_srfm.cli", *words], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=600)
    assert not [line for line in done.stderr.splitlines() if "warning" in line.lower()], done.stderr[-3000:]
    return done.returncode, done.stdout, done.stderr


def history_steps(run_dir: Path) -> list[int]:
    with (run_dir / "history.csv").open(newline="") as f:
        return [int(r["step"]) for r in csv.DictReader(f)]


def check_generator(path: Path) -> list[np.ndarray]:
    """Loads under safe_mode, computes in float32 and upscales an image; returns the weights."""
    from keras_srfm.inference.upscalers import load_upscaler

    model = keras.saving.load_model(path, safe_mode=True, compile=False)
    assert model.compute_dtype == "float32", model.dtype_policy
    sr = np.asarray(model(np.random.default_rng(1).random((1, 8, 8, 3)).astype("float32")))
    assert sr.shape == (1, 32, 32, 3) and np.isfinite(sr).all()
    image = load_upscaler(str(path))(np.full((8, 6, 3), 128, np.uint8))
    assert image.shape == (32, 24, 3) and image.dtype == np.uint8
    return model.get_weights()


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(ROWS)), ids=row_id)
def test_train_matrix_row(index, tmp_path, fixtures, capsys):
    kind, row = ROWS[index]
    run_dir = tmp_path / "run"
    run = (lambda w: spawn(w, tmp_path)) if index in SUBPROCESS_ROWS else (lambda w: call(w, capsys))
    code, out, err = run(argv(kind, row, run_dir, fixtures, steps=2))
    if kind == "refused":
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and "is not supported here" in lines[0], err
        assert not run_dir.exists()
        return
    assert code == 0, err[-3000:]
    assert "srfm train: starting in" in out
    assert (run_dir / "checkpoints" / "ckpt-2.index").exists() and history_steps(run_dir) == [1, 2], out[-3000:] + err[-3000:]
    code, out, err = run(argv(kind, row, run_dir, fixtures, steps=3))
    assert code == 0, err[-3000:]
    assert "resuming at step 2 from ckpt-2" in out
    assert history_steps(run_dir) == [1, 2, 3]
    kept = sorted(int(p.name[5:-6]) for p in (run_dir / "checkpoints").glob("ckpt-*.index"))
    assert kept == ([2, 3] if "all flags" in kind else [1, 2, 3])  # --keep-checkpoints 2 in those
    if "all flags" in kind:
        assert len((run_dir / "curve.csv").read_text().strip().splitlines()) == 4  # header + 3 steps
    code, out, err = run(["train", "--run-dir", str(run_dir), "--export-only", str(tmp_path / "snap.keras")])
    assert code == 0 and "step-3 generator" in out, err[-3000:]
    exported = check_generator(run_dir / "generator.keras")
    snapshot = check_generator(tmp_path / "snap.keras")
    same = all(np.array_equal(a, b) for a, b in zip(exported, snapshot, strict=True))
    # With EMA the export holds the average, the checkpoint the raw weights (any precision).
    assert same != row["ema"]


# === The matrix itself (fast) ===


def test_every_finite_config_field_is_an_axis_or_left_out_on_purpose():
    covered = {field for axis in MATRIX.axes for field in axis.fields}
    missing = [f for f in train_matrix.enum_fields() if f not in covered and f not in train_matrix.NOT_ON_CLI]
    assert not missing, f"add a srfm train option for {missing} or list it in NOT_ON_CLI"
    assert {"train.mixed_precision", "train.strategy", "train.use_ema", "train.jit_compile",
            "discriminator.tap", "loss.content_mode", "train.variant"} <= covered


def test_every_value_option_has_a_test_value():
    assert sorted(train_matrix.value_flags()) == sorted(train_matrix.VALUE_FLAGS)


def test_a_new_enum_option_joins_the_matrix(monkeypatch):
    """An option with choices that sets a config field becomes an axis with no other change."""
    import dataclasses

    from keras_srfm.commands import train as command

    add_parser, run_config = command.add_parser, command.run_config_from_args

    def with_option(subparsers: argparse._SubParsersAction) -> None:
        add_parser(subparsers)
        subparsers.choices["train"].add_argument("--on-bad-image", default="skip", choices=["skip", "error"])

    def config(args: argparse.Namespace):
        run = run_config(args)
        return dataclasses.replace(run, data=dataclasses.replace(run.data, on_bad_image=args.on_bad_image))

    monkeypatch.setattr(command, "add_parser", with_option)
    monkeypatch.setattr(command, "run_config_from_args", config)
    new = next(a for a in train_matrix.axes() if a.dest == "on_bad_image")
    assert new.values == ("skip", "error") and new.fields == ("data.on_bad_image",)
    matrix = train_matrix.build_matrix(unsupported=lambda option, value: None)
    assert {r["on_bad_image"] for r in matrix.pairwise} == {"skip", "error"}


@pytest.mark.parametrize("sizes", [(5, 3, 3, 2, 2, 2, 2), (2, 2, 2), (4, 4), (3, 1, 2)])
def test_pairwise_covers_every_pair(sizes):
    values = {f"a{i}": list(range(n)) for i, n in enumerate(sizes)}
    rows = train_matrix.pairwise(values)
    names = list(values)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            seen = {(r[a], r[b]) for r in rows}
            assert seen == {(x, y) for x in values[a] for y in values[b]}, (a, b)
    biggest = sorted(sizes)[-2:]
    assert len(rows) <= biggest[0] * biggest[1] + 2  # near the lower bound, far below the product


def test_matrix_rows_cover_pairs_and_each_precision():
    precisions = next(a.values for a in MATRIX.axes if a.dest == "mixed_precision")
    assert {r["mixed_precision"] for r in MATRIX.all_flags} == set(precisions)
    assert all(any(r is p for p in MATRIX.pairwise) for r in MATRIX.all_flags)
    assert len(MATRIX.pairwise) < np.prod([len(a.values) for a in MATRIX.axes]) / 10
    values = {a.dest: {r[a.dest] for r in MATRIX.pairwise} for a in MATRIX.axes}
    for i, a in enumerate(values):
        for b in list(values)[i + 1:]:
            assert {(r[a], r[b]) for r in MATRIX.pairwise} == {(x, y) for x in values[a] for y in values[b]}


def test_matrix_has_the_fewest_rows_and_jit_rows_pairs_allow():
    """Every pair of the two largest options needs a row; each value of each option meets --jit
    once, multiworker (XLA's costliest) too. If a new option breaks this, raise `tries`."""
    sizes = {a.dest: len({r[a.dest] for r in MATRIX.pairwise}) for a in MATRIX.axes}
    largest = sorted(sizes.values())[-2:]
    assert len(MATRIX.pairwise) == largest[0] * largest[1]
    jit_rows = [r for r in MATRIX.pairwise if r["jit"]]
    assert len(jit_rows) == max(n for dest, n in sizes.items() if dest != "jit")
    assert sum(r["strategy"] == "multiworker" for r in jit_rows) == 1


def test_pairwise_prefers_cheap_values_among_the_smallest_sets():
    values = {"a": [0, 1, 2], "b": [0, 1, 2], "costly": [False, True]}
    rows = train_matrix.pairwise(values, cost=lambda row: float(row.get("costly", False)))
    assert len(rows) == 9 and sum(r["costly"] for r in rows) == 3


def test_docs_list_the_tested_combinations():
    page = (Path(__file__).resolve().parents[2] / "docs" / "training.md").read_text()
    table = train_matrix.markdown(MATRIX)
    assert table in page, "run: python tools/train_matrix.py --write docs/training.md"
