"""A small, fast subset of `benchmarks/fault_soak.py` (the full soak is run by hand).

One SIGKILL of `srfm train` and its resume, a full disk at two write sites (when a tmpfs can
be mounted here), and a second writer on an `srfm degrade --out` folder, all against the real
command line; nothing may be lost.
"""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # starts srfm processes, trains

SOAK_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "fault_soak.py"


@pytest.fixture(scope="module")
def soak():
    spec = importlib.util.spec_from_file_location("fault_soak", SOAK_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["fault_soak"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def _held(case) -> None:
    assert case.injected >= 1, case
    assert case.lost == 0 and case.survived == case.injected, case.notes


def test_a_killed_training_resumes_from_its_newest_checkpoint(soak, tmp_path):
    _held(soak.kill_soak(tmp_path, "tensorflow", 1, random.Random(1)))


@pytest.mark.parametrize("site", ["upscaled image", "evaluation JSON"])
def test_a_full_disk_is_one_line_and_loses_nothing(soak, tmp_path, site):
    if not soak.tmpfs_works(tmp_path):
        pytest.skip("mounting a tmpfs needs root")
    (chosen,) = [s for s in soak.sites() if s.name == site]
    _held(soak.disk_full_soak(tmp_path, chosen))


def test_a_second_degrade_on_one_folder_is_refused(soak, tmp_path):
    (case,) = [c for c in soak.writer_cases(tmp_path, []) if c[0] == "srfm degrade --out"]
    _held(soak.two_writers(tmp_path, *case))
