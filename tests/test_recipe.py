"""Recipes (`keras_srfm.training.recipe`) and `srfm train --config`."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import write_stripes

from keras_srfm.training.recipe import RecipeError, phase_calls, stop_calls

ROOT = Path(__file__).resolve().parents[1]
SHIPPED_RECIPES = sorted((ROOT / "exported_models").glob("*/recipe.json"))


def write_recipe(path: Path, calls: list[dict], **phase: object) -> Path:
    recipe = {"model": "tiny", "phases": [{"name": "start", "recipe": "elsewhere"},
                                          {"name": "train", **phase, "srfm_train": calls}]}
    path.write_text(json.dumps(recipe))
    return path


def parse_train(argv: list[str]) -> argparse.Namespace:
    from keras_srfm.cli import build_parser

    args = build_parser().parse_args(argv)
    return args.prepare(args, argv)


def test_phase_calls_carry_settings_forward_and_expand_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SRFM_DATA_DIR", "/data")
    path = write_recipe(tmp_path / "r.json", [
        {"variant": "p", "data": ["$SRFM_DATA_DIR/train"], "g_lr": 2e-4, "steps": 10},
        {"g_lr": 1e-4, "decay_at": [15], "steps": 20},
    ])
    name, calls = phase_calls(str(path))
    assert name == "train"
    assert calls == [
        {"variant": "p", "data": ["/data/train"], "g_lr": 2e-4, "steps": 10},
        {"variant": "p", "data": ["/data/train"], "g_lr": 1e-4, "decay_at": [15], "steps": 20},
    ]
    assert [c["steps"] for c in stop_calls(calls, 5)] == [5]
    assert [c["steps"] for c in stop_calls(calls, 10)] == [10]
    assert [c["steps"] for c in stop_calls(calls, 12)] == [10, 12]
    assert [c["steps"] for c in stop_calls(calls, 30)] == [10, 30]  # longer: the last call goes on
    assert stop_calls(calls, None) == calls


@pytest.mark.parametrize("calls, phase, match", [
    ([{"steps": 10}, {"steps": 10}], None, "must increase"),
    ([{"variant": "p"}], None, "needs its \"steps\""),
    ([{"steps": 10}], "nope", "phases: start, train"),
    ([{"steps": 10}], "start", "has no 'srfm_train'"),
    ([{"steps": 10, "data": ["$SRFM_SURELY_UNSET_VARIABLE/x"]}], None, "environment variable is not set"),
])
def test_phase_calls_refuse_bad_recipes_in_one_line(tmp_path, calls, phase, match):
    path = write_recipe(tmp_path / "r.json", calls)
    with pytest.raises(RecipeError, match=match):
        phase_calls(str(path), phase)


def test_a_phase_with_prepare_commands_names_them_when_its_data_is_missing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write_recipe(tmp_path / "r.json", [{"data": ["real/T91"], "steps": 10}],
                        prepare=["srfm degrade --hr-dir $SRFM_DATA_DIR/T91 --out real/T91 --copies 2"])
    monkeypatch.setenv("SRFM_DATA_DIR", "/data")
    with pytest.raises(RecipeError, match=r"--data real/T91 not found: .* made first by: srfm degrade "
                                          r"--hr-dir /data/T91 --out real/T91 --copies 2$"):
        phase_calls(str(path))
    (tmp_path / "real" / "T91").mkdir(parents=True)
    assert phase_calls(str(path))[1][0]["data"] == ["real/T91"]


def test_config_options_given_on_the_command_line_win(tmp_path):
    recipe = write_recipe(tmp_path / "r.json", [
        {"variant": "pcsa", "data": ["a", "b"], "g_lr": 2e-4, "jit": True, "steps": 10},
        {"g_lr": 1e-4, "steps": 20},
    ])
    args = parse_train(["train", "--config", str(recipe), "--run-dir", str(tmp_path / "run"),
                        "--data", "mine", "--no-jit", "--g-lr", "1e-4", "--steps", "15"])
    assert [c.steps for c in args.calls] == [10, 15]
    for call in args.calls:
        # --data replaces the recipe's sources (argparse's append would have added to them).
        assert call.data == ["mine"] and call.jit is False and call.g_lr == 1e-4
        assert call.variant == "pcsa" and call.run_dir == str(tmp_path / "run")
    plain = parse_train(["train", "--run-dir", str(tmp_path / "run")])
    assert plain.calls == [plain] and plain.data is None and plain.jit is False
    with pytest.raises(RecipeError, match="not_an_option is not an option of srfm train"):
        parse_train(["train", "--config", str(write_recipe(tmp_path / "bad.json", [{"steps": 1, "not_an_option": 1}])),
                     "--run-dir", str(tmp_path / "run")])


@pytest.mark.parametrize("path", SHIPPED_RECIPES, ids=lambda p: p.parent.name)
def test_shipped_recipes_are_runnable_srfm_train_settings(path, monkeypatch, tmp_path):
    """Every shipped recipe's phases give valid configurations (a recipe that drifted from the
    options of `srfm train` fails here, not on a user's machine)."""
    from keras_srfm.commands.train import run_config_from_args

    monkeypatch.setenv("SRFM_DATA_DIR", "/data")
    monkeypatch.chdir(tmp_path)
    recipe = json.loads(path.read_text())
    for phase in recipe["phases"]:  # data that a phase's `prepare` commands make (srfm degrade sets)
        for folder in (phase.get("srfm_train") or [{}])[0].get("data", []) if phase.get("prepare") else []:
            (tmp_path / folder).mkdir(parents=True, exist_ok=True)
    runnable = [p["name"] for p in recipe["phases"] if "srfm_train" in p]
    assert runnable, f"{path} has no phase that srfm train can rerun"
    for phase in runnable:
        args = parse_train(["train", "--config", str(path), "--phase", phase, "--run-dir", "r"])
        for call in args.calls:
            run = run_config_from_args(call)
            assert run.train.variant == recipe["variant"]
        assert args.calls[-1].steps == next(p for p in recipe["phases"] if p["name"] == phase).get(
            "steps_done", args.calls[-1].steps)


