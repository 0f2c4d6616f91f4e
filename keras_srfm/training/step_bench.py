"""`srfm bench --train`: which backend, precision and XLA setting trains fastest on this machine.

Times the update `srfm train` runs (the same `RunConfig`, networks and optimizers:
`runner.build_training_model` on TensorFlow, `jax_run.build_trainer` on JAX) for one variant,
over backend (TensorFlow, JAX where installed) x precision (float32, bfloat16; float16 on a
GPU) x XLA (the JAX step is always XLA-compiled). VGG19 gets random weights: ImageNet ones
cost the same.

Each setting runs in its own process (its own dtype policy, XLA state and peak RSS), and the
processes are stepped in lockstep: every child builds its model and takes its warm-up updates,
then the parent asks each in turn for one timed update, round after round, so that load from
other work on the machine falls on every setting alike. All children stay alive until the end:
memory is the sum of theirs (about 1.2 GB each for `p`, 3 GB for `pcsva` at paper size).

The report names the CPU (model name and flags) or GPUs it ran on and the fastest setting, and
is cached for `srfm train --mixed-precision auto` (`keras_srfm.training.precision`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from importlib.util import find_spec
from typing import Any, TextIO

from keras_srfm.training import precision as precision_rule

PROTOCOL = "SRFM-BENCH"  # prefix of the child's protocol lines on stdout (anything else is noise)

# === Config ===


@dataclasses.dataclass(frozen=True)
class Setting:
    """One configuration: `backend` (tensorflow / jax), `precision` (a `--mixed-precision`
    value) and `xla` (`--jit`; always True on JAX)."""

    backend: str
    precision: str
    xla: bool

    @property
    def label(self) -> str:
        name = "float32" if self.precision == "off" else self.precision
        return f"{self.backend} {name} xla={'on' if self.xla else 'off'}"

    @property
    def train_flags(self) -> str:
        """The `srfm train` options that select this setting."""
        return f"--backend {self.backend} --mixed-precision {self.precision} --{'' if self.xla else 'no-'}jit"


@dataclasses.dataclass(frozen=True)
class Spec:
    """What one update is: the variant and its size (the paper's by default).

    Attributes:
        variant: str. A `--variant`.
        blocks, filters: int. Generator residual blocks and filters (paper: 16, 64).
        batch: int. Global batch (paper: 16).
        lr_patch: int. LR patch side (paper: 24 -> 96 HR).
        warmup: int. Untimed updates per setting (tracing, compilation).
        steps: int. Timed updates per setting.
    """

    variant: str = "p"
    blocks: int = 16
    filters: int = 64
    batch: int = 16
    lr_patch: int = 24
    warmup: int = 2
    steps: int = 3

    @property
    def key(self) -> str:
        """Cache key of the update measured (timing settings excluded)."""
        return f"{self.variant} g{self.blocks}x{self.filters} b{self.batch} p{self.lr_patch}"


def default_settings(hardware: precision_rule.Hardware, backends: Sequence[str] | None = None,
                     precisions: Sequence[str] | None = None, xla: Sequence[bool] = (False, True)) -> list[Setting]:
    """backend x precision x XLA for the backends installed here (float16 only on a GPU); the
    JAX path computes in float32 and is always jitted, so it has one setting."""
    installed = [b for b in ("tensorflow", "jax") if find_spec(b) is not None]
    chosen = [b for b in (backends or installed) if b in installed]
    allowed = ("off", "bfloat16", "float16") if hardware.gpus else ("off", "bfloat16")
    modes = [m for m in (precisions or allowed) if m in allowed]
    settings = []
    for backend in chosen:
        if backend == "jax":
            settings += [Setting("jax", "off", True)] if "off" in modes and True in xla else []
            continue
        settings += [Setting(backend, m, x) for m in modes for x in xla]
    return settings


# === Child: one setting, stepped by the parent ===


def run_config(spec: Spec, setting: Setting) -> Any:
    """The `srfm train` RunConfig of `spec` under `setting` (random VGG19 weights)."""
    from keras_srfm.config import (
        DataConfig,
        DiscriminatorConfig,
        GeneratorConfig,
        TrainConfig,
        loss_config_for,
    )
    from keras_srfm.training.run_setup import RunConfig

    data = DataConfig(sources=("bench",), batch_size=spec.batch, lr_patch=spec.lr_patch)
    return RunConfig(
        train=TrainConfig(variant=spec.variant, jit_compile=setting.xla, mixed_precision=setting.precision,
                          backend=setting.backend),
        data=data,
        generator=GeneratorConfig(num_blocks=spec.blocks, filters=spec.filters),
        discriminator=DiscriminatorConfig(patch_size=data.hr_patch),
        loss=loss_config_for(spec.variant, vgg_weights=None),
    )


def _batch(spec: Spec, scale: int = 4) -> tuple[Any, Any]:
    import numpy as np

    rng = np.random.default_rng(0)
    lr = rng.random((spec.batch, spec.lr_patch, spec.lr_patch, 3), dtype=np.float32)
    hr = rng.random((spec.batch, spec.lr_patch * scale, spec.lr_patch * scale, 3), dtype=np.float32)
    return lr, hr


def tf_update(spec: Spec, setting: Setting) -> Callable[[], None]:
    """One `SRFM.train_step` through Keras' train function, as `fit` calls it; waits for it."""
    import tensorflow as tf

    from keras_srfm.training.runner import build_training_model, set_precision

    set_precision(setting.precision)
    model = build_training_model(run_config(spec, setting))
    iterator = iter(tf.data.Dataset.from_tensors(_batch(spec)).repeat())
    model.make_train_function()

    def update() -> None:
        logs = model.train_function(iterator)
        tf.nest.map_structure(lambda t: t.numpy(), logs)  # wait for the step

    return update


def jax_update(spec: Spec, setting: Setting) -> Callable[[], None]:
    """One `JaxSRFM.step` (jitted, state donated), as `srfm train --backend jax` runs it."""
    import jax

    from keras_srfm.training.jax_run import build_trainer

    trainer = build_trainer(run_config(spec, setting))
    step = jax.jit(trainer.step, donate_argnums=0)
    lr, hr = _batch(spec)
    holder = {"state": trainer.initial_state()}

    def update() -> None:
        holder["state"], logs = step(holder["state"], lr, hr)
        jax.block_until_ready(logs)

    return update


def serve(update: Callable[[], None], warmup: int, out: TextIO = sys.stdout, inp: TextIO = sys.stdin) -> None:
    """The child's side of the lockstep: warm up, say `ready`, then time one update per `step`
    line read, until `quit` (then report the peak RSS). Used by the PyTorch baseline too."""
    import resource

    def say(kind: str, value: Any) -> None:
        out.write(f"{PROTOCOL} {kind} {json.dumps(value)}\n")
        out.flush()

    warm = []
    for _ in range(warmup):
        start = time.perf_counter()
        update()
        warm.append(time.perf_counter() - start)
    say("ready", warm)
    for line in inp:
        if line.strip() != "step":
            break
        start = time.perf_counter()
        update()
        say("time", time.perf_counter() - start)
    say("done", {"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0})


def child_main(payload: str) -> int:
    request = json.loads(payload)
    spec, setting = Spec(**request["spec"]), Setting(**request["setting"])
    if setting.backend == "tensorflow":
        from keras_srfm.training import onednn

        onednn.enable_for_training()  # time the kernels `srfm train` runs
    update = (jax_update if setting.backend == "jax" else tf_update)(spec, setting)
    serve(update, spec.warmup)
    return 0


# === Parent: lockstep rounds ===


@dataclasses.dataclass
class Child:
    """A running configuration process of `lockstep`."""

    label: str
    process: subprocess.Popen
    stderr: Any
    warmup_s: list[float] = dataclasses.field(default_factory=list)
    times: list[float] = dataclasses.field(default_factory=list)
    peak_rss_mib: float | None = None
    error: str | None = None

    def read(self, kind: str) -> Any:
        """The next protocol line of `kind` (None, with `error` set, when the process ended)."""
        for line in self.process.stdout:
            if line.startswith(PROTOCOL + " "):
                got, _, value = line[len(PROTOCOL) + 1:].partition(" ")
                if got == kind:
                    return json.loads(value)
        self.process.wait()
        self.stderr.seek(0)
        tail = [t for t in self.stderr.read().strip().splitlines() if t.strip()][-3:]
        self.error = f"exit {self.process.returncode}: " + " | ".join(tail)
        return None

    def send(self, line: str) -> bool:
        try:
            self.process.stdin.write(line + "\n")
            self.process.stdin.flush()
            return True
        except (BrokenPipeError, OSError):
            self.read("never")  # collects the error
            return False


def lockstep(commands: Sequence[tuple[str, list[str], dict[str, str]]], steps: int,
             log: Callable[[str], None] | None = None) -> list[Child]:
    """Starts each `(label, argv, extra env)` child in turn (each warms up while the others
    wait), then runs `steps` rounds of one timed update per child; children that fail keep their
    error. Returns the children in order."""
    say = log or (lambda _: None)
    children: list[Child] = []
    try:
        for label, argv, env in commands:
            say(f"{label}: building and warming up ...")
            stderr = tempfile.TemporaryFile("w+")  # noqa: SIM115  (closed in the finally below)
            process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                                       text=True, bufsize=1, env={**os.environ, **env})
            child = Child(label, process, stderr)
            children.append(child)
            child.warmup_s = child.read("ready") or []
        for round_ in range(steps):
            for child in children:
                if child.error is None and child.send("step"):
                    value = child.read("time")
                    if value is not None:
                        child.times.append(value)
            say(f"round {round_ + 1}/{steps} done")
        for child in children:
            if child.error is None and child.send("quit"):
                done = child.read("done")
                child.peak_rss_mib = done["peak_rss_mib"] if done else None
                child.process.wait()
    finally:
        for child in children:
            if child.process.poll() is None:
                child.process.kill()
                child.process.wait()
            child.stderr.close()
    return children


def run_train_bench(spec: Spec, settings: Sequence[Setting] | None = None,
                    hardware: precision_rule.Hardware | None = None,
                    log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Measures every setting of `spec` in lockstep; returns the JSON-ready report (see module)."""
    hardware = hardware or precision_rule.detect()
    settings = list(settings or default_settings(hardware))
    if not settings:
        raise ValueError("no backend to measure: install tensorflow or jax")
    load_start = os.getloadavg()[0]
    commands = []
    for setting in settings:
        payload = json.dumps({"spec": dataclasses.asdict(spec), "setting": dataclasses.asdict(setting)})
        env = {"KERAS_BACKEND": setting.backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
        commands.append((setting.label, [sys.executable, "-m", "keras_srfm.training.step_bench", "--child",
                                         payload], env))
    children = lockstep(commands, spec.steps, log)
    rows = []
    for setting, child in zip(settings, children):
        row = {**dataclasses.asdict(setting), "warmup_s": child.warmup_s, "step_s": child.times,
               "median_s": statistics.median(child.times) if child.times else None,
               "peak_rss_mib": child.peak_rss_mib}
        if child.error or not child.times:
            row["error"] = child.error or "no timed update"
        rows.append(row)
    measured = [r for r in rows if r["median_s"]]
    fastest = min(measured, key=lambda r: r["median_s"]) if measured else None
    from keras_srfm.training import onednn

    # What the rule does in a fresh child (this environment, TensorFlow not imported there).
    kernels = onednn.enable_for_training(dict(os.environ), tensorflow_imported=False)
    return {
        "spec": dataclasses.asdict(spec),
        "hardware": dataclasses.asdict(hardware),
        "device": hardware.device,
        "versions": precision_rule.versions(),
        "load_average": [round(load_start, 2), round(os.getloadavg()[0], 2)],
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "rows": rows,
        "kernels": kernels if any(s.backend == "tensorflow" for s in settings) else None,
        "fastest": {k: fastest[k] for k in ("backend", "precision", "xla")} if fastest else None,
    }


# === Report ===


def format_report(report: dict[str, Any]) -> str:
    """A Markdown table naming the CPU/GPU, then the fastest setting and the option to use it."""
    spec, hw = report["spec"], report["hardware"]
    lines = [
        f"`{spec['variant']}` update, batch {spec['batch']}, {spec['lr_patch']} -> {4 * spec['lr_patch']}, "
        f"generator {spec['blocks']}x{spec['filters']}; median of {spec['steps']} lockstep rounds after "
        f"{spec['warmup']} warm-up updates; 1-min load average {report['load_average'][0]} -> "
        f"{report['load_average'][1]}",
        f"Device: {report['device']}",
        f"CPU: {hw['cpu_model']}; flags: {' '.join(hw['cpu_flags'])}",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()),
        *([f"TensorFlow rows: {report['kernels']}"] if report.get("kernels") else []),
        "",
        "| backend | precision | XLA | median s | min - max s | x fastest | first update s | peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    best = min((r["median_s"] for r in report["rows"] if r["median_s"]), default=None)
    for row in report["rows"]:
        name = "float32" if row["precision"] == "off" else row["precision"]
        head = f"| {row['backend']} | {name} | {'on' if row['xla'] else 'off'} |"
        if row.get("error"):
            lines.append(f"{head} failed: {row['error'][:160]} | | | | |")
            continue
        first = f"{row['warmup_s'][0]:.1f}" if row["warmup_s"] else "-"
        rss = f"{row['peak_rss_mib']:.0f}" if row["peak_rss_mib"] else "-"
        lines.append(f"{head} {row['median_s']:.3f} | {min(row['step_s']):.3f} - {max(row['step_s']):.3f} | "
                     f"{row['median_s'] / best:.2f} | {first} | {rss} |")
    fastest = report["fastest"]
    if fastest is None:
        return "\n".join(lines + ["", "nothing was measured"])
    setting = Setting(**fastest)
    lines += ["", f"fastest here: {setting.label}", f"use it: srfm train {setting.train_flags} ..."]
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        sys.exit(child_main(sys.argv[2]))
    raise SystemExit("internal: run `srfm bench --train` instead")
