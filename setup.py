"""Build step that puts the shipped models into the wheel (metadata lives in pyproject.toml).

`exported_models/` at the top of the source tree is the source of truth. Building a wheel (or
`pip install .`) copies, for every model folder found there (`<name>/<name>.keras`), the files
named by `keras_srfm.inference.presets.WHEEL_FILES` (the `.keras` generator, its `.tflite`, the model
card, `evaluation.json` and `recipe.json`) and the `DEFAULT` marker into `keras_srfm/exported_models/` of the
wheel, where `keras_srfm.inference.presets` finds them. The SavedModels stay out; see docs/install.md.
An editable install needs no copy: it reads the source tree's folder.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


def _presets():  # keras_srfm.inference.presets, loaded without importing the package
    spec = importlib.util.spec_from_file_location("_srfm_presets", ROOT / "keras_srfm" / "inference" / "presets.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def copy_shipped_models(source: Path, target: Path) -> list[Path]:
    """Copies the wheel's share of every model folder in `source` to `target`; returns the files."""
    presets = _presets()
    copied = []
    for model in presets.list_models(source):
        for pattern in presets.WHEEL_FILES:
            for path in sorted(model.folder.glob(pattern.format(name=model.name))):
                copied.append(target / model.name / path.name)
                copied[-1].parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, copied[-1])
    if copied and (source / presets.DEFAULT_FILE).is_file():
        shutil.copy2(source / presets.DEFAULT_FILE, target / presets.DEFAULT_FILE)
        copied.append(target / presets.DEFAULT_FILE)
    return copied


class BuildPyWithModels(build_py):
    """`build_py` that also copies the shipped models into the package."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "keras_srfm" / "exported_models"
        copied = copy_shipped_models(ROOT / "exported_models", target)
        self.announce(f"copied {len(copied)} shipped-model files into {target}", level=2)


setup(cmdclass={"build_py": BuildPyWithModels})
