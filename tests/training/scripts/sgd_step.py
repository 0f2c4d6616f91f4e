"""One SGD(1.0) step of SRFM on tiny networks: the cases, weights, batch and JAX settings.

With a rate of 1 the weight change *is* the gradient, so two backends taking the same step
from the same weights on the same batch must produce the same changes.
tests/training/test_jax_parity.py builds the TensorFlow side from here (`build`, `relative_l2`);
the JAX side runs in `data_parallel_step.py` (the `jax_sgd_steps` fixture), with TensorFlow
hidden (`HideTensorFlow`): the JAX step must not need it.
"""

from __future__ import annotations

import importlib.abc
import os
from pathlib import Path
from typing import Any

import numpy as np

# XLA's CPU backend at LLVM -O0 for the tests' JAX subprocesses. Measured on a 2-core AMD EPYC
# (AVX2), JAX 0.10.2: at the default level one `jax.random.uniform` of shape (3, 3, 8, 9), as a
# Keras initializer draws, took 14-32 s to compile (LLVM on threefry), 0.3 s at -O0, and this
# file's four cases went from 123 s to 48 s. The update's arithmetic is the same (convolutions
# are library calls either way): tests/training/test_jax_parity.py and test_jax_data_parallel.py
# give the differences measured at both levels.
FAST_XLA_FLAGS = "--xla_backend_optimization_level=0"

# Tiny networks; `authors` is pcsa with the authors' public-code content mode.
CASES = {"p": ("p", {}), "pcsa": ("pcsa", {}), "pcsva": ("pcsva", {}), "authors": ("pcsa", {"content_mode": "authors"})}
HR_PATCH, SCALE, BATCH = 32, 4, 8


class HideTensorFlow(importlib.abc.MetaPathFinder):
    """Makes `import tensorflow` fail, as on the lent GPU machines (JAX, no TensorFlow)."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> None:
        if name.split(".")[0] in ("tensorflow", "tensorflow_datasets"):
            raise ImportError(f"{name} is hidden: this process must run without TensorFlow")


def jax_env(devices: int = 1, keras_backend: str | None = "jax", cache: Path | None = None) -> dict[str, str]:
    """The environment of a test's JAX subprocess: CPU, `FAST_XLA_FLAGS`, `devices` host devices.

    `keras_backend=None` unsets KERAS_BACKEND; `cache` turns on JAX's persistent compilation cache
    there (every compilation cached), so processes of one test compile a program once.
    """
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    flags = [env.get("XLA_FLAGS", ""), FAST_XLA_FLAGS]
    if devices > 1:
        flags.append(f"--xla_force_host_platform_device_count={devices}")
    env.update(JAX_PLATFORMS="cpu", XLA_FLAGS=" ".join(f for f in flags if f))
    if keras_backend:
        env["KERAS_BACKEND"] = keras_backend
    if cache is not None:  # EPATH_USE_TF: the cache's etils would ask HideTensorFlow for a spec
        env.update(JAX_COMPILATION_CACHE_DIR=str(cache), JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
                   JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="-1", EPATH_USE_TF="false")
    return env


def make_batch(path: Path) -> None:
    """A fixed batch: smooth random HR patches and their 4x box-filtered LR, saved to `path`."""
    rng = np.random.default_rng(0)
    coarse = rng.random((BATCH, HR_PATCH // 8, HR_PATCH // 8, 3))
    hr = np.clip(coarse.repeat(8, 1).repeat(8, 2) + rng.normal(0, 0.05, (BATCH, HR_PATCH, HR_PATCH, 3)), 0, 1)
    lr = hr.reshape(BATCH, HR_PATCH // SCALE, SCALE, HR_PATCH // SCALE, SCALE, 3).mean(axis=(2, 4))
    np.savez(path, lr=lr.astype("float32"), hr=hr.astype("float32"))


def build(case: str, work: Path) -> tuple[Any, Any, Any, Any]:
    """(loss config, generator, discriminator or None, VGG or None) with the case's saved weights.

    The first call (the JAX process) draws the weights and saves them under `work/case`; later
    calls (the TensorFlow side) load them.
    """
    import keras

    from keras_srfm.config import loss_config_for
    from keras_srfm.models.discriminator import build_discriminator
    from keras_srfm.models.generator import build_generator
    from keras_srfm.models.vgg import build_vgg_features

    variant, overrides = CASES[case]
    config = loss_config_for(variant, **overrides)
    keras.utils.set_random_seed(1)
    nets = {"g": build_generator(num_blocks=2, filters=8)}
    if config.needs_discriminator:
        nets["d"] = build_discriminator(patch_size=HR_PATCH, base_filters=8, dense_units=16, sync_batchnorm=False)
    if config.use_vgg:  # random weights: parity needs the same function, not a perceptual one
        nets["vgg"] = build_vgg_features("block2_conv2", weights=None, patch_size=HR_PATCH)
    folder = work / case
    for name, net in nets.items():
        path = folder / f"{name}.weights.h5"
        if path.exists():
            net.load_weights(path)
        else:
            folder.mkdir(parents=True, exist_ok=True)
            net.save_weights(path)
    return config, nets["g"], nets.get("d"), nets.get("vgg")


def relative_l2(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    """||a - b|| / ||b|| over all the arrays together.

    Not a per-weight maximum: the biases of convs followed by BatchNorm have a gradient that is
    mathematically zero, so theirs is pure float noise and a per-weight ratio is meaningless.
    """
    diff = sum(float(np.sum((x - y) ** 2)) for x, y in zip(a, b))
    return (diff / sum(float(np.sum(y**2)) for y in b)) ** 0.5
