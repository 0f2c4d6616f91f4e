"""Network interpolation (`srfm blend`, `srfm upscale --blend`) and the alpha sweep, on tiny
generators; the model-argument seam (`keras_srfm.inference.presets`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from keras_srfm import cli
from keras_srfm.evaluation import protocol
from keras_srfm.inference import blend, presets
from keras_srfm.metrics import niqe
from keras_srfm.models.generator import build_generator


def _texture(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = np.cumsum(np.cumsum(rng.normal(size=shape), axis=0), axis=1)
    base = (base - base.min()) / np.ptp(base) * 200 + 20 + rng.normal(scale=8, size=shape)
    return np.clip(np.round(base), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def generators(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two tiny generators of one architecture (different weights) and one of another."""
    import keras

    root = tmp_path_factory.mktemp("generators")
    paths = {}
    for name, filters, seed in (("a", 8, 1), ("b", 8, 2), ("other", 4, 3)):
        keras.utils.set_random_seed(seed)
        paths[name] = root / f"{name}.keras"
        build_generator(num_blocks=2, filters=filters, init_scale=0.6).save(paths[name])
    return paths


@pytest.fixture()
def hr_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "Tiny" / "HR"
    folder.mkdir(parents=True)
    Image.fromarray(_texture(0, (208, 112, 3))).save(folder / "a.png")  # 2 NIQE blocks
    return folder


def _weights(path: Path) -> list[np.ndarray]:
    from keras_srfm.inference.upscalers import load_keras_generator

    return load_keras_generator(path).get_weights()


def _formula(wa: np.ndarray, wb: np.ndarray, alpha: float) -> np.ndarray:
    """(1 - alpha) A + alpha B in float64, rounded once to A's dtype."""
    return ((1 - alpha) * wa.astype(np.float64) + alpha * wb.astype(np.float64)).astype(wa.dtype)


# === Weights ===


def test_interpolate_is_the_esrgan_formula() -> None:
    a = [np.array([0.0, 1.0], np.float32), np.array([3], np.int64)]
    b = [np.array([2.0, -1.0], np.float32), np.array([3], np.int64)]
    np.testing.assert_array_equal(blend.interpolate(a, b, 0.0)[0], a[0])
    np.testing.assert_array_equal(blend.interpolate(a, b, 1.0)[0], b[0])
    mixed = blend.interpolate(a, b, 0.25)
    np.testing.assert_allclose(mixed[0], [0.5, 0.5])
    assert mixed[0].dtype == np.float32 and mixed[1].tolist() == [3]
    with pytest.raises(ValueError, match="non-float"):
        blend.interpolate(a, [b[0], np.array([4])], 0.5)
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            blend.interpolate(a, b, bad)


def test_blend_generators(generators: dict[str, Path]) -> None:
    a, b = blend.load_pair(str(generators["a"]), str(generators["b"]))
    lr = np.random.default_rng(0).uniform(size=(1, 12, 10, 3)).astype("float32")
    at_zero = blend.blend_generators(a, b, 0.0)
    np.testing.assert_array_equal(at_zero(lr).numpy(), a(lr).numpy())
    mixed = blend.blend_generators(a, b, 0.3, name="mixed")
    assert mixed.name == "mixed"
    for wm, wa, wb in zip(mixed.get_weights(), a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wm, _formula(wa, wb, 0.3))
    assert a.get_weights()[0] is not mixed.get_weights()[0]
    np.testing.assert_array_equal(a.get_weights()[1], _weights(generators["a"])[1])  # A untouched


def test_architecture_difference(generators: dict[str, Path]) -> None:
    a, other = blend.load_pair(str(generators["a"]), str(generators["other"]))
    assert blend.architecture_difference(a, a) is None
    difference = blend.architecture_difference(a, other)
    assert difference is not None and "\n" not in difference
    with pytest.raises(ValueError, match="different architectures"):
        blend.blend_generators(a, other, 0.5)


# === CLI ===


