"""Generator -> ONNX (`srfm convert MODEL --format onnx`), for ONNX Runtime, chaiNNer, the web.

The graph is the generator between two layout changes and a clip: `input` float RGB on [0, 1]
-> generator -> clip to [0, 1] -> `output`, traced as one `tf.function` and converted by tf2onnx
(opset 17). Height and width are dynamic (`height`, `width`; the output is `4*height` x
`4*width`), and so is the batch.

Layout: NCHW (`1x3xHxW`) by default, what chaiNNer's ONNX upscaler feeds (it transposes its
HWC image to `(1, C, H, W)` and flips BGR to RGB first; backend/src/nodes/impl/onnx/
auto_split.py at chaiNNer-org/chaiNNer@41187e2) and what ONNX's own Conv takes, so the converted
graph has no Transpose at all. `layout="nhwc"` gives `1xHxWx3`, like the Keras and TFLite models.

Precision: "float32", or "float16", where every tensor, the input and output included, is
float16 (half the file). chaiNNer picks float16 input when the model's input is float16
(same file); ONNX Runtime's CPU provider runs such a graph by casting around the
kernels it lacks.

Metadata (`metadata_props`): `scale`, `receptive_radius` (LR pixels; the tile overlap that makes
tiled output equal untiled output), `layout`, `source` (the model it came from).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from keras_srfm.imaging.atomic import atomic_write

PRECISIONS = ("float32", "float16")
LAYOUTS = ("nchw", "nhwc")
OPSET = 17
INPUT_NAME = "input"
OUTPUT_NAME = "output"
# Ops the generator lowers to; float16 conversion and the ncnn check rely on this set.
GENERATOR_OPS = frozenset({"Conv", "Add", "LeakyRelu", "DepthToSpace", "Min", "Max", "Transpose"})


def convert_to_onnx(
    model: Any,
    output: str | os.PathLike,
    *,
    precision: str = "float32",
    layout: str = "nchw",
    source: str | None = None,
) -> Path:
    """Converts a generator to an `.onnx` file, written atomically.

    Args:
        model: keras.Model, or a spec `keras_srfm.export.source.load_source_generator` takes
            (a shipped name, a `.keras` file, a SavedModel written by `srfm export`).
        output: str or path. Target `.onnx` file.
        precision: str. "float32" or "float16" (every tensor float16). Defaults to "float32".
        layout: str. "nchw" (`1x3xHxW`, chaiNNer's) or "nhwc" (`1xHxWx3`). Defaults to "nchw".
        source: str or None. Recorded as the `source` metadata; defaults to the model spec.

    Returns:
        Path of the written file.
    """
    from keras_srfm.export.source import load_source_generator
    from keras_srfm.inference.tiling import receptive_radius
    from keras_srfm.inference.upscalers import _model_scale

    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}. Received: {precision!r}")
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}. Received: {layout!r}")
    output = Path(output)
    if output.suffix != ".onnx":
        raise ValueError(f"output must end with .onnx. Received: output={output}")
    if source is None:
        source = os.fspath(model) if isinstance(model, (str, os.PathLike)) else model.name
    model = load_source_generator(model)
    proto = _convert(model, layout)
    if precision == "float16":
        to_float16(proto)
    _name_dims(proto, layout)
    radius = receptive_radius(model)
    metadata = {
        "scale": str(_model_scale(model)),
        "receptive_radius": "" if radius is None else str(radius),
        "layout": layout,
        "source": str(source),
    }
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=value)
    proto.producer_name = "keras-srfm"
    output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(output, proto.SerializeToString())
    return output


def _convert(model: Any, layout: str) -> Any:
    """tf2onnx on one traced function: [0, 1] in, generator, clip, out."""
    import tensorflow as tf
    import tf2onnx

    nchw = layout == "nchw"
    shape = [None, 3, None, None] if nchw else [None, None, None, 3]
    spec = tf.TensorSpec(shape, tf.float32, name=INPUT_NAME)

    @tf.function(input_signature=[spec])
    def upscale(images: Any) -> Any:
        x = tf.transpose(images, [0, 2, 3, 1]) if nchw else images
        y = tf.clip_by_value(model(x, training=False), 0.0, 1.0)
        return tf.transpose(y, [0, 3, 1, 2]) if nchw else y

    with _quiet_tf2onnx():
        proto, _ = tf2onnx.convert.from_function(
            upscale, input_signature=[spec], opset=OPSET, output_path=None
        )
    graph = proto.graph
    old = graph.output[0].name
    graph.output[0].name = OUTPUT_NAME
    for node in graph.node:
        node.output[:] = [OUTPUT_NAME if name == old else name for name in node.output]
    unexpected = {node.op_type for node in graph.node} - GENERATOR_OPS
    if unexpected:
        raise ValueError(
            f"the generator converted to ONNX ops this exporter does not handle: {sorted(unexpected)}"
        )
    return proto


def to_float16(proto: Any) -> None:
    """Makes every float32 tensor of a generator graph float16 (weights, input, output), in place.

    The generator's ops (`GENERATOR_OPS`) take any float type and have no float attributes that
    depend on it (LeakyRelu's alpha stays a float attribute), so no Cast is needed.
    """
    import numpy as np
    from onnx import TensorProto, numpy_helper

    graph = proto.graph
    for tensor in graph.initializer:
        if tensor.data_type == TensorProto.FLOAT:
            half = numpy_helper.to_array(tensor).astype(np.float16)
            tensor.CopyFrom(numpy_helper.from_array(half, tensor.name))
    if any(node.op_type in ("Constant", "Cast") for node in graph.node):
        raise ValueError("float16 conversion expects constants as initializers and no Cast")
    for value in (*graph.input, *graph.output, *graph.value_info):
        if value.type.tensor_type.elem_type == TensorProto.FLOAT:
            value.type.tensor_type.elem_type = TensorProto.FLOAT16


def _name_dims(proto: Any, layout: str) -> None:
    """Readable dynamic dimensions: batch, height, width (input) and their x4 (output)."""
    spatial = (2, 3) if layout == "nchw" else (1, 2)
    for value, suffix in ((proto.graph.input[0], ""), (proto.graph.output[0], "_x4")):
        dims = value.type.tensor_type.shape.dim
        dims[0].dim_param = "batch"
        dims[spatial[0]].dim_param = f"height{suffix}"
        dims[spatial[1]].dim_param = f"width{suffix}"


def onnx_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The `metadata_props` of an `.onnx` file (no session needed)."""
    import onnx

    model = onnx.load(os.fspath(path), load_external_data=False)
    return {prop.key: prop.value for prop in model.metadata_props}


@contextlib.contextmanager
def _quiet_tf2onnx() -> Iterator[None]:
    """tf2onnx logs every optimizer pass at INFO; a user sees only its errors."""
    logger = logging.getLogger("tf2onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
