"""`srfm train` options: choices come from VARIANTS and the config dataclasses (no TensorFlow)."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from keras_srfm.cli import build_parser
from keras_srfm.commands.train import configs_from_args
from keras_srfm.config import (
    VARIANTS,
    DataConfig,
    DiscriminatorConfig,
    GeneratorConfig,
    LossConfig,
    TrainConfig,
    loss_config_for,
)


def _train_action(dest: str) -> argparse.Action:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return next(a for a in sub.choices["train"]._actions if a.dest == dest)


@pytest.mark.parametrize("dest, expected", [
    ("variant", list(VARIANTS)),
    ("content_mode", LossConfig.choices("content_mode")),
    ("vgg_layer", LossConfig.choices("vgg_layer")),
    ("tap", DiscriminatorConfig.choices("tap")),
    # "auto" is resolved to one of the config's values before the config is made (test_precision.py)
    ("mixed_precision", [*TrainConfig.choices("mixed_precision"), "auto"]),
    ("strategy", TrainConfig.choices("strategy")),
])
def test_choices_and_defaults_come_from_the_configs(dest, expected):
    action = _train_action(dest)
    assert list(action.choices) == list(expected)
    owner = {"variant": TrainConfig(), "content_mode": LossConfig(), "vgg_layer": LossConfig(),
             "tap": DiscriminatorConfig(), "mixed_precision": TrainConfig(), "strategy": TrainConfig()}[dest]
    assert action.default == getattr(owner, dest)


# Every `srfm train` option whose value is a config field, and that field.
OPTION_FIELDS = [
    ("steps", TrainConfig, "steps"), ("g_lr", TrainConfig, "g_learning_rate"),
    ("d_lr", TrainConfig, "d_learning_rate"), ("decay_every", TrainConfig, "decay_every"),
    ("decay_factor", TrainConfig, "decay_factor"), ("decay_start", TrainConfig, "decay_start"),
    ("warmup_steps", TrainConfig, "warmup_steps"), ("adam_epsilon", TrainConfig, "adam_epsilon"),
    ("checkpoint_every", TrainConfig, "checkpoint_every"), ("keep_checkpoints", TrainConfig, "keep_checkpoints"),
    ("seed", TrainConfig, "seed"), ("jit", TrainConfig, "jit_compile"), ("ema", TrainConfig, "use_ema"),
    ("backend", TrainConfig, "backend"), ("batch_size", DataConfig, "batch_size"),
    ("patches_per_image", DataConfig, "patches_per_image"), ("lr_patch", DataConfig, "lr_patch"),
    ("blocks", GeneratorConfig, "num_blocks"), ("filters", GeneratorConfig, "filters"),
    ("vgg_weights", LossConfig, "vgg_weights"), ("huber_delta", LossConfig, "huber_delta"),
]


@pytest.mark.parametrize("dest, owner, field", OPTION_FIELDS)
def test_option_defaults_are_read_from_the_dataclass(dest, owner, field, monkeypatch):
    """One source of every default: change the dataclass's and the option follows."""
    assert _train_action(dest).default == getattr(owner, field)
    changed = "x" if isinstance(getattr(owner, field), str) else not getattr(owner, field) \
        if isinstance(getattr(owner, field), bool) else getattr(owner, field) + 3
    monkeypatch.setattr(owner, field, changed)
    assert _train_action(dest).default == changed


def test_no_option_gives_the_dataclass_defaults():
    configs = configs_from_args(build_parser().parse_args(["train", "--run-dir", "r"]))
    assert configs["train"] == TrainConfig()
    assert configs["data"] == DataConfig()  # sources too: the paper's DIV2K + Flickr2K
    assert configs["generator"] == GeneratorConfig()
    assert configs["loss"] == loss_config_for(TrainConfig.variant)


def test_vgg_layer_reaches_the_loss_config():
    args = build_parser().parse_args(["train", "--run-dir", "r", "--variant", "pcsva", "--vgg-layer", "block3_conv4"])
    loss = configs_from_args(args)["loss"]
    assert loss.vgg_layer == "block3_conv4" and loss.use_vgg
    default = configs_from_args(build_parser().parse_args(["train", "--run-dir", "r"]))["loss"]
    assert default.vgg_layer == "block5_conv4"  # the paper's psi (Eq. 3)
    assert dataclasses.asdict(loss)["vgg_layer"] == "block3_conv4"  # hence recorded in config.json


