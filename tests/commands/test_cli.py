"""The `srfm` command line itself: quiet TensorFlow, one-line errors, help, --version."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from keras_srfm import __version__, cli
from keras_srfm.commands.tf_logs import filter_tf_log

# What TensorFlow 2.21 prints on import on an AVX-512/AMX Xeon, whatever TF_CPP_MIN_LOG_LEVEL says.
TF_IMPORT_NOISE = """\
WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
I0000 00:00:1795776262.715597    7048 port.cc:153] oneDNN custom operations are on. You may see slightly different numerical results.
I0000 00:00:1795776262.899814    7048 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use available CPU instructions.
To enable the following instructions: AVX2 AVX512F AMX_TILE FMA, in other operations, rebuild TensorFlow.
W0000 00:00:1795776262.9 7048 some_op.cc:12] a warning
E0000 00:00:1795776262.9 7048 some_op.cc:13] an error
    with an indented continuation
a line of our own
"""


def test_filter_drops_lines_below_the_level():
    assert filter_tf_log(TF_IMPORT_NOISE, 3) == "a line of our own\n"
    kept = filter_tf_log(TF_IMPORT_NOISE, 2).splitlines()
    assert kept == ["E0000 00:00:1795776262.9 7048 some_op.cc:13] an error",
                    "    with an indented continuation", "a line of our own"]
    assert filter_tf_log(TF_IMPORT_NOISE, 0) == TF_IMPORT_NOISE  # the user asked for everything


def test_filter_drops_litert_records():
    text = "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\nsrfm upscale: done\n"
    assert filter_tf_log(text, 3) == "srfm upscale: done\n"
    assert filter_tf_log(text, 0) == text


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.strip() == f"srfm {__version__}"


def test_usage_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["upscale", "x.png", "--output-dir", "o", "--tile-size", "many"])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(err) == 1
    assert err[0].startswith("srfm upscale: error: argument --tile-size: invalid int value")


def _options(parser: argparse.ArgumentParser, prefix: str = "srfm"):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _options(sub, f"{prefix} {name}")
        elif action.option_strings and action.dest not in ("help", "version"):
            yield prefix, action


def test_every_option_has_help_with_its_default():
    parser = cli.build_parser()
    formatter = cli.HelpFormatter("srfm")
    for command, action in _options(parser):
        text = formatter._get_help_string(action)
        assert text.strip(), f"{command} {action.option_strings[0]} has no help"
        if action.default not in (None, argparse.SUPPRESS) and not isinstance(action.default, bool):
            assert "default" in text.lower(), f"{command} {action.option_strings[0]}: {text}"


def test_missing_extra_names_the_pip_command(capsys, monkeypatch, tmp_path):
    # Import fails as if not installed, also for submodules an earlier test imported.
    for name in [m for m in sys.modules if m.startswith("ai_edge_litert.")] + ["ai_edge_litert"]:
        monkeypatch.setitem(sys.modules, name, None)
    model = tmp_path / "m.tflite"
    model.write_bytes(b"")
    (tmp_path / "hr").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "hr" / "a.png")
    status = cli.main(["evaluate", "--model", str(model), "--hr-dir", str(tmp_path / "hr")])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and err == [
        'srfm evaluate: error: this needs the optional package ai_edge_litert: '
        'pip install "keras-srfm[litert]"'
    ]


@pytest.mark.slow
@pytest.mark.parametrize("user_level", [None, "2"])  # unset, and what conftest sets
def test_tensorflow_lines_stay_out_of_the_terminal(tmp_path, user_level):
    """A command that imports TensorFlow prints only its own line (its error, here)."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    if user_level is not None:
        env["TF_CPP_MIN_LOG_LEVEL"] = user_level
    (tmp_path / "hr").mkdir()
    Image.new("RGB", (100, 100), "gray").save(tmp_path / "hr" / "a.png")
    (tmp_path / "g.keras").write_bytes(b"not a model")
    code = ("import sys; from keras_srfm.cli import main; rc = main(sys.argv[1:]); "
            "print('tensorflow' in sys.modules); sys.exit(rc)")
    args = ["train", "--run-dir", str(tmp_path / "run"), "--variant", "p", "--data", str(tmp_path / "hr"),
            "--init-from", str(tmp_path / "g.keras")]
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 2 and out.stdout.strip() == "True"  # TensorFlow was imported
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "--init-from" in lines[0] and "does not load" in lines[0], out.stderr


# A library's own log record on file descriptor 2: absl/glog (TensorFlow) or LiteRT's logger.
LIBRARY_RECORD = re.compile(r"^([IWEF]\d{4} |(INFO|WARNING|ERROR): )")
SHIPPED_TFLITE = Path(__file__).resolve().parents[2] / "exported_models" / "srfm_mp" / "srfm_mp_fp16.tflite"


@pytest.mark.slow
@pytest.mark.parametrize("command", ["upscale", "evaluate", "mos prepare", "bench"])
def test_litert_and_bench_lines_stay_out_of_the_terminal(tmp_path, command):
    """Every path that runs a LiteRT interpreter, and `srfm bench` (which converts and times
    each variant), prints only srfm's own lines: LiteRT's "INFO: Created TensorFlow Lite
    XNNPACK delegate for CPU." is printed from C++ whatever TF_CPP_MIN_LOG_LEVEL says."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    hr = tmp_path / "hr"
    hr.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (56, 64, 3), dtype=np.uint8)).save(hr / f"a{i}.png")
    model = str(SHIPPED_TFLITE)
    args = {
        "upscale": ["upscale", str(hr), "-o", str(tmp_path / "out"), "--model", model, "--quiet"],
        "evaluate": ["evaluate", "--model", model, "--hr-dir", str(hr), "--no-progress"],
        "mos prepare": ["mos", "prepare", "--hr-dir", str(hr), "--out", str(tmp_path / "study"),
                        "--images", "1", "--calibration", "1", "--models", f"mp={model}"],
        "bench": ["bench", "--model", "srfm_mp", "--size", "8", "--repeats", "1", "--variants", "tflite_fp32"],
    }[command]
    out = subprocess.run([sys.executable, "-m", "keras_srfm.cli", *args], capture_output=True, text=True,
                         env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    noise = [line for line in out.stderr.splitlines() if LIBRARY_RECORD.match(line)]
    assert noise == [], out.stderr