def test_config_takes_a_shipped_models_name():
    name, calls = phase_calls("srfm_pcsa")
    assert name == "fine-tune" and calls[0]["variant"] == "pcsa" and calls[0]["init_from"] == "srfm_mp"
    with pytest.raises(FileNotFoundError, match="no shipped model 'srfm_nope'"):
        phase_calls("srfm_nope")


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    return write_stripes(tmp_path / "hr")


@pytest.mark.slow
def test_srfm_train_config_runs_the_calls_of_a_phase_and_skips_those_done(tmp_path, image_folder):
    """Two calls: the second resumes the run with its schedule change (resume_log.jsonl), as the
    shipped srfm_mp's CPU phase did; the same command again trains nothing more."""
    recipe = write_recipe(tmp_path / "recipe.json", [
        {"variant": "p", "data": [str(image_folder)], "blocks": 1, "filters": 8, "batch_size": 2,
         "patches_per_image": 2, "lr_patch": 12, "checkpoint_every": 2, "steps": 2},
        {"g_lr": 5e-5, "decay_at": [3], "steps": 4},
    ])
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, "-m", "keras_srfm.cli", "train", "--config", str(recipe), "--run-dir",
               str(tmp_path / "run"), "--verbose", "0"]
    first = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "phase 'train' of" in first.stdout and "2 call(s), to step 4" in first.stdout
    run_dir = tmp_path / "run"
    saved = json.loads((run_dir / "config.json").read_text())["train"]
    assert saved["steps"] == 4 and saved["g_learning_rate"] == 5e-5 and saved["decay_at"] == [3]
    log = [json.loads(line) for line in (run_dir / "resume_log.jsonl").read_text().splitlines()]
    assert len(log) == 1 and log[0]["step"] == 2
    assert "train.g_learning_rate: 0.0001 -> 5e-05" in log[0]["changes"]
    history = (run_dir / "history.csv").read_text().splitlines()
    assert [row.split(",")[history[0].split(",").index("step")] for row in history[1:]] == ["2", "4"]
    again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert len((run_dir / "resume_log.jsonl").read_text().splitlines()) == 1  # call 1 not replayed
    assert (run_dir / "history.csv").read_text().splitlines() == history
