#!/usr/bin/env bash
# Issue 19's fine-tune with --mixed-precision off and bfloat16, then Set5 of both exported
# generators; `python benchmarks/bf16_finetune_report.py OUT` turns OUT into
# benchmarks/results/bf16_finetune.{json,md}. Run from the repository root:
#   nice -n 10 bash benchmarks/bf16_finetune.sh /tmp/bf16_finetune
# (The recorded run used a copy of this branch's keras_srfm as PYTHONPATH, niced, on a
# shared 2-core machine.)
set -u
OUT=${1:?usage: bf16_finetune.sh OUT_DIR}
DATA=${SRFM_DATA_DIR:-../shared/data}
mkdir -p "$OUT"
export TF_CPP_MIN_LOG_LEVEL=2 PYTHONUNBUFFERED=1
lscpu > "$OUT/lscpu.txt"
for mode in off bfloat16; do
  rm -rf "$OUT/R_$mode"
  echo "== $mode start $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/times.txt"
  s=$(date +%s.%N)
  python -m keras_srfm.cli train --variant p --init-from exported_models/srfm_mp/srfm_mp.keras \
     --data "$DATA/train" --steps 300 --warmup-steps 100 --g-lr 2.5e-5 --checkpoint-every 100 \
     --mixed-precision $mode --run-dir "$OUT/R_$mode" --verbose 2 > "$OUT/train_$mode.log" 2>&1
  rc=$?
  e=$(date +%s.%N)
  echo "== $mode rc $rc wall $(echo "$e - $s" | bc) end $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/times.txt"
done
for mode in off bfloat16; do
  python -m keras_srfm.cli evaluate --model "$OUT/R_$mode/generator.keras" --hr-dir "$DATA/benchmarks/Set5/HR" \
     --json "$OUT/eval_$mode.json" --no-progress > "$OUT/eval_$mode.log" 2>&1
  echo "== eval $mode rc $?" >> "$OUT/times.txt"
done
echo "== done $(date -u +%FT%TZ)" >> "$OUT/times.txt"
