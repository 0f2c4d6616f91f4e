"""docs/table1.md is what tools/table1.py makes from the shipped evaluation.json files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # tools/table1.py as a process
def test_table1_page_matches_the_evaluation_files():
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "table1.py"), "--check"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


def test_every_shipped_evaluation_has_the_table1_columns():
    """Each card's evaluation.json covers the four test sets with PSNR, SSIM, VIF-P and NIQE."""
    import json

    for path in sorted((ROOT / "exported_models").glob("*/evaluation.json")):
        datasets = json.loads(path.read_text())["datasets"]
        assert set(datasets) >= {"Set5", "Set14", "BSD100", "Urban100"}, path
        for name, result in datasets.items():
            assert set(result["mean"]) == {"psnr", "ssim", "vif", "niqe"}, (path, name)
            assert "niqe" in result["hr"]["mean"], (path, name)
