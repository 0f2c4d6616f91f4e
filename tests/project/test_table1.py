"""docs/table1.md is what tools/table1.py makes from the shipped evaluation.json files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # tools/table1.py as a process
def test_table1_page_matches_the_evaluation_files():
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "table1.py"), "--check"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


def table1_problems(models_root: Path) -> list[str]:
    """What keeps a models folder's evaluations from filling Table I: a model with no
    evaluation.json, a test set or a metric missing."""
    import json

    from keras_srfm.inference.presets import list_models

    problems = []
    for model in list_models(models_root):
        path = model.folder / "evaluation.json"
        if not path.is_file():
            problems.append(f"{model.name}: no evaluation.json")
            continue
        datasets = json.loads(path.read_text())["datasets"]
        if not set(datasets) >= {"Set5", "Set14", "BSD100", "Urban100"}:
            problems.append(f"{model.name}: test sets {sorted(datasets)}")
        for name, result in datasets.items():
            if set(result["mean"]) != {"psnr", "ssim", "vif", "niqe"} or "niqe" not in result["hr"]["mean"]:
                problems.append(f"{model.name}: {name} lacks a Table I column")
    return problems


def test_every_shipped_model_has_an_evaluation_with_the_table1_columns():
    """Each shipped model (not each evaluation file found: a model without one is a failure)
    covers the four test sets with PSNR, SSIM, VIF-P and NIQE."""
    from keras_srfm.inference.presets import list_models

    assert len(list_models(ROOT / "exported_models")) >= 6
    assert table1_problems(ROOT / "exported_models") == []


def test_a_model_without_an_evaluation_is_a_problem(tmp_path):
    for name in ("srfm_a", "srfm_b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / f"{name}.keras").write_bytes(b"")
        (tmp_path / name / "MODEL_CARD.md").write_text(f"# {name}\n")
    shipped = ROOT / "exported_models" / "srfm_mp" / "evaluation.json"
    (tmp_path / "srfm_a" / "evaluation.json").write_text(shipped.read_text())
    assert table1_problems(tmp_path) == ["srfm_b: no evaluation.json"]


def _ladder_tool():
    """tools/ladder.py as a module (it imports only the dataclasses: no TensorFlow)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("ladder_tool", ROOT / "tools" / "ladder.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_card_shows_its_ladder_as_the_evaluation_file_has_it():
    """Issue 23: every shipped model's evaluation.json has every rung of the ladder on BSD100 and
    Urban100, and its card's table (between the markers) is what `tools/ladder.py --cards` writes."""
    assert _ladder_tool().card_problems() == []


def test_a_stale_card_ladder_is_found(tmp_path, monkeypatch):
    """The check above can fail: one digit changed in a copied card's table is reported."""
    import shutil

    ladder = _ladder_tool()
    for model, files in (("srfm_real", ("MODEL_CARD.md", "evaluation.json")), ("srfm_mp", ("evaluation.json",))):
        (tmp_path / model).mkdir()
        for name in files:
            shutil.copy(ladder.MODELS_DIR / model / name, tmp_path / model / name)
    monkeypatch.setattr(ladder, "MODELS_DIR", tmp_path)
    monkeypatch.setattr(ladder, "shipped_models", lambda: ["srfm_real"])
    assert ladder.card_problems() == []
    card = tmp_path / "srfm_real" / "MODEL_CARD.md"
    text = card.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| BSD100 | mild |"))
    cell = row.split(" | ")[2]  # srfm_real's PSNR / SSIM / NIQE
    card.write_text(text.replace(row, row.replace(cell, "0" + cell, 1)))
    assert ladder.card_problems() == [f"{card}: ladder table is stale (python tools/ladder.py --cards)"]
