"""MkDocs hook: one page per shipped model, made at build time from its MODEL_CARD.md.

`exported_models/<name>/MODEL_CARD.md` stays the source of truth; this copies it to
`models/<name>/index.md` with the small files it may show or link (figures, curves, JSON,
recipes) and appends the pages under "Model zoo" in the navigation. Model weights (.keras,
.tflite, SavedModels) are not copied into the site.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "exported_models"
ASSET_SUFFIXES = {".png", ".jpg", ".svg", ".csv", ".json", ".jsonl", ".yaml", ".yml", ".txt"}
ZOO_TITLE = "Model zoo"


def model_cards() -> list[tuple[str, Path]]:
    """(name, folder) of every exported_models/ folder with a MODEL_CARD.md, sorted."""
    if not MODELS.is_dir():
        return []
    return [(p.name, p) for p in sorted(MODELS.iterdir()) if (p / "MODEL_CARD.md").is_file()]


def on_config(config: Any) -> Any:
    """Appends `models/<name>/index.md` to the "Model zoo" section of the nav."""
    for item in config["nav"] or []:
        if isinstance(item, dict) and ZOO_TITLE in item:
            item[ZOO_TITLE].extend(
                {name: f"models/{name}/index.md"} for name, _ in model_cards()
            )
    return config


def on_files(files: Files, config: Any) -> Files:
    """Adds each card as a page and its small files beside it."""
    for name, folder in model_cards():
        card = (folder / "MODEL_CARD.md").read_text(encoding="utf-8")
        files.append(File.generated(config, f"models/{name}/index.md", content=card))
        for path in sorted(folder.iterdir()):
            if path.is_file() and path.suffix.lower() in ASSET_SUFFIXES:
                files.append(
                    File.generated(config, f"models/{name}/{path.name}", abs_src_path=str(path))
                )
    return files
