#!/usr/bin/env bash
# Reruns phases of the shipped models' recipes on a lent GPU machine (JAX, no TensorFlow), several
# at once on one GPU, with `srfm train --config` (the package's JAX path; recipes name their
# backend). Run from the repository root there, with the data under SRFM_DATA_DIR:
#   OUT=/path/out bash tools/gpu_zoo.sh srfm_pca srfm_pcsa            # each recipe's last phase
#   OUT=/path/out STEPS=2000 bash tools/gpu_zoo.sh srfm_pcsa          # a shorter check
# The VGG models need their VGG19 file (recipe: $SRFM_DATA_DIR/../weights/...) and srfm_real its
# `srfm degrade --copies` sets (the recipe's "prepare" commands, made on a CPU beforehand).
# Each run folder (config.json, history.csv, curve.csv, generator.keras, the log) goes to
# $OUT/<model>.tar. tools/train_jax.py, which trained the shipped fine-tunes, was replaced by this
# after commit 0ff2b99; the recipes record its arguments.
set -euo pipefail
OUT=${OUT:?set OUT to the folder the results go to}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} KERAS_BACKEND=jax PYTHONUNBUFFERED=1
export XLA_PYTHON_CLIENT_PREALLOCATE=false  # several processes share one GPU
nvidia-smi -L || true
runs=/tmp/runs
mkdir -p "$runs"
for model in "$@"; do
  extra=(); [ -n "${STEPS:-}" ] && extra=(--steps "$STEPS")
  python3 -m keras_srfm.cli train --config "$model" --run-dir "$runs/$model" "${extra[@]}" \
    > "$runs/$model.log" 2>&1 &
done
wait || true
for model in "$@"; do
  tail -n 3 "$runs/$model.log"
  cp "$runs/$model.log" "$runs/$model/" 2>/dev/null || true
  tar -C "$runs/$model" --exclude checkpoints -cf "$OUT/$model.tar" . || true
done
ls -la "$OUT"
