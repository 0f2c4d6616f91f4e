"""Which compute precision trains fastest here: `srfm bench --train`'s measurement, else a rule.

Mixed precision (`--mixed-precision bfloat16 | float16`) only pays where the hardware computes
in it natively. Measured (issue 26, batch 16, 24 -> 96, paper-size `p` update): on an Intel
Xeon with `avx512_bf16` and `amx_bf16`, bfloat16 trained 2.1-2.7x faster than float32; on a
2-core AMD EPYC with AVX2 only it was 12.5x *slower* (oneDNN emulates bfloat16 there).

The rule, used where nothing was measured on this machine:

- CPU: bfloat16 is native with `avx512_bf16` or `amx_bf16` in `/proc/cpuinfo`; float16 is
  never native on a CPU for training (TensorFlow's CPU float16 kernels convert to float32).
- GPU (every local one, from `nvidia-smi`): bfloat16 needs compute capability >= 8.0
  (Ampere), float16 >= 7.0 (Volta tensor cores).

`--mixed-precision auto` takes the fastest precision of the cached `srfm bench --train` run for
this backend and XLA setting when there is one (the cache is keyed by the CPU model, its flags,
the GPUs and the framework versions, so a different machine or an upgrade measures again), else
the rule's choice. A bfloat16 or float16 request on hardware without native support prints one
line with the measured, or else the expected, cost before training starts (`cost_note`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

NATIVE_BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
# Minimum CUDA compute capability at which each precision runs on tensor cores.
GPU_MIN_CAPABILITY = {"bfloat16": (8, 0), "float16": (7, 0)}
# The rule's expected cost of emulated bfloat16 on a CPU, for the one-line note (issue 26:
# 13.2 s against 1.06 s per `p` update on a 2-core AVX2-only AMD EPYC).
EMULATED_BF16_SLOWDOWN = 12.5
LOW_PRECISIONS = ("bfloat16", "float16")

# === Hardware ===


@dataclasses.dataclass(frozen=True)
class Hardware:
    """What decides whether a precision is native here.

    Attributes:
        cpu_model: str. `model name` of `/proc/cpuinfo` (as lscpu shows it).
        cpu_flags: tuple of str. Every CPU flag, sorted.
        gpus: tuple of (name, (major, minor)) per local NVIDIA GPU; empty without one.
    """

    cpu_model: str
    cpu_flags: tuple[str, ...] = ()
    gpus: tuple[tuple[str, tuple[int, int]], ...] = ()

    @property
    def device(self) -> str:
        """One line naming where a step runs: the GPUs, else the CPU and its bfloat16 flags."""
        if self.gpus:
            names = sorted({f"{name} (compute capability {c[0]}.{c[1]})" for name, c in self.gpus})
            return f"{len(self.gpus)} x " + ", ".join(names)
        native = [f for f in NATIVE_BF16_CPU_FLAGS if f in self.cpu_flags]
        simd = [f for f in ("avx2", "avx512f") if f in self.cpu_flags]
        flags = " ".join(simd + native) or "no AVX2"
        return f"CPU {self.cpu_model} ({flags}{'' if native else '; no avx512_bf16 / amx_bf16'})"


def parse_cpuinfo(text: str) -> tuple[str, tuple[str, ...]]:
    """(model name, sorted flags) of a `/proc/cpuinfo` text (x86 `flags`, Arm `Features`)."""
    model, flags = "", set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware", "cpu model") and not model:
            model = value.strip()
        elif key in ("flags", "features"):
            flags.update(value.split())
    return model or "unknown CPU", tuple(sorted(flags))


def nvidia_gpus() -> tuple[tuple[str, tuple[int, int]], ...]:
    """(name, compute capability) of each local NVIDIA GPU, from `nvidia-smi` (none: empty)."""
    if shutil.which("nvidia-smi") is None:
        return ()
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,compute_cap", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=20, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    gpus = []
    for line in out.strip().splitlines():
        name, _, cap = line.rpartition(",")
        major, _, minor = cap.strip().partition(".")
        if major.isdigit():
            gpus.append((name.strip(), (int(major), int(minor or 0))))
    return tuple(gpus)


def detect(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> Hardware:
    """This machine's Hardware (no framework is imported)."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        text = ""
    model, flags = parse_cpuinfo(text)
    return Hardware(model, flags, nvidia_gpus())


def native(mode: str, hardware: Hardware) -> bool:
    """Whether `mode` ("off", "bfloat16", "float16") computes natively on `hardware` (the rule)."""
    if mode == "off":
        return True
    if hardware.gpus:
        return all(cap >= GPU_MIN_CAPABILITY[mode] for _, cap in hardware.gpus)
    return mode == "bfloat16" and any(f in hardware.cpu_flags for f in NATIVE_BF16_CPU_FLAGS)


def rule_choice(hardware: Hardware) -> str:
    """The precision the rule expects to train fastest: bfloat16 where native, else float16 on a
    GPU that has it natively, else float32 ("off")."""
    for mode in LOW_PRECISIONS:
        if native(mode, hardware) and (mode == "bfloat16" or hardware.gpus):
            return mode
    return "off"


