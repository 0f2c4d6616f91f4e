"""`srfm mos prepare|serve|report`: the human MOS study of Sec. V-C (Fig. 3)."""

from __future__ import annotations

import argparse
from typing import Any


def _model_arg(text: str) -> tuple[str, str]:
    name, sep, spec = text.partition("=")
    if not sep or not name or not spec:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH, got {text!r}")
    return name, spec


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
        ".tflite, 'default'); NN, bicubic and HR are always included",
    )
    prep.add_argument(
        "--hr-dir", required=True, help="folder of ground-truth HR images (e.g. BSD100/HR)"
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

    from keras_srfm.cli import CommandError

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise CommandError(f"needs {', '.join(missing)}: pip install 'keras-srfm[mos]'")


def run(args: argparse.Namespace) -> int:
    from keras_srfm.cli import CommandError

    if args.mos_command == "prepare":
        from keras_srfm.mos.prepare import prepare_study

        models = dict(args.models)
        if len(models) != len(args.models):
            raise ValueError(f"Model names must be unique. Received: {[n for n, _ in args.models]}")
        path = prepare_study(
            args.hr_dir,
            args.out,
            models=models,
            num_images=args.images,
            num_calibration=args.calibration,
            images_per_rater=args.images_per_rater,
            seed=args.seed,
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
