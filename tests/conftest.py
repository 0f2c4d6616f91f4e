"""Shared test fixtures: where the real images live, and quiet TensorFlow logs.

A test that reads the real images (it takes `shared_data`, directly or through another
fixture) is marked `slow` here, so `python -m pytest -m "not slow"` stays a quick inner loop
without a mark on each of them.
"""

from __future__ import annotations

import os
import signal
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
def clipped_keras_output():
    """`clipped_keras_output(generator, image)`: the clipped Keras output (`_clipped_keras_output`)."""
    return _clipped_keras_output


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