# === Cache of `srfm bench --train` ===


def versions() -> dict[str, str]:
    """Installed versions of the frameworks a step runs on (part of the cache key)."""
    found = {}
    for name, packages in (("tensorflow", ("tensorflow", "tensorflow-cpu")), ("keras", ("keras",)),
                           ("jax", ("jax",)), ("jaxlib", ("jaxlib",))):
        for package in packages:
            try:
                found[name] = metadata.version(package)
                break
            except metadata.PackageNotFoundError:
                continue
    return found


def cache_dir() -> Path:
    """`$XDG_CACHE_HOME/keras-srfm` (default `~/.cache/keras-srfm`)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "keras-srfm"


def cache_path(hardware: Hardware) -> Path:
    """The cache file of this hardware and these framework versions."""
    key = json.dumps([hardware.cpu_model, hardware.cpu_flags, hardware.gpus, versions()], sort_keys=True)
    return cache_dir() / f"train_bench_{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"


def read_cache(hardware: Hardware) -> dict[str, Any]:
    """Cached `srfm bench --train` reports of this machine, by their `spec` key (empty: none)."""
    path = cache_path(hardware)
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return document.get("reports", {}) if isinstance(document, dict) else {}


def write_cache(hardware: Hardware, key: str, report: dict[str, Any]) -> Path:
    """Adds (or replaces) one report under `key` in this machine's cache file, atomically."""
    from keras_srfm.imaging.atomic import write_json

    reports = read_cache(hardware)
    reports[key] = report
    path = cache_path(hardware)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, {"hardware": dataclasses.asdict(hardware), "versions": versions(), "reports": reports})
    return path


# === Choice ===


@dataclasses.dataclass(frozen=True)
class Choice:
    """A precision and why: `mode` is a `--mixed-precision` value, `reason` one clause."""

    mode: str
    reason: str


def measured_times(reports: dict[str, Any], backend: str, jit: bool, variant: str) -> dict[str, Any]:
    """Median s/update by precision for `backend` and `jit` from the cached reports, and which
    report (variant) they come from: the run's own variant when it was measured, else the newest.

    Returns:
        `{"variant": str, "times": {precision: seconds}}`, or `{}` when nothing matches.
    """
    ordered = sorted(reports.values(), key=lambda r: (r.get("spec", {}).get("variant") == variant,
                                                      r.get("measured_at", "")), reverse=True)
    for report in ordered:
        rows = [r for r in report.get("rows", []) if r.get("backend") == backend and r.get("median_s")]
        same_xla = [r for r in rows if bool(r.get("xla")) == jit] or rows
        if same_xla:
            times: dict[str, float] = {}
            for row in same_xla:
                times[row["precision"]] = min(times.get(row["precision"], float("inf")), row["median_s"])
            return {"variant": report.get("spec", {}).get("variant", "?"), "times": times}
    return {}


def choose(backend: str, jit: bool, variant: str, hardware: Hardware | None = None) -> Choice:
    """`--mixed-precision auto`: the measured fastest precision here, else the rule's."""
    if backend == "jax":
        return Choice("off", "the JAX path computes in float32")
    hardware = hardware or detect()
    measured = measured_times(read_cache(hardware), backend, jit, variant)
    if measured:
        times = measured["times"]
        mode = min(times, key=times.get)
        listed = ", ".join(f"{_label(m)} {s:.3g} s" for m, s in sorted(times.items(), key=lambda kv: kv[1]))
        return Choice(mode, f"fastest in srfm bench --train on this machine ({measured['variant']}: {listed})")
    mode = rule_choice(hardware)
    why = "native" if mode != "off" else "no native bfloat16/float16"
    return Choice(mode, f"rule: {why} on {hardware.device}; nothing measured here yet by srfm bench --train")


def cost_note(mode: str, backend: str, jit: bool, variant: str, hardware: Hardware | None = None) -> str | None:
    """One line for a `mode` the hardware does not compute natively: its measured or expected
    cost against float32; None for float32 or a native precision."""
    if mode not in LOW_PRECISIONS:
        return None
    hardware = hardware or detect()
    if native(mode, hardware):
        return None
    what = hardware.device
    measured = measured_times(read_cache(hardware), backend, jit, variant).get("times", {})
    if mode in measured and "off" in measured:
        ratio = measured[mode] / measured["off"]
        return (f"srfm train: {mode} is not native on {what}: srfm bench --train measured it {ratio:.1f}x "
                f"{'slower' if ratio > 1 else 'faster'} than float32 here ({measured[mode]:.3g} s against "
                f"{measured['off']:.3g} s per update); --mixed-precision auto picks the fastest")
    expected = (f"expect it to be several times slower than float32 ({EMULATED_BF16_SLOWDOWN}x on a 2-core "
                "AVX2-only AMD EPYC)") if not hardware.gpus else "expect it to be slower than float32"
    return (f"srfm train: {mode} is not native on {what}: {expected}; srfm bench --train measures it here, "
            "--mixed-precision auto picks the fastest")


def _label(mode: str) -> str:
    return "float32" if mode == "off" else mode
