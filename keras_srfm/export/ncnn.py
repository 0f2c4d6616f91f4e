"""Generator -> ncnn `.param` + `.bin` (`srfm convert MODEL --format ncnn`).

For realesrgan-ncnn-vulkan, upscayl (which runs a fork of it) and chaiNNer's ncnn nodes. What
they expect of a custom x4 model, read in their sources:

- realesrgan-ncnn-vulkan (xinntao/Real-ESRGAN-ncnn-vulkan, src/realesrgan.cpp @a243c74,
  src/realesrgan_preproc.comp @e867c89, src/main.cpp @0b57789): the input blob is `data`, the
  output blob `output`; the input is RGB (BGR pixels are swapped first on Windows), 3 x H x W,
  scaled by 1/255 to [0, 1]; the output is multiplied by 255 and clamped. It loads
  `<models dir>/<name>.param` and `<name>.bin` (`-m DIR -n NAME -s SCALE`), pads each tile by
  a fixed 10 pixels (`prepadding`) by mirroring, and takes the tile size from `-t`.
- upscayl (upscayl/upscayl, electron/utils/get-models.ts @48aa080,
  common/check-model-scale.ts @68d3395): a custom-models folder holds only `NAME.param` and
  `NAME.bin` pairs; the model's scale is taken from its name (x2 / 2x, x3 / 3x, else 4), so a
  name without them is run as x4.

The network is written directly from the Keras weights (no ONNX step): every layer of the
generator has an ncnn counterpart, `Bias` (MeanShift: a per-channel bias, exact at borders,
unlike folding it into the head convolution, whose zero padding would then see the mean),
`Convolution`, `ReLU` with a slope (LeakyReLU), `BinaryOp` add, `PixelShuffle` mode 1 (the
depth-to-space order of TensorFlow, DCR), `Split` where a blob feeds two layers, and a final
`Clip` to [0, 1]. pnnx (the converter ncnn recommends) was tried on the ONNX export: its
PyPI wheel declares PyTorch as a dependency and left both DepthToSpace nodes unconverted
("todo DepthToSpace", pnnx 20261020).

Precision: "float32" weights, or "float16" (ncnn's tagged half-precision weight blocks, half the
file; ncnn computes in fp16 on GPUs either way).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from keras_srfm.imaging.atomic import atomic_write

PARAM_MAGIC = 7767517
INPUT_BLOB = "data"
OUTPUT_BLOB = "output"
PRECISIONS = ("float32", "float16")
_FLOAT32_TAG = 0
_FLOAT16_TAG = 0x01306B47


@dataclass
class _Layer:
    kind: str
    name: str
    inputs: list[str]
    outputs: list[str]
    params: dict[int, Any] = field(default_factory=dict)


@dataclass
class _Net:
    """Layers in execution order and the weight bytes of the `.bin`, in the same order."""

    precision: str
    layers: list[_Layer] = field(default_factory=list)
    weights: list[bytes] = field(default_factory=list)

    def tagged(self, array: np.ndarray) -> None:
        """A weight block ncnn reads with its type tag (Convolution's kernel)."""
        if self.precision == "float16":
            data = np.ascontiguousarray(array, np.float16).tobytes()
            data += b"\0" * (-len(data) % 4)  # blocks are 4-byte aligned
            self.weights.append(struct.pack("<I", _FLOAT16_TAG) + data)
        else:
            self.weights.append(
                struct.pack("<I", _FLOAT32_TAG) + np.ascontiguousarray(array, "<f4").tobytes()
            )

    def raw(self, array: np.ndarray) -> None:
        """A float32 block without a tag (biases)."""
        self.weights.append(np.ascontiguousarray(array, "<f4").tobytes())


def convert_to_ncnn(
    model: Any, output: str | os.PathLike, *, precision: str = "float32"
) -> tuple[Path, Path]:
    """Writes a generator as ncnn `NAME.param` and `NAME.bin` (atomically, `.param` last).

    Args:
        model: keras.Model, or a spec `keras_srfm.export.source.load_source_generator` takes.
        output: str or path. The `.param` file; the `.bin` goes beside it.
        precision: str. "float32" or "float16" convolution weights. Defaults to "float32".

    Returns:
        (param path, bin path).
    """
    from keras_srfm.export.source import load_source_generator

    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}. Received: {precision!r}")
    param = Path(output)
    if param.suffix != ".param":
        raise ValueError(f"output must end with .param. Received: output={param}")
    net = build_net(load_source_generator(model), precision)
    param.parent.mkdir(parents=True, exist_ok=True)
    weights = param.with_suffix(".bin")
    atomic_write(weights, b"".join(net.weights))
    atomic_write(param, format_param(net))
    return param, weights


