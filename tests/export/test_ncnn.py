"""ncnn export: the `.param` that realesrgan-ncnn-vulkan / upscayl load, run by ncnn against Keras."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from keras_srfm.cli import main
from keras_srfm.evaluation.protocol import bicubic_pair, read_hr
from keras_srfm.export.ncnn import convert_to_ncnn

ncnn = pytest.importorskip("ncnn", reason="the ncnn Python package is not installed")

# Largest |ncnn - Keras| on [0, 1], measured (ncnn 1.0.20261020, CPU, AVX2) on the 2-block
# 0.6x-init generator, Set5 bird's LR and the 37x50 synthetic image: float32 weights 9.5e-7 and
# 4.8e-7, float16 weights 2.4e-4 and 1.5e-4. Limits: about 10x.
TOLERANCE = {"float32": 1e-5, "float16": 3e-3}


# One xdist worker runs the whole file (README: `--dist loadgroup`): its module fixture (the ncnn conversions) is built once.
pytestmark = pytest.mark.xdist_group("export_ncnn")


@pytest.fixture(scope="module")
def models(generator, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("ncnn")
    return {q: convert_to_ncnn(generator, folder / f"g_{q}.param", precision=q)[0] for q in TOLERANCE}


def run_ncnn(param: Path, image: np.ndarray) -> np.ndarray:
    """(H, W, 3) float on [0, 1] -> (4H, 4W, 3), through blobs "data" and "output" on the CPU."""
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    assert net.load_param(str(param)) == 0 and net.load_model(str(param.with_suffix(".bin"))) == 0
    planes = np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32)
    # A Mat made from a NumPy array borrows its memory without ncnn's channel alignment, and
    # crashed the extractor (ncnn 1.0.20261020): hand it a copy that ncnn allocated.
    mat = ncnn.Mat(planes).clone()
    extractor = net.create_extractor()
    assert extractor.input("data", mat) == 0
    status, out = extractor.extract("output")
    assert status == 0
    return np.array(out).transpose(1, 2, 0)


def test_param_has_the_blobs_and_layers_upscalers_expect(models):
    lines = models["float32"].read_text().splitlines()
    assert lines[0] == "7767517"
    layers, blobs = map(int, lines[1].split())
    rows = [line.split() for line in lines[2:]]
    assert len(rows) == layers
    assert rows[0][:2] == ["Input", "input"] and rows[0][4] == "data"
    assert rows[-1][0] == "Clip" and rows[-1][5] == "output"
    kinds = [row[0] for row in rows]
    assert kinds.count("Convolution") == 9 and kinds.count("PixelShuffle") == 2
    assert set(kinds) == {"Input", "Bias", "Convolution", "ReLU", "BinaryOp", "Split", "PixelShuffle", "Clip"}
    assert all("1=1" in row for row in rows if row[0] == "PixelShuffle")  # TensorFlow's order
    outputs = [blob for row in rows for blob in row[4 + int(row[2]) : 4 + int(row[2]) + int(row[3])]]
    assert len(outputs) == len(set(outputs)) == blobs
    inputs = [blob for row in rows for blob in row[4 : 4 + int(row[2])]]
    assert len(inputs) == len(set(inputs))  # one reader per blob (Split elsewhere)


@pytest.mark.parametrize("precision", list(TOLERANCE))
def test_parity_with_keras_on_synthetic_image(generator, models, precision, synthetic_image,
                                               clipped_keras_output):
    image = synthetic_image()
    got = run_ncnn(models[precision], image)
    assert got.shape == (148, 200, 3)
    assert np.abs(got - clipped_keras_output(generator, image)).max() <= TOLERANCE[precision]


@pytest.mark.numeric
@pytest.mark.parametrize("precision", list(TOLERANCE))
def test_parity_with_keras_on_set5(generator, models, precision, shared_data, clipped_keras_output):
    _, lr = bicubic_pair(read_hr(shared_data / "benchmarks/Set5/HR/bird.png").hr)
    image = lr.astype(np.float32) / 255.0
    diff = np.abs(run_ncnn(models[precision], image) - clipped_keras_output(generator, image)).max()
    assert diff <= TOLERANCE[precision], diff


def test_float16_weights_halve_the_bin(models):
    sizes = {q: p.with_suffix(".bin").stat().st_size for q, p in models.items()}
    assert sizes["float16"] < 0.55 * sizes["float32"]


def test_convert_cli_names_both_files(generator, tmp_path, capsys, synthetic_image, clipped_keras_output):
    source = tmp_path / "tiny.keras"
    generator.save(source)
    param = tmp_path / "models" / "tiny-x4.param"
    param.parent.mkdir()
    assert main(["convert", str(source), "--format", "ncnn", "--output", str(param)]) == 0
    assert "'data' -> 'output'" in capsys.readouterr().out
    assert sorted(p.name for p in param.parent.iterdir()) == ["tiny-x4.bin", "tiny-x4.param"]
    image = synthetic_image()
    assert np.abs(run_ncnn(param, image) - clipped_keras_output(generator, image)).max() <= TOLERANCE["float32"]
