"""Qualitative comparisons in the style of Figs. 4 and 5 of the paper (Sec. V-D).

A figure shows the whole HR image with the zoom box drawn on it, then the same box cropped
from the bicubic baseline, from each model and from HR, enlarged with nearest neighbour (so
pixels stay visible) and labelled with the name and PSNR / SSIM (Y, Table I protocol). The LR
input is made from the HR image with MATLAB bicubic (`keras_srfm.evaluation.protocol.degrade`).

Figures are drawn with Pillow only; the small helpers here (`labelled`, `hstack`, `grid`) also
lay out `srfm demo`.

Without an HR image (`srfm compare --lr photo.jpg`), `slider_page` writes one self-contained
HTML page instead: per model, a before/after slider between bicubic and the model's output,
with zoom and pan shared by every panel (images embedded as data URIs; nothing is fetched).

Example:
>>> hr = evaluation.read_hr("comic.png").hr
>>> box = auto_box(hr)
>>> upscalers = [("bicubic", load_upscaler("bicubic")), ("M_pcsva", load_upscaler("g.keras"))]
>>> panels = compare_models(hr, upscalers, box)
>>> comparison_figure(hr_for_figure(hr), panels, box).save("fig.png")
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import html
import io
import json
import os
import re
import string
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from keras_srfm.evaluation.protocol import SCALE, degrade, mod_crop
from keras_srfm.metrics.fidelity import psnr, rgb_to_y, ssim

BOX_COLOUR = (230, 20, 20)
BACKGROUND = (255, 255, 255)
TEXT_COLOUR = (0, 0, 0)
MIN_BOX = 16  # SSIM's 11x11 window needs some room; smaller crops say little anyway
OUTPUT_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
PAGE_EXTENSIONS = (".html", ".htm")
# LR pixels a slider page accepts: each panel embeds a 16x larger PNG (1e6 LR pixels -> 16 MP,
# tens of MB per model), which is about what a browser tab handles smoothly. --box crops more.
MAX_PAGE_LR_PIXELS = 1_000_000
PAGE_TEMPLATE = Path(__file__).with_name("compare_page.html")


# === Drawing helpers ===


@functools.lru_cache(maxsize=16)
def font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's built-in font at `size` px (no font file needed; Pillow >= 10.1)."""
    return ImageFont.load_default(size=max(size, 6))


def _text_size(text: str, size: int) -> tuple[int, int]:
    left, top, right, bottom = font(size).getbbox(text)
    return right - left, bottom - top


