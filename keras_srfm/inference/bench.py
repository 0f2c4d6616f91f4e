"""`srfm bench`: which way of running a generator is fastest on this CPU.

The same generator is run as a Keras model (the traced `tf.function` that `srfm upscale` uses),
as the TF Serving SavedModel and as each TFLite / LiteRT variant (float32, float16, int8
dynamic range) on one seeded random image, untiled. Calls are timed in interleaved rounds after
one warm-up call each, so load from other processes hits every variant alike. The winner depends
on the CPU: on a 2-core AVX-512 machine TFLite float32 beat Keras, while on another AVX-512 /
AMX machine Keras and the SavedModel beat TFLite float32 and int8 won (issue 17). So the advice
comes from this measurement, named with the CPU it ran on.

Example:
>>> report = run_bench("generator.keras", size=256, repeats=3)
>>> print(format_report(report))
"""

from __future__ import annotations

import dataclasses
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

VARIANTS = ("keras", "keras_xla", "savedmodel", "tflite_fp32", "tflite_fp16", "tflite_int8")
DEFAULT_VARIANTS = ("keras", "savedmodel", "tflite_fp32", "tflite_fp16", "tflite_int8")
QUANTIZE = {"tflite_fp32": "float32", "tflite_fp16": "float16", "tflite_int8": "int8"}
# /proc/cpuinfo flags that decide which kernels TF (oneDNN) and XNNPACK can use.
RELEVANT_FLAGS = (
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512bw",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "avx_vnni",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
    "neon",
    "asimd",
    "asimddp",
    "fphp",
    "i8mm",
    "bf16",
    "sve",
)


# === CPU ===


@dataclasses.dataclass(frozen=True)
class CpuInfo:
    """What the timings ran on.

    Attributes:
        model_name: str. `model name` from /proc/cpuinfo (or the platform's processor string).
        cores: int. Logical CPUs this process may use.
        flags: tuple of str. The `RELEVANT_FLAGS` this CPU has.
    """

    model_name: str
    cores: int
    flags: tuple[str, ...]

    def __str__(self) -> str:
        flags = " ".join(self.flags) or "none of the SIMD flags looked for"
        return f"{self.model_name}, {self.cores} cores; flags: {flags}"


