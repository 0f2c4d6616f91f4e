#!/usr/bin/env bash
# The GPU session that trained the shipped models (tools/train_jax.py on a lent H100/H200 with
# JAX and no TensorFlow). Run from the repo root on the GPU machine:
#   bash tools/gpu_session.sh smoke  DATA_DIRS...   # compile + a few hundred steps, timings
#   bash tools/gpu_session.sh train  DATA_DIRS...   # M_p, then M_pcsa fine-tuned from it
#   bash tools/gpu_session.sh pcsa   DATA_DIRS...   # M_pcsa only, from INIT, into $OUT/$TAG_*
# Environment: OUT (results folder), BENCH (Set5 HR, monitoring only), MP_STEPS, PCSA_STEPS,
# MP_BUDGET / PCSA_BUDGET (seconds, safety stops), WHEELS (keras and its missing deps).
set -euo pipefail
mode=$1
shift
data=("$@")
OUT=${OUT:?} BENCH=${BENCH:?}
if [ ! -e /tmp/site/.installed ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site "${WHEELS:-.whl}"/*.whl
  touch /tmp/site/.installed
fi
export PYTHONPATH=/tmp/site KERAS_BACKEND=jax PYTHONUNBUFFERED=1
export JAX_COMPILATION_CACHE_DIR=/tmp/jaxcache  # compiled steps survive between calls
nvidia-smi -L || true
runs=/tmp/runs
common=(--data "${data[@]}" --bench "$BENCH" --pool-draws 25000 --batch 16)

pack() {  # $1: phase name; results in $OUT (few files: the transfer back takes at most 8)
  tar -C "$runs/$1" -cf "$OUT/$1_logs.tar" --exclude='*.keras' .
  for f in "$runs/$1"/*.keras; do cp "$f" "$OUT/$1_$(basename "$f")"; done
}

if [ "$mode" = smoke ]; then
  python3 tools/train_jax.py --variant p --init exported_models/srfm_mp/srfm_mp.keras \
    --out $runs/smoke_p --steps 1500 --log-every 500 --eval-every 1500 "${common[@]}"
  python3 tools/train_jax.py --variant pcsa --init exported_models/srfm_mp/srfm_mp.keras \
    --out $runs/smoke_pcsa --steps 300 --log-every 100 --eval-every 300 "${common[@]}"
  exit 0
fi

if [ "$mode" = pcsa ]; then
  # Short fine-tunes with dense snapshots: the long run's generator drifted in colour once
  # the discriminator won (~5k steps). Rates and snapshot steps come from the environment.
  python3 tools/train_jax.py --variant pcsa --init "${INIT:?}" --out "$runs/${TAG:?}" \
    --steps "${PCSA_STEPS:?}" --g-lr "${G_LR:-1e-4}" --d-lr "${D_LR:-1e-4}" --warmup 500 \
    --snapshot-at ${SNAPSHOTS:?} --eval-every 1000 --log-every 250 \
    --time-budget "${PCSA_BUDGET:-1e9}" "${common[@]}"
  pack "$TAG"
  exit 0
fi

mp_steps=${MP_STEPS:?} pcsa_steps=${PCSA_STEPS:?}
# M_p: resumes the CPU run's weights (step 8,500) with a fresh Adam; rate warmed up over 1,000
# steps to 1e-4, halved at 50 % and 80 % of the steps.
python3 tools/train_jax.py --variant p --init exported_models/srfm_mp/srfm_mp.keras \
  --out $runs/mp --steps "$mp_steps" --g-lr 1e-4 --warmup 1000 \
  --decay-at $((mp_steps / 2)) $((mp_steps * 4 / 5)) --decay-factor 0.5 \
  --eval-every $(( mp_steps >= 20 ? mp_steps / 20 : 1 )) --log-every 500 --time-budget "${MP_BUDGET:-1e9}" "${common[@]}"
pack mp
# M_pcsa: fine-tuned from that M_p, fresh discriminator, both rates 1e-4 (Sec. V-A) after a
# 500-step warm-up, with generator snapshots at 1/3 and 2/3 of the steps.
python3 tools/train_jax.py --variant pcsa --init $runs/mp/generator.keras \
  --out $runs/pcsa --steps "$pcsa_steps" --g-lr 1e-4 --d-lr 1e-4 --warmup 500 \
  --snapshot-at $((pcsa_steps / 3)) $((pcsa_steps * 2 / 3)) \
  --eval-every $(( pcsa_steps >= 12 ? pcsa_steps / 12 : 1 )) --log-every 250 --time-budget "${PCSA_BUDGET:-1e9}" "${common[@]}"
pack pcsa
