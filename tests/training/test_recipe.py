"""Recipes (`keras_srfm.training.recipe`) and `srfm train --config`."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from keras_srfm.training.recipe import RecipeError, phase_calls, sources_of, steps_of, stop_calls

ROOT = Path(__file__).resolve().parents[2]
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
        {"train": {"variant": "p", "g_learning_rate": 2e-4, "steps": 10},
         "data": {"sources": ["$SRFM_DATA_DIR/train"]}},
        {"train": {"g_learning_rate": 1e-4, "decay_at": [15], "steps": 20}},
    ], history={"args": {"not_an_option": 1}, "command": "python removed.py"})  # never read
    name, calls = phase_calls(str(path))
    assert name == "train"
    assert calls == [
        {"train": {"variant": "p", "g_learning_rate": 2e-4, "steps": 10}, "data": {"sources": ["/data/train"]}},
        {"train": {"variant": "p", "g_learning_rate": 1e-4, "decay_at": [15], "steps": 20},
         "data": {"sources": ["/data/train"]}},
    ]
    assert [steps_of(c) for c in stop_calls(calls, 5)] == [5]
    assert [steps_of(c) for c in stop_calls(calls, 10)] == [10]
    assert [steps_of(c) for c in stop_calls(calls, 12)] == [10, 12]
    assert [steps_of(c) for c in stop_calls(calls, 30)] == [10, 30]  # longer: the last call goes on
    assert stop_calls(calls, 12)[1]["train"]["g_learning_rate"] == 1e-4
    assert stop_calls(calls, None) == calls


@pytest.mark.parametrize("calls, phase, match", [
    ([{"train": {"steps": 10}}, {"train": {"steps": 10}}], None, "train.steps must increase"),
    ([{"train": {"variant": "p"}}], None, "call 1: every 'srfm_train' call needs its train.steps"),
    ([{"train": {"steps": 10}}], "nope", "phases: start, train"),
    ([{"train": {"steps": 10}}], "start", "has no 'srfm_train'"),
    ([{"train": {"steps": 10}, "data": {"sources": ["$SRFM_SURELY_UNSET_VARIABLE/x"]}}], None,
     "environment variable is not set"),
    # An unknown field or group, and a RunConfig field that no option sets (it follows train.seed).
    ([{"train": {"steps": 10, "not_a_field": 1}}], None,
     r"phase 'train', call 1: train.not_a_field is not a field that srfm train sets \(its train fields: variant, "),
    ([{"train": {"steps": 10}}, {"data": {"seed": 3}}], None, "call 2: data.seed is not a field that srfm train sets"),
    ([{"train": {"steps": 10}, "trian": {"variant": "p"}}], None,
     r"'trian' is not a RunConfig group \(train, data, generator, loss, discriminator\) nor one of bench_dir, stats"),
    ([{"train": {"steps": 10}, "loss": "paper"}], None, "'loss' must be a dict of loss fields"),
])
def test_phase_calls_refuse_bad_recipes_in_one_line(tmp_path, calls, phase, match):
    path = write_recipe(tmp_path / "r.json", calls)
    with pytest.raises(RecipeError, match=match) as err:
        phase_calls(str(path), phase)
    assert "\n" not in str(err.value)


def test_a_recipe_in_the_older_format_is_refused_with_the_fields_to_write(tmp_path):
    """Calls of `srfm train` option names (the format before recipes stored RunConfig fields) are
    not read: the one-line error names the group and field each option becomes."""
    path = write_recipe(tmp_path / "r.json", [
        {"variant": "p", "data": ["a"], "g_lr": 2e-4, "jit": True, "bench_dir": "b", "steps": 10},
    ])
    with pytest.raises(RecipeError) as err:
        phase_calls(str(path))
    message = str(err.value)
    assert "\n" not in message and "phase 'train', call 1: the call names srfm train options" in message
    assert message.endswith("variant -> train.variant, data -> data.sources, g_lr -> train.g_learning_rate, "
                            "jit -> train.jit_compile, steps -> train.steps")
    # Followed, the message gives a recipe that loads (bench_dir stays beside the groups).
    write_recipe(path, [{"train": {"variant": "p", "g_learning_rate": 2e-4, "jit_compile": True, "steps": 10},
                         "data": {"sources": ["a"]}, "bench_dir": "b"}])
    assert phase_calls(str(path))[1][0]["bench_dir"] == "b"


def test_a_phase_with_prepare_commands_names_them_when_its_data_is_missing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write_recipe(tmp_path / "r.json", [{"train": {"steps": 10}, "data": {"sources": ["real/T91"]}}],
                        prepare=["srfm degrade --hr-dir $SRFM_DATA_DIR/T91 --out real/T91 --copies 2"])
    monkeypatch.setenv("SRFM_DATA_DIR", "/data")
    with pytest.raises(RecipeError, match=r"--data real/T91 not found: .* made first by: srfm degrade "
                                          r"--hr-dir /data/T91 --out real/T91 --copies 2$"):
        phase_calls(str(path))
    (tmp_path / "real" / "T91").mkdir(parents=True)
    assert sources_of(phase_calls(str(path))[1][0]) == ["real/T91"]


def test_config_options_given_on_the_command_line_win(tmp_path):
    recipe = write_recipe(tmp_path / "r.json", [
        {"train": {"variant": "pcsa", "g_learning_rate": 2e-4, "jit_compile": True, "steps": 10},
         "data": {"sources": ["a", "b"]}, "generator": {"rgb_mean": [0.5, 0.5, 0.5]}},
        {"train": {"g_learning_rate": 1e-4, "steps": 20}},
    ])
    args = parse_train(["train", "--config", str(recipe), "--run-dir", str(tmp_path / "run"),
                        "--data", "mine", "--no-jit", "--g-lr", "1e-4", "--steps", "15"])
    assert [c.steps for c in args.calls] == [10, 15]
    for call in args.calls:
        # --data replaces the recipe's sources (argparse's append would have added to them).
        assert call.data == ["mine"] and call.jit is False and call.g_lr == 1e-4
        assert call.variant == "pcsa" and call.run_dir == str(tmp_path / "run")
        assert call.rgb_mean == [0.5, 0.5, 0.5]
    # --stats replaces the recipe's generator.rgb_mean (which, as --rgb-mean, would beat it).
    stats = tmp_path / "stats.json"
    stats.write_text(json.dumps({"rgb_mean": [0.1, 0.2, 0.3]}))
    from keras_srfm.commands.train import run_config_from_args

    args = parse_train(["train", "--config", str(recipe), "--run-dir", str(tmp_path / "run"), "--stats", str(stats)])
    assert {run_config_from_args(call).generator.rgb_mean for call in args.calls} == {(0.1, 0.2, 0.3)}
    plain = parse_train(["train", "--run-dir", str(tmp_path / "run")])
    assert plain.calls == [plain] and plain.data is None and plain.jit is False
    with pytest.raises(RecipeError, match="train.g_lr is not a field that srfm train sets"):
        parse_train(["train", "--config", str(write_recipe(tmp_path / "bad.json", [{"train": {"steps": 1, "g_lr": 1}}])),
                     "--run-dir", str(tmp_path / "run")])


def _expandvars(value):
    return [_expandvars(v) for v in value] if isinstance(value, list) else \
        os.path.expandvars(value) if isinstance(value, str) else value


def _field(run, group: str, field: str):
    """A RunConfig field as JSON writes it (tuples as lists)."""
    return json.loads(json.dumps(getattr(getattr(run, group), field)))


@pytest.mark.parametrize("path", SHIPPED_RECIPES, ids=lambda p: p.parent.name)
def test_shipped_recipes_are_runnable_srfm_train_settings(path, monkeypatch, tmp_path):
    """Every shipped recipe's phases give valid configurations (a recipe that drifted from the
    options of `srfm train` fails here, not on a user's machine), whose every field is the one
    the recipe states; the first call of a phase states every field an option sets; what the
    removed trainers recorded is under `history` only."""
    from keras_srfm.commands.train import run_config_from_args
    from keras_srfm.training.recipe import CONFIG_OPTIONS

    monkeypatch.setenv("SRFM_DATA_DIR", "/data")
    monkeypatch.chdir(tmp_path)
    recipe = json.loads(path.read_text())
    for phase in recipe["phases"]:  # data that a phase's `prepare` commands make (srfm degrade sets)
        for folder in sources_of((phase.get("srfm_train") or [{}])[0]) if phase.get("prepare") else []:
            (tmp_path / folder).mkdir(parents=True, exist_ok=True)
    runnable = [p for p in recipe["phases"] if "srfm_train" in p]
    assert runnable, f"{path} has no phase that srfm train can rerun"
    for phase in runnable:
        assert not {"args", "command", "trainer", "jax", "keras", "calls"} & set(phase), phase["name"]
        first = phase["srfm_train"][0]
        assert {(g, f) for g, fields in first.items() if isinstance(fields, dict) for f in fields} == set(
            CONFIG_OPTIONS.values()), phase["name"]
        args = parse_train(["train", "--config", str(path), "--phase", phase["name"], "--run-dir", "r"])
        assert len(args.calls) == len(phase["srfm_train"])
        stated: dict[str, dict] = {}
        for call, namespace in zip(phase["srfm_train"], args.calls):
            for group, fields in call.items():
                if isinstance(fields, dict):
                    stated.setdefault(group, {}).update(fields)
            run = run_config_from_args(namespace)  # as `srfm train` builds the run's config.json
            assert run.train.variant == recipe["variant"]
            for group, fields in stated.items():
                for field, value in fields.items():
                    assert _field(run, group, field) == _expandvars(value), (phase["name"], group, field)
            assert namespace.bench_dir == _expandvars(call.get("bench_dir", namespace.bench_dir))
        assert args.calls[-1].steps == phase.get("steps_done", args.calls[-1].steps)


# What each shipped model's recipe reruns, written out here (not read from the recipe), as
# `srfm train --config MODEL --phase PHASE` builds each call's RunConfig: field -> value per call.
SHIPPED_RUNS = {
    ("srfm_mp", "CPU"): {
        "train.steps": [3750, 7500, 8500], "train.g_learning_rate": [2e-4, 1e-4, 1e-4],
        "train.decay_every": [100000, 2500, 2500], "train.decay_factor": [0.1, 0.5, 0.25],
        "train.decay_start": [0, 3750, 5000], "train.adam_epsilon": [1e-7, 1e-12, 1e-12],
        "train.jit_compile": [True] * 3, "train.checkpoint_every": [250] * 3, "train.keep_checkpoints": [2] * 3,
        "train.backend": ["tensorflow"] * 3, "train.init_from": [None] * 3,
        "data.sources": [("/data/train", "/data/samples/DIV2K/HR", "/data/samples/Flickr2K/HR")] * 3,
        "data.patches_per_image": [8] * 3, "data.batch_size": [16] * 3,
    },
    ("srfm_mp", "GPU"): {
        "train.steps": [80000], "train.backend": ["jax"], "train.init_from": ["runs/srfm_mp_cpu/generator.keras"],
        "train.g_learning_rate": [1e-4], "train.decay_at": [(40000, 64000)], "train.decay_factor": [0.5],
        "train.warmup_steps": [1000], "train.checkpoint_every": [4000],
        "data.sources": [("/data/train", "/data/samples/DIV2K/HR", "/data/samples/Flickr2K/HR")],
    },
    **{(model, "fine-tune"): {
        "train.variant": [variant], "train.steps": [steps], "train.backend": ["jax"], "train.init_from": ["srfm_mp"],
        "train.g_learning_rate": [1e-4], "train.d_learning_rate": [d_lr], "train.decay_at": [()],
        "train.decay_factor": [0.5], "train.warmup_steps": [500], "train.checkpoint_every": [250],
        "data.sources": [tuple(f"/data/train/{s}/HR" for s in ("T91", "General100", "BSD200"))],
        "loss.vgg_layer": [vgg_layer], "data.degradation": ["bicubic"],
    } for model, variant, steps, d_lr, vgg_layer in [
        ("srfm_pca", "pca", 10000, 1e-5, "block5_conv4"), ("srfm_pcsa", "pcsa", 8250, 1e-5, "block5_conv4"),
        ("srfm_pcsva_vgg34", "pcsva", 4750, 1e-4, "block3_conv4"), ("srfm_pva_vgg34", "pva", 6250, 1e-4, "block3_conv4"),
    ]},
    ("srfm_real", "ladder fine-tune"): {
        "train.variant": ["p"] * 3, "train.steps": [200, 400, 1250], "train.init_from": ["srfm_mp"] * 3,
        "train.decay_at": [(2500, 3500), (1800, 2400), (850, 1100)], "train.warmup_steps": [100] * 3,
        "train.g_learning_rate": [1e-4] * 3, "train.backend": ["tensorflow"] * 3,
        "data.degradation": ["ladder"] * 3, "data.ladder": [(0.25, 0.25, 0.25, 0.25)] * 3,
        "data.sources": [tuple(f"/data/{s}/HR" for s in ("train/T91", "train/General100", "train/BSD200",
                                                          "samples/DIV2K", "samples/Flickr2K"))] * 3,
    },
}


@pytest.mark.parametrize("model, phase", list(SHIPPED_RUNS), ids=lambda v: v)
def test_srfm_train_config_reruns_each_shipped_model_as_trained(model, phase, monkeypatch):
    from keras_srfm.commands.train import run_config_from_args

    monkeypatch.setenv("SRFM_DATA_DIR", "/data")
    args = parse_train(["train", "--config", model, "--phase", phase, "--run-dir", "r"])
    runs = [run_config_from_args(call) for call in args.calls]
    for name, values in SHIPPED_RUNS[model, phase].items():
        group, field = name.split(".")
        assert [getattr(getattr(run, group), field) for run in runs] == values, name
    if model.endswith("_vgg34"):
        assert {run.loss.vgg_weights for run in runs} == {"/data/../weights/vgg19_block1to3_imagenet.h5"}


def test_srfm_real_recipe_gives_the_shipped_runs_config(monkeypatch):
    """srfm_real ships its run's config.json: the recipe's last call builds the same configuration
    (compared as a resumed run is, fields that config.json predates at their old defaults)."""
    from keras_srfm.commands.train import run_config_from_args
    from keras_srfm.training.run_setup import check_resume_config

    folder = ROOT / "exported_models" / "srfm_real"
    saved = json.loads((folder / "config.json").read_text())
    monkeypatch.setenv("SRFM_DATA_DIR", str(Path(saved["data"]["sources"][0]).parents[2]))  # the data dir it used
    args = parse_train(["train", "--config", "srfm_real", "--run-dir", "r"])
    assert check_resume_config(folder, run_config_from_args(args.calls[-1])) == []


def test_config_takes_a_shipped_models_name():
    name, calls = phase_calls("srfm_pcsa")
    assert name == "fine-tune" and calls[0]["train"]["variant"] == "pcsa"
    assert calls[0]["train"]["init_from"] == "srfm_mp"
    with pytest.raises(FileNotFoundError, match="no shipped model 'srfm_nope'"):
        phase_calls("srfm_nope")


@pytest.fixture
def image_folder(tmp_path: Path, write_stripes) -> Path:
    return write_stripes(tmp_path / "hr")


@pytest.mark.slow
def test_srfm_train_config_runs_the_calls_of_a_phase_and_skips_those_done(tmp_path, image_folder):
    """Two calls: the second resumes the run with its schedule change (resume_log.jsonl), as the
    shipped srfm_mp's CPU phase did; the same command again trains nothing more."""
    recipe = write_recipe(tmp_path / "recipe.json", [
        {"train": {"variant": "p", "checkpoint_every": 2, "steps": 2},
         "data": {"sources": [str(image_folder)], "batch_size": 2, "patches_per_image": 2, "lr_patch": 12},
         "generator": {"num_blocks": 1, "filters": 8}},
        {"train": {"g_learning_rate": 5e-5, "decay_at": [3], "steps": 4}},
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
