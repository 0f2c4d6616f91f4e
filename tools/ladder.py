"""The degradation ladder: every shipped model on BSD100 and Urban100 (80), clean to strong.

A model trained on one degradation can win on a test set made by that same degradation and lose
everywhere else (`srfm_real`'s first release did). The ladder judges every model on four rungs
of the same HR images, `keras_srfm.config.STRENGTHS`:

- `clean`: MATLAB bicubic (Table I's protocol; the numbers of each model's `datasets` block);
- `mild`, `medium`, `strong`: `srfm degrade --strength S --seed 0` of the HR folder
  (`DegradationConfig.preset`: a phone or web photo, then heavier, then Real-ESRGAN's chain).

and one rung made differently from every training set of the project, so that a model trained
on the ladder's own chain cannot win by having learned its recipe:

- `web`: Pillow alone (`build_web`): a slight Gaussian blur, Lanczos downscale, light sensor
  noise, Pillow's JPEG at quality 60-90 (4:2:0), drawn per image from `[seed, crc32(stem)]`.

For each model and set, PSNR and SSIM (Y, shave 4) and NIQE of the SR are written under the
`ladder` key of the model's `evaluation.json` (bicubic: `benchmarks/results/
bicubic_evaluation.json`), after every rung, so a stopped run resumes where it was. The rungs'
LR folders are built on first use under `--ladder-dir` (they derive from the benchmark images
and are never committed).

    python tools/ladder.py --models bicubic srfm_mp srfm_real --sets BSD100   # evaluate
    python tools/ladder.py --figure docs/images/ladder.png                    # the figure
    python tools/ladder.py --card srfm_real                                   # a card's table
    python tools/ladder.py --cards            # write every card's table between its markers
    python tools/ladder.py --check            # exit 1 if a card's table is stale or missing
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from keras_srfm.config import STRENGTHS  # noqa: E402  (dataclasses only: no TensorFlow)

SETS = ("BSD100", "Urban100")
WEB = "web"
RUNGS = (*STRENGTHS, WEB)
METRICS = ("psnr", "ssim", "niqe")
SEED = 0
BICUBIC_FILE = ROOT / "benchmarks" / "results" / "bicubic_evaluation.json"
MODELS_DIR = ROOT / "exported_models"
PROTOCOL = (
    "HR mod-crop x4; LR = `srfm degrade --strength S --seed 0` of the HR folder (clean: MATLAB "
    "bicubic, Table I's); SR -> uint8 -> Y, shave 4 -> PSNR / SSIM; NIQE of the SR's Y"
)


def evaluation_file(model: str) -> Path:
    """Where a model's evaluation lives (bicubic has no model folder)."""
    return BICUBIC_FILE if model == "bicubic" else MODELS_DIR / model / "evaluation.json"


def data_root() -> Path:
    return Path(os.environ.get("SRFM_DATA_DIR", ROOT.parent / "shared" / "data"))


