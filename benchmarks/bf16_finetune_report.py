"""Writes benchmarks/results/bf16_finetune.{json,md} from the folder bf16_finetune.sh filled."""

from __future__ import annotations

import csv
import json
import re
import sys
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
COMMAND = ("srfm train --variant p --init-from exported_models/srfm_mp/srfm_mp.keras --data ../shared/data/train "
           "--steps 300 --warmup-steps 100 --g-lr 2.5e-5 --checkpoint-every 100 --mixed-precision MODE "
           "--run-dir R_MODE --verbose 2")
EVALUATE = "srfm evaluate --model R_MODE/generator.keras --hr-dir ../shared/data/benchmarks/Set5/HR --json eval_MODE.json"


def epochs(log: str) -> list[dict]:
    """Keras verbose=2 epoch lines: `100/100 - 344s - 3s/step - ...`."""
    return [{"steps": int(m[1]), "seconds": int(m[2])} for m in re.finditer(r"^(\d+)/\d+ - (\d+)s - ", log, re.M)]


def main(out: Path) -> int:
    lscpu = (out / "lscpu.txt").read_text()
    model = re.search(r"Model name:\s*(.+)", lscpu)[1].strip()
    flags = set(re.search(r"Flags:\s*(.+)", lscpu)[1].split())
    times = (out / "times.txt").read_text()
    baseline = json.loads(Path("exported_models/srfm_mp/evaluation.json").read_text())
    runs = {}
    for mode in ("off", "bfloat16"):
        wall = float(re.search(rf"== {mode} rc 0 wall ([\d.]+)", times)[1])
        load = re.search(rf"== {mode} start \S+ load ([\d. ]+)", times)[1].split()
        ep = epochs((out / f"train_{mode}.log").read_text())
        with (out / f"R_{mode}" / "history.csv").open() as f:
            history = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]
        set5 = json.loads((out / f"eval_{mode}.json").read_text())["datasets"]["Set5"]["mean"]
        runs[mode] = {
            "command": COMMAND.replace("MODE", mode), "evaluate": EVALUATE.replace("MODE", mode),
            "wall_s": round(wall, 1), "fit_s": sum(e["seconds"] for e in ep),
            "s_per_step": round(sum(e["seconds"] for e in ep) / sum(e["steps"] for e in ep), 2),
            "load_average_at_start": [float(x) for x in load], "history": history,
            "set5": {k: round(v, 4) for k, v in set5.items()},
        }
    delta = runs["bfloat16"]["set5"]["psnr"] - runs["off"]["set5"]["psnr"]
    result = {
        "cpu": model, "avx512_bf16": "avx512_bf16" in flags, "amx_bf16": "amx_bf16" in flags,
        "cores": 2, "note": "shared machine: other sessions kept the load average near 10-12 on 2 cores; "
                            "s/step are for comparing the two rows of this run only",
        "start_set5_psnr": round(baseline["datasets"]["Set5"]["mean"]["psnr"], 4),
        "runs": runs, "psnr_bf16_minus_fp32_db": round(delta, 4), "target_db": 0.05,
        "speedup_bf16": round(runs["off"]["s_per_step"] / runs["bfloat16"]["s_per_step"], 2),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bf16_finetune.json").write_text(json.dumps(result, indent=2) + "\n")
    rows = [f"| {m} | {r['s_per_step']} | {r['fit_s']} | {r['history'][-1]['psnr']:.3f} | "
            f"{r['set5']['psnr']:.4f} | {r['set5']['ssim']:.4f} |" for m, r in runs.items()]
    (RESULTS / "bf16_finetune.md").write_text("\n".join([
        "# bfloat16 vs float32 on one fine-tune (issue 19)", "",
        f"CPU: {model}, 2 cores; avx512_bf16: {'yes' if result['avx512_bf16'] else 'no'}, "
        f"amx_bf16: {'yes' if result['amx_bf16'] else 'no'}. {result['note']}.", "",
        "Command (MODE = off, bfloat16), then Set5 of the exported generator:", "",
        f"    {COMMAND}", f"    {EVALUATE}", "",
        "| --mixed-precision | s / step | fit s (300 steps) | train PSNR, last epoch | Set5 PSNR (Y) | Set5 SSIM |",
        "|---|---|---|---|---|---|", *rows, "",
        f"Set5 PSNR, bfloat16 minus float32: {delta:+.4f} dB (target: within 0.05 dB). "
        f"Both start from srfm_mp ({result['start_set5_psnr']:.4f} dB); bfloat16 ran "
        f"{result['speedup_bf16']}x as fast per step.", "",
        "Reproduce: `nice -n 10 bash benchmarks/bf16_finetune.sh OUT && "
        "python benchmarks/bf16_finetune_report.py OUT`", "",
    ]))
    print((RESULTS / "bf16_finetune.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