def cpu_info(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> CpuInfo:
    """Reads the CPU's model name and its relevant SIMD flags (x86 `flags`, Arm `Features`)."""
    name, flags = "", set()
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware", "cpu model") and not name:
            name = value.strip()
        elif key in ("flags", "features"):
            flags.update(value.split())
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return CpuInfo(
        model_name=name or platform.processor() or platform.machine() or "unknown CPU",
        cores=int(cores or 1),
        flags=tuple(f for f in RELEVANT_FLAGS if f in flags),
    )


# === Variants ===


@dataclasses.dataclass(frozen=True)
class Timing:
    """One variant's result.

    Attributes:
        variant: str. One of `VARIANTS`.
        runs: tuple of float. Seconds per timed call (empty when not available).
        first_call_s: float or None. The warm-up call (tracing, XLA compilation, allocation).
        file_mb: float or None. Size of the variant's model file(s).
        psnr_vs_keras_db: float or None. PSNR of its uint8 output against the Keras output
            (inf: identical); says what a quantised variant costs in fidelity.
        unavailable: str or None. Why the variant was not measured.
    """

    variant: str
    runs: tuple[float, ...] = ()
    first_call_s: float | None = None
    file_mb: float | None = None
    psnr_vs_keras_db: float | None = None
    unavailable: str | None = None

    @property
    def median_s(self) -> float | None:
        return statistics.median(self.runs) if self.runs else None


@dataclasses.dataclass(frozen=True)
class BenchReport:
    """Everything `srfm bench` measured.

    Attributes:
        model: str. The `.keras` file.
        size: int. LR edge of the square test image (output: 4 * size).
        repeats: int. Timed calls per variant.
        cpu: CpuInfo.
        tensorflow: str. TensorFlow version.
        timings: tuple of Timing, in the order asked.
    """

    model: str
    size: int
    repeats: int
    cpu: CpuInfo
    tensorflow: str
    timings: tuple[Timing, ...]

    @property
    def fastest(self) -> Timing | None:
        measured = [t for t in self.timings if t.runs]
        return min(measured, key=lambda t: t.median_s) if measured else None

    def to_dict(self) -> dict[str, Any]:
        fastest = self.fastest
        return {
            "model": self.model,
            "lr_size": self.size,
            "hr_size": 4 * self.size,
            "repeats": self.repeats,
            "cpu": dataclasses.asdict(self.cpu),
            "tensorflow": self.tensorflow,
            "results": [_timing_dict(t) for t in self.timings],
            "fastest": fastest.variant if fastest else None,
        }


def _timing_dict(timing: Timing) -> dict[str, Any]:
    """JSON-safe: an identical output (PSNR inf) is written as `identical_to_keras: true`."""
    entry = {**dataclasses.asdict(timing), "median_s": timing.median_s}
    identical = bool(timing.psnr_vs_keras_db == float("inf"))
    entry["identical_to_keras"] = identical if timing.runs else None
    if identical:
        entry["psnr_vs_keras_db"] = None
    return entry


def _litert_missing() -> str | None:
    try:
        import ai_edge_litert.interpreter  # noqa: F401
    except ImportError:
        return "LiteRT interpreter not installed (pip install 'keras-srfm[litert]')"
    return None


def _size_mb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return round(sum(p.stat().st_size for p in files) / 1e6, 2)


def prepare_runner(
    variant: str, model: Any, workdir: Path
) -> tuple[Callable[[np.ndarray], np.ndarray], float]:
    """Builds one variant (exporting or converting the generator first) as an untiled upscaler.

    Returns:
        (callable uint8 (H, W, 3) -> uint8 (4H, 4W, 3), size of its model file in MB).
    """
    from keras_srfm.inference.upscalers import KerasUpscaler, load_upscaler

    if variant in ("keras", "keras_xla"):
        path = workdir / "generator.keras"
        if not path.exists():
            model.save(path)
        upscaler = KerasUpscaler(model, tile_size=0, jit_compile=variant == "keras_xla")
        return upscaler, _size_mb(path)
    if variant == "savedmodel":
        from keras_srfm.export.saved_model import export_saved_model

        path = export_saved_model(model, workdir / "serving")
        return load_upscaler(path, tile_size=0), _size_mb(path)
    from keras_srfm.export.tflite import convert_to_tflite

    path = convert_to_tflite(model, workdir / f"{variant}.tflite", quantize=QUANTIZE[variant])
    return load_upscaler(path, tile_size=0), _size_mb(path)


def _psnr(reference: np.ndarray, test: np.ndarray) -> float:
    mse = float(np.mean((reference.astype(np.float64) - test.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def run_bench(
    model_path: str | os.PathLike,
    *,
    size: int = 256,
    repeats: int = 3,
    variants: Sequence[str] = DEFAULT_VARIANTS,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> BenchReport:
    """Times each variant of one generator on this CPU.

    Args:
        model_path: str or path. A `.keras` generator.
        size: int. LR edge of the random test image. Defaults to 256 (-> 1024x1024).
        repeats: int. Timed calls per variant, interleaved. Defaults to 3.
        variants: names from `VARIANTS`, in report order. Defaults to `DEFAULT_VARIANTS`.
        seed: int. Seed of the test image. Defaults to 0.
        log: callable or None. Progress lines.

    Returns:
        BenchReport.
    """
    import tensorflow as tf

    from keras_srfm.inference.upscalers import load_keras_generator

    if size < 1 or repeats < 1:
        raise ValueError(f"size and repeats must be >= 1. Received: size={size}, repeats={repeats}")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or not variants or len(set(variants)) != len(variants):
        raise ValueError(f"variants must be distinct names from {VARIANTS}. Received: {variants}")
    say = log or (lambda _: None)
    model = load_keras_generator(model_path)
    image = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    runners: dict[str, Callable[[np.ndarray], np.ndarray]] = {}
    info: dict[str, dict[str, Any]] = {}
    reference = None
    with tempfile.TemporaryDirectory(prefix="srfm_bench_") as tmp:
        for variant in variants:
            reason = _litert_missing() if variant.startswith("tflite") else None
            if reason:
                info[variant] = {"unavailable": reason}
                say(f"{variant}: skipped, {reason}")
                continue
            say(f"{variant}: preparing ...")
            runner, file_mb = prepare_runner(variant, model, Path(tmp))
            start = time.perf_counter()
            out = runner(image)  # warm-up: tracing, compilation, tensor allocation
            first = time.perf_counter() - start
            if variant == "keras":
                reference = out
            runners[variant] = runner
            info[variant] = {"first_call_s": first, "file_mb": file_mb, "output": out}
        if reference is None and runners:
            reference = _keras_output(model, image)
        runs: dict[str, list[float]] = {v: [] for v in runners}
        for round_ in range(repeats):  # interleaved rounds
            for variant, runner in runners.items():
                start = time.perf_counter()
                runner(image)
                runs[variant].append(time.perf_counter() - start)
            say(f"round {round_ + 1}/{repeats} done")
    timings = []
    for variant in variants:
        entry = info[variant]
        if "unavailable" in entry:
            timings.append(Timing(variant, unavailable=entry["unavailable"]))
            continue
        timings.append(
            Timing(
                variant,
                runs=tuple(runs[variant]),
                first_call_s=entry["first_call_s"],
                file_mb=entry["file_mb"],
                psnr_vs_keras_db=_psnr(reference, entry["output"]),
            )
        )
    return BenchReport(
        model=str(model_path),
        size=size,
        repeats=repeats,
        cpu=cpu_info(),
        tensorflow=tf.__version__,
        timings=tuple(timings),
    )


def _keras_output(model: Any, image: np.ndarray) -> np.ndarray:
    """The fidelity reference when the `keras` variant itself is not benchmarked."""
    from keras_srfm.inference.upscalers import KerasUpscaler

    return KerasUpscaler(model, tile_size=0)(image)


# === Report ===

ADVICE = {
    "keras": "pass the .keras file: srfm upscale --model {model}",
    "keras_xla": "pass the .keras file (XLA: load_upscaler(..., jit_compile=True) from Python)",
    "savedmodel": "export it (srfm export --model {model} --output serving) and pass "
    "--model serving/srfm",
    "tflite_fp32": "srfm convert --model {model} --output model_fp32.tflite, then "
    "srfm upscale --model model_fp32.tflite",
    "tflite_fp16": "srfm convert --model {model} --output model_fp16.tflite --quantize float16, "
    "then srfm upscale --model model_fp16.tflite",
    "tflite_int8": "srfm convert --model {model} --output model_int8.tflite --quantize int8, "
    "then srfm upscale --model model_int8.tflite",
}


def _cell(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def format_report(report: BenchReport) -> str:
    """A Markdown table, then the fastest variant on this CPU and how to use it."""
    lines = [
        f"{report.size}x{report.size} -> {4 * report.size}x{4 * report.size}, "
        f"median of {report.repeats} untiled calls, TensorFlow {report.tensorflow}",
        f"CPU: {report.cpu}",
        "",
        "| variant | median s | min s | first call s | file MB | PSNR vs keras dB |",
        "|---|---|---|---|---|---|",
    ]
    for t in report.timings:
        if t.unavailable:
            lines.append(f"| {t.variant} | not measured: {t.unavailable} | | | | |")
            continue
        psnr = (
            "identical" if t.psnr_vs_keras_db == float("inf") else _cell(t.psnr_vs_keras_db, ".1f")
        )
        lines.append(
            f"| {t.variant} | {t.median_s:.3f} | {min(t.runs):.3f} | "
            f"{_cell(t.first_call_s, '.2f')} | {_cell(t.file_mb, '.2f')} | {psnr} |"
        )
    fastest = report.fastest
    if fastest is None:
        lines += ["", "nothing was measured"]
        return "\n".join(lines)
    lines += ["", f"fastest here: {fastest.variant} ({fastest.median_s:.3f} s)"]
    others = [t for t in report.timings if t.runs and t is not fastest]
    if others:
        runner_up = min(others, key=lambda t: t.median_s)
        lines[-1] += (
            f", {runner_up.median_s / fastest.median_s:.2f}x faster than {runner_up.variant}"
        )
    lines.append("use it: " + ADVICE[fastest.variant].format(model=report.model))
    if fastest.variant in ("tflite_fp16", "tflite_int8"):
        lines.append(
            f"note: its weights are quantised; its output is {fastest.psnr_vs_keras_db:.1f} dB "
            "PSNR from Keras' on this random image: look at your own photos before switching "
            "(srfm compare --lr)"
        )
    return "\n".join(lines)