def test_restricted_fields_refuse_other_values_in_one_line():
    with pytest.raises(ValueError, match=r"vgg_layer must be one of .*Received: vgg_layer='block6_conv1'"):
        LossConfig(vgg_layer="block6_conv1")
    with pytest.raises(ValueError, match="content_mode must be one of paper, authors"):
        LossConfig.from_dict({"content_mode": "mine"})
    with pytest.raises(ValueError, match="no restricted field"):
        LossConfig.choices("lambda_adv")


def test_vgg_normalise_and_ladder_reach_the_configs():
    args = build_parser().parse_args([
        "train", "--run-dir", "r", "--variant", "pcsva", "--vgg-normalise", "hr_energy",
        "--degradation", "ladder", "--ladder", "0.1", "0.2", "0.3", "0.4",
    ])  # fmt: skip
    configs = configs_from_args(args)
    assert configs["loss"].vgg_normalise == "hr_energy"
    assert configs["data"].degradation == "ladder" and configs["data"].ladder == (0.1, 0.2, 0.3, 0.4)
    assert _train_action("vgg_normalise").choices == LossConfig.choices("vgg_normalise")
    assert _train_action("degradation").choices == DataConfig.choices("degradation")
    default = configs_from_args(build_parser().parse_args(["train", "--run-dir", "r"]))
    assert default["loss"].vgg_normalise == "none" and default["data"].degradation == "bicubic"


def test_runs_saved_before_the_new_fields_still_resume(tmp_path):
    import json

    from keras_srfm.training.run_setup import check_resume_config

    args = build_parser().parse_args(["train", "--run-dir", "r", "--degradation", "realistic"])
    from keras_srfm.training.run_setup import RunConfig

    run = RunConfig(**configs_from_args(args))
    saved = json.loads(json.dumps(run.to_dict()))
    del saved["loss"]["vgg_normalise"]  # as a config.json written before these fields
    for key in ("blur_prob", "noise_prob", "jpeg_prob", "second_round_prob", "noise_prob2"):
        del saved["data"]["realistic"][key]
    (tmp_path / "config.json").write_text(json.dumps(saved))
    assert check_resume_config(tmp_path, run) == []
    saved["data"]["realistic"]["noise_range"] = [1.0, 2.0]  # a real difference is still refused
    (tmp_path / "config.json").write_text(json.dumps(saved))
    with pytest.raises(ValueError, match="data.realistic"):
        check_resume_config(tmp_path, run)


# A value other than the default for each option of `CONFIG_OPTIONS` (the table `srfm train`
# builds a run's configs from, and reads recipes with).
OTHER_VALUES = {
    "variant": "pca", "steps": 7, "g_lr": 3e-4, "d_lr": 2e-5, "decay_every": 11, "decay_factor": 0.5,
    "decay_start": 3, "decay_at": [5, 9], "warmup_steps": 4, "adam_epsilon": 1e-8, "checkpoint_every": 6,
    "keep_checkpoints": 2, "ema": True, "jit": True, "mixed_precision": "bfloat16", "strategy": "mirrored",
    "backend": "jax", "init_from": "g.keras", "seed": 5, "data": ["a", "b"], "data_weights": [1.0, 2.0],
    "batch_size": 8, "patches_per_image": 4, "lr_patch": 12, "degradation": "ladder",
    "ladder": [0.1, 0.2, 0.3, 0.4], "data_dir": "tfds", "manual_dir": "manual", "blocks": 2, "filters": 8,
    "rgb_mean": [0.1, 0.2, 0.3], "vgg_weights": "vgg.h5", "vgg_layer": "block3_conv4",
    "vgg_normalise": "hr_energy", "content_mode": "authors", "huber_delta": 0.5, "tap": "before_bn",
}
# Fields that follow from an option's field rather than being set by an option of their own.
FOLLOWERS = {"seed": {"data.seed"}, "lr_patch": {"discriminator.patch_size"},
             "variant": {f"loss.{f}" for f in ("use_point", "use_content", "use_adv", "use_vgg",
                                               "content_weighting", "content_rescale")}}


def _flat_configs(args: argparse.Namespace) -> dict[str, object]:
    import json

    from keras_srfm.commands.train import run_config_from_args

    run = json.loads(json.dumps(dataclasses.asdict(run_config_from_args(args))))
    return {f"{group}.{field}": value for group, fields in run.items() for field, value in fields.items()}


