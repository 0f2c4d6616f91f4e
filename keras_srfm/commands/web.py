"""`srfm web`: serve a page that upscales a dropped image in the browser (onnxruntime-web)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

# The shipped weights come with the package and under its licence (pyproject.toml).
SHIPPED_LICENCE = "Apache-2.0, as keras-srfm (training data: see the model card)"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "web",
        help="serve an upscaler that runs in the browser page (onnxruntime-web)",
        description="Serves, on 127.0.0.1 only, a page that upscales the image you drop on it "
        "inside the browser (onnxruntime-web, WebAssembly): tiles with a progress bar, a "
        "before/after slider, and the x4 PNG to download. The image never leaves the browser "
        "and nothing is fetched from the internet. A model that is not .onnx is converted first.",
    )
    p.add_argument(
        "--model",
        default="default",
        help="a shipped model's name, 'default', a .keras generator, a SavedModel, or an .onnx "
        "file from `srfm convert --format onnx` (float32, NCHW) (default: default)",
    )
    p.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1; 0 picks a free one")
    p.add_argument(
        "--tile-size",
        type=int,
        default=None,
        help="LR tile edge in the page, overlap included (default: 192)",
    )
    p.add_argument(
        "--licence",
        default=None,
        help="the weights' licence shown on the page (default for shipped models: "
        f"{SHIPPED_LICENCE}; else 'not stated')",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from keras_srfm.web.server import DEFAULT_TILE_SIZE, make_server

    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be in 0..65535. Received: {args.port}")
    tile_size = args.tile_size or DEFAULT_TILE_SIZE
    with tempfile.TemporaryDirectory(prefix="srfm_web_") as tmp:
        model = _web_model(args, Path(tmp), tile_size)
        server = make_server(model, args.port)
        host, port = server.server_address[:2]
        print(f"srfm web: serving {model.name} at http://{host}:{port}/ (Ctrl+C stops)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("srfm web: stopped", file=sys.stderr)
        finally:
            server.server_close()
    return 0


def _web_model(args: argparse.Namespace, workdir: Path, tile_size: int):  # -> WebModel
    import numpy as np

    from keras_srfm.export.onnx import convert_to_onnx
    from keras_srfm.inference.presets import get_model, looks_like_name, models_root
    from keras_srfm.inference.upscalers import OnnxUpscaler
    from keras_srfm.web.server import WebModel

    spec = args.model
    onnx_file = Path(spec)
    if onnx_file.suffix == ".onnx":
        if not onnx_file.is_file():
            raise FileNotFoundError(f"model not found: {onnx_file}")
        name, summary = onnx_file.stem, onnx_file.name
    else:
        from keras_srfm.export.source import model_label, source_path

        source = source_path(spec)
        name = model_label(source)
        summary = source.name
        print(f"srfm web: converting {name} to ONNX ...", file=sys.stderr, flush=True)
        onnx_file = convert_to_onnx(source, workdir / f"{name}.onnx", source=name)
    shipped = looks_like_name(name) and (models_root() / name).is_dir()
    if shipped:
        summary = get_model(name).description
    upscaler = OnnxUpscaler(onnx_file, tile_size=0)
    if not upscaler.nchw or upscaler.input_dtype is not np.float32:
        raise ValueError(
            f"{onnx_file}: the page runs float32 NCHW models; convert with "
            "`srfm convert MODEL --format onnx` (the default float32, nchw)"
        )
    overlap = upscaler.default_overlap()
    if tile_size <= 2 * overlap:
        raise ValueError(
            f"--tile-size must exceed twice the model's overlap ({overlap}). Received: {tile_size}"
        )
    return WebModel(
        onnx_file=onnx_file,
        name=name,
        summary=summary,
        licence=args.licence or (SHIPPED_LICENCE if shipped else "not stated"),
        scale=upscaler.scale,
        overlap=overlap,
        tile_size=tile_size,
    )
