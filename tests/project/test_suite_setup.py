"""How tests/conftest.py sets up a test session: the cores shared among pytest-xdist workers."""

from __future__ import annotations

import os

import pytest

NAMES = ("TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@pytest.mark.parametrize("workers, cores, threads", [("2", 2, "1"), ("2", 16, "8"), ("3", 2, "1"), ("4", 9, "2")])
def test_each_worker_gets_its_share_of_the_cores(share_cores_among_workers, workers, cores, threads):
    assert share_cores_among_workers({"PYTEST_XDIST_WORKER_COUNT": workers}, cores) == dict.fromkeys(NAMES, threads)


def test_one_process_keeps_the_libraries_defaults(share_cores_among_workers):
    assert share_cores_among_workers({}, 2) == {}
    assert share_cores_among_workers({"PYTEST_XDIST_WORKER_COUNT": "1"}, 2) == {}


def test_a_users_setting_wins(share_cores_among_workers):
    environ = {"PYTEST_XDIST_WORKER_COUNT": "2", "OMP_NUM_THREADS": "4"}
    assert share_cores_among_workers(environ, 2) == {"TF_NUM_INTRAOP_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def test_this_session_applied_it(share_cores_among_workers):
    """In an xdist worker the variables are set (to the share or to the user's value)."""
    if os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") in ("", "1"):
        pytest.skip("one process: nothing to share")
    assert all(name in os.environ for name in NAMES)
