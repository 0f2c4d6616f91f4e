"""Shared test fixtures: where the real images live, and quiet TensorFlow logs."""

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
