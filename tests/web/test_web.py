"""`srfm web`: the page upscales a dropped PNG in Chromium (onnxruntime-web), as `srfm upscale` does.

The server runs as a process (`srfm web --port 0`), Debian's Chromium is driven by Playwright
(the `chromium` fixture of tests/conftest.py), every request that does not go to the server is aborted, and the
page's PNG is compared with `srfm upscale` of the same file through the same ONNX model.
"""

from __future__ import annotations

import base64
import io
import os
import re
import signal
import subprocess
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from keras_srfm.cli import main
from keras_srfm.export.onnx import convert_to_onnx
from keras_srfm.inference.tiling import tile_spans
from keras_srfm.models.generator import build_generator
from keras_srfm.web.server import WebModel, render_page
from keras_srfm.web.vendor import missing_files

pytest.importorskip(
    "onnxruntime", reason="onnxruntime not installed (pip install keras-srfm[onnx])"
)

# The page's pixels against `srfm upscale` (ONNX Runtime 1.32 on the CPU) through the same
# model, measured with Debian's Chromium 150 and onnxruntime-web 1.31.1: at most 1 level apart,
# on 0.002 % of the values (3 of 151,200): WebAssembly and native kernels sum in other orders,
# so a value near a rounding boundary can land on either side. Limit: 1 level on 0.1 %.
MAX_LEVELS = 1
MAX_DIFFERENT_FRACTION = 1e-3


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    keras.utils.set_random_seed(0)
    model = build_generator(num_blocks=2, filters=8, init_scale=0.6)  # outputs span [0, 1]
    return convert_to_onnx(model, tmp_path_factory.mktemp("web") / "tiny.onnx")


def photo_png(folder: Path) -> Path:
    """A 70x45 RGB PNG: sine stripes and noise (odd, non-square; no colour profile)."""
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:45, 0:70]
    planes = [
        127 + 100 * np.sin(xx / 4),
        127 + 100 * np.cos(yy / 5),
        60 + rng.integers(0, 120, (45, 70)),
    ]
    path = folder / "photo.png"
    Image.fromarray(np.stack(planes, -1).clip(0, 255).astype(np.uint8)).save(path)
    return path


def test_page_names_model_and_licence(tiny_onnx: Path) -> None:
    model = WebModel(tiny_onnx, name="tiny<b>", summary="a test", licence="MIT & co", overlap=8)
    page = render_page(model)
    assert (
        "tiny&lt;b&gt;" in page
        and "MIT &amp; co" in page
        and "tiny<b>" not in page.split("<script")[0]
    )
    assert '"overlap": 8' in page and "$model_name" not in page
    assert "http" not in page.replace("http-equiv", "")  # no address outside the server


def test_missing_onnx_file_is_one_line(tmp_path: Path, capsys) -> None:
    assert main(["web", "--model", str(tmp_path / "none.onnx"), "--port", "0"]) == 2
    assert "model not found" in capsys.readouterr().err


@pytest.mark.slow
def test_page_upscales_a_dropped_png_like_srfm_upscale(tiny_onnx: Path, tmp_path: Path, chromium, srfm_argv: list[str]) -> None:
    if missing_files():
        pytest.skip("onnxruntime-web is not vendored (python -m keras_srfm.web.vendor)")
    from playwright.sync_api import sync_playwright

    photo = photo_png(tmp_path)
    assert (
        main(
            [
                "upscale",
                str(photo),
                "-o",
                str(tmp_path / "cli"),
                "--model",
                str(tiny_onnx),
                "--tile-size",
                "32",
            ]
        )
        == 0
    )
    expected = np.asarray(Image.open(tmp_path / "cli" / "photo_x4.png").convert("RGB"))

    proc = subprocess.Popen(
        [*srfm_argv, "web", "--model", str(tiny_onnx), "--port", "0", "--tile-size", "32"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        match = re.search(r"at (http://127\.0\.0\.1:\d+/)", proc.stdout.readline())
        assert match, proc.stderr.read()
        url = match.group(1)
        outside: list[str] = []
        with sync_playwright() as p:
            browser = chromium(p)
            context = browser.new_context()

            def only_server(route) -> None:
                request_url = route.request.url
                if request_url.startswith((url, "data:", "blob:", "about:")):
                    route.continue_()
                else:
                    outside.append(request_url)
                    route.abort()

            context.route("**/*", only_server)
            page = context.new_page()
            page.goto(url)
            assert "tiny" in page.locator("#model-name").inner_text()
            assert page.locator("#licence").inner_text() == "not stated"
            page.locator("#file").set_input_files(str(photo))
            page.wait_for_function(
                "() => window.srfmWeb.done || window.srfmWeb.error", timeout=120_000
            )
            state = page.evaluate("() => window.srfmWeb")
            assert state["error"] is None, state
            # 45 x 70 in 32-pixel tiles, 8 of overlap: the page cuts them as keras_srfm.inference.tiling does
            assert state["tiles"] == len(tile_spans(45, 32, 8)) * len(tile_spans(70, 32, 8)) == 8
            assert page.locator("#download").get_attribute("download") == "photo_x4.png"
            png = page.evaluate(
                """async () => {
                    const blob = await (await fetch(document.getElementById("download").href)).blob();
                    const bytes = new Uint8Array(await blob.arrayBuffer());
                    let text = ""; for (const b of bytes) text += String.fromCharCode(b);
                    return btoa(text);
                }"""
            )
            frame = page.frame_locator("iframe")
            frame.locator(".panel").first.wait_for()
            assert frame.locator(".tag.before").inner_text() == "input (browser resize)"
            browser.close()
        assert not outside, outside
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()
    got = np.asarray(Image.open(io.BytesIO(base64.b64decode(png))).convert("RGB"))
    assert got.shape == expected.shape == (180, 280, 3)
    diff = np.abs(got.astype(int) - expected)
    print(f"page vs srfm upscale: max {diff.max()}, differing values {np.mean(diff > 0):.5f}")
    assert diff.max() <= MAX_LEVELS
    assert np.mean(diff > 0) <= MAX_DIFFERENT_FRACTION
