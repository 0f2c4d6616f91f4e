#!/usr/bin/env bash
# One GPU session that trains the paper's remaining models in parallel on one GPU with
# tools/train_jax.py (Keras JAX backend; the lent machines have JAX and no TensorFlow).
# Each run fine-tunes srfm_mp for STEPS updates (both rates 1e-4 after a 500-step warm-up, as
# srfm_pcsa) on every training image (T91, General100, BSD200) and keeps a snapshot at STEPS/2.
# Run from the repo root on the GPU machine:  bash tools/gpu_zoo.sh DATA_DIR BENCH_DIR VGG_H5
set -euo pipefail
data=$1 bench=$2 vgg=$3
OUT=${OUT:?} STEPS=${STEPS:-10000} BUDGET=${BUDGET:-330}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site "${WHEELS:-.whl}"/*.whl
export PYTHONPATH=/tmp/site KERAS_BACKEND=jax PYTHONUNBUFFERED=1
export XLA_PYTHON_CLIENT_PREALLOCATE=false  # five processes share one GPU
nvidia-smi -L || true
runs=/tmp/runs
common=(--init exported_models/srfm_mp/srfm_mp.keras --data "$data" --bench "$bench" --pool-draws 25000
        --batch 16 --steps "$STEPS" --g-lr 1e-4 --warmup 500 --snapshot-at $((STEPS / 2))
        --eval-every $((STEPS / 10)) --log-every 250 --time-budget "$BUDGET"
        --vgg-layer block3_conv4 --vgg-weights "$vgg")
train() {  # $1: run name, then train_jax arguments
  local name=$1; shift
  python3 tools/train_jax.py --out "$runs/$name" "$@" "${common[@]}" > "$runs/$name.log" 2>&1
}
mkdir -p "$runs"
train pca --variant pca --d-lr 1e-4 &
train pva_vgg34 --variant pva --d-lr 1e-4 &
train pcsva_vgg34 --variant pcsva --d-lr 1e-4 &
train pcsa_d1e-4 --variant pcsa --d-lr 1e-4 &
train pcsa_d1e-5 --variant pcsa --d-lr 1e-5 &
wait || true
for name in pca pva_vgg34 pcsva_vgg34 pcsa_d1e-4 pcsa_d1e-5; do
  tail -n 3 "$runs/$name.log"
  cp "$runs/$name.log" "$runs/$name/" 2>/dev/null || true
  tar -C "$runs/$name" -cf "$OUT/$name.tar" . || true
done
ls -la "$OUT"