def labelled(
    image: Image.Image, title: str, caption: str | None = None, font_size: int = 16
) -> Image.Image:
    """Puts `title` above and `caption` (e.g. PSNR / SSIM) below an image, centred.

    Args:
        image: PIL image (RGB).
        title: str. One line above the image.
        caption: str or None. One line below the image.
        font_size: int. Text height in pixels. Defaults to 16.

    Returns:
        PIL RGB image, as wide as the widest of image and texts plus a small margin.
    """
    pad = max(2, font_size // 3)
    line = int(font_size * 1.3)
    texts = [title] + ([caption] if caption else [])
    width = max([image.width] + [_text_size(t, font_size)[0] for t in texts]) + 2 * pad
    height = image.height + line * len(texts) + 2 * pad
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    draw.text(
        (width // 2, pad + line // 2), title, fill=TEXT_COLOUR, font=font(font_size), anchor="mm"
    )
    top = pad + line
    canvas.paste(image.convert("RGB"), ((width - image.width) // 2, top))
    if caption:
        y = top + image.height + line // 2
        draw.text((width // 2, y), caption, fill=TEXT_COLOUR, font=font(font_size), anchor="mm")
    return canvas


def hstack(images: Sequence[Image.Image], gap: int = 8) -> Image.Image:
    """Places images left to right, top-aligned, on a white background."""
    width = sum(im.width for im in images) + gap * (len(images) + 1)
    height = max(im.height for im in images) + 2 * gap
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    x = gap
    for im in images:
        canvas.paste(im, (x, gap))
        x += im.width + gap
    return canvas


def grid(images: Sequence[Image.Image], columns: int, gap: int = 8) -> Image.Image:
    """Places images row by row, `columns` per row, in equal cells."""
    cell_w = max(im.width for im in images)
    cell_h = max(im.height for im in images)
    rows = -(-len(images) // columns)
    canvas = Image.new(
        "RGB",
        (columns * cell_w + (columns + 1) * gap, rows * cell_h + (rows + 1) * gap),
        BACKGROUND,
    )
    for i, im in enumerate(images):
        row, col = divmod(i, columns)
        x = gap + col * (cell_w + gap) + (cell_w - im.width) // 2
        canvas.paste(im, (x, gap + row * (cell_h + gap)))
    return canvas


def metric_caption(scores: dict[str, float] | None) -> str:
    """'PSNR 25.31 dB / SSIM 0.7123', or 'reference' for the HR panel."""
    if scores is None:
        return "reference"
    return f"PSNR {scores['psnr']:.2f} dB / SSIM {scores['ssim']:.4f}"


def check_output_path(path: str | os.PathLike) -> Path:
    """Fails early (before any work) on an output that cannot be written as an image."""
    path = Path(path)
    if path.suffix.lower() not in OUTPUT_EXTENSIONS:
        raise ValueError(
            f"output must end in one of {', '.join(OUTPUT_EXTENSIONS)}. Received: {path}"
        )
    if not path.parent.is_dir():
        raise FileNotFoundError(f"output folder does not exist: {path.parent}")
    if path.is_dir():
        raise ValueError(f"output is a folder, not a file. Received: {path}")
    return path


# === Box ===


class Box(NamedTuple):
    """A zoom region in HR pixels: left, top, width, height."""

    x: int
    y: int
    w: int
    h: int

    def slice(self, image: np.ndarray) -> np.ndarray:
        return image[self.y : self.y + self.h, self.x : self.x + self.w]

    def __str__(self) -> str:
        return f"{self.x},{self.y},{self.w},{self.h}"


def parse_box(text: str) -> Box:
    """Parses 'x,y,w,h' (HR pixels, non-negative integers)."""
    if not re.fullmatch(r"\s*\d+\s*,\s*\d+\s*,\s*\d+\s*,\s*\d+\s*", text or ""):
        raise ValueError(f"--box must be x,y,w,h in pixels (integers). Received: {text!r}")
    return Box(*(int(v) for v in text.split(",")))


def check_box(box: Box, shape: tuple[int, ...]) -> Box:
    """Checks that a box lies inside an image of `shape` and is at least `MIN_BOX` wide/high."""
    h, w = shape[:2]
    if box.w < MIN_BOX or box.h < MIN_BOX:
        raise ValueError(f"--box must be at least {MIN_BOX}x{MIN_BOX} pixels. Received: {box}")
    if box.x + box.w > w or box.y + box.h > h:
        raise ValueError(f"--box must lie inside the (mod-cropped) {w}x{h} image. Received: {box}")
    return box


def auto_box(hr: np.ndarray, size: int | None = None, border: int = SCALE) -> Box:
    """The square window with the most detail: largest mean squared gradient of Y.

    Plain local variance favours one strong edge between flat areas; gradient energy favours
    fine texture and edges, where super-resolution methods differ (Figs. 4-5). Window sums use
    an integral image, so every position is scored without a loop over pixels.

    Args:
        hr: np.ndarray uint8 (H, W, 3) or (H, W).
        size: int or None. Window side in HR pixels; None = min(H, W) / 4, clamped to [16, 128].
        border: int. Pixels left out at each image border (the shaved metric border).

    Returns:
        Box inside the image (the first best window in raster order on ties).
    """
    y = rgb_to_y(np.asarray(hr)).astype(np.float64)
    h, w = y.shape
    if size is None:
        size = int(np.clip(min(h, w) // 4, MIN_BOX, 128))
    size = min(size, h - 2 * border, w - 2 * border)
    if size < MIN_BOX:
        raise ValueError(f"image too small for a {MIN_BOX}x{MIN_BOX} zoom box. Received: {w}x{h}")
    energy = np.zeros_like(y)
    energy[:, :-1] += np.diff(y, axis=1) ** 2
    energy[:-1, :] += np.diff(y, axis=0) ** 2
    integral = np.pad(energy.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    sums = (
        integral[size:, size:]
        - integral[:-size, size:]
        - integral[size:, :-size]
        + integral[:-size, :-size]
    )  # sums[i, j] = energy of the window with top-left (i, j)
    valid = sums[border : h - size - border + 1, border : w - size - border + 1]
    i, j = np.unravel_index(int(np.argmax(valid)), valid.shape)
    return Box(int(j) + border, int(i) + border, size, size)


# === Models ===


def parse_model_specs(specs: Sequence[str]) -> list[tuple[str, str]]:
    """Parses `NAME=SPEC` items (a bare SPEC is named after its file stem).

    Raises:
        ValueError: an empty name or spec, or a name used twice (`bicubic` and `HR` are taken).
    """
    parsed: list[tuple[str, str]] = []
    taken = {"bicubic", "hr"}
    for item in specs:
        name, sep, spec = item.partition("=")
        if not sep:
            name, spec = Path(item.rstrip("/")).stem or item, item
        name, spec = name.strip(), spec.strip()
        if not name or not spec:
            raise ValueError(f"--models items must be NAME=SPEC. Received: {item!r}")
        if name.lower() in taken:
            raise ValueError(
                f"model name {name!r} is used twice (bicubic and HR are always shown). "
                f"Received: {item!r}"
            )
        taken.add(name.lower())
        parsed.append((name, spec))
    return parsed


def load_model(spec: str, *, tile_size: int | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """An upscaler for a model argument: a shipped name or a path (`load_upscaler` resolves it).

    Args:
        spec: str. Model name or path.
        tile_size: int or None. LR tile edge (None: the default; 0: no tiling).

    Returns:
        Upscaler: callable uint8 (H, W, 3) -> uint8 (4H, 4W, 3).
    """
    from keras_srfm.inference.upscalers import load_upscaler

    return load_upscaler(spec, tile_size=tile_size)


# === Comparison ===


@dataclasses.dataclass
class Panel:
    """One zoomed crop of the figure.

    Attributes:
        name: str. Label above the crop.
        crop: np.ndarray uint8 (h, w, 3). The box cut from the full-size image.
        scores: dict with `psnr` and `ssim`, or None for the HR reference.
    """

    name: str
    crop: np.ndarray
    scores: dict[str, float] | None


def _scores(reference: np.ndarray, test: np.ndarray, shave: int) -> dict[str, float]:
    return {"psnr": psnr(reference, test, shave=shave), "ssim": ssim(reference, test, shave=shave)}


def compare_models(
    hr: np.ndarray,
    upscalers: Sequence[tuple[str, Callable[[np.ndarray], np.ndarray]]],
    box: Box,
    *,
    gray: bool = False,
    metrics: str = "image",
    on_model: Callable[[str], None] | None = None,
) -> list[Panel]:
    """Super-resolves the MATLAB-bicubic LR of `hr` with each upscaler and crops `box`.

    Args:
        hr: np.ndarray uint8 (H, W, 3). Mod-cropped to a multiple of 4 first.
        upscalers: (name, callable uint8 LR -> uint8 x4) pairs, bicubic included by the caller.
        box: Box in HR pixels (inside the mod-cropped image).
        gray: bool. The source file was grayscale (its gray values are its Y).
        metrics: str. "image": PSNR / SSIM of the whole image (Table I protocol, shave 4);
            "crop": of the box alone (no shave). Defaults to "image".
        on_model: callable or None. Called with each name before it runs (progress).

    Returns:
        list of Panel: one per upscaler, then "HR".
    """
    if metrics not in ("image", "crop"):
        raise ValueError(f"metrics must be 'image' or 'crop'. Received: metrics={metrics!r}")
    hr, lr = degrade(hr)
    check_box(box, hr.shape)
    reference = hr[..., 0] if gray else hr
    panels = []
    for name, upscaler in upscalers:
        if on_model is not None:
            on_model(name)
        sr = np.asarray(upscaler(lr))
        if sr.shape != hr.shape or sr.dtype != np.uint8:
            raise ValueError(
                f"{name}: the model must return uint8 {hr.shape}. Received: {sr.dtype} {sr.shape}"
            )
        if metrics == "image":
            scores = _scores(reference, sr, SCALE)
        else:
            scores = _scores(box.slice(reference), box.slice(sr), 0)
        panels.append(Panel(name, box.slice(sr).copy(), scores))
    panels.append(Panel("HR", box.slice(hr).copy(), None))
    return panels


def comparison_figure(
    hr: np.ndarray, panels: Sequence[Panel], box: Box, *, zoom: int = 192, title: str = "HR"
) -> Image.Image:
    """Fig. 4/5 layout: the full HR image with the box, then the labelled zoomed crops.

    Args:
        hr: np.ndarray uint8 (H, W, 3). The (mod-cropped) HR image.
        panels: Panels from `compare_models`.
        box: Box drawn on the full image.
        zoom: int. Longer side of each enlarged crop, in pixels (integer nearest-neighbour
            factor, the nearest to zoom / box side, at least 1). Defaults to 192.
        title: str. Label of the full image. Defaults to "HR".

    Returns:
        PIL RGB image.
    """
    factor = max(1, round(zoom / max(box.w, box.h)))
    font_size = max(11, min(18, zoom // 12))
    crops = [
        labelled(
            Image.fromarray(p.crop).resize((box.w * factor, box.h * factor), Image.NEAREST),
            p.name,
            metric_caption(p.scores),
            font_size,
        )
        for p in panels
    ]
    columns = len(crops) if len(crops) <= 3 else -(-len(crops) // 2)  # two rows from 4 on
    crop_grid = grid(crops, columns)
    full = _full_image_with_box(hr, box, target_height=crop_grid.height - 3 * font_size)
    return hstack(
        [
            labelled(
                full, title, f"box ({box.x}, {box.y}) {box.w}x{box.h}, zoom x{factor}", font_size
            ),
            crop_grid,
        ]
    )


def _full_image_with_box(hr: np.ndarray, box: Box, target_height: int) -> Image.Image:
    """The full image scaled to `target_height` (never enlarged) with the box outlined."""
    image = Image.fromarray(hr)
    ratio = min(1.0, max(target_height, 64) / image.height)
    if ratio < 1.0:
        size = (max(1, round(image.width * ratio)), max(1, round(image.height * ratio)))
        image = image.resize(size, Image.LANCZOS)
    width = max(2, round(3 * image.height / 256))
    x0, y0 = box.x * ratio, box.y * ratio
    x1, y1 = (box.x + box.w) * ratio - 1, (box.y + box.h) * ratio - 1
    ImageDraw.Draw(image).rectangle((x0, y0, x1, y1), outline=BOX_COLOUR, width=width)
    return image


def hr_for_figure(hr: np.ndarray) -> np.ndarray:
    """The HR image as the figure shows it: mod-cropped like the protocol's HR."""
    return mod_crop(np.asarray(hr, dtype=np.uint8), SCALE)


# === Slider page (LR only) ===


def check_page_path(path: str | os.PathLike) -> Path:
    """Fails early (before any work) on a page path that cannot be written."""
    path = Path(path)
    if path.suffix.lower() not in PAGE_EXTENSIONS:
        raise ValueError(f"--lr writes an HTML page: output must end in .html. Received: {path}")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"output folder does not exist: {path.parent}")
    if path.is_dir():
        raise ValueError(f"output is a folder, not a file. Received: {path}")
    return path


def read_lr(path: str | os.PathLike, box: Box | None = None) -> np.ndarray:
    """Reads a photo as uint8 RGB (EXIF orientation applied), cropped to `box` (LR pixels).

    Raises:
        FileNotFoundError: no such file.
        ValueError: unreadable image, box outside it, or more than `MAX_PAGE_LR_PIXELS`.
    """
    from keras_srfm.imaging.image_io import read_image

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    try:
        rgb = np.asarray(read_image(path).rgb)
    except ValueError as err:
        raise ValueError(f"cannot read image {path}: {err}") from err
    if rgb.dtype != np.uint8:  # a reader that keeps 16 bits: the page shows 8-bit PNGs
        rgb = np.rint(rgb.astype(np.float64) / np.iinfo(rgb.dtype).max * 255).astype(np.uint8)
    if box is not None:
        h, w = rgb.shape[:2]
        if box.w < 1 or box.h < 1 or box.x + box.w > w or box.y + box.h > h:
            raise ValueError(f"--box must lie inside the {w}x{h} image. Received: {box}")
        rgb = box.slice(rgb)
    h, w = rgb.shape[:2]
    if h * w > MAX_PAGE_LR_PIXELS:
        raise ValueError(
            f"{w}x{h} is too large for one page (at most {MAX_PAGE_LR_PIXELS} LR pixels); "
            f"choose a region with --box x,y,w,h. Received: {path}"
        )
    return np.ascontiguousarray(rgb)


@dataclasses.dataclass(frozen=True)
class PageResult:
    """One model's output for the slider page.

    Attributes:
        name: str. Label of the panel.
        sr: np.ndarray uint8 (4H, 4W, 3).
        seconds: float. Time the upscaler took.
    """

    name: str
    sr: np.ndarray
    seconds: float


def png_data_uri(image: np.ndarray) -> str:
    """A PNG `data:` URI of a uint8 image (lossless, so the page shows the exact pixels)."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buffer, format="PNG", compress_level=6)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def slider_page(
    title: str, lr: np.ndarray, bicubic: np.ndarray, results: Sequence[PageResult]
) -> str:
    """One self-contained HTML page: a bicubic | model wipe per model, zoom and pan shared.

    The images are embedded as PNG data URIs and a Content-Security-Policy allows nothing
    else, so the page opens offline and fetches nothing. In the browser, `window.srfmCompare`
    exposes the shared view (`view.s`, `view.tx`, `view.ty`: image pixel (x, y) is drawn at
    view pixel (tx + s*x, ty + s*y)) and each panel's split.

    Args:
        title: str. Page title (the photo's file name).
        lr: np.ndarray uint8 (H, W, 3). The input photo.
        bicubic: np.ndarray uint8 (4H, 4W, 3). The "before" of every slider.
        results: PageResult per model, in panel order (at least one).

    Returns:
        str: the HTML document.
    """
    if not results:
        raise ValueError("slider_page needs at least one model. Received: results=[]")
    height, width = bicubic.shape[:2]
    for result in results:
        if result.sr.shape != bicubic.shape:
            raise ValueError(
                f"{result.name}: output must be {bicubic.shape} like bicubic. "
                f"Received: {result.sr.shape}"
            )
    data: dict[str, Any] = {
        "width": width,
        "height": height,
        "bicubic": png_data_uri(bicubic),
        "models": [
            {"name": r.name, "seconds": r.seconds, "src": png_data_uri(r.sr)} for r in results
        ],
    }
    summary = (
        f"{lr.shape[1]}x{lr.shape[0]} input, x4 to {width}x{height}; "
        f"bicubic vs {', '.join(r.name for r in results)}"
    )
    # "</" inside the JSON would end the <script> element early.
    payload = json.dumps(data).replace("</", "<\\/")
    return string.Template(PAGE_TEMPLATE.read_text(encoding="utf-8")).substitute(
        title=html.escape(title), summary=html.escape(summary), data=payload
    )
