"""Does oneDNN change what a GAN fine-tune learns? Issue 26's check of `srfm train`'s kernels.

`srfm train` turns TensorFlow's oneDNN kernels on for training on x86-64
(`keras_srfm.training.onednn`): a speed change that must not be a result change. This runs one
short `pcsa` fine-tune from `srfm_mp` per kernel set (oneDNN, Eigen) and seed, evaluates each
exported generator on Set5 with the same kernels (TensorFlow's default, so only training
differs), and compares the kernels' difference with the seeds' spread:

    python benchmarks/onednn_finetune.py OUT [--steps 50] [--seeds 0 1]

Writes benchmarks/results/onednn_finetune.{json,md} (CPU named) and keeps the runs in OUT; an
arm whose `generator.keras` and evaluation exist is not run again, so a stopped run resumes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from keras_srfm.imaging.atomic import atomic_write, write_json  # noqa: E402
from keras_srfm.training import precision  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
KERNELS = {"oneDNN": "1", "Eigen": "0"}  # TF_ENABLE_ONEDNN_OPTS per kernel set


def data_dir() -> Path:
    return Path(os.environ.get("SRFM_DATA_DIR", ROOT.parent / "shared" / "data"))


def train_argv(run_dir: Path, steps: int, seed: int) -> list[str]:
    return [sys.executable, "-m", "keras_srfm.cli", "train", "--variant", "pcsa", "--init-from", "srfm_mp",
            "--data", str(data_dir() / "train"), "--steps", str(steps), "--warmup-steps", str(max(1, steps // 5)),
            "--checkpoint-every", str(steps), "--seed", str(seed), "--run-dir", str(run_dir), "--verbose", "2"]


def run_arm(out: Path, kernels: str, seed: int, steps: int) -> dict:
    """One fine-tune and its Set5 evaluation; skipped when both are on disk."""
    run_dir = out / f"{kernels}_seed{seed}"
    report = out / f"{kernels}_seed{seed}_set5.json"
    timing = out / f"{kernels}_seed{seed}_time.json"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TF_ENABLE_ONEDNN_OPTS": KERNELS[kernels]}
    if not (run_dir / "generator.keras").exists():
        load = os.getloadavg()[0]
        start = time.perf_counter()
        with (out / f"{kernels}_seed{seed}_train.log").open("w") as log:
            subprocess.run(train_argv(run_dir, steps, seed), env=env, stdout=log, stderr=subprocess.STDOUT,
                           check=True)
        write_json(timing, {"wall_s": round(time.perf_counter() - start, 1), "load_at_start": round(load, 2),
                            "load_at_end": round(os.getloadavg()[0], 2)})
    if not report.exists():
        eval_env = {k: v for k, v in env.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
        subprocess.run([sys.executable, "-m", "keras_srfm.cli", "evaluate", "--model", str(run_dir / "generator.keras"),
                        "--hr-dir", str(data_dir() / "benchmarks" / "Set5" / "HR"), "--json", str(report),
                        "--no-progress"], env=eval_env, check=True, capture_output=True)
    mean = json.loads(report.read_text())["datasets"]["Set5"]["mean"]
    return {"kernels": kernels, "seed": seed, **json.loads(timing.read_text()),
            "set5_psnr": round(mean["psnr"], 4), "set5_ssim": round(mean["ssim"], 4)}


def summary(arms: list[dict]) -> dict:
    """Mean Set5 PSNR per kernel set, their difference, and the seeds' spread within each set."""
    by = {k: [a for a in arms if a["kernels"] == k] for k in KERNELS}
    mean = {k: statistics.mean(a["set5_psnr"] for a in v) for k, v in by.items()}
    spread = {k: max(a["set5_psnr"] for a in v) - min(a["set5_psnr"] for a in v) for k, v in by.items()}
    wall = {k: statistics.mean(a["wall_s"] for a in v) for k, v in by.items()}
    return {"mean_set5_psnr": {k: round(v, 4) for k, v in mean.items()},
            "onednn_minus_eigen_db": round(mean["oneDNN"] - mean["Eigen"], 4),
            "seed_spread_db": {k: round(v, 4) for k, v in spread.items()},
            "wall_s": {k: round(v, 1) for k, v in wall.items()},
            "within_spread": abs(mean["oneDNN"] - mean["Eigen"]) <= max(spread.values())}


def markdown(document: dict) -> str:
    hw, s = document["hardware"], document["summary"]
    lines = ["# oneDNN vs Eigen kernels on one GAN fine-tune (issue 26)", "",
             f"CPU: {hw['cpu_model']}, {document['cores']} cores; flags: {' '.join(hw['cpu_flags'])}", "",
             "Versions: " + ", ".join(f"{k} {v}" for k, v in document["versions"].items()), "",
             f"Each arm: `{' '.join(document['command'])}` with TF_ENABLE_ONEDNN_OPTS = 1 (oneDNN) or 0 "
             "(Eigen), then `srfm evaluate` of its generator on Set5 with TensorFlow's default kernels.", "",
             "| kernels | seed | Set5 PSNR (Y) | Set5 SSIM | wall s (train, incl. start-up) | 1-min load at start |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {a['kernels']} | {a['seed']} | {a['set5_psnr']:.4f} | {a['set5_ssim']:.4f} | {a['wall_s']} | "
              f"{a['load_at_start']} |" for a in document["arms"]]
    lines += ["", f"Mean Set5 PSNR, oneDNN minus Eigen: {s['onednn_minus_eigen_db']:+.4f} dB; the seeds' spread "
              f"(max - min within a kernel set): oneDNN {s['seed_spread_db']['oneDNN']:.4f} dB, Eigen "
              f"{s['seed_spread_db']['Eigen']:.4f} dB: {'within' if s['within_spread'] else 'NOT within'} the "
              f"spread. Start: srfm_mp, Set5 {document['start_set5_psnr']:.4f} dB.", "",
              f"Reproduce: `python benchmarks/onednn_finetune.py OUT --steps {document['steps']} "
              f"--seeds {' '.join(map(str, document['seeds']))}`", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--output-dir", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    arms = []
    for seed in args.seeds:  # interleaved, so that load from other work falls on both kernel sets
        for kernels in KERNELS:
            arms.append(run_arm(args.out, kernels, seed, args.steps))
            print(f"onednn_finetune: {arms[-1]}", file=sys.stderr, flush=True)
    start = json.loads((ROOT / "exported_models" / "srfm_mp" / "evaluation.json").read_text())
    document = {"hardware": dataclasses.asdict(precision.detect()),
                "cores": len(os.sched_getaffinity(0)), "versions": precision.versions(),
                "command": ["srfm", *train_argv(Path("OUT/ARM"), args.steps, 0)[3:]],
                "steps": args.steps, "seeds": args.seeds, "arms": arms, "summary": summary(arms),
                "start_set5_psnr": start["datasets"]["Set5"]["mean"]["psnr"]}
    text = markdown(document)
    print(text)
    write_json(args.output_dir / "onednn_finetune.json", document)
    atomic_write(args.output_dir / "onednn_finetune.md", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
