"""`srfm compare --lr`: the self-contained slider page, built and driven in real Chromium.

The page is made by the real command from a synthetic photo and two models: a tiny random
generator (its output is a near-constant grey, far from bicubic's colours) and `nearest`.
Headless Chromium (Playwright, the `chromium` fixture of tests/conftest.py) opens the file with the network
refused, drags the divider and checks the screenshot pixels against the arrays, then zooms one
panel and checks that every panel follows.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from keras_srfm import cli
from keras_srfm.evaluation import compare
from keras_srfm.imaging.imresize import imresize
from keras_srfm.inference.upscalers import load_upscaler

LR_W, LR_H = 48, 32


def photo() -> np.ndarray:
    """A synthetic LR 'photo': saturated colour blocks (bicubic keeps them, the tiny model greys)."""
    image = np.zeros((LR_H, LR_W, 3), dtype=np.uint8)
    image[:, : LR_W // 2] = (220, 30, 30)
    image[:, LR_W // 2 :] = (30, 40, 210)
    image[LR_H // 2 :, :, 1] = 200
    return image


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from keras_srfm.models.generator import build_generator

    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    build_generator(num_blocks=2, filters=8).save(path)
    return path


@pytest.fixture(scope="module")
def photo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("photo") / "photo.png"
    Image.fromarray(photo()).save(path)
    return path


# === Page content (no browser) ===


def test_page_is_self_contained_and_escapes_names() -> None:
    lr = photo()
    bicubic = imresize(lr, scale=4)
    results = [compare.PageResult("</script><b>x", bicubic[::-1].copy(), 0.5)]
    page = compare.slider_page("a<b>.png", lr, bicubic, results)
    assert "a&lt;b&gt;.png" in page and "</script><b>" not in page
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", page)  # nothing to fetch
    assert "img-src data:" in page  # the CSP forbids any other image source
    with pytest.raises(ValueError, match="like bicubic"):
        compare.slider_page("x", lr, bicubic, [compare.PageResult("m", lr, 0.1)])


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--output", "page.png"], "must end in .html"),
        (["--output", "nowhere/page.html"], "output folder does not exist"),
        (["--zoom", "64"], "--zoom applies to --image"),
        (["--box", "40,0,16,16"], "inside the 48x32 image"),
        (["--lr", "missing.png"], "image not found"),
        (["--models", "m=missing.keras"], "model not found"),
    ],
)
def test_page_errors_are_one_line(
    extra: list[str],
    message: str,
    photo_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    monkeypatch.chdir(tmp_path)
    options = {"--lr": str(photo_file), "--models": "nearest", "--output": "page.html"}
    options.update(dict(zip(extra[::2], extra[1::2])))
    argv = ["compare"] + [part for item in options.items() for part in item]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("srfm compare: error:") and message in err[0], err
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_html_output_needs_lr(photo_file: Path, tmp_path: Path, capsys) -> None:
    argv = ["compare", "--image", str(photo_file), "--models", "nearest"]
    assert cli.main([*argv, "-o", str(tmp_path / "page.html")]) == 2
    assert "use --lr" in capsys.readouterr().err


# === In Chromium ===


def pixel(screenshot: bytes, x: int, y: int) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(screenshot)).convert("RGB"))[y, x].astype(int)


@pytest.mark.slow
def test_slider_page_in_chromium(tiny_model: Path, photo_file: Path, tmp_path: Path, chromium) -> None:
    from playwright.sync_api import sync_playwright

    page_file = tmp_path / "page.html"
    argv = ["compare", "--lr", str(photo_file), "--models", f"tiny={tiny_model}", "nearest"]
    assert cli.main([*argv, "-o", str(page_file)]) == 0
    lr = photo()
    bicubic = imresize(lr, scale=4)
    model = load_upscaler(tiny_model)(lr)

    # Probe pixels: left and right of centre, in the middle of colour blocks (no edges nearby).
    probes = [(40, 24), (150, 100)]
    for x, y in probes:  # the test needs the two images to differ clearly there
        assert np.abs(bicubic[y, x].astype(int) - model[y, x]).max() > 60

    requests: list[str] = []
    with sync_playwright() as p:
        browser = chromium(p)
        context = browser.new_context(viewport={"width": 900, "height": 700})
        uri = page_file.as_uri()
        # No network at all: only the page file itself may load.
        context.route(
            "**/*", lambda route: route.continue_() if route.request.url == uri else route.abort()
        )
        context.on("request", lambda request: requests.append(request.url))
        page = context.new_page()
        page.goto(uri)
        page.wait_for_function(
            "() => [...document.images].every(i => i.complete && i.naturalWidth > 0)"
        )
        assert page.locator(".panel").count() == 2
        view = page.evaluate("() => window.srfmCompare.view")
        assert view["s"] == 1  # 192x128 fits: pixels 1:1
        tx, ty = view["tx"], view["ty"]
        box = page.locator(".view").first
        bounds = box.bounding_box()

        def shot() -> bytes:
            return box.screenshot()

        # At 50 %, left of the divider is bicubic, right of it the model. Pixels compare exactly:
        # at 1:1 on whole-pixel offsets Chromium draws the untagged PNGs unchanged (measured with
        # Debian's Chromium 156, headless, device scale factor 1).
        first = shot()
        left, right = probes
        np.testing.assert_array_equal(
            pixel(first, tx + left[0], ty + left[1]), bicubic[left[1], left[0]]
        )
        np.testing.assert_array_equal(
            pixel(first, tx + right[0], ty + right[1]), model[right[1], right[0]]
        )

        # Drag the divider to the left edge: the probe on the left now shows the model.
        divider = page.locator(".divider").first.bounding_box()
        page.mouse.move(divider["x"] + divider["width"] / 2, bounds["y"] + 20)
        page.mouse.down()
        page.mouse.move(bounds["x"] + 2, bounds["y"] + 20, steps=8)
        page.mouse.up()
        moved = shot()
        np.testing.assert_array_equal(
            pixel(moved, tx + left[0], ty + left[1]), model[left[1], left[0]]
        )
        # And the keyboard on the range input moves it to the right end: all bicubic.
        page.locator(".slider").first.focus()
        page.keyboard.press("End")
        end = shot()
        np.testing.assert_array_equal(
            pixel(end, tx + right[0], ty + right[1]), bicubic[right[1], right[0]]
        )
        assert page.locator(".slider").nth(1).input_value() == "50"  # sliders are per panel

        # Zoom on the first panel (wheel at a point): every panel shows the same view.
        page.mouse.move(bounds["x"] + tx + left[0], bounds["y"] + ty + left[1])
        page.mouse.wheel(0, -600)
        page.wait_for_function("() => window.srfmCompare.view.s > 2")
        transforms = page.eval_on_selector_all(".stage", "els => els.map(e => e.style.transform)")
        assert len(transforms) == 4 and len(set(transforms)) == 1
        zoomed = page.evaluate("() => window.srfmCompare.view")
        # The point under the cursor stays put (whole-pixel rounding of the offset).
        assert abs(zoomed["tx"] + zoomed["s"] * left[0] - (tx + left[0])) <= 1
        # Pan by dragging the second panel: the first follows.
        second = page.locator(".view").nth(1).bounding_box()
        page.mouse.move(second["x"] + 100, second["y"] + 100)
        page.mouse.down()
        page.mouse.move(second["x"] + 60, second["y"] + 70, steps=4)
        page.mouse.up()
        panned = page.evaluate("() => window.srfmCompare.view")
        assert (panned["tx"], panned["ty"]) == (zoomed["tx"] - 40, zoomed["ty"] - 30)
        transforms = page.eval_on_selector_all(".stage", "els => els.map(e => e.style.transform)")
        assert len(set(transforms)) == 1
        browser.close()
    assert [url for url in requests if not url.startswith("data:")] == [uri], requests


