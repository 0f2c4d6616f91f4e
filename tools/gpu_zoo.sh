#!/usr/bin/env bash
# The GPU sessions that trained the shipped fine-tunes of srfm_mp, in parallel on one GPU, with
# tools/train_jax.py (Keras JAX backend; the lent machines have JAX and no TensorFlow).
# Each GAN run fine-tunes srfm_mp for up to STEPS updates (Adam 1e-4 after a 500-step warm-up)
# on every training image (T91, General100, BSD200) under a wall-clock BUDGET, and keeps a
# snapshot at STEPS/2. Run from the repo root on the GPU machine:
#   bash tools/gpu_zoo.sh session1 HR_DIRS BENCH_DIR VGG_H5     # 2026-11-27, first call
#   EXTRA_HR=DIRS bash tools/gpu_zoo.sh session2 DEGRADED_DIRS BENCH_DIR VGG_H5  # second call
# HR_DIRS / DEGRADED_DIRS / EXTRA_HR: comma-separated folders. DEGRADED_DIRS come from
# `srfm degrade --copies` (srfm_real trains on them); their HR/ subfolders are the mod-cropped
# originals and serve the GAN runs together with EXTRA_HR (HR folders without degraded copies).
set -euo pipefail
session=$1 data=$2 bench=$3 vgg=${4:-}
OUT=${OUT:?} STEPS=${STEPS:-10000} BUDGET=${BUDGET:-330}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site "${WHEELS:-.whl}"/*.whl
export PYTHONPATH=/tmp/site KERAS_BACKEND=jax PYTHONUNBUFFERED=1
export XLA_PYTHON_CLIENT_PREALLOCATE=false  # several processes share one GPU
nvidia-smi -L || true
IFS=, read -r -a dirs <<< "$data"
runs=/tmp/runs
common=(--init exported_models/srfm_mp/srfm_mp.keras --bench "$bench" --pool-draws 25000 --batch 16
        --eval-every $((STEPS / 10)) --log-every 250 --time-budget "$BUDGET"
        --vgg-layer block3_conv4 --vgg-weights "$vgg")
gan=(--steps "$STEPS" --g-lr 1e-4 --warmup 500 --snapshot-at $((STEPS / 2)))
train() {  # $1: run name, then train_jax arguments
  local name=$1; shift
  python3 tools/train_jax.py --out "$runs/$name" "$@" "${common[@]}" > "$runs/$name.log" 2>&1
}
mkdir -p "$runs"
names=()
if [ "$session" = session1 ]; then
  names=(pca pva_vgg34 pcsva_vgg34 pcsa_d1e-4 pcsa_d1e-5)
  train pca --variant pca --d-lr 1e-4 --data "${dirs[@]}" "${gan[@]}" &
  train pva_vgg34 --variant pva --d-lr 1e-4 --data "${dirs[@]}" "${gan[@]}" &
  train pcsva_vgg34 --variant pcsva --d-lr 1e-4 --data "${dirs[@]}" "${gan[@]}" &
  train pcsa_d1e-4 --variant pcsa --d-lr 1e-4 --data "${dirs[@]}" "${gan[@]}" &
  train pcsa_d1e-5 --variant pcsa --d-lr 1e-5 --data "${dirs[@]}" "${gan[@]}" &
else
  # M_pca with srfm_pcsa's discriminator rate (1e-5), and srfm_real: M_p fine-tuned (Eq. 2
  # only) on realistic degradations, rate halved at 50 % and 80 %. (Only runs without L_vgg:
  # the VGG19 file would not fit into one call's 64 MiB beside the data.)
  names=(pca_d1e-5 real_p)
  hr=(); for d in "${dirs[@]}"; do hr+=("$d/HR"); done
  IFS=, read -r -a extra <<< "${EXTRA_HR:-}"
  hr+=("${extra[@]}")
  train pca_d1e-5 --variant pca --d-lr 1e-5 --data "${hr[@]}" "${gan[@]}" &
  real_steps=${REAL_STEPS:-30000}
  train real_p --variant p --degraded --data "${dirs[@]}" --steps "$real_steps" --g-lr 1e-4 --warmup 1000 \
    --decay-at $((real_steps / 2)) $((real_steps * 4 / 5)) --decay-factor 0.5 --snapshot-at $((real_steps / 2)) &
fi
wait || true
for name in "${names[@]}"; do
  tail -n 3 "$runs/$name.log"
  cp "$runs/$name.log" "$runs/$name/" 2>/dev/null || true
  tar -C "$runs/$name" -cf "$OUT/$name.tar" . || true
done
ls -la "$OUT"
