"""Shipped models by name (keras_srfm.inference.presets), `load_generator`, and `import keras_srfm` registering."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from keras_srfm import cli
from keras_srfm.inference import presets


@pytest.fixture(scope="module")
def tiny_keras(tmp_path_factory) -> Path:
    from keras_srfm.config import GeneratorConfig
    from keras_srfm.models.generator import build_generator

    path = tmp_path_factory.mktemp("tiny") / "tiny.keras"
    build_generator(GeneratorConfig(num_blocks=1, filters=4)).save(path)
    return path


@pytest.fixture
def shipped(tmp_path: Path, tiny_keras: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A models root like exported_models/: two models, a card each, a DEFAULT, and a stray folder."""
    root = tmp_path / "exported_models"
    for name, title in (("srfm_a", "model A, first"), ("srfm_b", "model B")):
        (root / name).mkdir(parents=True)
        shutil.copy(tiny_keras, root / name / f"{name}.keras")
        (root / name / "MODEL_CARD.md").write_text(f"# {name}: {title}\n\nbody\n")
    (root / "notes").mkdir()  # no notes/notes.keras: not a model
    (root / "DEFAULT").write_text("srfm_b\n")
    monkeypatch.setenv(presets.MODELS_DIR_ENV, str(root))
    return root


def test_models_are_discovered_from_the_folder(shipped):
    models = presets.list_models()
    assert [m.name for m in models] == ["srfm_a", "srfm_b"]
    assert models[0].description == "model A, first" and models[0].tflite_file is None
    assert presets.default_model_name() == "srfm_b"
    (shipped / "DEFAULT").unlink()
    assert presets.default_model_name() == "srfm_a"  # no marker: the first by name


def test_names_resolve_and_paths_win(shipped, tmp_path, monkeypatch):
    assert presets.resolve_model("srfm_a") == shipped / "srfm_a" / "srfm_a.keras"
    assert presets.resolve_model("default") == shipped / "srfm_b" / "srfm_b.keras"
    assert presets.resolve_model("bicubic") == "bicubic"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "srfm_a").mkdir()  # a local folder of that name is what the user means
    assert presets.resolve_model("srfm_a") == Path("srfm_a")
    with pytest.raises(FileNotFoundError, match=r"no shipped model 'srfm_c' \(shipped: srfm_a, srfm_b"):
        presets.resolve_model("srfm_c")
    with pytest.raises(FileNotFoundError, match="model not found"):
        presets.resolve_model("some/where.keras")


def test_srfm_models_lists_names_and_descriptions(shipped, capsys):
    assert cli.main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].split()[0] == "srfm_a" and lines[0].endswith("model A, first")
    assert lines[1].startswith("* srfm_b")  # the default is marked


