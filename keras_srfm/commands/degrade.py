"""`srfm degrade`: a reproducible degraded LR set (test or training) from a folder of HR images.

Each HR image (mod-cropped to the scale) goes once, whole, through the realistic degradation
of `keras_srfm.data.degradation` with the stateless seed `[--seed, crc32(stem)]` folded with
the copy index, so the same command rebuilds the same pixels on any machine with the same
TensorFlow build (oneDNN is turned off for this command: its convolution sums in a
CPU-dependent order). Where the chain ends in JPEG the JPEG file itself is written (`.jpg`),
else a PNG. Layouts:

- test set (no `--copies`): `OUT/<stem>.jpg|png`, paired with the HR folder by stem by
  `srfm evaluate --hr-dir HR --lr-dir OUT`;
- training set (`--copies K`): `OUT/HR/<stem>.png` (mod-cropped; unsharp-masked when the
  config's `usm_target` is set) and `OUT/LR/<stem>_<k>.jpg|png` for k = 0..K-1. Copy 0 is
  the test-layout image.

`OUT/degradation.json` records the seed, scale, copies, the full `DegradationConfig` and the
versions used. Every file is written to a temporary name and renamed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from keras_srfm.config import STRENGTHS  # dataclasses only: no TensorFlow import

MANIFEST = "degradation.json"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "degrade",
        help="write realistic LR images (blur, resize, noise, JPEG; Real-ESRGAN) for HR images",
        description=(
            "Synthesises LR images from a folder of HR images with the second-order realistic "
            "degradation (Real-ESRGAN), reproducibly from --seed: a degraded test set for "
            "`srfm evaluate --lr-dir`, or with --copies a training set (HR/ + LR/)."
        ),
    )
    p.add_argument("--hr-dir", required=True, metavar="DIR", help="folder of HR images (not recursive)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    p.add_argument("--seed", type=int, default=0, help="degradation seed (default: 0)")
    p.add_argument(
        "--strength",
        default="strong",
        choices=STRENGTHS,
        help="rung of the degradation ladder: clean (MATLAB bicubic), mild (phone/web photo: "
        "slight blur, light noise, JPEG 60-90), medium, strong (Real-ESRGAN's chain) (default: strong)",
    )
    p.add_argument(
        "--copies",
        type=int,
        default=None,
        metavar="K",
        help="training layout: K LR versions per image in OUT/LR/<stem>_<k>, HR in OUT/HR/",
    )
    p.add_argument(
        "--config",
        default=None,
        metavar="FILE",
        help="JSON of DegradationConfig fields overriding those of --strength",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run)


def load_config(path: str | None, strength: str = "strong") -> Any:  # -> DegradationConfig
    """The preset of `strength` with a JSON file's overrides (a whole saved config works too).

    `clean` has no chain: its LR is MATLAB bicubic, and the config only carries the scale.
    """
    from keras_srfm.config import DegradationConfig

    base = DegradationConfig() if strength == "clean" else DegradationConfig.preset(strength)
    if path is None:
        return base
    try:
        values = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"--config file not found: {path}") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"--config {path} is not JSON: {err}") from None
    if isinstance(values, dict) and isinstance(values.get("realistic"), dict):
        values = values["realistic"]  # a DataConfig JSON: take its realistic block
    if not isinstance(values, dict):
        raise ValueError(f"--config must hold a JSON object. Received: {type(values).__name__}")
    return DegradationConfig.from_dict({**base.to_dict(), **values})


def list_hr(folder: str) -> list[Path]:
    """HR image files of a folder, sorted, each checked up front; stems must be unique."""
    from keras_srfm.data.files import IMAGE_SUFFIXES, check_image

    root = Path(folder).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"HR folder not found: {root}")
    if not root.is_dir():
        raise NotADirectoryError(f"not a folder: {root}")
    files = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {root}")
    stems: dict[str, Path] = {}
    for path in files:
        if path.stem in stems:
            raise ValueError(f"two HR files share the stem {path.stem!r}: {stems[path.stem].name}, {path.name}")
        stems[path.stem] = path
        problem = check_image(path)
        if problem is not None:
            raise ValueError(f"bad image {path}: {problem}")
    return files


def _png(image: Any) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def _write_lr(folder: Path, name: str, lr: Any, data: bytes | None) -> str:
    """Writes `name.jpg` (the chain's JPEG) or `name.png`; removes a stale other one."""
    from keras_srfm.imaging.atomic import atomic_write

    suffix, other = (".jpg", ".png") if data is not None else (".png", ".jpg")
    atomic_write(folder / f"{name}{suffix}", data if data is not None else _png(lr))
    (folder / f"{name}{other}").unlink(missing_ok=True)
    return f"{name}{suffix}"


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from keras_srfm.commands.errors import CommandError

    # oneDNN's depthwise convolution sums in another order than Eigen's (measured: 1 of the
    # 5 Set5 LR files differed), so the blur would depend on the CPU and the TF build's
    # oneDNN setting; Eigen's kernels make the files reproducible. Effective only when
    # TensorFlow is not imported yet (always so from the `srfm` command line).
    fresh = "tensorflow" not in sys.modules
    if fresh:
        os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
    config = load_config(args.config, args.strength)
    if args.strength == "clean" and args.copies is not None:
        raise CommandError("--strength clean has one LR per image (MATLAB bicubic): leave out --copies")
    if args.copies is not None and args.copies < 1:
        raise CommandError(f"--copies must be >= 1. Received: {args.copies}")
    files = list_hr(args.hr_dir)
    out = Path(args.out).expanduser()
    if out.resolve() == Path(args.hr_dir).expanduser().resolve():
        raise CommandError("--out must differ from --hr-dir")

    import tensorflow as tf
    from tqdm.auto import tqdm

    from keras_srfm.data.degradation import degrade_image, image_seed, to_uint8, usm_sharpen
    from keras_srfm.evaluation.protocol import mod_crop
    from keras_srfm.imaging.atomic import atomic_write, write_json
    from keras_srfm.imaging.image_io import read_image
    from keras_srfm.imaging.imresize import imresize

    training = args.copies is not None
    lr_dir, hr_dir = (out / "LR", out / "HR") if training else (out, None)
    lr_dir.mkdir(parents=True, exist_ok=True)
    if hr_dir is not None:
        hr_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, list[str]] = {}
    for path in tqdm(files, desc="degrade", unit="img", disable=args.no_progress, file=sys.stderr):
        try:
            hr = mod_crop(read_image(path).rgb, config.scale)
        except ValueError as err:
            raise ValueError(f"cannot read image {path}: {err}") from err
        if min(hr.shape[:2]) < config.scale:
            raise ValueError(f"{path} is smaller than the scale {config.scale}. Received: {hr.shape}")
        names = []
        if training:
            if config.usm_target:
                sharp = usm_sharpen(
                    tf.constant(hr[None], tf.float32) / 255.0,
                    config.usm_weight, config.usm_threshold, config.usm_radius,
                )  # fmt: skip
                hr = to_uint8(sharp)[0].numpy()
            atomic_write(hr_dir / f"{path.stem}.png", _png(hr))
        for copy in range(args.copies or 1):
            if args.strength == "clean":
                lr, data = imresize(hr, scale=1.0 / config.scale), None  # MATLAB bicubic
            else:
                lr, data = degrade_image(hr, image_seed(args.seed, path.stem, copy), config)
            names.append(_write_lr(lr_dir, f"{path.stem}_{copy}" if training else path.stem, lr, data))
        written[path.name] = names
    manifest = {
        "command": "srfm degrade",
        "seed": args.seed,
        "strength": args.strength,
        "copies": args.copies,
        "layout": "training: HR/<stem>.png, LR/<stem>_<k>.jpg|png" if training else "test: <stem>.jpg|png",
        "seeds": "stateless_fold_in([seed, crc32(stem)], copy)",
        "tensorflow": tf.__version__,
        "onednn": "off" if fresh else "as set before TensorFlow was imported (not reproducible)",
        "numpy": np.__version__,
        "config": config.to_dict(),
        "files": written,
    }
    write_json(out / MANIFEST, manifest)
    jpegs = sum(name.endswith(".jpg") for names in written.values() for name in names)
    total = sum(len(names) for names in written.values())
    print(
        f"srfm degrade: wrote {total} LR images ({jpegs} JPEG, {total - jpegs} PNG) "
        f"from {len(files)} HR images to {out}",
        file=sys.stderr,
    )
    return 0
