"""`keras_srfm.training.onednn`: oneDNN's kernels on for training where nobody chose, and only there."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from keras_srfm.training import onednn

ON_X86_64 = platform.machine() in onednn.X86_64


def test_turns_onednn_on_when_unset_on_x86_64_before_tensorflow():
    env: dict[str, str] = {}
    line = onednn.enable_for_training(env, machine="x86_64", tensorflow_imported=False)
    assert env == {"TF_ENABLE_ONEDNN_OPTS": "1"}
    assert "oneDNN" in line and "TF_ENABLE_ONEDNN_OPTS=0" in line  # says how to turn it off


@pytest.mark.parametrize("value", ["0", "1", " 0 "])
def test_a_value_the_user_set_wins(value):
    env = {"TF_ENABLE_ONEDNN_OPTS": value}
    line = onednn.enable_for_training(env, machine="x86_64", tensorflow_imported=False)
    assert env == {"TF_ENABLE_ONEDNN_OPTS": value}
    assert f"TF_ENABLE_ONEDNN_OPTS={value.strip()}, as set" in line


def test_an_empty_value_counts_as_unset():
    env = {"TF_ENABLE_ONEDNN_OPTS": ""}
    onednn.enable_for_training(env, machine="AMD64", tensorflow_imported=False)
    assert env == {"TF_ENABLE_ONEDNN_OPTS": "1"}


def test_other_machines_keep_tensorflows_default():
    env: dict[str, str] = {}
    line = onednn.enable_for_training(env, machine="aarch64", tensorflow_imported=False)
    assert env == {} and "aarch64" in line


def test_too_late_once_tensorflow_is_imported():
    """The variable would reach child processes but not this process's kernels: left unset."""
    env: dict[str, str] = {}
    line = onednn.enable_for_training(env, machine="x86_64", tensorflow_imported=True)
    assert env == {} and "imported before" in line


def _python(*argv: str, **extra: str) -> subprocess.CompletedProcess:
    """`python ARGV` with TF_ENABLE_ONEDNN_OPTS unset (CI sets it for the whole suite)."""
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=300,
                          env={**env, **extra})


@pytest.mark.slow
@pytest.mark.skipif(not ON_X86_64, reason="oneDNN's switch is left alone off x86-64")
def test_tensorflow_runs_onednn_after_the_rule():
    """TensorFlow itself reports the kernels: its import-time line 'oneDNN custom operations are on'."""
    code = ("from keras_srfm.training import onednn; onednn.enable_for_training(); "
            "import tensorflow as tf; tf.constant(1.0) + 1.0")
    ran = _python("-c", code, TF_CPP_MIN_LOG_LEVEL="0")
    assert ran.returncode == 0, ran.stderr
    assert "oneDNN custom operations are on" in ran.stderr


@pytest.mark.slow
@pytest.mark.skipif(not ON_X86_64, reason="oneDNN's switch is left alone off x86-64")
def test_srfm_train_sets_it_before_tensorflow_loads(tmp_path, write_stripes):
    """A real `srfm train` process applies the rule before anything imports TensorFlow (else the
    line would say 'imported before') and says so once its inputs are checked."""
    images = write_stripes(tmp_path / "hr")
    ran = _python("-m", "keras_srfm.cli", "train", "--variant", "p", "--run-dir", str(tmp_path / "run"),
                  "--data", str(images), "--steps", "1", "--blocks", "1", "--filters", "4", "--batch-size", "2",
                  "--lr-patch", "4", "--verbose", "0", TF_CPP_MIN_LOG_LEVEL="3")
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert "srfm train: TensorFlow kernels: oneDNN's custom operations (TF_ENABLE_ONEDNN_OPTS=1" in ran.stdout


@pytest.mark.slow
def test_a_bad_option_stays_one_line(tmp_path):
    """The kernels line is said after the inputs are checked: a typo prints its error alone."""
    ran = _python("-m", "keras_srfm.cli", "train", "--variant", "p", "--run-dir", str(tmp_path / "run"),
                  "--data", str(tmp_path / "missing"), TF_CPP_MIN_LOG_LEVEL="3")
    assert ran.returncode == 2 and ran.stdout == "", ran.stdout
    assert len(ran.stderr.strip().splitlines()) == 1, ran.stderr
