"""ONNX export: graph and metadata, parity with Keras in ONNX Runtime, the upscaler and the CLI."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_srfm.cli import main
from keras_srfm.evaluation.protocol import bicubic_pair, read_hr
from keras_srfm.export.onnx import convert_to_onnx, onnx_metadata
from keras_srfm.inference.upscalers import KerasUpscaler, OnnxUpscaler, load_upscaler

ort = pytest.importorskip("onnxruntime", reason="onnxruntime not installed (keras-srfm[onnx])")
onnx = pytest.importorskip("onnx", reason="onnx not installed (keras-srfm[onnx])")

ROOT = Path(__file__).resolve().parents[2]
# Largest |ONNX Runtime - Keras| on [0, 1], measured (onnxruntime 1.32, CPU provider) on the
# 2-block 0.6x-init generator below, Set5 bird's LR and the 37x50 synthetic image: float32
# 3.0e-7 and 1.8e-7; float16 (every tensor in half precision) 5.4e-4 and 5.5e-4. Limits: about 10x.
FLOAT32_TOLERANCE = 3e-6
FLOAT16_TOLERANCE = 6e-3
# Set5 row of srfm_mp through its float32 ONNX file vs exported_models/srfm_mp/evaluation.json,
# measured (onnxruntime 1.32, this AMD EPYC): mean PSNR 9.9e-6 dB, SSIM 3.4e-7, VIF 5.5e-7 apart
# (float16: 1.0e-4 dB). Limits: 10x the float32 spread, rounded up.
SET5_TOLERANCE = {"psnr": 1e-4, "ssim": 4e-6, "vif": 6e-6}


# One xdist worker runs the whole file (README: `--dist loadgroup`): its module fixture (three ONNX conversions) is built once.
pytestmark = pytest.mark.xdist_group("export_onnx")


@pytest.fixture(scope="module")
def models(generator, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("onnx")
    return {
        "float32": convert_to_onnx(generator, folder / "g.onnx"),
        "float16": convert_to_onnx(generator, folder / "g_fp16.onnx", precision="float16"),
        "nhwc": convert_to_onnx(generator, folder / "g_nhwc.onnx", layout="nhwc"),
    }


def run_onnx(path: Path, image: np.ndarray) -> np.ndarray:
    """(H, W, 3) float -> (4H, 4W, 3) float32 straight through an InferenceSession."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    detail = session.get_inputs()[0]
    x = image[None].astype(np.float16 if detail.type == "tensor(float16)" else np.float32)
    nchw = detail.shape[1] == 3
    y = session.run(None, {detail.name: x.transpose(0, 3, 1, 2) if nchw else x})[0]
    return (y.transpose(0, 2, 3, 1) if nchw else y)[0].astype(np.float32)


def test_graph_is_nchw_dynamic_and_documented(models):
    model = onnx.load(str(models["float32"]))
    onnx.checker.check_model(model)
    (inp,), (out,) = model.graph.input, model.graph.output
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert inp.name == "input" and dims == ["batch", 3, "height", "width"]
    dims = [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim]
    assert out.name == "output" and dims == ["batch", 3, "height_x4", "width_x4"]
    ops = [node.op_type for node in model.graph.node]
    assert "Transpose" not in ops  # NCHW is ONNX Conv's own layout
    assert ops.count("Conv") == 9 and ops.count("DepthToSpace") == 2
    assert {"scale": "4", "receptive_radius": "8", "layout": "nchw"}.items() <= onnx_metadata(
        models["float32"]
    ).items()


def test_float16_is_half_precision_throughout(models):
    model = onnx.load(str(models["float16"]))
    onnx.checker.check_model(model)
    half = onnx.TensorProto.FLOAT16
    assert model.graph.input[0].type.tensor_type.elem_type == half
    assert model.graph.output[0].type.tensor_type.elem_type == half
    assert all(t.data_type == half for t in model.graph.initializer)
    assert models["float16"].stat().st_size < 0.6 * models["float32"].stat().st_size


@pytest.mark.parametrize("key", ["float32", "float16", "nhwc"])
def test_parity_with_keras_on_synthetic_image(generator, models, key, synthetic_image, clipped_keras_output):
    image = synthetic_image()
    got = run_onnx(models[key], image)
    assert got.shape == (148, 200, 3)
    limit = FLOAT16_TOLERANCE if key == "float16" else FLOAT32_TOLERANCE
    assert np.abs(got - clipped_keras_output(generator, image)).max() <= limit


