"""The training room: where the loss lives and where a run is driven.

- `objective`: Eq. 1 and Eq. 5 assembled once (keras.ops), the cross-replica sum passed in.
- `tf_step`: `SRFM`, the TensorFlow `keras.Model` whose `train_step` calls the objective.
- `jax_step`: `JaxSRFM`, the same update on the Keras JAX backend (no TensorFlow).
- `run_setup`: one run setup (no TensorFlow): `RunConfig`, resume rules and log, CSV logs.
- `runner` (the `fit` path), `distributed` (multi-worker loop), `jax_run` (`--backend jax`).
- `callbacks`, `checkpoints`, `schedules`: what those runs share.
- `precision`: which `--mixed-precision` is native here (a rule) or measured fastest (cached).
- `onednn`: TensorFlow's oneDNN kernels turned on for training on x86-64 (measured faster).
- `step_bench`: `srfm bench --train`, the update timed per backend x precision x XLA.

The package imports nothing itself, so that
`keras_srfm.training.jax_step` and `keras_srfm.training.run_setup` import no TensorFlow.
"""
