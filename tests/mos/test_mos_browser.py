"""End to end in a real browser: headless Chromium, driven by Playwright, rates a small study.

A scripted rater enters an id, goes through calibration, rates 3 synthetic images x 4 versions
(NN, bicubic, a fake model, HR) pressing keys for some and clicking for others, closes the tab
half way and resumes; the report must hold exactly the scores it gave. With SRFM_MOS_DOCS_DIR
set, the rating page is saved there as mos_rating.png (the README screenshot).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from keras_srfm.imaging.imresize import nearest
from keras_srfm.mos.prepare import prepare_study
from keras_srfm.mos.report import write_report
from keras_srfm.mos.study import load_study

pytestmark = pytest.mark.slow  # a server process and a browser

IMAGES_LOADED = "() => [...document.images].every(i => i.complete && i.naturalWidth > 0)"
METHODS = ("NN", "bicubic", "M_fake", "HR")
WIDTH, HEIGHT = 320, 208  # HR size of the synthetic scenes


def draw_scene(index: int, width: int = WIDTH, height: int = HEIGHT) -> Image.Image:
    """A synthetic outdoor-like scene: sky gradient, sun, hills, a fence of thin posts."""
    y = np.linspace(0, 1, height)[:, None, None]
    sky = (np.array([70, 130, 200]) * (1 - y) + np.array([200, 220, 240]) * y).astype(np.uint8)
    image = Image.fromarray(np.broadcast_to(sky, (height, width, 3)).copy())
    draw = ImageDraw.Draw(image)
    w, h = width / 100, height / 100  # coordinates in percent of the image
    sun = (10 + 25 * index) % 80
    draw.ellipse((sun * w, 8 * h, (sun + 14) * w, 8 * h + 14 * w), fill=(250, 210, 60))
    hills = [(0, 100), (0, 60), (35, 45 + 4 * index), (70, 62), (100, 50), (100, 100)]
    draw.polygon([(a * w, b * h) for a, b in hills], fill=(60, 130 + 20 * index, 60))
    for x in range(3, width, 5):  # fine detail that NN and bicubic render badly
        draw.line((x, 72 * h, x, 94 * h), fill=(110, 80, 50), width=2)
    draw.line((0, 76 * h, width, 76 * h), fill=(90, 60, 40), width=2)
    draw.text((4 * w, 4 * h), f"scene {index}", fill=(20, 20, 60))
    return image


def fake_model(lr: np.ndarray) -> np.ndarray:
    """Stand-in 'model': NN x4 with a slight warm tint."""
    out = nearest(lr, 4).astype(np.int16) + np.array([12, 0, -12])
    return np.clip(out, 0, 255).astype(np.uint8)


def planned_score(method: str, image: str) -> int:
    """The script's score for an item: method-dependent, varied per image."""
    base = {"NN": 1, "bicubic": 2, "M_fake": 3, "HR": 5}[method]
    return base if method in ("NN", "HR") else base + int(image[-1]) % 2


def start_server(study: Path, srfm_argv: list[str]) -> tuple[subprocess.Popen, str]:
    with open(study.parent / "server.log", "a") as log:  # the request log; a pipe could fill up
        proc = subprocess.Popen(
            [*srfm_argv, "mos", "serve", str(study), "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    match = re.search(r"at (http://\S+/)", proc.stdout.readline())
    if not match:
        proc.kill()
        pytest.fail(f"server did not start: {(study.parent / 'server.log').read_text()}")
    return proc, match.group(1)


def test_browser_rates_a_study_end_to_end(tmp_path: Path, chromium, srfm_argv: list[str]) -> None:
    from playwright.sync_api import expect, sync_playwright

    began = time.monotonic()
    hr_dir = tmp_path / "hr"
    hr_dir.mkdir()
    for i in range(5):
        draw_scene(i).save(hr_dir / f"scene_{i}.png")
    prepare_study(
        hr_dir,
        tmp_path / "study",
        models={"M_fake": fake_model},
        num_images=3,
        num_calibration=2,
        seed=0,
        progress=False,
    )
    study = load_study(tmp_path / "study")
    items = study.items_by_token()
    docs_dir = os.environ.get("SRFM_MOS_DOCS_DIR")

    proc, base = start_server(tmp_path / "study", srfm_argv)
    urls: list[str] = []
    given: dict[str, int] = {}
    try:
        with sync_playwright() as p:
            browser = chromium(p)
            context = browser.new_context(viewport={"width": 720, "height": 380})
            context.on("request", lambda request: urls.append(request.url))
            page = context.new_page()
            page.goto(base)
            page.fill("#rater_id", "browser-rater")
            page.click("#start")
            for number in (1, 2):
                expect(page.locator("h1")).to_have_text(f"Calibration {number} of 2")
                page.wait_for_function(IMAGES_LOADED)
                assert (
                    page.eval_on_selector_all("img", "els => els.map(e => e.naturalWidth)")
                    == [WIDTH] * 2
                )
                page.click("#next")

            for position in range(12):
                if position == 6:  # close the tab; a new one resumes at the same image
                    page.close()
                    page = context.new_page()
                    page.goto(base)
                expect(page.locator("#progress-text")).to_have_text(f"Image {position + 1} of 12")
                html = page.content()
                for method in METHODS:  # blind: no method name in the page
                    assert not re.search(rf"\b{method}\b", html), method
                src = page.get_attribute("#item", "src")
                token = re.fullmatch(r"/img/([0-9a-f]{24})", src).group(1)
                page.wait_for_function(IMAGES_LOADED)
                assert page.eval_on_selector("#item", "e => e.naturalWidth") == WIDTH
                if position == 4 and docs_dir:
                    page.screenshot(path=str(Path(docs_dir) / "mos_rating.png"))
                item = items[token]
                score = planned_score(item.method, item.image)
                with page.expect_navigation():
                    if position % 2 == 0:
                        page.keyboard.press(str(score))
                    else:
                        page.click(f"#score-{score}")
                given[token] = score
            expect(page.locator("#done")).to_contain_text("You rated all 12 images")
            browser.close()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        proc.stdout.close()

    assert sorted(given) == sorted(items)  # every (image, version) exactly once
    for url in urls:
        for method in METHODS:
            assert method not in url, url
    report = write_report(tmp_path / "study")
    assert {r["token"]: r["score"] for r in report.ratings} == given
    assert [r["position"] for r in report.ratings] == list(range(12))
    for s in report.scores:
        expected = [v for t, v in given.items() if items[t].method == s.method]
        assert s.n == 3 and s.mos == pytest.approx(np.mean(expected))
    assert report.raters[0].low_is_min == 1.0 and report.raters[0].high_is_max == 1.0
    elapsed = time.monotonic() - began
    print(f"browser end-to-end test took {elapsed:.1f} s")
    assert elapsed < 120