@pytest.mark.numeric
@pytest.mark.parametrize("key", ["float32", "float16"])
def test_parity_with_keras_on_set5(generator, models, key, shared_data, clipped_keras_output):
    _, lr = bicubic_pair(read_hr(shared_data / "benchmarks/Set5/HR/bird.png").hr)
    image = lr.astype(np.float32) / 255.0
    diff = np.abs(run_onnx(models[key], image) - clipped_keras_output(generator, image)).max()
    assert diff <= (FLOAT16_TOLERANCE if key == "float16" else FLOAT32_TOLERANCE), diff


def test_upscaler_tiles_like_keras(generator, models, synthetic_image):
    image = (synthetic_image(45, 70) * 255).round().astype(np.uint8)
    upscaler = load_upscaler(models["float32"], tile_size=32)
    assert isinstance(upscaler, OnnxUpscaler) and upscaler.tile_overlap == 8 and upscaler.nchw
    reference = KerasUpscaler(generator, tile_size=0)(image)
    assert np.abs(upscaler(image).astype(int) - reference).max() <= 1  # a rounding boundary
    nhwc = load_upscaler(models["nhwc"], tile_size=0)
    assert not nhwc.nchw and np.abs(nhwc(image).astype(int) - reference).max() <= 1
    floats = upscaler.upscale_float(synthetic_image(45, 70))
    assert floats.dtype == np.float32 and floats.shape == (180, 280, 3)


def test_convert_and_upscale_cli(generator, tmp_path, capsys, synthetic_image):
    source = tmp_path / "tiny.keras"
    generator.save(source)
    assert main(["convert", str(source), "--format", "onnx", "--quantize", "float16",
                 "--output", str(tmp_path / "tiny_fp16.onnx")]) == 0
    assert "input 'input' 1x3xHxW" in capsys.readouterr().out
    assert onnx_metadata(tmp_path / "tiny_fp16.onnx")["source"] == "tiny.keras"
    keras.utils.save_img(tmp_path / "in.png", (synthetic_image() * 255).round(), scale=False)
    args = ["upscale", str(tmp_path / "in.png"), "-o", str(tmp_path / "out"), "--model"]
    assert main([*args, str(tmp_path / "tiny_fp16.onnx")]) == 0
    assert keras.utils.load_img(tmp_path / "out" / "in_x4.png").size == (200, 148)


def test_convert_refuses_bad_options(generator, tmp_path, capsys):
    source = tmp_path / "tiny.keras"
    generator.save(source)
    assert main(["convert", str(source), "--format", "onnx", "--quantize", "int8"]) == 2
    assert "int8 is for tflite" in capsys.readouterr().err
    assert main(["convert", str(source), "--format", "onnx", "--output", "x.tflite"]) == 2
    assert "must end with .onnx" in capsys.readouterr().err
    assert main(["convert", "--format", "onnx"]) == 2
    assert "name the model" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.onnx"))


def test_missing_onnxruntime_is_one_line(models, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import raises ModuleNotFoundError
    argv = ["upscale", str(tmp_path / "x.png"), "-o", str(tmp_path), "--model", str(models["float32"])]
    keras.utils.save_img(tmp_path / "x.png", np.zeros((8, 8, 3)), scale=False)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and 'pip install "keras-srfm[onnx]"' in err


def test_converts_a_saved_model(generator, tmp_path, synthetic_image, clipped_keras_output):
    from keras_srfm.export.saved_model import export_saved_model

    saved = export_saved_model(generator, tmp_path / "serving")
    path = convert_to_onnx(saved, tmp_path / "from_saved.onnx")
    image = synthetic_image()
    assert np.abs(run_onnx(path, image) - clipped_keras_output(generator, image)).max() <= FLOAT32_TOLERANCE


@pytest.mark.slow
@pytest.mark.numeric
def test_shipped_model_set5_row_equals_the_card(tmp_path, shared_data, capsys):
    folder = ROOT / "exported_models" / "srfm_mp"
    if not (folder / "srfm_mp.keras").is_file():
        pytest.skip("srfm_mp is not shipped in this checkout")
    output = tmp_path / "srfm_mp.onnx"
    assert main(["convert", "srfm_mp", "--format", "onnx", "--output", str(output)]) == 0
    report = tmp_path / "eval.json"
    assert main(["evaluate", "--model", str(output), "--hr-dir",
                 str(shared_data / "benchmarks/Set5/HR"), "--json", str(report),
                 "--no-progress"]) == 0
    card = json.loads((folder / "evaluation.json").read_text())["datasets"]["Set5"]["mean"]
    (row,) = json.loads(report.read_text())["datasets"].values()
    for key, limit in SET5_TOLERANCE.items():
        assert abs(row["mean"][key] - card[key]) <= limit, (key, row["mean"][key], card[key])
