"""`srfm mos prepare|serve|report`: the human MOS study of Sec. V-C (Fig. 3)."""

from __future__ import annotations

import argparse
from typing import Any


def _model_arg(text: str) -> tuple[str, str]:
    """`NAME=SPEC`, or a shipped model's name alone (`srfm_mp` = `srfm_mp=srfm_mp`)."""
    name, sep, spec = text.partition("=")
    if not sep:
        name = spec = text
    if not name or not spec:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH or a shipped name, got {text!r}")
    return name, spec


def _study_models(args: argparse.Namespace) -> dict[str, str]:
    """`--shipped` (every shipped model, paper order) then `--models`, as name -> spec.

    Shipped names become their `.keras` files; other specs go to `load_upscaler` unchanged.
    """
    from keras_srfm.commands.errors import CommandError
    from keras_srfm.inference.presets import list_models, models_root, resolve_model

    models: dict[str, str] = {}
    if args.shipped:
        models = {m.name: str(m.keras_file) for m in list_models()}
        if not models:
            raise CommandError(
                f"--shipped: no shipped models (<name>/<name>.keras) in {models_root()}"
            )
    for name, spec in args.models:
        if name in models:
            raise ValueError(f"Model names must be unique. Received: {name!r} twice")
        keep = spec in ("default", "bicubic", "nearest")
        models[name] = spec if keep else str(resolve_model(spec))
    return models


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "mos",
        help="human mean-opinion-score study: prepare images, serve the rating page, report",
        description="Mean-opinion-score study as in Sec. V-C of the paper: raters calibrated "
        "on NN (score 1) and HR (score 5) examples rate every version of each image blind, 1-5.",
    )
    sub = parser.add_subparsers(dest="mos_command", metavar="ACTION", required=True)

    prep = sub.add_parser("prepare", help="make the study's images and manifest")
    prep.add_argument(
        "--models",
        nargs="*",
        type=_model_arg,
        default=[],
        metavar="NAME=PATH",
        help="models to rate: name and a spec for load_upscaler (.keras, SavedModel dir, "
        ".tflite, 'default'), or a shipped model's name alone; NN, bicubic and HR are always "
        "included",
    )
    prep.add_argument(
        "--shipped",
        action="store_true",
        help="rate every shipped model (exported_models/<name>/<name>.keras), in the paper's "
        "order M_p, M_pva, M_pca, M_pcsa, M_pcsva: the study of Sec. V-C in one command",
    )
    prep.add_argument(
        "--hr-dir",
        default=None,
        help="folder of ground-truth HR images (default: BSD100/HR of the benchmarks under "
        "SRFM_DATA_DIR, the paper's MOS set)",
    )
    prep.add_argument("--images", type=int, default=20, help="images in the study (default: 20)")
    prep.add_argument(
        "--images-per-rater",
        type=int,
        default=None,
        help="each rater sees a window of this many images (paper: 20 of 100); default: all",
    )
    prep.add_argument(
        "--calibration",
        type=int,
        default=5,
        help="calibration pairs, NN = 1 and HR = 5 (default: 5)",
    )
    prep.add_argument(
        "--seed", type=int, default=0, help="selection, token and order seed (default: 0)"
    )
    prep.add_argument("--out", required=True, help="new or empty study directory")

    srv = sub.add_parser("serve", help="run the rating web app for a study")
    srv.add_argument("study_dir", help="directory made by `srfm mos prepare`")
    srv.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to bind (default: 127.0.0.1, this machine only)",
    )
    srv.add_argument(
        "--port", type=int, default=8000, help="TCP port, 0 = any free (default: 8000)"
    )

    rep = sub.add_parser("report", help="MOS per method with 95%% CI, rater statistics, plot, CSV")
    rep.add_argument("study_dir", help="directory made by `srfm mos prepare`")
    rep.add_argument("--out", default=None, help="output folder (default: STUDY_DIR/report)")

    parser.set_defaults(func=run)
    return parser


def _require(*modules: str) -> None:
    """One-line error, not a traceback, when the `mos` extra is not installed."""
    import importlib.util

    from keras_srfm.commands.errors import CommandError

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise CommandError(f"needs {', '.join(missing)}: pip install 'keras-srfm[mos]'")


def run(args: argparse.Namespace) -> int:
    from keras_srfm.commands.errors import CommandError

    if args.mos_command == "prepare":
        from keras_srfm.inference.upscalers import (
            load_upscaler,  # no TensorFlow until a model loads
        )
        from keras_srfm.mos.prepare import default_hr_dir, prepare_study

        models = _study_models(args)
        hr_dir = args.hr_dir or default_hr_dir()
        if hr_dir is None:
            raise CommandError("give --hr-dir (e.g. .../BSD100/HR): no BSD100 under SRFM_DATA_DIR")
        path = prepare_study(
            hr_dir,
            args.out,
            models=models,
            num_images=args.images,
            num_calibration=args.calibration,
            images_per_rater=args.images_per_rater,
            seed=args.seed,
            load_model=load_upscaler,
        )
        print(f"Study written: {path}")
        return 0
    if args.mos_command == "serve":
        _require("flask")
        from keras_srfm.mos.server import StudyLockedError, serve

        try:
            serve(args.study_dir, host=args.host, port=args.port)
        except StudyLockedError as err:
            raise CommandError(str(err)) from err
        except (FileNotFoundError, NotADirectoryError):
            raise
        except OSError as err:  # e.g. port in use
            raise CommandError(
                f"Cannot serve on {args.host}:{args.port}: {err.strerror or err}"
            ) from err
        return 0
    _require("scipy", "matplotlib")
    from keras_srfm.mos.report import write_report

    report = write_report(args.study_dir, args.out)
    print(report.summary())
    print(f"Report written to {report.files['mos.csv'].parent}")
    return 0
