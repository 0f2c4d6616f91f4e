"""The perception-distortion plane: PSNR (distortion) against NIQE (perception) of upscalers.

Blau & Michaeli ("The Perception-Distortion Tradeoff", CVPR 2018) show that distortion and
perceptual quality cannot both be optimal: on the plane of a distortion measure and a
no-reference perceptual index, methods lie above a convex bound, and the PIRM 2018 challenge
ranked SR methods on it. Here the distortion axis is PSNR on Y (higher = less distortion,
to the right) and the perception axis NIQE (lower = more natural, down); the ground truth has
PSNR = inf and is drawn as a horizontal line at its own NIQE, ending in a marker on the right
edge. The best corner is bottom right.

Inputs are the JSON files of `srfm evaluate --metrics ...,psnr,...,niqe --json` (one point per
file) and of `srfm blend --sweep` (one curve per file: the blend from model A to model B).
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import json
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from keras_srfm.evaluation import protocol
from keras_srfm.imaging.atomic import atomic_write
from keras_srfm.inference.blend import SWEEP_KIND

DEFAULT_DATASET = "BSD100"  # the paper's MOS set (Sec. V-C)
HR_TOLERANCE = 1e-6  # HR NIQE is deterministic: files of one image set agree to rounding


@dataclasses.dataclass(frozen=True)
class PdPoint:
    """One upscaler on the plane: mean PSNR (dB) and mean NIQE over a test set."""

    label: str
    psnr: float
    niqe: float


@dataclasses.dataclass(frozen=True)
class BlendCurve:
    """A blend sweep: (PSNR, NIQE) at each alpha, from model A (alpha 0) to B (alpha 1)."""

    label: str
    alphas: tuple[float, ...]
    psnr: tuple[float, ...]
    niqe: tuple[float, ...]


@dataclasses.dataclass(frozen=True)
class PdPlane:
    """Everything one figure shows.

    Attributes:
        dataset: str. Test-set name (e.g. "BSD100").
        points: upscalers, one per evaluation file.
        curves: blend sweeps.
        hr_niqe: float or None. The ground truth's mean NIQE (PSNR = inf).
    """

    dataset: str
    points: tuple[PdPoint, ...]
    curves: tuple[BlendCurve, ...] = ()
    hr_niqe: float | None = None


# === Reading ===


def _dataset_key(datasets: dict[str, Any], name: str, path: Path) -> str:
    """The key of `name` in a results file: exact, case-insensitive or TFDS (`srfm_bsd100`)."""
    wanted = {name.lower(), protocol.TFDS_DATASETS.get(protocol.tfds_name(name), "").lower()}
    for key in datasets:
        if key.lower() in wanted:
            return key
    raise ValueError(f"{path} has no dataset {name!r} (it has: {', '.join(datasets) or 'none'})")


def _load(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"results file not found: {path}")
    try:
        document = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not JSON: {err}") from err
    if not isinstance(document, dict) or not isinstance(document.get("datasets"), dict):
        raise ValueError(f"{path} is not a `srfm evaluate --json` or `srfm blend --sweep` file")
    return document


def _mean(values: dict[str, Any], metric: str, path: Path, dataset: str) -> float:
    if metric not in values:
        raise ValueError(
            f"{path} has no {metric.upper()} for {dataset}; re-run with "
            "--metrics psnr,ssim,vif,niqe"
        )
    return float(values[metric])


def read_results(
    path: str | os.PathLike, dataset: str = DEFAULT_DATASET
) -> tuple[PdPoint | BlendCurve, float | None]:
    """A point (evaluation file) or a curve (sweep file) for `dataset`, and its HR NIQE.

    Raises:
        ValueError: not a results file, no such dataset, or no PSNR / NIQE in it (one line).
    """
    path = Path(path)
    document = _load(path)
    key = _dataset_key(document["datasets"], dataset, path)
    entry = document["datasets"][key]
    hr = entry.get("hr", {}).get("mean", {}).get("niqe")
    hr_niqe = None if hr is None else float(hr)
    if document.get("kind") == SWEEP_KIND:
        points = sorted(entry.get("points", []), key=lambda p: p["alpha"])
        if not points:
            raise ValueError(f"{path} has no sweep points for {key}")
        a, b = (Path(m).stem if Path(m).suffix else m for m in document["models"])
        curve = BlendCurve(
            label=f"blend {a} -> {b}",
            alphas=tuple(float(p["alpha"]) for p in points),
            psnr=tuple(_mean(p["mean"], "psnr", path, key) for p in points),
            niqe=tuple(_mean(p["mean"], "niqe", path, key) for p in points),
        )
        return curve, hr_niqe
    mean = entry.get("mean", {})
    point = PdPoint(
        label=str(document.get("model", path.stem)),
        psnr=_mean(mean, "psnr", path, key),
        niqe=_mean(mean, "niqe", path, key),
    )
    return point, hr_niqe


def collect(paths: Sequence[str | os.PathLike], dataset: str = DEFAULT_DATASET) -> PdPlane:
    """Reads every file; evaluation files become points, sweep files curves.

    Raises:
        ValueError: no files, or files whose HR NIQE differ (different image sets).
    """
    if not paths:
        raise ValueError("give at least one results file")
    points: list[PdPoint] = []
    curves: list[BlendCurve] = []
    hr: tuple[float, Path] | None = None
    for path in paths:
        item, hr_niqe = read_results(path, dataset)
        (curves if isinstance(item, BlendCurve) else points).append(item)  # type: ignore[arg-type]
        if hr_niqe is None:
            continue
        if hr is None:
            hr = (hr_niqe, Path(path))
        elif abs(hr[0] - hr_niqe) > HR_TOLERANCE:
            raise ValueError(
                f"HR NIQE differs between {hr[1]} ({hr[0]:.6f}) and {path} ({hr_niqe:.6f}): "
                f"were they evaluated on the same {dataset} images?"
            )
    values = [v for p in points for v in (p.psnr, p.niqe)]
    values += [v for c in curves for v in (*c.psnr, *c.niqe)]
    if not all(math.isfinite(v) for v in values):
        raise ValueError("PSNR / NIQE must be finite; the ground truth is drawn from its HR NIQE")
    labels = protocol.unique_names([p.label for p in points])
    points = [dataclasses.replace(p, label=n) for p, n in zip(points, labels)]
    return PdPlane(dataset, tuple(points), tuple(curves), None if hr is None else hr[0])


def summary(plane: PdPlane) -> str:
    """Plain-text table of the plane's numbers (NIQE: lower is better)."""
    lines = [f"{plane.dataset}: PSNR (dB, higher = less distortion) / NIQE (lower is better)"]
    width = max([len(p.label) for p in plane.points] + [len(c.label) for c in plane.curves] + [2])
    for p in plane.points:
        lines.append(f"  {p.label:<{width}}  {p.psnr:7.3f}  {p.niqe:7.3f}")
    for c in plane.curves:
        for alpha, x, y in zip(c.alphas, c.psnr, c.niqe):
            lines.append(f"  {c.label:<{width}}  {x:7.3f}  {y:7.3f}  (alpha={alpha:g})")
    if plane.hr_niqe is not None:
        lines.append(f"  {'HR':<{width}}      inf  {plane.hr_niqe:7.3f}")
    return "\n".join(lines)


