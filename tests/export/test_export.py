"""SavedModel export for TF Serving: layout, both signatures, request builders, srfm export."""

from __future__ import annotations

import gc
import io
import json
import math
import os
import shutil
import subprocess

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_srfm.cli import main
from keras_srfm.export import serving_client
from keras_srfm.export.saved_model import DEFAULT_MAX_PIXELS, export_saved_model
from keras_srfm.imaging.image_io import to_uint8
from keras_srfm.inference.upscalers import KerasUpscaler, load_upscaler

# The pixel budget of the exported model: above the largest request below (2 x 37 x 53).
BUDGET = 64 * 64


@pytest.fixture(scope="module")
def exported(generator, tmp_path_factory):
    base = tmp_path_factory.mktemp("serving")
    version_dir = export_saved_model(generator, base, name="srfm", version=1, max_pixels=BUDGET)
    return base, version_dir


@pytest.fixture
def loaded(exported):
    """A fresh load per test, released (and collected) after it: no loaded SavedModel outlives
    its test, so none is garbage-collected while another one runs (see docs/serving.md)."""
    model = tf.saved_model.load(str(exported[1]))
    yield model
    del model
    gc.collect()


def _image(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _keras_uint8(generator, batch: np.ndarray) -> np.ndarray:
    return to_uint8(generator(batch.astype("float32") / 255.0).numpy())


def _assert_close_uint8(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.shape == expected.shape and actual.dtype == np.uint8
    diff = np.abs(actual.astype(int) - expected)
    # the same maths in another graph: at most a .5-boundary value rounds the other way
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3


def test_tf_serving_layout(exported):
    base, version_dir = exported
    assert version_dir == base / "srfm" / "1"
    assert (version_dir / "saved_model.pb").is_file()
    assert (version_dir / "variables" / "variables.index").is_file()
    meta = json.loads((version_dir / "assets.extra" / "srfm_model.json").read_text())
    assert meta["scale"] == 4 and meta["receptive_radius"] == 8
    assert meta["generator_config"]["num_blocks"] == 2
    assert os.listdir(base / "srfm") == ["1"]  # no temporary folder left behind


def test_serving_default_uint8_any_size(generator, loaded):
    fn = loaded.signatures["serving_default"]
    assert fn.structured_input_signature[1]["images"].shape.as_list() == [None, None, None, 3]
    for h, w in [(37, 53), (1, 1), (16, 9)]:
        batch = np.stack([_image(h, w, seed=1), _image(h, w, seed=2)])
        out = fn(images=tf.constant(batch))["upscaled"].numpy()
        _assert_close_uint8(out, _keras_uint8(generator, batch))


def test_serving_bytes_png_and_jpeg(generator, loaded):
    fn = loaded.signatures["serving_bytes"]
    image = _image(37, 53, seed=3)
    encoded = []
    for fmt in ("PNG", "JPEG"):
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format=fmt)
        encoded.append(buffer.getvalue())
    out = fn(image_bytes=tf.constant(encoded))["png_bytes"].numpy()
    assert len(out) == 2
    for data, result in zip(encoded, out, strict=True):
        # TF's JPEG decoder is the reference (Pillow's IDCT differs by a few levels)
        decoded_input = tf.io.decode_image(data, channels=3).numpy()
        upscaled = np.asarray(Image.open(io.BytesIO(result)))
        assert Image.open(io.BytesIO(result)).format == "PNG"
        _assert_close_uint8(upscaled, _keras_uint8(generator, decoded_input[None])[0])


@pytest.mark.slow  # a saved_model_cli process
@pytest.mark.skipif(
    shutil.which("saved_model_cli") is None, reason="saved_model_cli is not on PATH"
)
def test_saved_model_cli_lists_both_signatures(exported):
    result = subprocess.run(
        ["saved_model_cli", "show", "--all", "--dir", str(exported[1])],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "signature_def['serving_default']" in text and "signature_def['serving_bytes']" in text
    assert "dtype: DT_UINT8" in text and "shape: (-1, -1, -1, 3)" in text
    assert "dtype: DT_STRING" in text and "shape: (-1)" in text


def test_rest_request_images_round_trip(generator, loaded):
    batch = np.stack([_image(11, 7, seed=4)])
    body = serving_client.rest_request_images(batch)
    body = json.loads(json.dumps(body))  # what goes over the wire
    assert body["signature_name"] == "serving_default"
    reply = json.loads(json.dumps(serving_client.predict_in_process(loaded, body)))
    out = serving_client.parse_rest_response_images(reply)
    _assert_close_uint8(out, _keras_uint8(generator, batch))


def test_rest_request_bytes_round_trip(generator, loaded):
    image = _image(37, 53, seed=5)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    body = json.loads(json.dumps(serving_client.rest_request_bytes([buffer.getvalue()])))
    assert body == {
        "signature_name": "serving_bytes",
        "instances": [{"b64": body["instances"][0]["b64"]}],
    }
    reply = json.loads(json.dumps(serving_client.predict_in_process(loaded, body)))
    (png,) = serving_client.parse_rest_response_bytes(reply)
    _assert_close_uint8(
        np.asarray(Image.open(io.BytesIO(png))), _keras_uint8(generator, image[None])[0]
    )
    assert serving_client.rest_url(model="srfm") == "http://localhost:8501/v1/models/srfm:predict"


def test_grpc_request_round_trip(generator, loaded, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def without_serving_api(name, *args, **kwargs):
        if name.startswith("tensorflow_serving"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    # The dict form (no tensorflow-serving-api installed).
    monkeypatch.setattr(builtins, "__import__", without_serving_api)
    batch = np.stack([_image(13, 17, seed=6)])
    request = serving_client.grpc_request(batch, model="srfm", version=1)
    assert request["model_spec"] == {
        "name": "srfm",
        "signature_name": "serving_default",
        "version": 1,
    }
    out = serving_client.grpc_predict_in_process(loaded, request)["upscaled"]
    _assert_close_uint8(out, _keras_uint8(generator, batch))
    monkeypatch.setattr(builtins, "__import__", real_import)


def test_grpc_predict_request_proto(generator, loaded):
    pytest.importorskip(
        "tensorflow_serving.apis.predict_pb2", reason="tensorflow-serving-api not installed"
    )
    buffer = io.BytesIO()
    image = _image(9, 12, seed=7)
    Image.fromarray(image).save(buffer, format="PNG")
    request = serving_client.grpc_request([buffer.getvalue()], model="srfm")
    assert type(request).__name__ == "PredictRequest"
    assert request.model_spec.signature_name == "serving_bytes"
    (png,) = serving_client.grpc_predict_in_process(loaded, request)["png_bytes"]
    _assert_close_uint8(
        np.asarray(Image.open(io.BytesIO(png))), _keras_uint8(generator, image[None])[0]
    )


def test_saved_model_upscaler_tiles_like_keras(generator, exported):
    upscaler = load_upscaler(exported[0], tile_size=20)  # the base folder: newest version is found
    assert upscaler.name == "savedmodel:srfm/1" and upscaler.tile_overlap == 8
    image = _image(37, 53, seed=8)
    _assert_close_uint8(upscaler(image), KerasUpscaler(generator, tile_size=0)(image))


def test_saved_model_upscaler_refuses_a_tile_over_the_pixel_budget(exported):
    edge = math.isqrt(BUDGET)
    assert load_upscaler(exported[0], tile_size=edge).tile_size == edge
    with pytest.raises(ValueError, match=f"pixel budget of {BUDGET} LR pixels.*at most {edge}$"):
        load_upscaler(exported[0], tile_size=edge + 1)


def test_export_refuses_to_overwrite_then_replaces_atomically(generator, tmp_path):
    target = export_saved_model(generator, tmp_path, name="m", version=3)
    with pytest.raises(FileExistsError, match="already exists"):
        export_saved_model(generator, tmp_path, name="m", version=3)
    with pytest.raises(ValueError, match="Received: version=0"):
        export_saved_model(generator, tmp_path, name="m", version=0)
    assert export_saved_model(generator, tmp_path, name="m", version=3, overwrite=True) == target
    assert os.listdir(tmp_path / "m") == ["3"]


def test_srfm_export_cli(generator, tmp_path, capsys):
    model_path = tmp_path / "g.keras"
    generator.save(model_path)
    args = [
        "export",
        "--model",
        str(model_path),
        "--output",
        str(tmp_path / "serving"),
        "--version",
        "2",
    ]
    assert main(args) == 0
    assert (tmp_path / "serving" / "srfm" / "2" / "saved_model.pb").is_file()
    meta = json.loads((tmp_path / "serving" / "srfm" / "2" / "assets.extra" / "srfm_model.json").read_text())
    assert meta["max_pixels"] == DEFAULT_MAX_PIXELS
    assert "tensorflow_model_server" in capsys.readouterr().out
    assert main(args) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["export", "--model", str(tmp_path / "nope.keras"), "--output", str(tmp_path)]) == 2
    assert "model not found" in capsys.readouterr().err


# === Pixel budget ===


def _encoded(image: np.ndarray | Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    (image if isinstance(image, Image.Image) else Image.fromarray(image)).save(buffer, format=fmt)
    return buffer.getvalue()


def test_budget_is_recorded_in_the_metadata(exported):
    meta = json.loads((exported[1] / "assets.extra" / "srfm_model.json").read_text())
    assert meta["max_pixels"] == BUDGET  # srfm export's default: test_srfm_export_cli


def test_serving_default_refuses_a_batch_over_budget(loaded):
    fn = loaded.signatures["serving_default"]
    assert fn(images=tf.constant(_image(64, 64)[None]))["upscaled"].shape == (1, 256, 256, 3)
    with pytest.raises(tf.errors.InvalidArgumentError, match="the batch exceeds the pixel budget"):
        fn(images=tf.constant(np.stack([_image(64, 64)] * 2)))  # 2 * 4096 pixels


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP"])
def test_serving_bytes_refuses_a_small_file_of_huge_dimensions(loaded, fmt):
    """A 3000x3000 single-colour image is a small file (PNG: 33 KB here) of 9e6 pixels > budget."""
    fn = loaded.signatures["serving_bytes"]
    small = _encoded(_image(16, 16), fmt)
    huge = _encoded(Image.new("RGB", (3000, 3000), (200, 120, 40)), fmt)
    if fmt == "PNG":
        assert len(huge) < 100_000  # vs 27 MB decoded, and ~144 GB through the network
    assert len(fn(image_bytes=tf.constant([small]))["png_bytes"].numpy()) == 1
    with pytest.raises(tf.errors.InvalidArgumentError, match="an image exceeds the pixel budget"):
        fn(image_bytes=tf.constant([small, huge]))


def test_png_header_is_checked_before_decoding(loaded):
    """A PNG header claiming 100000x100000 pixels (a decompression bomb) is refused, not decoded."""
    header = _encoded(_image(4, 4), "PNG")
    bomb = header[:16] + (100_000).to_bytes(4, "big") * 2 + header[24:]  # IHDR width and height
    fn = loaded.signatures["serving_bytes"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="exceeds the pixel budget"):
        fn(image_bytes=tf.constant([bomb]))
