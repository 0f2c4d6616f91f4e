"""`srfm mos report`: MOS per method with 95% confidence intervals, per-rater statistics, a
Fig. 3-style bar plot and the raw ratings as CSV (Sec. V-C, VI-A).

The interval is Student's t on all ratings of a method, mean +- t(0.975, n-1) * s / sqrt(n),
the usual MOS interval (ITU-T P.1401). It treats ratings as independent; with few raters the
spread between raters is the better guide, so raters.csv lists each rater's mean and how often
they gave NN a 1 and HR a 5 (the paper's sanity check: "a majority of the users rated NN and HR
images as 1 and 5 respectively").
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from keras_srfm.imaging.atomic import atomic_write
from keras_srfm.mos.db import RatingStore
from keras_srfm.mos.study import HIGH_METHOD, LOW_METHOD, MAX_SCORE, MIN_SCORE, load_study

RATING_FIELDS = (
    "rater_id",
    "rater_index",
    "position",
    "image",
    "method",
    "score",
    "rated_at",
    "token",
)


@dataclasses.dataclass(frozen=True)
class MethodScore:
    """MOS of one method.

    Args:
        method: str. Method name.
        n: int. Number of ratings.
        mos: float. Mean score (nan without ratings).
        std: float. Sample standard deviation (nan for n < 2).
        ci_low: float. Lower end of the 95% interval (nan for n < 2).
        ci_high: float. Upper end of the 95% interval (nan for n < 2).
        counts: tuple of int. How many ratings gave 1, 2, 3, 4, 5.
    """

    method: str
    n: int
    mos: float
    std: float
    ci_low: float
    ci_high: float
    counts: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class RaterStats:
    """One rater's behaviour.

    Args:
        rater_id: str.
        rater_index: int. Registration order.
        ratings: int. Ratings given.
        assigned: int. Items in the rater's study.
        mean_score: float. Mean of all their scores.
        low_is_min: float. Fraction of their NN ratings that are 1 (nan if none).
        high_is_max: float. Fraction of their HR ratings that are 5 (nan if none).
        median_seconds: float. Median time between consecutive ratings (nan if < 2).
    """

    rater_id: str
    rater_index: int
    ratings: int
    assigned: int
    mean_score: float
    low_is_min: float
    high_is_max: float
    median_seconds: float


def method_scores(ratings: Sequence[dict[str, Any]], methods: Sequence[str]) -> list[MethodScore]:
    """MOS and 95% t-interval per method, in `methods` order.

    Args:
        ratings: dicts with "method" and "score" (int 1-5).
        methods: method names, in the order to report.

    Returns:
        list of MethodScore.
    """
    from scipy import stats

    out = []
    for method in methods:
        scores = np.array([r["score"] for r in ratings if r["method"] == method], dtype=np.float64)
        n = scores.size
        counts = tuple(int(np.sum(scores == s)) for s in range(MIN_SCORE, MAX_SCORE + 1))
        if n == 0:
            out.append(MethodScore(method, 0, math.nan, math.nan, math.nan, math.nan, counts))
            continue
        mean = float(scores.mean())
        if n < 2:
            out.append(MethodScore(method, 1, mean, math.nan, math.nan, math.nan, counts))
            continue
        std = float(scores.std(ddof=1))
        half = float(stats.t.ppf(0.975, n - 1)) * std / math.sqrt(n)
        out.append(MethodScore(method, n, mean, std, mean - half, mean + half, counts))
    return out


def rater_stats(
    ratings: Sequence[dict[str, Any]], assigned: dict[str, tuple[int, int]]
) -> list[RaterStats]:
    """Per-rater counts, mean, NN-rated-1 and HR-rated-5 rates, and pace.

    Args:
        ratings: dicts with "rater_id", "method", "score", "rated_at" (ISO time).
        assigned: rater_id -> (rater_index, number of items assigned), every registered rater.

    Returns:
        list of RaterStats, in registration order.
    """
    out = []
    for rater_id, (index, total) in sorted(assigned.items(), key=lambda kv: kv[1][0]):
        mine = [r for r in ratings if r["rater_id"] == rater_id]
        scores = np.array([r["score"] for r in mine], dtype=np.float64)
        low = [r["score"] == MIN_SCORE for r in mine if r["method"] == LOW_METHOD]
        high = [r["score"] == MAX_SCORE for r in mine if r["method"] == HIGH_METHOD]
        times = sorted(datetime.datetime.fromisoformat(r["rated_at"]).timestamp() for r in mine)
        out.append(
            RaterStats(
                rater_id=rater_id,
                rater_index=index,
                ratings=len(mine),
                assigned=total,
                mean_score=float(scores.mean()) if mine else math.nan,
                low_is_min=float(np.mean(low)) if low else math.nan,
                high_is_max=float(np.mean(high)) if high else math.nan,
                median_seconds=float(np.median(np.diff(times))) if len(times) > 1 else math.nan,
            )
        )
    return out


def _csv_bytes(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode()


def _fmt(x: float) -> str:
    return "" if math.isnan(x) else f"{x:.4f}"


def plot_mos(scores: Sequence[MethodScore], path: Path, title: str) -> None:
    """Fig. 3-style bar chart: MOS per method with 95% interval whiskers, saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [s.method for s in scores]
    means = np.array([0.0 if math.isnan(s.mos) else s.mos for s in scores])
    err = np.array(
        [
            [0.0, 0.0] if math.isnan(s.ci_low) else [s.mos - s.ci_low, s.ci_high - s.mos]
            for s in scores
        ]
    ).T
    colors = ["#9e9e9e" if n in (LOW_METHOD, "bicubic", HIGH_METHOD) else "#3b75af" for n in names]
    fig, ax = plt.subplots(figsize=(max(4.0, 1.0 * len(names) + 1.5), 3.6))
    try:
        bars = ax.bar(
            range(len(names)),
            means,
            color=colors,
            yerr=err,
            capsize=4,
            edgecolor="black",
            linewidth=0.6,
        )
        for bar, s in zip(bars, scores, strict=True):
            label = "n/a" if math.isnan(s.mos) else f"{s.mos:.2f}"
            top = bar.get_height() if math.isnan(s.ci_high) else s.ci_high  # above the whisker
            ax.annotate(
                label,
                (bar.get_x() + bar.get_width() / 2, top),
                xytext=(0, 4),
                textcoords="offset points",
                ha="center",
                fontsize=8,
            )
        ax.set_xticks(range(len(names)), names, rotation=20 if len(names) > 6 else 0)
        ax.set_ylim(0, MAX_SCORE + 0.6)
        ax.set_yticks(range(0, MAX_SCORE + 1))
        ax.set_ylabel("MOS")
        ax.set_title(title, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=150)
    finally:
        plt.close(fig)
    atomic_write(path, buf.getvalue())


