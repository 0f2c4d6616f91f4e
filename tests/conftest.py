"""Shared test fixtures: where the real images live, and quiet TensorFlow logs.

A test that reads the real images (it takes `shared_data`, directly or through another
fixture) is marked `slow` here, so `python -m pytest -m "not slow"` stays a quick inner loop
without a mark on each of them.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# A shell starts a background job (`bash .ci/run &`, nohup) with SIGINT ignored, and a process
# inherits an ignored signal across exec: the `srfm` processes the tests interrupt with SIGINT
# (upscale, mos serve) would then never see it. A Python handler here is reset to the default
# in each child, which then installs its own KeyboardInterrupt handler as usual.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

REPO_ROOT = Path(__file__).resolve().parents[1]


def _xla_cache_flags() -> str:
    """TF_XLA_FLAGS for a persistent XLA cache under .pytest_cache, one folder per CPU and TF.

    Why: the `--jit` rows of the train matrix compile their step with XLA, and a rerun of the
    suite reuses those executables (measured on a 2-core AMD EPYC, AVX2: one row 60 s -> 39 s).
    A first run gains nothing: the cache key holds the traced function's per-process name, so a
    run and its resume in one process are two entries (docs/development.md). The folder is keyed
    like `srfm bench --train`'s cache (CPU model and flags, framework versions): an executable
    compiled for one CPU may not run on another.
    """
    import hashlib
    import json

    from keras_srfm.training.precision import detect, versions  # imports no framework

    hardware = detect()
    key = json.dumps([hardware.cpu_model, hardware.cpu_flags, versions()], sort_keys=True)
    folder = REPO_ROOT / ".pytest_cache" / "xla" / hashlib.sha256(key.encode()).hexdigest()[:16]
    folder.mkdir(parents=True, exist_ok=True)
    return f"--tf_xla_persistent_cache_directory={folder}"


# Set before TensorFlow starts (here or in a `srfm` process a test spawns); a user's own
# TF_XLA_FLAGS win.
os.environ.setdefault("TF_XLA_FLAGS", _xla_cache_flags())


def _share_cores_among_workers(environ: Mapping[str, str], cores: int) -> dict[str, str]:
    """Thread-pool sizes for one pytest-xdist worker: the cores divided among the workers.

    Why: TensorFlow (its intra-op pool, XLA's code generation), OpenMP and OpenBLAS each size
    their pools to every core of the machine, so two workers on two cores ran four busy pools
    that spin while they wait. Measured on a 2-core AMD EPYC (AVX2), `-n 2`, 4 train-matrix rows
    and tests/evaluation/test_evaluate.py: 243 s -> 164 s wall; one `--jit` row 155 s -> 78 s,
    its time alone on a quiet machine being ~70 s (docs/development.md). Returns the variables
    to set (none outside xdist, or where the user set them); inter-op stays TensorFlow's: a
    MirroredStrategy's all-reduce waits on ops of the other replica.
    """
    workers = int(environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    if workers <= 1:
        return {}
    threads = str(max(1, cores // workers))
    names = ("TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")
    return {name: threads for name in names if name not in environ}


# Set here, before any framework starts, so that the `srfm` processes a test spawns inherit it.
os.environ.update(_share_cores_among_workers(os.environ, len(os.sched_getaffinity(0))))

# One kernel set per test session, whatever the test order: `srfm train` run in-process turns
# oneDNN on when the variable is unset and TensorFlow not yet imported (training.onednn), which
# would switch the kernels of the rest of that worker and of its children mid-session. Unset,
# it pins oneDNN on, as `.ci/run`'s main pass does (its numeric pass sets 0).
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


def _write_stripes(folder: Path, count: int = 2, height: int = 64, width: int = 72) -> Path:
    """`count` smooth striped RGB PNGs (a training folder for tiny runs); returns `folder`."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:height, 0:width]
    for i in range(count):
        img = (127 + 120 * np.sin((xx * (i + 1) + yy) / 5.0))[..., None] * np.array([1.0, 0.8, 0.6])
        Image.fromarray(img.astype(np.uint8)).save(folder / f"img{i}.png")
    return folder


def _synthetic_image(h: int = 37, w: int = 50):  # -> np.ndarray
    """A float32 (h, w, 3) image on [0, 1] (odd, non-square by default): gradients, texture, noise.

    For export parity tests (ONNX, ncnn, TFLite): smooth and busy regions alike.
    """
    import numpy as np

    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([x, y, 0.5 + 0.4 * np.sin(12 * x * y)], axis=-1)
    return np.clip(0.8 * base + 0.2 * rng.random((h, w, 3)), 0, 1).astype("float32")


def _clipped_keras_output(generator, image):  # -> np.ndarray
    """The Keras generator's (4h, 4w, 3) output for a float (h, w, 3) image, clipped to [0, 1]."""
    import numpy as np

    return np.clip(generator(image[None]).numpy()[0], 0.0, 1.0)


# The helpers above reach tests through fixtures (each returns its function), not through
# `from conftest import ...`: that import only works while tests/ happens to be on sys.path and no
# other conftest.py has taken the module name `conftest`.


@pytest.fixture(scope="session")
def write_stripes():
    """`write_stripes(folder, count=2, height=64, width=72)`: striped PNGs (`_write_stripes`)."""
    return _write_stripes


@pytest.fixture(scope="session")
def synthetic_image():
    """`synthetic_image(h=37, w=50)`: a float32 test image on [0, 1] (`_synthetic_image`)."""
    return _synthetic_image


@pytest.fixture(scope="session")
def share_cores_among_workers():
    """`share_cores_among_workers(environ, cores)`: one worker's thread-pool sizes (`_share_cores_among_workers`)."""
    return _share_cores_among_workers


@pytest.fixture(scope="session")
def clipped_keras_output():
    """`clipped_keras_output(generator, image)`: the clipped Keras output (`_clipped_keras_output`)."""
    return _clipped_keras_output


# Debian's Chromium (browser downloads do not work offline); one set of flags for every page test.
CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run")


@pytest.fixture
def chromium():
    """`launch(playwright)` -> a headless Chromium browser; skips when Playwright or Chromium
    is missing (the page tests of `srfm compare`, `srfm mos serve` and `srfm web`)."""
    import shutil

    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.access(path, os.X_OK):
        pytest.skip(f"chromium not found at {path} (apt-get install chromium)")
    return lambda playwright: playwright.chromium.launch(executable_path=path, args=list(CHROMIUM_ARGS))


@pytest.fixture(scope="session")
def training_script():
    """`load(name)` -> the module `tests/training/scripts/<name>.py`, for a test that runs one
    of those scripts in its own process rather than starting another."""
    import importlib.util
    import sys

    def load(name: str):
        spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "tests" / "training" / "scripts" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up by name
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture(scope="session")
def srfm_argv() -> list[str]:
    """The `srfm` command as a process of this interpreter (a server the test starts)."""
    import sys

    return [sys.executable, "-c", "import sys; from keras_srfm.cli import main; sys.exit(main())"]


def data_dir() -> Path:
    """The one setting for real images: env SRFM_DATA_DIR, default ../shared/data."""
    return Path(os.environ.get("SRFM_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    root = data_dir()
    if not (root / "benchmarks").is_dir():
        pytest.skip(f"real images not found at {root} (set SRFM_DATA_DIR to the shared data folder)")
    return root


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "shared_data" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
