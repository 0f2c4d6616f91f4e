"""Build step that puts the shipped models into the wheel (metadata lives in pyproject.toml).

`exported_models/` at the top of the source tree is the source of truth. Building a wheel (or
`pip install .`) copies, for every model folder found there (`<name>/<name>.keras`), the files
named by `keras_srfm.inference.presets.WHEEL_FILES` (the `.keras` generator, its `.tflite`, the model
card, `evaluation.json` and `recipe.json`) and the `DEFAULT` marker into `keras_srfm/exported_models/` of the
wheel, where `keras_srfm.inference.presets` finds them. The SavedModels stay out; see docs/install.md.
An editable install needs no copy: it reads the source tree's folder.

It also bundles onnxruntime-web for `srfm web` (`keras_srfm/web/vendor/`, not committed): when
the source tree lacks it, `keras_srfm.web.vendor` fetches the pinned version with `npm pack`
first; without npm the wheel is built without it and `srfm web` says how to add it.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


def _load(name: str, relative: str):  # a module of the package, without importing the package
    spec = importlib.util.spec_from_file_location(name, ROOT / relative)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _presets():  # keras_srfm.inference.presets
    return _load("_srfm_presets", "keras_srfm/inference/presets.py")


def vendor_onnxruntime_web(target: Path) -> list[Path]:
    """Copies the vendored onnxruntime-web into `target`, fetching it with npm when missing."""
    source = ROOT / "keras_srfm" / "web" / "vendor"
    sys.path.insert(0, str(ROOT))  # keras_srfm.web.vendor imports keras_srfm.imaging.atomic
    try:
        vendor = importlib.import_module("keras_srfm.web.vendor")
        if vendor.missing_files(source):
            try:
                vendor.vendor_onnxruntime_web(source)
            except (OSError, ValueError, subprocess.CalledProcessError) as err:
                print(f"warning: wheel built without onnxruntime-web (srfm web): {err}", file=sys.stderr)
                return []
        names = [*vendor.FILES, vendor.INFO_FILE]
    finally:
        sys.path.remove(str(ROOT))
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy2(source / name, target / name)
    return [target / name for name in names]


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
        web = Path(self.build_lib) / "keras_srfm" / "web" / "vendor"
        bundled = vendor_onnxruntime_web(web)
        self.announce(f"copied {len(bundled)} onnxruntime-web files into {web}", level=2)


setup(cmdclass={"build_py": BuildPyWithModels})
