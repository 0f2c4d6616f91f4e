"""The documentation site builds with `mkdocs build --strict` (no broken link, anchor or reference)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_docs_build_strict(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs", reason="MkDocs is not installed (pip install -e '.[docs]')")
    pytest.importorskip(
        "material", reason="mkdocs-material is not installed (pip install -e '.[docs]')"
    )
    pytest.importorskip(
        "mkdocstrings_handlers.python", reason="mkdocstrings[python] is not installed"
    )
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    # One page per shipped model, made from its card.
    for card in sorted((ROOT / "exported_models").glob("*/MODEL_CARD.md")):
        page = site / "models" / card.parent.name / "index.html"
        assert page.is_file(), f"no page for {card}"
        title = card.read_text().splitlines()[0].lstrip("# ").split(":")[0]
        assert title in page.read_text()
    # The API reference is rendered from the docstrings.
    reference = (site / "reference" / "losses" / "index.html").read_text()
    assert "Eq. 7" in reference
