"""Requests for a TF Serving instance running the model from `srfm export`.

The REST body and the gRPC `PredictRequest` are built here so that they can be checked
against the SavedModel in-process (`predict_in_process`), without a server. Only NumPy and
the standard library are needed for REST; gRPC needs `tensorflow-serving-api` (and TF).

Example (REST, with `tensorflow_model_server --rest_api_port=8501` running):
>>> body = rest_request_bytes([open("photo.png", "rb").read()])
>>> reply = requests.post("http://localhost:8501/v1/models/srfm:predict", json=body).json()
>>> png = parse_rest_response_bytes(reply)[0]
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import numpy as np

IMAGES_SIGNATURE = "serving_default"
BYTES_SIGNATURE = "serving_bytes"
IMAGES_INPUT, IMAGES_OUTPUT = "images", "upscaled"
BYTES_INPUT, BYTES_OUTPUT = "image_bytes", "png_bytes"


def rest_url(
    host: str = "localhost", port: int = 8501, model: str = "srfm", version: int | None = None
) -> str:
    """TF Serving REST predict URL, e.g. http://localhost:8501/v1/models/srfm:predict."""
    path = f"v1/models/{model}" + (f"/versions/{version}" if version is not None else "")
    return f"http://{host}:{port}/{path}:predict"


# === REST (JSON) ===


def rest_request_images(images: np.ndarray | Sequence[np.ndarray]) -> dict[str, Any]:
    """REST body for `serving_default`: a batch of same-sized uint8 (H, W, 3) images.

    Args:
        images: uint8 array (B, H, W, 3) or a sequence of (H, W, 3) arrays of one size.

    Returns:
        dict: `{"signature_name": "serving_default", "instances": [...]}` (JSON-serialisable).
    """
    batch = np.stack(list(images)) if not isinstance(images, np.ndarray) else images
    if batch.ndim != 4 or batch.shape[-1] != 3 or batch.dtype != np.uint8:
        raise ValueError(
            f"Expected uint8 (B, H, W, 3). Received: shape={batch.shape}, dtype={batch.dtype}"
        )
    return {"signature_name": IMAGES_SIGNATURE, "instances": batch.tolist()}


def rest_request_bytes(encoded: Sequence[bytes]) -> dict[str, Any]:
    """REST body for `serving_bytes`: encoded images (any sizes), sent as `{"b64": ...}`.

    Args:
        encoded: sequence of bytes. PNG / JPEG / BMP / GIF files.

    Returns:
        dict: `{"signature_name": "serving_bytes", "instances": [{"b64": ...}, ...]}`.
    """
    instances = [{"b64": base64.b64encode(data).decode("ascii")} for data in encoded]
    return {"signature_name": BYTES_SIGNATURE, "instances": instances}


def parse_rest_response_images(response: dict[str, Any]) -> np.ndarray:
    """`{"predictions": [...]}` from `serving_default` -> uint8 (B, 4H, 4W, 3)."""
    return np.asarray(response["predictions"], dtype=np.uint8)


def parse_rest_response_bytes(response: dict[str, Any]) -> list[bytes]:
    """`{"predictions": [{"b64": ...}, ...]}` from `serving_bytes` -> PNG files."""
    return [base64.b64decode(p["b64"]) for p in response["predictions"]]


# === gRPC ===


def grpc_request(
    inputs: np.ndarray | Sequence[bytes],
    *,
    model: str = "srfm",
    version: int | None = None,
) -> Any:
    """gRPC `PredictRequest` for either signature (uint8 array -> images, bytes -> PNG).

    Returns a `tensorflow_serving.apis.predict_pb2.PredictRequest` when `tensorflow-serving-api`
    is importable, else the equivalent dict `{"model_spec": {...}, "inputs": {name: TensorProto}}`.
    """
    import tensorflow as tf

    if isinstance(inputs, np.ndarray):
        signature, name, tensor = (
            IMAGES_SIGNATURE,
            IMAGES_INPUT,
            inputs.astype(np.uint8, copy=False),
        )
        proto = tf.make_tensor_proto(tensor, dtype=tf.uint8)
    else:
        signature, name = BYTES_SIGNATURE, BYTES_INPUT
        proto = tf.make_tensor_proto(list(inputs), dtype=tf.string)
    spec = {"name": model, "signature_name": signature}
    if version is not None:
        spec["version"] = version
    try:
        from tensorflow_serving.apis import predict_pb2
    except ImportError:
        return {"model_spec": spec, "inputs": {name: proto}}
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = version
    request.inputs[name].CopyFrom(proto)
    return request


def _request_parts(request: Any) -> tuple[str, dict[str, Any]]:
    if isinstance(request, dict):
        return request["model_spec"]["signature_name"], dict(request["inputs"])
    return request.model_spec.signature_name, dict(request.inputs)


# === In-process stand-in for the server (tests, docs) ===


def predict_in_process(loaded: Any, body: dict[str, Any]) -> dict[str, Any]:
    """Answers a REST body the way TF Serving does, from a `tf.saved_model.load`-ed model.

    Decodes `{"b64": ...}` values, batches the `instances`, calls the signature, and encodes
    `*_bytes` outputs back as `{"b64": ...}`. It lets tests check the request builders without
    a server (TF Serving does not run on every machine).
    """
    import tensorflow as tf

    fn = loaded.signatures[body.get("signature_name", IMAGES_SIGNATURE)]
    ((name, spec),) = fn.structured_input_signature[1].items()
    values = [base64.b64decode(v["b64"]) if isinstance(v, dict) else v for v in body["instances"]]
    outputs = fn(**{name: tf.constant(values, dtype=spec.dtype)})
    ((out_name, out),) = outputs.items()
    if out_name.endswith("_bytes"):
        return {"predictions": [{"b64": base64.b64encode(v).decode("ascii")} for v in out.numpy()]}
    return {"predictions": out.numpy().tolist()}


def grpc_predict_in_process(loaded: Any, request: Any) -> dict[str, np.ndarray]:
    """Answers a `grpc_request` from a loaded SavedModel: output name -> array."""
    import tensorflow as tf

    signature, inputs = _request_parts(request)
    fn = loaded.signatures[signature]
    outputs = fn(**{k: tf.constant(tf.make_ndarray(v)) for k, v in inputs.items()})
    return {k: v.numpy() for k, v in outputs.items()}
