"""The `srfm web` server: one page, one ONNX model and the vendored onnxruntime-web, on loopback.

Routes (GET only; anything else is 404):
- `/`: `page.html` with the model's name, licence, scale, tile size and overlap filled in;
- `/model.onnx`: the model (float32 NCHW, as `srfm convert --format onnx` writes it);
- `/vendor/<file>`: `keras_srfm.web.vendor.FILES`;
- `/compare_page.html`: `srfm compare`'s slider page template, which the page fills in.

Every response carries `Cross-Origin-Opener-Policy: same-origin` and
`Cross-Origin-Embedder-Policy: require-corp`, which make the page cross-origin isolated so that
onnxruntime-web may use WebAssembly threads, and a Content-Security-Policy that lets the page
load from this server only (`connect-src 'self'`): nothing reaches the internet.
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from keras_srfm.web.vendor import FILES, INFO_FILE, ORT_WEB_VERSION, VENDOR_DIR, missing_files

PAGE_TEMPLATE = Path(__file__).with_name("page.html")
COMPARE_TEMPLATE = Path(__file__).resolve().parents[1] / "evaluation" / "compare_page.html"
DEFAULT_TILE_SIZE = 192  # LR pixels; WebAssembly memory is smaller than a native process's
CONTENT_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".wasm": "application/wasm",
    ".html": "text/html; charset=utf-8",
    ".onnx": "application/octet-stream",
}
CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline' 'wasm-unsafe-eval'; "
    "worker-src 'self' blob:; connect-src 'self' blob:; img-src 'self' data: blob:; "
    "style-src 'unsafe-inline'; frame-src 'self'"
)
_MARKER = re.compile(r"\$(model_name|model_summary|licence|ort_version|config)\b")


@dataclasses.dataclass(frozen=True)
class WebModel:
    """What the page runs and says about it.

    Attributes:
        onnx_file: Path. A float32 NCHW model from `srfm convert --format onnx`.
        name: str. Shown on the page and in the slider.
        summary: str. One line: what the model is.
        licence: str. The weights' licence, shown on the page.
        scale: int. Upscale factor.
        overlap: int. LR context per tile side (the receptive-field radius).
        tile_size: int. LR tile edge, overlap included.
    """

    onnx_file: Path
    name: str
    summary: str
    licence: str
    scale: int = 4
    overlap: int = 36
    tile_size: int = DEFAULT_TILE_SIZE


def render_page(model: WebModel) -> str:
    """`page.html` with the model filled in (text is HTML-escaped; the config is JSON)."""
    config = {
        "model_name": model.name,
        "scale": model.scale,
        "overlap": model.overlap,
        "tile_size": model.tile_size,
    }
    values = {
        "model_name": html.escape(model.name),
        "model_summary": html.escape(model.summary),
        "licence": html.escape(model.licence),
        "ort_version": html.escape(_ort_version()),
        "config": json.dumps(config).replace("</", "<\\/"),
    }
    return _MARKER.sub(lambda m: values[m.group(1)], PAGE_TEMPLATE.read_text(encoding="utf-8"))


def _ort_version() -> str:
    info = VENDOR_DIR / INFO_FILE
    return json.loads(info.read_text()).get("version", ORT_WEB_VERSION) if info.is_file() else ""


def make_server(model: WebModel, port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """A server bound to `host:port` (port 0: any free one); `serve_forever` runs it.

    Raises:
        FileNotFoundError: onnxruntime-web is not vendored (the message says how to fetch it).
    """
    missing = missing_files()
    if missing:
        raise FileNotFoundError(
            f"onnxruntime-web is not in {VENDOR_DIR} (missing {', '.join(missing)}): "
            "run `python -m keras_srfm.web.vendor` (needs npm) or install a wheel built with it"
        )
    routes: dict[str, tuple[bytes, str]] = {
        "/": (render_page(model).encode(), CONTENT_TYPES[".html"]),
        "/model.onnx": (model.onnx_file.read_bytes(), CONTENT_TYPES[".onnx"]),
        "/compare_page.html": (COMPARE_TEMPLATE.read_bytes(), CONTENT_TYPES[".html"]),
    }
    for name in FILES:
        routes[f"/vendor/{name}"] = (
            (VENDOR_DIR / name).read_bytes(),
            CONTENT_TYPES[Path(name).suffix],
        )

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            path = self.path.split("?", 1)[0]
            if path not in routes:
                self.send_error(404)
                return
            body, content_type = routes[path]
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Cross-Origin-Opener-Policy", "same-origin")
            self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
            self.send_header("Cross-Origin-Resource-Policy", "same-origin")
            self.send_header("Content-Security-Policy", CSP)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # a request log line per tile fetch is noise on a terminal

    return ThreadingHTTPServer((host, port), Handler)
