"""Generator -> TFLite / LiteRT flatbuffer (`srfm convert`).

Conversion goes through Keras 3's LiteRT exporter (`model.export(format="litert")`, i.e.
ExportArchive -> SavedModel -> `TFLiteConverter`) restricted to builtin ops: every layer of the
generator has a builtin kernel (CONV_2D, LEAKY_RELU, ADD, DEPTH_TO_SPACE), so no Flex /
SELECT_TF_OPS delegate is needed on device.

Input: float32 RGB on [0, 1], `(1, H, W, 3)`; output: float32 `(1, 4H, 4W, 3)`, not clipped.
- `tile=None`: dynamic H, W (resize the input tensor at run time).
- `tile=N`: fixed N x N input, what mobile GPU / NPU delegates want; tile on the host
  (`srfm upscale --model x.tflite` does).

Quantisation (`quantize`):
- "float32": no change.
- "float16": weights stored as float16 (half the size), dequantised at load on CPU.
- "int8": dynamic-range quantisation, weights int8 per channel, activations float.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from keras_srfm.imaging.atomic import atomic_path

QUANTIZATIONS = ("float32", "float16", "int8")


def convert_to_tflite(
    model: Any,
    output: str | os.PathLike,
    *,
    quantize: str = "float32",
    tile: int | None = None,
) -> Path:
    """Converts a generator to a `.tflite` file (builtin ops only), written atomically.

    Args:
        model: keras.Model or path. The generator, or a `.keras` file holding it.
        output: str or path. Target `.tflite` file.
        quantize: str. "float32", "float16" or "int8" (dynamic range). Defaults to "float32".
        tile: int or None. Fixed LR input edge; None gives a dynamic-shape model.

    Returns:
        Path of the written file.
    """
    import keras
    import tensorflow as tf

    from keras_srfm.models.generator import load_keras_generator

    if quantize not in QUANTIZATIONS:
        raise ValueError(
            f"quantize must be one of {QUANTIZATIONS}. Received: quantize={quantize!r}"
        )
    if tile is not None and tile < 1:
        raise ValueError(f"tile must be a positive integer or None. Received: tile={tile}")
    output = Path(output)
    if output.suffix != ".tflite":
        raise ValueError(f"output must end with .tflite. Received: output={output}")
    if isinstance(model, (str, os.PathLike)):
        model = load_keras_generator(model)

    options: dict[str, Any] = {"target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}}
    if quantize != "float32":
        options["optimizations"] = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        options["target_spec"]["supported_types"] = [tf.float16]
    signature = [keras.InputSpec(shape=(1, tile, tile, 3), dtype="float32")]

    output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(output) as tmp, _quiet():
        model.export(str(tmp), format="litert", input_signature=signature, verbose=False, **options)
    return output


@contextlib.contextmanager
def _quiet() -> Any:
    """Silences the converter's absl chatter (it writes to fd 2 from C++)."""
    import absl.logging

    level = absl.logging.get_verbosity()
    absl.logging.set_verbosity(absl.logging.ERROR)
    try:
        yield
    finally:
        absl.logging.set_verbosity(level)


# === Inspection (flatbuffer parsing; no interpreter needed) ===


def _read_model(path: str | os.PathLike) -> Any:
    from ai_edge_litert import schema_py_generated as schema

    return schema.ModelT.InitFromPackedBuf(Path(path).read_bytes(), 0)


def _op_name(model: Any, op: Any) -> str:
    from ai_edge_litert import schema_py_generated as schema

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    code = model.operatorCodes[op.opcodeIndex]
    builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
    if builtin == schema.BuiltinOperator.CUSTOM:
        custom = code.customCode.decode() if isinstance(code.customCode, bytes) else code.customCode
        return f"CUSTOM:{custom}"
    return names.get(builtin, f"UNKNOWN_{builtin}")


def tflite_ops(path: str | os.PathLike) -> list[str]:
    """Operator names of the main graph in execution order, e.g. ["CONV_2D", "ADD", ...].

    Flex ops (SELECT_TF_OPS) appear as "CUSTOM:Flex<Op>".
    """
    model = _read_model(path)
    return [_op_name(model, op) for op in model.subgraphs[0].operators]


def tflite_receptive_radius(path: str | os.PathLike) -> int | None:
    """LR-pixel receptive-field radius of a converted generator (see tiling.receptive_radius).

    Returns:
        int, or None if an op of unknown spatial extent is found.
    """
    import math

    from ai_edge_litert import schema_py_generated as schema

    model = _read_model(path)
    graph = model.subgraphs[0]
    pointwise = {
        "ADD",
        "SUB",
        "MUL",
        "LEAKY_RELU",
        "RELU",
        "PRELU",
        "DEQUANTIZE",
        "QUANTIZE",
        "CAST",
    }
    radius, factor = 0.0, 1
    for op in graph.operators:
        name = _op_name(model, op)
        if name == "CONV_2D":
            opts = op.builtinOptions
            if opts.padding != schema.Padding.SAME or opts.strideH != 1 or opts.strideW != 1:
                return None
            _, kh, kw, _ = graph.tensors[op.inputs[1]].shape
            radius += (
                max((kh - 1) // 2 * opts.dilationHFactor, (kw - 1) // 2 * opts.dilationWFactor)
                / factor
            )
        elif name == "DEPTH_TO_SPACE":
            factor *= op.builtinOptions.blockSize
        elif name not in pointwise:
            return None
    return math.ceil(radius - 1e-9)