def test_every_train_option_is_a_config_field_a_run_option_or_a_command_option():
    """A new `srfm train` option must be placed: in `CONFIG_OPTIONS` when it sets a RunConfig
    field (then recipes can state it and `configs_from_args` builds from it), else in
    `RUN_OPTIONS` or `COMMAND_OPTIONS`."""
    from keras_srfm.commands.train import COMMAND_OPTIONS
    from keras_srfm.training.recipe import CONFIG_OPTIONS, RUN_OPTIONS

    dests = [a.dest for a in next(a for a in build_parser()._actions
                                  if isinstance(a, argparse._SubParsersAction)).choices["train"]._actions]
    placed = [*CONFIG_OPTIONS, *RUN_OPTIONS, *COMMAND_OPTIONS]
    assert len(placed) == len(set(placed))
    assert sorted(dests) == sorted(placed)


def test_the_config_table_names_real_fields_once_each():
    from keras_srfm.training.recipe import CONFIG_OPTIONS
    from keras_srfm.training.run_setup import RunConfig

    groups = {f.name: f.type for f in dataclasses.fields(RunConfig)}
    classes = {"train": TrainConfig, "data": DataConfig, "generator": GeneratorConfig,
               "discriminator": DiscriminatorConfig, "loss": LossConfig}
    assert set(groups) == set(classes)
    for dest, (group, field) in CONFIG_OPTIONS.items():
        assert field in {f.name for f in dataclasses.fields(classes[group])}, f"{dest} -> {group}.{field}"
    assert len(set(CONFIG_OPTIONS.values())) == len(CONFIG_OPTIONS)  # a recipe field reads back one option


def test_each_table_option_sets_its_field_and_no_other_option_sets_one(tmp_path):
    """Set one option to another value: the field the table names takes it (and only that field
    with the ones that follow from it); options outside the table leave the configuration as it
    was, but for --stats, whose file gives generator.rgb_mean."""
    import json

    from keras_srfm.commands.train import COMMAND_OPTIONS
    from keras_srfm.training.recipe import CONFIG_OPTIONS, RUN_OPTIONS

    assert set(OTHER_VALUES) == set(CONFIG_OPTIONS)
    default = _flat_configs(build_parser().parse_args(["train", "--run-dir", "r"]))
    for dest, (group, field) in CONFIG_OPTIONS.items():
        args = build_parser().parse_args(["train", "--run-dir", "r"])
        setattr(args, dest, OTHER_VALUES[dest])
        flat = _flat_configs(args)
        assert flat[f"{group}.{field}"] == OTHER_VALUES[dest], dest
        changed = {k for k in flat if flat[k] != default.get(k)}
        assert changed <= {f"{group}.{field}", *FOLLOWERS.get(dest, ())}, dest
    stats = tmp_path / "stats.json"
    stats.write_text(json.dumps({"rgb_mean": [0.5, 0.4, 0.3]}))
    others = {"run_dir": str(tmp_path / "elsewhere"), "bench_dir": "bench", "stats": str(stats), "verbose": "2",
              "export_only": "g.keras", "config": "srfm_mp", "phase": "CPU"}
    assert set(others) == {*RUN_OPTIONS, *COMMAND_OPTIONS} - {"help"}
    for dest, value in others.items():
        args = build_parser().parse_args(["train", "--run-dir", "r"])
        setattr(args, dest, value)
        flat = _flat_configs(args)
        assert {k for k in flat if flat[k] != default[k]} == ({"generator.rgb_mean"} if dest == "stats" else set()), dest


def test_a_recipe_call_reads_back_into_the_options_that_made_it():
    """The way back (`options_from_call`) is the same table: a call holding every table field, as
    a shipped recipe's first call does, gives the options, hence the same configuration."""
    from keras_srfm.commands.train import options_from_call
    from keras_srfm.training.recipe import CONFIG_OPTIONS

    args = build_parser().parse_args(["train", "--run-dir", "r"])
    for dest, value in OTHER_VALUES.items():
        setattr(args, dest, value)
    flat = _flat_configs(args)
    call: dict[str, dict] = {}
    for group, field in CONFIG_OPTIONS.values():
        call.setdefault(group, {})[field] = flat[f"{group}.{field}"]
    fresh = build_parser().parse_args(["train", "--run-dir", "r"])
    for dest, value in options_from_call(call).items():
        setattr(fresh, dest, value)
    assert _flat_configs(fresh) == flat
    args.vgg_weights = "none"  # the option's word for no weights; the field's is None
    assert options_from_call({"loss": {"vgg_weights": _flat_configs(args)["loss.vgg_weights"]}}) == {"vgg_weights": "none"}
