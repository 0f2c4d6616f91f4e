"""Shared test fixtures: where the real images live, and quiet TensorFlow logs.

A test that reads the real images (it takes `shared_data`, directly or through another
fixture) is marked `slow` here, so `python -m pytest -m "not slow"` stays a quick inner loop
without a mark on each of them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO_ROOT = Path(__file__).resolve().parents[1]


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