@dataclasses.dataclass(frozen=True)
class Report:
    """What `write_report` computed and where it wrote it."""

    scores: list[MethodScore]
    raters: list[RaterStats]
    ratings: list[dict[str, Any]]
    files: dict[str, Path]

    def summary(self) -> str:
        """A plain-text table for the terminal."""
        lines = [f"{'method':<16} {'n':>5} {'MOS':>6}  95% CI", "-" * 44]
        for s in self.scores:
            ci = "" if math.isnan(s.ci_low) else f"[{s.ci_low:.2f}, {s.ci_high:.2f}]"
            mos = "  n/a" if math.isnan(s.mos) else f"{s.mos:6.2f}"
            lines.append(f"{s.method:<16} {s.n:>5} {mos}  {ci}")
        complete = sum(r.ratings >= r.assigned for r in self.raters)
        lines.append(
            f"raters: {len(self.raters)} ({complete} complete), ratings: {len(self.ratings)}"
        )
        low = [r.low_is_min for r in self.raters if not math.isnan(r.low_is_min)]
        high = [r.high_is_max for r in self.raters if not math.isnan(r.high_is_max)]
        if low:
            lines.append(
                f"raters who gave {LOW_METHOD} a {MIN_SCORE} most of the time: "
                f"{sum(x > 0.5 for x in low)}/{len(low)}"
            )
        if high:
            lines.append(
                f"raters who gave {HIGH_METHOD} a {MAX_SCORE} most of the time: "
                f"{sum(x > 0.5 for x in high)}/{len(high)}"
            )
        return "\n".join(lines)


def write_report(study_dir: str | Path, out_dir: str | Path | None = None) -> Report:
    """Reads a study's ratings (read-only; a server may be running) and writes the report.

    Files: `mos.csv` (per method), `raters.csv`, `ratings.csv` (every rating), `mos.png`.

    Args:
        study_dir: str or Path. A study with a ratings database.
        out_dir: str or Path or None. Where to write. Defaults to `study_dir/report`.

    Returns:
        Report.
    """
    study = load_study(study_dir)
    store = RatingStore(study.db_path, readonly=True)
    try:
        ratings = store.ratings()
        raters = {r.rater_id: (r.rater_index, len(r.order)) for r in store.raters()}
    finally:
        store.close()
    scores = method_scores(ratings, study.methods)
    per_rater = rater_stats(ratings, raters)

    out = Path(out_dir) if out_dir is not None else study.root / "report"
    out.mkdir(parents=True, exist_ok=True)
    files = {name: out / name for name in ("mos.csv", "raters.csv", "ratings.csv", "mos.png")}
    atomic_write(
        files["ratings.csv"],
        _csv_bytes(RATING_FIELDS, [[r[k] for k in RATING_FIELDS] for r in ratings]),
    )
    atomic_write(
        files["mos.csv"],
        _csv_bytes(
            (
                "method",
                "n",
                "mos",
                "std",
                "ci95_low",
                "ci95_high",
                "n_1",
                "n_2",
                "n_3",
                "n_4",
                "n_5",
            ),
            [
                [
                    s.method,
                    s.n,
                    _fmt(s.mos),
                    _fmt(s.std),
                    _fmt(s.ci_low),
                    _fmt(s.ci_high),
                    *s.counts,
                ]
                for s in scores
            ],
        ),
    )
    atomic_write(
        files["raters.csv"],
        _csv_bytes(
            (
                "rater_id",
                "rater_index",
                "ratings",
                "assigned",
                "mean_score",
                f"{LOW_METHOD.lower()}_rated_{MIN_SCORE}",
                f"{HIGH_METHOD.lower()}_rated_{MAX_SCORE}",
                "median_seconds",
            ),
            [
                [
                    r.rater_id,
                    r.rater_index,
                    r.ratings,
                    r.assigned,
                    _fmt(r.mean_score),
                    _fmt(r.low_is_min),
                    _fmt(r.high_is_max),
                    _fmt(r.median_seconds),
                ]
                for r in per_rater
            ],
        ),
    )
    title = f"Mean opinion score, 95% CI ({len(raters)} raters, {len(ratings)} ratings)"
    plot_mos(scores, files["mos.png"], title)
    return Report(scores=scores, raters=per_rater, ratings=ratings, files=files)