def build_net(model: Any, precision: str = "float32") -> _Net:
    """Maps the generator's layers, in the functional graph's order, to ncnn layers."""
    import keras

    from keras_srfm.models.layers import DepthToSpace, MeanShift

    net = _Net(precision)
    blobs: dict[int, str] = {}  # id(KerasTensor) -> blob name
    for layer in model.layers:
        node = layer._inbound_nodes[0]
        out = node.output_tensors[0]
        if isinstance(layer, keras.layers.InputLayer):
            blobs[id(out)] = INPUT_BLOB
            net.layers.append(_Layer("Input", "input", [], [INPUT_BLOB]))
            continue
        ins = [blobs[id(t)] for t in node.input_tensors]
        name = blobs[id(out)] = layer.name
        if isinstance(layer, MeanShift):
            bias = layer.sign * np.asarray(layer.rgb_mean, np.float32)
            net.layers.append(_Layer("Bias", name, ins, [name], {0: bias.size}))
            net.raw(bias)
        elif isinstance(layer, keras.layers.Conv2D):
            net.layers.append(_Layer("Convolution", name, ins, [name], _conv_params(layer)))
            kernel, bias = (w.numpy() for w in layer.weights)
            net.tagged(kernel.transpose(3, 2, 0, 1))  # HWIO -> OIHW
            net.raw(bias)
        elif isinstance(layer, keras.layers.LeakyReLU):
            net.layers.append(_Layer("ReLU", name, ins, [name], {0: float(layer.negative_slope)}))
        elif isinstance(layer, keras.layers.Add):
            net.layers.append(_Layer("BinaryOp", name, ins, [name], {0: 0}))
        elif isinstance(layer, DepthToSpace):
            params = {0: layer.block_size, 1: 1}  # mode 1: TensorFlow's DCR order
            net.layers.append(_Layer("PixelShuffle", name, ins, [name], params))
        else:
            raise ValueError(
                f"layer {layer.name!r} ({type(layer).__name__}) has no ncnn counterpart here"
            )
    last = net.layers[-1].outputs[0]
    net.layers.append(_Layer("Clip", "clip", [last], [OUTPUT_BLOB], {0: 0.0, 1: 1.0}))
    _insert_splits(net)
    return net


def _conv_params(layer: Any) -> dict[int, Any]:
    kh, kw, cin, cout = layer.kernel.shape
    if (
        layer.padding != "same"
        or tuple(layer.strides) != (1, 1)
        or kh != kw
        or kh % 2 == 0
        or not layer.use_bias
        or layer.activation.__name__ != "linear"
        or len(set(layer.dilation_rate)) != 1
    ):
        raise ValueError(f"{layer.name}: only stride-1 'same' square odd convolutions with bias")
    dilation = layer.dilation_rate[0]
    return {
        0: cout,
        1: kw,
        11: kh,
        2: dilation,
        12: dilation,
        3: 1,
        13: 1,
        4: (kw - 1) // 2 * dilation,
        14: (kh - 1) // 2 * dilation,
        5: 1,
        6: kh * kw * cin * cout,
    }


def _insert_splits(net: _Net) -> None:
    """A blob read by several layers goes through a `Split` (ncnn: one consumer per blob)."""
    readers: dict[str, list[_Layer]] = {}
    for layer in net.layers:
        for blob in layer.inputs:
            readers.setdefault(blob, []).append(layer)
    layers: list[_Layer] = []
    for layer in net.layers:
        layers.append(layer)
        for blob in layer.outputs:
            consumers = readers.get(blob, [])
            if len(consumers) < 2:
                continue
            copies = [f"{blob}_split{i}" for i in range(len(consumers))]
            layers.append(_Layer("Split", f"{blob}_split", [blob], copies))
            for consumer, copy in zip(consumers, copies):
                consumer.inputs = [copy if b == blob else b for b in consumer.inputs]
    net.layers = layers


def format_param(net: _Net) -> str:
    """The `.param` text: magic, layer and blob counts, one line per layer."""
    blob_count = len({b for layer in net.layers for b in layer.outputs})
    lines = [str(PARAM_MAGIC), f"{len(net.layers)} {blob_count}"]
    for layer in net.layers:
        params = " ".join(f"{k}={_param_value(v)}" for k, v in layer.params.items())
        lines.append(
            f"{layer.kind:<16} {layer.name:<24} {len(layer.inputs)} {len(layer.outputs)} "
            + " ".join(layer.inputs + layer.outputs)
            + (f" {params}" if params else "")
        )
    return "\n".join(lines) + "\n"


def _param_value(value: Any) -> str:
    return f"{value:e}" if isinstance(value, float) else str(value)