def build_web(hr_dir: Path, out: Path, seed: int = SEED) -> None:
    """The `web` rung: Pillow's blur, Lanczos and JPEG plus NumPy noise (not the package's chain).

    Per image, from `numpy.random.default_rng([seed, crc32(stem)])`: Gaussian blur of radius
    0.3-1.0 HR pixels, Lanczos x1/4, Gaussian noise of sigma 1-4 levels (gray on half the
    images), JPEG at quality 60-90 with Pillow's defaults. Written as `<stem>.jpg`.
    """
    import zlib

    import numpy as np
    from PIL import Image, ImageFilter

    from keras_srfm.imaging.atomic import atomic_path

    out.mkdir(parents=True, exist_ok=True)
    for path in sorted(hr_dir.iterdir()):
        rng = np.random.default_rng([seed, zlib.crc32(path.stem.encode())])
        with Image.open(path) as image:
            hr = image.convert("RGB")
        w, h = hr.width // 4 * 4, hr.height // 4 * 4
        hr = hr.crop((0, 0, w, h)).filter(ImageFilter.GaussianBlur(radius=rng.uniform(0.3, 1.0)))
        lr = np.asarray(hr.resize((w // 4, h // 4), Image.LANCZOS), np.float32)
        sigma = rng.uniform(1.0, 4.0)
        shape = (*lr.shape[:2], 1) if rng.random() < 0.5 else lr.shape
        lr = np.clip(np.round(lr + rng.normal(0.0, sigma, shape)), 0, 255).astype(np.uint8)
        with atomic_path(out / f"{path.stem}.jpg") as target:
            Image.fromarray(lr).save(target, format="JPEG", quality=int(rng.integers(60, 91)))
    (out / "degradation.json").write_text(json.dumps({"rung": WEB, "seed": seed, "builder": "tools/ladder.py build_web"}))


def rung_dir(ladder_dir: Path, dataset: str, strength: str) -> Path:
    """The LR folder of one rung, built with `srfm degrade` (or `build_web`) when missing."""
    folder = ladder_dir / dataset / strength
    hr = data_root() / "benchmarks" / dataset / "HR"
    if strength == WEB and not (folder / "degradation.json").is_file():
        build_web(hr, folder)
    if not (folder / "degradation.json").is_file():
        command = [sys.executable, "-m", "keras_srfm.cli", "degrade", "--hr-dir", str(hr),
                   "--out", str(folder), "--strength", strength, "--seed", str(SEED)]  # fmt: skip
        print("building", " ".join(command[2:]), file=sys.stderr)
        subprocess.run(command, check=True)
    return folder


def clean_row(document: dict[str, Any], dataset: str) -> dict[str, float] | None:
    """The clean rung: the model's Table I evaluation of `dataset` (same protocol)."""
    block = document.get("datasets", {}).get(dataset)
    return None if block is None else {m: block["mean"][m] for m in METRICS if m in block["mean"]}


def evaluate(models: list[str], sets: list[str], ladder_dir: Path, tile_size: int | None) -> None:
    from keras_srfm.evaluation import protocol as evaluation
    from keras_srfm.imaging.atomic import write_json
    from keras_srfm.inference.upscalers import load_upscaler

    for model in models:
        path = evaluation_file(model)
        document = json.loads(path.read_text())
        ladder = document.setdefault("ladder", {"protocol": PROTOCOL, "seed": SEED, "datasets": {}})
        upscaler = None
        for dataset in sets:
            rungs = ladder["datasets"].setdefault(dataset, {})
            clean = clean_row(document, dataset)
            if clean is not None:
                rungs["clean"] = {"num_images": document["datasets"][dataset]["num_images"], "mean": clean}
            for strength in RUNGS[1:]:
                if strength in rungs:
                    continue
                upscaler = upscaler or load_upscaler(model, tile_size=tile_size)
                hr = data_root() / "benchmarks" / dataset / "HR"
                source = evaluation.paired_folder_source(hr, rung_dir(ladder_dir, dataset, strength))
                result = evaluation.evaluate_source(upscaler, source, metrics=METRICS)
                rungs[strength] = {"num_images": len(result.per_image), "mean": result.mean}
                write_json(path, document)  # after every rung: a stopped run resumes here
                print(f"{model} {dataset} {strength}: {result.mean}", file=sys.stderr)
        write_json(path, document)


def load_ladders(models: list[str]) -> dict[str, dict[str, Any]]:
    out = {}
    for model in models:
        path = evaluation_file(model)
        if path.is_file():
            ladder = json.loads(path.read_text()).get("ladder")
            if ladder:
                out[model] = ladder["datasets"]
    return out


def shipped_models() -> list[str]:
    return sorted(p.parent.name for p in MODELS_DIR.glob("*/evaluation.json"))


def figure(out: Path, models: list[str]) -> None:
    """PSNR and NIQE against strength, one line per model, one column per test set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ladders = load_ladders(models)
    sets = [s for s in SETS if any(s in ladder for ladder in ladders.values())]
    fig, axes = plt.subplots(2, len(sets), figsize=(5.2 * len(sets), 7.5), squeeze=False)
    for column, dataset in enumerate(sets):
        for model, ladder in ladders.items():
            rungs = ladder.get(dataset, {})
            xs = [i for i, s in enumerate(RUNGS) if s in rungs]
            if len(xs) < 2:
                continue
            style = {"color": "0.4", "linestyle": "--"} if model == "bicubic" else {}
            for row, metric in enumerate(("psnr", "niqe")):
                ys = [rungs[RUNGS[i]]["mean"][metric] for i in xs]
                axes[row][column].plot(xs, ys, marker="o", label=model, **style)
        for row, (metric, label) in enumerate((("psnr", "PSNR (dB, Y), higher is better"),
                                               ("niqe", "NIQE, lower is better"))):  # fmt: skip
            ax = axes[row][column]
            ax.set_xticks(range(len(RUNGS)), [*STRENGTHS, "web\n(Pillow)"])
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
            ax.set_title(f"{dataset}{' (80)' if dataset == 'Urban100' else ''}: {metric.upper()}")
    axes[0][0].legend(fontsize=8)
    fig.suptitle("The degradation ladder (srfm degrade --strength, seed 0) and a Pillow-made rung")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    print(f"wrote {out}", file=sys.stderr)


# Each shipped card holds its ladder table between these markers; `--cards` rewrites it from the
# evaluation files and `--check` (tests/project/test_table1.py) fails when a card disagrees with them.
CARD_MARKERS = ("<!-- ladder:begin (tools/ladder.py --cards) -->", "<!-- ladder:end -->")


def card_with_table(model: str) -> tuple[Path, str]:
    """A card's path and its text with the ladder table between `CARD_MARKERS` rewritten.

    Raises:
        ValueError: the card has no markers.
    """
    path = MODELS_DIR / model / "MODEL_CARD.md"
    text = path.read_text()
    begin, end = CARD_MARKERS
    if begin not in text or end not in text:
        raise ValueError(f"{path}: no ladder markers {begin} ... {end}")
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1]
    return path, f"{head}{begin}\n{card_table(model)}\n{end}{tail}"


def card_problems() -> list[str]:
    """Shipped cards whose ladder table is missing or differs from the evaluation files, and
    shipped models whose evaluation lacks a rung of the ladder."""
    problems = []
    ladders = load_ladders(shipped_models())
    for model in shipped_models():
        missing = [f"{d}/{r}" for d in SETS for r in RUNGS if r not in ladders.get(model, {}).get(d, {})]
        if missing:
            problems.append(f"{model}: evaluation.json has no ladder rung {', '.join(missing)}")
        try:
            path, text = card_with_table(model)
        except ValueError as error:
            problems.append(str(error))
            continue
        if text != path.read_text():
            problems.append(f"{path}: ladder table is stale (python tools/ladder.py --cards)")
    return problems


def card_table(model: str, baselines: tuple[str, ...] = ("bicubic", "srfm_mp")) -> str:
    """The card's ladder table: the model beside bicubic and srfm_mp, PSNR / SSIM / NIQE."""
    names = [model, *(b for b in baselines if b != model)]
    ladders = load_ladders(names)
    lines = ["| set | rung | " + " | ".join(f"{n} PSNR / SSIM / NIQE" for n in names) + " |",
             "|---|---|" + "---|" * len(names)]  # fmt: skip
    for dataset in SETS:
        for strength in RUNGS:
            cells = []
            for name in names:
                row = ladders.get(name, {}).get(dataset, {}).get(strength)
                m = row["mean"] if row else None
                cells.append(f"{m['psnr']:.2f} / {m['ssim']:.3f} / {m['niqe']:.2f}" if m else "")
            if any(cells):
                label = f"{dataset} (80)" if dataset == "Urban100" else dataset
                lines.append(f"| {label} | {strength} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=None, help="bicubic and/or shipped names (default: all)")
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    parser.add_argument("--ladder-dir", default="runs/ladder", help="where the rungs' LR folders are built")
    parser.add_argument("--tile-size", type=int, default=None)
    parser.add_argument("--figure", default=None, metavar="PNG", help="draw the ladder figure instead")
    parser.add_argument("--card", default=None, metavar="MODEL", help="print a card's ladder table instead")
    parser.add_argument("--cards", action="store_true", help="write every shipped card's ladder table")
    parser.add_argument("--check", action="store_true", help="exit 1 if a card's ladder table is stale")
    args = parser.parse_args(argv)
    models = args.models or ["bicubic", *shipped_models()]
    if args.check:
        problems = card_problems()
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0
    if args.cards:
        for model in shipped_models():
            path, text = card_with_table(model)
            path.write_text(text)
            print(f"wrote {path}", file=sys.stderr)
    elif args.card:
        print(card_table(args.card))
    elif args.figure:
        figure(Path(args.figure), models)
    else:
        evaluate(models, args.sets, Path(args.ladder_dir), args.tile_size)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