def test_srfm_models_says_which_model_for_which_input_from_the_ladder(shipped, capsys):
    """Issue 23 item 6: the best model per rung is read from the models' ladder evaluations
    (mean over the test sets all of them have), not written by hand."""
    import json

    def ladder(psnr: dict[str, float], niqe: dict[str, float], sets=("BSD100", "Urban100")) -> dict:
        rungs = {r: {"num_images": 1, "mean": {"psnr": psnr[r], "ssim": 0.5, "niqe": niqe[r]}} for r in psnr}
        return {"ladder": {"datasets": {s: rungs for s in sets}}}

    # srfm_a: sharper on clean, more natural on strong; srfm_b the other way round.
    (shipped / "srfm_a" / "evaluation.json").write_text(json.dumps(
        ladder({"clean": 27.0, "strong": 22.0}, {"clean": 7.0, "strong": 8.0})))
    (shipped / "srfm_b" / "evaluation.json").write_text(json.dumps(
        ladder({"clean": 26.0, "strong": 23.0}, {"clean": 6.0, "strong": 9.0}, sets=("BSD100",))))
    assert cli.main(["models"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-2].split(maxsplit=3)[3] == "clean: srfm_a, strong: srfm_b"  # highest PSNR
    assert out[-1].split(maxsplit=4)[4] == "clean: srfm_b, strong: srfm_a"  # lowest NIQE


def test_upscale_takes_a_shipped_name(shipped, tmp_path, capsys):
    from PIL import Image

    Image.new("RGB", (12, 10), "red").save(tmp_path / "in.png")
    assert cli.main(["upscale", str(tmp_path / "in.png"), "-o", str(tmp_path / "out"), "--model", "srfm_a", "-q"]) == 0
    assert Image.open(tmp_path / "out" / "in_x4.png").size == (48, 40)
    # A fresh output folder: in "out" every output exists, which is refused before a model loads.
    assert cli.main(["upscale", str(tmp_path / "in.png"), "-o", str(tmp_path / "out2"), "--model", "srfm_zz"]) == 2
    assert "no shipped model 'srfm_zz'" in capsys.readouterr().err


def test_load_generator_by_name_path_and_url(shipped, tiny_keras, tmp_path):
    x = np.random.default_rng(0).random((1, 6, 5, 3), dtype=np.float32)
    reference = presets.load_generator(tiny_keras)(x)
    np.testing.assert_array_equal(presets.load_generator("srfm_a")(x), reference)
    digest = hashlib.sha256(tiny_keras.read_bytes()).hexdigest()
    url = tiny_keras.as_uri()  # file:// stands in for https:// (no network in tests)
    model = presets.load_generator(f"{url}#sha256={digest}", cache_dir=str(tmp_path / "cache"))
    np.testing.assert_array_equal(model(x), reference)
    assert (tmp_path / "cache" / "keras_srfm" / "tiny.keras").is_file()
    with pytest.raises(ValueError, match="file_hash and the URL's #sha256= differ"):
        presets.load_generator(f"{url}#sha256={digest}", file_hash="0" * 64)
    with pytest.raises(ValueError):  # keras.utils.get_file checks the hash of a new download
        presets.load_generator(url, file_hash="0" * 64, cache_dir=str(tmp_path / "other"))
    with pytest.raises(ValueError, match="shipped name, a .keras file"):
        presets.load_generator("bicubic")


@pytest.mark.slow  # a fresh Python process
def test_import_is_cheap():
    """`import keras_srfm` imports neither Keras nor TensorFlow (measured: ~1 ms)."""
    code = "import sys, keras_srfm; print('keras' in sys.modules, 'tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["False", "False"], out.stderr


@pytest.mark.slow
@pytest.mark.parametrize("first", ["keras_srfm", "keras", "keras_srfm.models.layers"])
def test_import_keras_srfm_registers_the_layers(tiny_keras, first):
    """`keras.saving.load_model(..., safe_mode=True)` works after `import keras_srfm`, in either
    order, and when a module of the package is the first to import Keras (a circular import)."""
    second = "keras_srfm" if first == "keras" else "keras"
    code = (f"import {first}, {second}; import keras; "
            f"m = keras.saving.load_model({str(tiny_keras)!r}, safe_mode=True); print(m.count_params())")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0 and int(out.stdout.split()[-1]) > 0, out.stderr[-2000:]


def test_data_root_needs_the_variable_outside_a_source_checkout(tmp_path, monkeypatch):
    """An installed wheel has no folder beside it for the data: say so, in one line, rather
    than use `site-packages/../shared/data`."""
    monkeypatch.delenv(presets.DATA_DIR_ENV, raising=False)
    assert presets.data_root() == presets.PACKAGE_DIR.parent.parent / "shared" / "data"  # checkout
    monkeypatch.setattr(presets, "PACKAGE_DIR", tmp_path / "site-packages" / "keras_srfm")
    with pytest.raises(FileNotFoundError, match="SRFM_DATA_DIR is not set"):
        presets.data_root()
    monkeypatch.setenv(presets.DATA_DIR_ENV, str(tmp_path / "data"))
    assert presets.data_root() == tmp_path / "data"
