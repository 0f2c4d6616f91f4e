"""Offline demo: a synthetic test chart, downsampled x4 and super-resolved (`srfm demo`).

The chart is drawn with NumPy and Pillow only (no image file, no font file), so the demo runs
on a fresh install without data. It holds what separates interpolation from learned
super-resolution: text, sharp edges (a Siemens star), a zone plate and a frequency sweep that
pass the x4 Nyquist limit, smooth grey and hue gradients, colour patches and checkerboards.
The protocol is that of Table I: mod-crop, MATLAB bicubic 1/4 on uint8, upscale, PSNR / SSIM
on Y with 4 pixels shaved (`keras_srfm.evaluation.protocol`). `run_real_demo` (`srfm demo --real`)
also upscales a realistic LR of the chart (blur, resize, noise, JPEG: the degradation of
`keras_srfm.data.degradation`) with every shipped model, to show which model suits photos.

Example:
>>> chart = render_chart(256)
>>> result = run_demo(load_upscaler("bicubic"), chart)
>>> demo_figure(result).save("demo.png")
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw

from keras_srfm.evaluation.compare import font, grid, hstack, labelled, metric_caption
from keras_srfm.evaluation.protocol import SCALE, degrade
from keras_srfm.imaging.imresize import imresize, nearest
from keras_srfm.metrics.fidelity import psnr, ssim

MIN_SIZE = 64
MAX_SIZE = 4096
_SUPERSAMPLE = 4  # edges of the star are box-filtered from a 4x grid: antialiased, not jagged

# Saturated primaries and secondaries, then a skin tone and a sky blue (common in photos).
PATCH_COLOURS = (
    (220, 30, 30),
    (30, 170, 40),
    (30, 60, 210),
    (0, 190, 200),
    (200, 40, 180),
    (240, 210, 20),
    (225, 170, 140),
    (110, 160, 220),
)


# === Chart ===


def _star(size: int, spokes: int = 24) -> np.ndarray:
    """Siemens star: `spokes` black/white sectors, antialiased by supersampling. (size, size)."""
    n = size * _SUPERSAMPLE
    coords = (np.arange(n) + 0.5) / n * 2.0 - 1.0
    x, y = np.meshgrid(coords, coords)
    sectors = (np.sin(spokes / 2 * np.arctan2(y, x)) > 0).astype(np.float64)
    values = np.where(x * x + y * y <= 0.96, 0.08 + 0.84 * sectors, 1.0)
    return values.reshape(size, _SUPERSAMPLE, size, _SUPERSAMPLE).mean(axis=(1, 3))


def _zone_plate(size: int) -> np.ndarray:
    """cos(pi r^2 / size): local frequency r / size cycles/px, 0.5 (HR Nyquist) at the rim.

    The x4 LR keeps only what is below 0.125 cycles/HR px (a quarter of the radius); the rest
    is what a model must hallucinate or leave grey. Mid-grey outside the disc, where the
    pattern would alias in the HR chart itself.
    """
    coords = np.arange(size) - (size - 1) / 2.0
    x, y = np.meshgrid(coords, coords)
    r2 = x * x + y * y
    values = 0.5 + 0.5 * np.cos(np.pi * r2 / size)
    return np.where(r2 <= (size / 2.0) ** 2, values, 0.5)


def _sweep(height: int, width: int) -> np.ndarray:
    """Vertical bars whose frequency rises linearly from 0.02 to 0.45 cycles/px (a chirp)."""
    x = np.arange(width, dtype=np.float64)
    f0, f1 = 0.02, 0.45
    phase = 2.0 * np.pi * (f0 * x + (f1 - f0) * x * x / (2.0 * width))
    return np.broadcast_to(0.5 + 0.5 * np.cos(phase), (height, width))


def _grey_ramp(height: int, width: int) -> np.ndarray:
    return np.broadcast_to(np.linspace(0.0, 1.0, width), (height, width))


def _hue_ramp(height: int, width: int) -> np.ndarray:
    """Full-saturation hue sweep, brighter at the top: (height, width, 3) uint8."""
    hue = np.broadcast_to(np.linspace(0, 255, width), (height, width))
    value = np.broadcast_to(np.linspace(255, 150, height)[:, None], (height, width))
    hsv = np.stack([hue, np.full((height, width), 255.0), value], axis=-1)
    return np.asarray(Image.fromarray(np.rint(hsv).astype(np.uint8), "HSV").convert("RGB"))


def _checkerboard(height: int, width: int, period: int) -> np.ndarray:
    yy, xx = np.indices((height, width))
    return ((yy // period + xx // period) % 2).astype(np.float64)


def _grey(values: np.ndarray) -> np.ndarray:
    """Float [0, 1] (h, w) -> uint8 (h, w, 3)."""
    grey = np.rint(np.clip(values, 0.0, 1.0) * 255.0).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=-1)


def render_chart(size: int = 384) -> np.ndarray:
    """Draws the deterministic synthetic test chart.

    Layout (fractions of `size`): a text band on top; a Siemens star, a zone plate and a
    column of colour patches; a frequency sweep; grey and hue ramps; checkerboards (2-6 px)
    and small text at the bottom. Everything scales with `size`.

    Args:
        size: int. Width and height in pixels, in [64, 4096]. Defaults to 384.

    Returns:
        np.ndarray uint8 (size, size, 3); the same bytes for the same `size` and Pillow build.
    """
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"size must be in [{MIN_SIZE}, {MAX_SIZE}]. Received: size={size}")

    def px(fraction: float) -> int:
        return int(round(fraction * size))

    chart = np.full((size, size, 3), 255, dtype=np.uint8)
    # Middle band: star | zone plate | colour patches.
    top, side = px(0.16), px(0.42)
    chart[top : top + side, :side] = _grey(_star(side))
    chart[top : top + side, side : 2 * side] = _grey(_zone_plate(side))
    patch_h = side / len(PATCH_COLOURS)
    for i, colour in enumerate(PATCH_COLOURS):
        chart[top + round(i * patch_h) : top + round((i + 1) * patch_h), 2 * side :] = colour
    # Sweep, then ramps.
    y0, y1, y2, y3 = px(0.58), px(0.71), px(0.79), px(0.87)
    chart[y0:y1] = _grey(_sweep(y1 - y0, size))
    chart[y1:y2] = _grey(_grey_ramp(y2 - y1, size))
    chart[y2:y3] = _hue_ramp(y3 - y2, size)
    # Bottom: checkerboards of 2-6 px squares; the x4 LR resolves only those of >= 4 px.
    cell = size // 8
    for i, period in enumerate((2, 3, 4, 6)):
        chart[y3 + px(0.015) : size - px(0.015), i * cell : (i + 1) * cell - 1] = _grey(
            _checkerboard(size - px(0.015) - y3 - px(0.015), cell - 1, period)
        )
    image = Image.fromarray(chart)
    _draw_text(image, size)
    return np.asarray(image).copy()


def _draw_text(image: Image.Image, size: int) -> None:
    """Title, a pangram, and small text lines (sharp, high-contrast detail)."""
    draw = ImageDraw.Draw(image)
    margin = max(2, size // 64)
    draw.text((margin, margin), "keras-srfm x4", fill=(0, 0, 0), font=font(max(6, size // 14)))
    draw.text(
        (margin, margin + size // 12),
        "The quick brown fox jumps over the lazy dog",
        fill=(20, 20, 120),
        font=font(max(6, size // 28)),
    )
    draw.text(
        (size * 11 // 16, margin),
        "0123456789",
        fill=(140, 0, 0),
        font=font(max(6, size // 24)),
    )
    y = size * 89 // 100
    for text_size in (size // 24, size // 32, size // 48):
        draw.text(
            (size // 2 + margin, y), "SRFM PSNR SSIM", fill=(0, 0, 0), font=font(max(6, text_size))
        )
        y += max(6, text_size) * 6 // 5


# === Demo ===


@dataclasses.dataclass
class DemoResult:
    """Images, scores and timings of one demo run.

    Attributes:
        hr: np.ndarray uint8 (H, W, 3). The mod-cropped chart.
        lr: np.ndarray uint8 (H/4, W/4, 3). MATLAB bicubic 1/4 of `hr`.
        images: name -> uint8 (H, W, 3), in figure order: LR (nearest), bicubic, model.
        scores: name -> {"psnr", "ssim"} (Y, 4 pixels shaved), same keys as `images`.
        seconds: name -> seconds spent upscaling.
    """

    hr: np.ndarray
    lr: np.ndarray
    images: dict[str, np.ndarray]
    scores: dict[str, dict[str, float]]
    seconds: dict[str, float]


NEAREST_LABEL = "LR (nearest x4)"


def run_demo(
    upscaler: Callable[[np.ndarray], np.ndarray], chart: np.ndarray, name: str = "model"
) -> DemoResult:
    """Degrades the chart x4 (MATLAB bicubic) and upscales it with nearest, bicubic and a model.

    Args:
        upscaler: callable uint8 (h, w, 3) -> uint8 (4h, 4w, 3), e.g. from `load_upscaler`.
        chart: np.ndarray uint8 (H, W, 3), e.g. from `render_chart`.
        name: str. The model's label. When it is "bicubic" the model is not run twice.

    Returns:
        DemoResult.
    """
    hr, lr = degrade(chart, SCALE)
    return _run_all(hr, lr, {name: upscaler})


def _run_all(
    hr: np.ndarray, lr: np.ndarray, upscalers: dict[str, Callable[[np.ndarray], np.ndarray]]
) -> DemoResult:
    """Upscales `lr` with nearest, bicubic and each of `upscalers`; scores against `hr`."""
    runs: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        NEAREST_LABEL: lambda image: nearest(image, SCALE),
        "bicubic": lambda image: imresize(image, scale=SCALE),
    }
    for label, fn in upscalers.items():
        runs.setdefault(label, fn)
    images, scores, seconds = {}, {}, {}
    for label, fn in runs.items():
        start = time.perf_counter()
        sr = np.asarray(fn(lr))
        seconds[label] = time.perf_counter() - start
        if sr.shape != hr.shape or sr.dtype != np.uint8:
            raise ValueError(
                f"{label}: the model must return uint8 {hr.shape}. Received: {sr.dtype} {sr.shape}"
            )
        images[label] = sr
        scores[label] = {"psnr": psnr(hr, sr, shave=SCALE), "ssim": ssim(hr, sr, shave=SCALE)}
    return DemoResult(hr, lr, images, scores, seconds)


def demo_figure(result: DemoResult) -> Image.Image:
    """Side by side: LR (nearest x4) | bicubic | model | HR chart, labelled, PSNR / SSIM below."""
    font_size = int(np.clip(result.hr.shape[1] // 22, 11, 20))
    panels = [
        labelled(Image.fromarray(image), label, metric_caption(result.scores[label]), font_size)
        for label, image in result.images.items()
    ]
    panels.append(
        labelled(Image.fromarray(result.hr), "HR (chart)", metric_caption(None), font_size)
    )
    return hstack(panels)


# === Real-photo demo (`srfm demo --real`) ===

REAL_SEED = 0  # default seed of the chart's realistic degradation


@dataclasses.dataclass
class RealDemoResult:
    """The chart upscaled from a clean (bicubic) LR and from a realistic LR.

    Attributes:
        clean: DemoResult. LR = MATLAB bicubic 1/4 (what the paper's models learned).
        real: DemoResult. LR = the realistic degradation (blur, resize, noise, JPEG) of the
            same chart, as `srfm degrade` makes it.
        ends_in_jpeg: bool. The realistic LR is a decoded JPEG file.
    """

    clean: DemoResult
    real: DemoResult
    ends_in_jpeg: bool


def realistic_lr(chart: np.ndarray, seed: int = REAL_SEED) -> tuple[np.ndarray, np.ndarray, bool]:
    """Mod-crops the chart and degrades it as `srfm degrade --seed seed` does a file `chart.png`.

    Returns:
        `(hr, lr, ends_in_jpeg)`: uint8 (sH, sW, 3), uint8 (H, W, 3) and whether the chain
        ended in JPEG.
    """
    from keras_srfm.config import DegradationConfig
    from keras_srfm.data.degradation import degrade_image, image_seed

    hr, _ = degrade(chart, SCALE)
    lr, data = degrade_image(hr, image_seed(seed, "chart"), DegradationConfig())
    return hr, lr, data is not None


def run_real_demo(
    upscalers: dict[str, Callable[[np.ndarray], np.ndarray]],
    chart: np.ndarray,
    seed: int = REAL_SEED,
) -> RealDemoResult:
    """Runs every upscaler on the clean LR and on the realistic LR of the chart.

    Args:
        upscalers: name -> callable uint8 (h, w, 3) -> uint8 (4h, 4w, 3).
        chart: np.ndarray uint8 (H, W, 3), e.g. from `render_chart`.
        seed: int. Seed of the realistic degradation. Defaults to 0.

    Returns:
        RealDemoResult.
    """
    hr, lr_clean = degrade(chart, SCALE)
    _, lr_real, ends_in_jpeg = realistic_lr(chart, seed)
    return RealDemoResult(_run_all(hr, lr_clean, upscalers), _run_all(hr, lr_real, upscalers), ends_in_jpeg)


def real_demo_figure(result: RealDemoResult) -> Image.Image:
    """Two rows, clean LR then realistic LR: LR (nearest) | bicubic | models... | HR."""
    font_size = int(np.clip(result.clean.hr.shape[1] // 22, 11, 20))
    panels = []
    for row, prefix in ((result.clean, "clean"), (result.real, "realistic")):
        for label, image in row.images.items():
            panels.append(
                labelled(Image.fromarray(image), f"{prefix}: {label}", metric_caption(row.scores[label]), font_size)
            )
        panels.append(labelled(Image.fromarray(row.hr), "HR (chart)", metric_caption(None), font_size))
    return grid(panels, columns=len(result.clean.images) + 1)
