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