# === Drawing ===


def _limits(values: Sequence[float], pad: float, minimum_span: float) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    span = max(hi - lo, minimum_span)
    middle = (lo + hi) / 2
    return middle - span / 2 - pad * span, middle + span / 2 + pad * span


def _draw_curves(
    ax: Any, curves: Sequence[BlendCurve], colours: Iterator[str], spans: tuple[float, float]
) -> None:
    """Each curve with its alphas; a label closer than 4% of the axes to the last is left out."""
    for curve in curves:
        colour = next(colours)
        ax.plot(curve.psnr, curve.niqe, "-o", color=colour, ms=4, lw=1.5, label=curve.label)
        last: tuple[float, float] | None = None
        for alpha, x, y in zip(curve.alphas, curve.psnr, curve.niqe):
            if last and math.hypot((x - last[0]) / spans[0], (y - last[1]) / spans[1]) < 0.04:
                continue
            last = (x, y)
            ax.annotate(
                f"α={alpha:g}", (x, y), textcoords="offset points", xytext=(5, -10),
                fontsize=7, color=colour,
            )  # fmt: skip


def _draw_points(ax: Any, points: Sequence[PdPoint], colours: Iterator[str]) -> None:
    for point in points:
        colour = "0.45" if point.label in ("bicubic", "nearest") else next(colours)
        ax.plot(point.psnr, point.niqe, "s", color=colour, ms=7, label=point.label)
        ax.annotate(
            point.label, (point.psnr, point.niqe), textcoords="offset points", xytext=(6, 4),
            fontsize=8, color=colour,
        )  # fmt: skip


def _draw_hr(ax: Any, hr_niqe: float) -> None:
    """The ground truth: a line at its NIQE, ending in a marker on the right edge (PSNR = inf)."""
    x_hi = ax.get_xlim()[1]
    ax.axhline(hr_niqe, color="k", ls="--", lw=1, label="HR (ground truth, PSNR = ∞)")
    ax.plot([x_hi], [hr_niqe], ">", color="k", ms=9, clip_on=False, zorder=5)
    ax.annotate(
        f"HR  NIQE {hr_niqe:.2f}\n(PSNR = ∞)", (x_hi, hr_niqe), textcoords="offset points",
        xytext=(-8, 6), ha="right", fontsize=8,
    )  # fmt: skip


def draw(plane: PdPlane, title: str | None = None) -> Any:
    """The figure: points, blend curves (alpha annotated) and the HR line at PSNR = inf.

    Returns:
        matplotlib.figure.Figure (Agg canvas; not shown).
    """
    from matplotlib.figure import Figure

    xs = [p.psnr for p in plane.points] + [x for c in plane.curves for x in c.psnr]
    ys = [p.niqe for p in plane.points] + [y for c in plane.curves for y in c.niqe]
    if not xs:
        raise ValueError(f"nothing to draw for {plane.dataset}")
    if plane.hr_niqe is not None:
        ys.append(plane.hr_niqe)
    fig = Figure(figsize=(7.5, 5.5), dpi=120)
    ax = fig.add_subplot()
    colours = itertools.cycle(f"C{i}" for i in range(10))
    x_lim, y_lim = _limits(xs, 0.12, 0.5), _limits(ys, 0.12, 0.5)
    _draw_curves(ax, plane.curves, colours, (x_lim[1] - x_lim[0], y_lim[1] - y_lim[0]))
    _draw_points(ax, plane.points, colours)
    ax.set_xlim(*x_lim)
    ax.set_ylim(*y_lim)
    if plane.hr_niqe is not None:
        _draw_hr(ax, plane.hr_niqe)
    ax.set_xlabel("PSNR on Y, dB (distortion: higher is better)")
    ax.set_ylabel("NIQE (perception: lower is better)")
    ax.set_title(title or f"Perception-distortion plane, {plane.dataset} (x4)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def save_png(fig: Any, path: str | os.PathLike) -> Path:
    """Writes the figure as PNG through a temporary file (nothing half-written)."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"the figure must be a .png file. Received: {path}")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    atomic_write(path, buffer.getvalue())
    return path