def test_blend_cli_writes_the_blend(generators: dict[str, Path], tmp_path: Path, capsys) -> None:
    out = tmp_path / "sub" / "blended.keras"
    argv = ["blend", "--models", str(generators["a"]), str(generators["b"]), "--alpha", "0.3"]
    assert cli.main([*argv, "-o", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    for wm, wa, wb in zip(_weights(out), _weights(generators["a"]), _weights(generators["b"])):
        np.testing.assert_array_equal(wm, _formula(wa, wb, 0.3))
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("architecture", "different architectures"),
        ("alpha", "alpha"),
        ("suffix", ".keras"),
        ("missing", "nope.keras"),
    ],
)
def test_blend_cli_errors_are_one_line(
    case: str, expected: str, generators: dict[str, Path], tmp_path: Path, capsys
) -> None:
    a, b, alpha, out = generators["a"], generators["b"], "0.3", tmp_path / "x.keras"
    if case == "architecture":
        b = generators["other"]
    elif case == "alpha":
        alpha = "1.5"
    elif case == "suffix":
        out = tmp_path / "x.h5"
    else:
        b = tmp_path / "nope.keras"
    argv = ["blend", "--models", str(a), str(b), "--alpha", alpha, "-o", str(out)]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("srfm blend: error:") and expected in err[0]
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_upscale_with_blend_equals_the_saved_blend(
    generators: dict[str, Path], tmp_path: Path
) -> None:
    images = tmp_path / "in"
    images.mkdir()
    Image.fromarray(_texture(5, (20, 24, 3))).save(images / "x.png")
    blended = tmp_path / "blended.keras"
    models = [str(generators["a"]), str(generators["b"])]
    assert cli.main(["blend", "--models", *models, "--alpha", "0.6", "-o", str(blended)]) == 0
    argv = ["upscale", str(images), "-q", "--tile-size", "0"]
    assert cli.main([*argv, "-o", str(tmp_path / "o1"), "--blend", *models, "--alpha", "0.6"]) == 0
    assert cli.main([*argv, "-o", str(tmp_path / "o2"), "--model", str(blended)]) == 0
    first = np.asarray(Image.open(tmp_path / "o1" / "x_x4.png"))
    assert first.shape == (80, 96, 3)
    np.testing.assert_array_equal(first, np.asarray(Image.open(tmp_path / "o2" / "x_x4.png")))
    both = [*argv, "-o", str(tmp_path / "o3"), "--model", str(blended), "--blend", *models]
    assert cli.main(both) == 2


# === Sweep ===


@pytest.mark.slow
def test_sweep_json_and_endpoints(
    generators: dict[str, Path], hr_folder: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    rng = np.random.default_rng(0)
    params = tmp_path / "params.npz"
    np.savez(
        params,
        mu_pris_param=rng.normal(size=(1, 36)),
        cov_pris_param=np.eye(36),
        gaussian_window=np.full((7, 7), 1 / 49),
    )
    monkeypatch.setenv(niqe.NIQE_PARAMS_ENV, str(params))
    out = tmp_path / "sweep.json"
    models = [str(generators["a"]), str(generators["b"])]
    argv = ["blend", "--models", *models, "--sweep", "1,0,0.5", "--hr-dir", str(hr_folder)]
    assert cli.main([*argv, "--json", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "alpha=0.5" in printed and "lower is better" in printed

    document = json.loads(out.read_text())
    assert document["kind"] == blend.SWEEP_KIND and document["metrics"] == ["psnr", "niqe"]
    tiny = document["datasets"]["Tiny"]
    assert [p["alpha"] for p in tiny["points"]] == [0.0, 0.5, 1.0]
    # The endpoints are the two models themselves.
    from keras_srfm.inference.upscalers import load_upscaler

    for point, name in ((tiny["points"][0], "a"), (tiny["points"][-1], "b")):
        expected = protocol.evaluate_source(
            load_upscaler(generators[name], tile_size=0),
            protocol.folder_source(hr_folder),
            progress=False,
            metrics=("psnr", "niqe"),
        )
        assert point["mean"] == pytest.approx(expected.mean)
    assert tiny["hr"]["mean"]["niqe"] == pytest.approx(expected.hr_mean["niqe"])


def test_parse_alphas() -> None:
    assert blend.parse_alphas("1, 0,0.5,0") == (0.0, 0.5, 1.0)
    for bad in ("a,b", "", "0,2"):
        with pytest.raises(ValueError):
            blend.parse_alphas(bad)


def test_sweep_cli_needs_json_and_images(generators: dict[str, Path], capsys) -> None:
    models = [str(generators["a"]), str(generators["b"])]
    assert cli.main(["blend", "--models", *models, "--sweep", "0,1"]) == 2
    assert "--json" in capsys.readouterr().err


# === Model arguments ===


def test_resolve_model_path(tmp_path: Path, generators: dict[str, Path]) -> None:
    root = tmp_path / "exported"
    for name in ("srfm_pcsa", "srfm_mp", "srfm_pcsva_vgg34", "zzz", "srfm_pva_vgg34"):
        (root / name).mkdir(parents=True)
        (root / name / f"{name}.keras").write_bytes(b"")
    (root / "empty").mkdir()
    assert [m.name for m in presets.list_models(root)] == [
        "srfm_mp",
        "srfm_pva_vgg34",
        "srfm_pcsa",
        "srfm_pcsva_vgg34",
        "zzz",
    ]
    assert presets.resolve_model("srfm_mp", root) == root / "srfm_mp" / "srfm_mp.keras"
    assert presets.resolve_model(generators["a"], root) == generators["a"]
    with pytest.raises(FileNotFoundError, match="shipped: srfm_mp, srfm_pva_vgg34"):
        presets.resolve_model("srfm_nope", root)
