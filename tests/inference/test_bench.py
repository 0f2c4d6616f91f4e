"""`srfm bench`: CPU description, the report, and one real run with a tiny model and image."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from keras_srfm import cli
from keras_srfm.inference import bench

X86 = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8480C
flags\t\t: fpu sse2 avx avx2 fma avx512f avx512_vnni amx_tile amx_int8 ht
processor\t: 1
model name\t: Intel(R) Xeon(R) Platinum 8480C
flags\t\t: fpu sse2 avx avx2 fma avx512f avx512_vnni amx_tile amx_int8 ht
"""
ARM = """processor\t: 0
BogoMIPS\t: 50.00
Features\t: fp asimd evtstrm aes asimddp sve i8mm bf16
CPU implementer\t: 0x41
"""


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from keras_srfm.models.generator import build_generator

    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    build_generator(num_blocks=1, filters=8).save(path)
    return path


def test_cpu_info_reads_name_and_relevant_flags(tmp_path: Path) -> None:
    (tmp_path / "x86").write_text(X86)
    info = bench.cpu_info(tmp_path / "x86")
    assert info.model_name == "Intel(R) Xeon(R) Platinum 8480C"
    assert info.flags == ("avx", "avx2", "fma", "avx512f", "avx512_vnni", "amx_tile", "amx_int8")
    assert "Platinum 8480C" in str(info) and "amx_int8" in str(info)
    (tmp_path / "arm").write_text(ARM)
    assert bench.cpu_info(tmp_path / "arm").flags == ("asimd", "asimddp", "i8mm", "bf16", "sve")
    assert bench.cpu_info(tmp_path / "missing").model_name  # falls back to the platform


def report(*timings: bench.Timing) -> bench.BenchReport:
    cpu = bench.CpuInfo("Test CPU", 2, ("avx2",))
    return bench.BenchReport("g.keras", 16, 3, cpu, "2.21.0", timings)


def test_report_names_the_fastest_and_how_to_use_it() -> None:
    text = bench.format_report(
        report(
            bench.Timing("keras", (0.9, 0.8, 1.0), 2.0, 6.1, float("inf")),
            bench.Timing("tflite_int8", (0.4, 0.3, 0.5), 0.1, 1.6, 54.2),
            bench.Timing("tflite_fp16", unavailable="LiteRT interpreter not installed"),
        )
    )
    assert "CPU: Test CPU, 2 cores; flags: avx2" in text
    assert "| keras | 0.900 | 0.800 | 2.00 | 6.10 | identical |" in text
    assert "| tflite_fp16 | not measured: LiteRT interpreter not installed" in text
    assert "fastest here: tflite_int8 (0.400 s), 2.25x faster than keras" in text
    assert "--quantize int8" in text and "54.2 dB" in text
    fastest_keras = bench.format_report(report(bench.Timing("keras", (0.2,), 1.0, 6.1, 1e9)))
    assert (
        "fastest here: keras" in fastest_keras and "srfm upscale --model g.keras" in fastest_keras
    )


def test_report_json_is_strict() -> None:
    rep = report(
        bench.Timing("keras", (0.9,), 2.0, 6.1, float("inf")),
        bench.Timing("tflite_int8", (0.4,), 0.1, 1.6, np.float64(54.2)),  # numpy, as measured
    )
    document = json.loads(json.dumps(rep.to_dict(), allow_nan=False))
    assert document["fastest"] == "tflite_int8"
    assert [r["identical_to_keras"] for r in document["results"]] == [True, False]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model", "missing.keras"], "model not found"),
        (["--model", "model.txt"], "must be a .keras"),
        (["--size", "4"], "--size must be >= 8"),
        (["--json", "nowhere/b.json"], "--json folder does not exist"),
    ],
)
def test_bench_errors_are_one_line(
    argv: list[str],
    message: str,
    tiny_model: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model.txt").write_text("hello")
    assert cli.main(["bench", "--model", str(tiny_model), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("srfm bench: error:") and message in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.txt"]


@pytest.mark.slow
def test_bench_runs_every_kind_of_variant(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "bench.json"
    argv = ["bench", "--model", str(tiny_model), "--size", "16", "--repeats", "2"]
    variants = ["keras", "savedmodel", "tflite_int8"]
    if importlib.util.find_spec("onnxruntime") and importlib.util.find_spec("tf2onnx"):
        variants.append("onnx_fp32")
    assert cli.main([*argv, "--variants", *variants, "--json", str(out)]) == 0
    text = capsys.readouterr().out
    document = json.loads(out.read_text())
    assert [r["variant"] for r in document["results"]] == variants
    for row in document["results"]:
        assert len(row["runs"]) == 2 and all(t > 0 for t in row["runs"])
        assert row["file_mb"] > 0 and f"| {row['variant']} | {row['median_s']:.3f} |" in text
    # Keras and the SavedModel run the same float32 graph in the same TF: the same uint8 output
    # (measured identical on this AVX-512 CPU with oneDNN on, the default).
    assert document["results"][1]["identical_to_keras"] is True
    if "onnx_fp32" in variants:  # float32 in ONNX Runtime: at most a rounding level apart
        onnx_row = document["results"][3]
        assert onnx_row["identical_to_keras"] or onnx_row["psnr_vs_keras_db"] > 50
    assert f"fastest here: {document['fastest']}" in text
    assert document["cpu"]["model_name"] in text and document["lr_size"] == 16
