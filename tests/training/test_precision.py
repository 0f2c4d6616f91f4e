"""Choosing the training precision: the native-support rule, the cache of `srfm bench --train`,
`--mixed-precision auto` and the one-line cost note (keras_srfm.training.precision)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from keras_srfm.commands import train as train_command
from keras_srfm.training import precision
from keras_srfm.training.precision import Hardware

REPO_ROOT = Path(__file__).resolve().parents[2]

# Flag lines as /proc/cpuinfo prints them (shortened to what matters, in the real order).
EPYC_AVX2 = "model name\t: AMD EPYC\nflags\t\t: fpu sse sse2 avx f16c avx2 fma bmi2 vaes\n"
SAPPHIRE_RAPIDS = ("model name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz\n"
                   "flags\t\t: sse avx avx2 avx512f avx512bw avx512_bf16 avx512_fp16 amx_bf16 amx_tile\n")
ZEN4 = "model name\t: AMD EPYC 9B14\nflags\t\t: avx2 avx512f avx512_bf16 avx512_vnni\n"
GRAVITON3 = "processor\t: 0\nFeatures\t: fp asimd sve bf16 i8mm\n"


def cpu(text: str) -> Hardware:
    return Hardware(*precision.parse_cpuinfo(text))


@pytest.mark.parametrize(("cpuinfo", "bf16"), [(EPYC_AVX2, False), (SAPPHIRE_RAPIDS, True), (ZEN4, True),
                                               (GRAVITON3, False)])
def test_rule_on_cpu_flags(cpuinfo: str, bf16: bool) -> None:
    hardware = cpu(cpuinfo)
    assert precision.native("bfloat16", hardware) is bf16
    assert precision.native("float16", hardware) is False  # never native for training on a CPU
    assert precision.native("off", hardware) is True
    assert precision.rule_choice(hardware) == ("bfloat16" if bf16 else "off")


def test_parse_cpuinfo_reads_model_and_flags() -> None:
    model, flags = precision.parse_cpuinfo(SAPPHIRE_RAPIDS * 2)  # one block per logical CPU
    assert model.startswith("Intel(R) Xeon(R) Platinum 8481C")
    assert "amx_bf16" in flags and flags == tuple(sorted(set(flags)))


@pytest.mark.parametrize(("caps", "choice"), [
    (((8, 0),), "bfloat16"),  # A100
    (((9, 0), (9, 0)), "bfloat16"),  # 2 x H100
    (((7, 0),), "float16"),  # V100: tensor cores, no bfloat16
    (((7, 5),), "float16"),  # T4
    (((6, 1),), "off"),  # P4: neither
    (((8, 6), (7, 5)), "float16"),  # mixed: every GPU must have it
])
def test_rule_on_gpu_compute_capability(caps: tuple, choice: str) -> None:
    hardware = Hardware("AMD EPYC", (), tuple((f"gpu{i}", c) for i, c in enumerate(caps)))
    assert precision.rule_choice(hardware) == choice


def report(variant: str, rows: list[tuple[str, str, bool, float]], when: str = "2026-12-07T06:00:00+00:00") -> dict:
    return {"spec": {"variant": variant}, "measured_at": when,
            "rows": [{"backend": b, "precision": p, "xla": x, "median_s": s} for b, p, x, s in rows]}


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_cache_round_trip_and_choice_by_measurement(cache_home: Path) -> None:
    epyc = cpu(EPYC_AVX2)
    assert precision.choose("tensorflow", False, "p", epyc).mode == "off"  # rule: nothing cached
    # A measurement that disagrees with the rule wins (here: bfloat16 measured faster).
    path = precision.write_cache(epyc, "p g16x64 b16 p24", report("p", [
        ("tensorflow", "off", False, 1.06), ("tensorflow", "bfloat16", False, 0.5),
        ("tensorflow", "off", True, 0.9), ("tensorflow", "bfloat16", True, 13.2)]))
    assert path.parent == cache_home / "keras-srfm"
    chosen = precision.choose("tensorflow", False, "pcsva", epyc)  # another variant: the newest report
    assert chosen.mode == "bfloat16" and "srfm bench --train" in chosen.reason
    assert precision.choose("tensorflow", True, "p", epyc).mode == "off"  # the XLA rows
    assert precision.choose("jax", True, "p", epyc).mode == "off"
    # Another CPU (or other versions) has its own cache file.
    assert precision.cache_path(cpu(ZEN4)) != path
    assert precision.read_cache(cpu(ZEN4)) == {}


def test_cost_note_is_one_line_measured_or_ruled(cache_home: Path) -> None:
    epyc = cpu(EPYC_AVX2)
    ruled = precision.cost_note("bfloat16", "tensorflow", False, "p", epyc)
    assert ruled.count("\n") == 0 and "not native" in ruled and "12.5x" in ruled and "AMD EPYC" in ruled
    precision.write_cache(epyc, "p", report("p", [("tensorflow", "off", False, 1.06),
                                                  ("tensorflow", "bfloat16", False, 13.2)]))
    measured = precision.cost_note("bfloat16", "tensorflow", False, "p", epyc)
    assert measured.count("\n") == 0 and "measured it 12.5x slower" in measured
    assert precision.cost_note("off", "tensorflow", False, "p", epyc) is None
    assert precision.cost_note("bfloat16", "tensorflow", False, "p", cpu(SAPPHIRE_RAPIDS)) is None
    v100 = Hardware("x", (), (("V100", (7, 0)),))
    assert precision.cost_note("float16", "tensorflow", False, "p", v100) is None
    assert "not native" in precision.cost_note("bfloat16", "tensorflow", False, "p", v100)


def train_args(*extra: str, run_dir: Path) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    train_command.add_parser(parser.add_subparsers())
    return parser.parse_args(["train", "--run-dir", str(run_dir), "--vgg-weights", "none", *extra])


def test_train_auto_and_the_warning_line(cache_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision, "detect", lambda: cpu(EPYC_AVX2))
    run_dir = tmp_path / "run"
    auto = train_args("--variant", "p", "--mixed-precision", "auto", run_dir=run_dir)
    assert train_command.configs_from_args(auto)["train"].mixed_precision == "off"
    assert train_command.precision_notes(auto) == [
        "srfm train: --mixed-precision auto -> off (rule: no native bfloat16/float16 on CPU AMD EPYC "
        "(avx2; no avx512_bf16 / amx_bf16); nothing measured here yet by srfm bench --train)"]
    bf16 = train_args("--variant", "p", "--mixed-precision", "bfloat16", run_dir=run_dir)
    notes = train_command.precision_notes(bf16)
    assert len(notes) == 1 and notes[0].startswith("srfm train: bfloat16 is not native on CPU AMD EPYC")
    # A resumed run keeps the precision it was started with.
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps({"train": {"mixed_precision": "bfloat16"}}))
    assert train_command.configs_from_args(auto)["train"].mixed_precision == "bfloat16"
    assert "kept from the run" in train_command.precision_notes(auto)[0]
    monkeypatch.setattr(precision, "detect", lambda: cpu(SAPPHIRE_RAPIDS))
    assert train_command.precision_notes(bf16) == []


@pytest.mark.slow
def test_bench_train_writes_the_cache_that_auto_reads(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "PYTHONPATH": str(REPO_ROOT),
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [sys.executable, "-m", "keras_srfm.cli", "bench", "--train", "--variant", "p", "--blocks", "1",
               "--filters", "4", "--batch-size", "2", "--lr-patch", "4", "--warmup", "1", "--repeats", "2",
               "--backends", "tensorflow", "--precisions", "off", "bfloat16", "--xla", "off",
               "--json", str(tmp_path / "bench.json")]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| tensorflow | float32 | off |" in done.stdout and "| tensorflow | bfloat16 | off |" in done.stdout
    assert "fastest here: tensorflow" in done.stdout and "CPU: " in done.stdout
    # The TensorFlow rows name their kernels (the ones `srfm train` would run: training.onednn).
    assert "TensorFlow rows: TensorFlow kernels: " in done.stdout
    saved = json.loads((tmp_path / "bench.json").read_text())
    assert [len(r["step_s"]) for r in saved["rows"]] == [2, 2]
    cached = list((tmp_path / "cache" / "keras-srfm").glob("train_bench_*.json"))
    assert len(cached) == 1
    # `srfm train --mixed-precision auto` (here: its chooser, in a process with the same cache) reads it.
    probe = ("from keras_srfm.training import precision as p; c = p.choose('tensorflow', False, 'p'); "
             "print(c.mode, '|', c.reason)")
    chosen = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    fastest = saved["fastest"]["precision"]
    assert chosen.stdout.startswith(f"{fastest} | fastest in srfm bench --train on this machine (p:")
