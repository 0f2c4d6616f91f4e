"""`srfm blend`: interpolate two generators (ESRGAN network interpolation), or sweep alpha."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "blend",
        help="blend two generators: theta = (1-alpha) theta_A + alpha theta_B; or sweep alpha",
        description=(
            "Network interpolation of two generators of the same architecture (as ESRGAN): "
            "a detail-vs-smoothness knob between, e.g., srfm_mp (alpha = 0) and a perceptual "
            "model (alpha = 1). With -o, writes the blended .keras generator; with --sweep, "
            "evaluates several alphas on test sets and writes the curve (PSNR / NIQE against "
            "alpha) as JSON for `srfm plot-pd --blend-sweep`."
        ),
    )
    p.add_argument(
        "--models",
        nargs=2,
        required=True,
        metavar=("A", "B"),
        help="two .keras generators: paths or shipped model names (e.g. srfm_mp srfm_pcsa)",
    )
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("-o", "--output", metavar="FILE", help="write the blend to FILE.keras")
    mode.add_argument(
        "--sweep",
        metavar="ALPHAS",
        help="comma-separated alphas to evaluate, e.g. 0,0.25,0.5,0.75,1 (needs --json and "
        "--hr-dir or --dataset)",
    )
    p.add_argument("--alpha", type=float, default=0.5, help="weight of B, in [0, 1] (default: 0.5)")
    p.add_argument("--hr-dir", action="append", default=[], metavar="DIR", help="HR folder")
    p.add_argument(
        "--dataset",
        action="append",
        default=[],
        metavar="NAME",
        help="TFDS benchmark (Set5, Set14, BSD100, Urban100); repeatable",
    )
    p.add_argument("--data-dir", default=None, help="TFDS data_dir for --dataset")
    p.add_argument("--manual-dir", default=None, help="TFDS manual_dir for --dataset")
    p.add_argument("--json", default=None, metavar="FILE", help="sweep results (--sweep)")
    p.add_argument(
        "--metrics",
        default="psnr,niqe",
        metavar="LIST",
        help="sweep metrics, from psnr,ssim,vif,niqe (default: psnr,niqe; NIQE: lower is better)",
    )
    p.add_argument("--tile-size", type=int, default=None, help="LR tile edge (default 256)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.set_defaults(func=run)


def _run_sweep(args: argparse.Namespace) -> int:
    from keras_srfm.commands.errors import CommandError
    from keras_srfm.evaluation import protocol
    from keras_srfm.imaging.atomic import write_json
    from keras_srfm.inference import blend

    if not args.json:
        raise CommandError("--sweep needs --json FILE for the curve")
    if not args.hr_dir and not args.dataset:
        raise CommandError("--sweep needs at least one --hr-dir or --dataset")
    alphas = blend.parse_alphas(args.sweep)
    metrics = protocol.parse_metrics(args.metrics)
    if "niqe" in metrics:
        from keras_srfm.metrics.niqe import load_niqe_params

        load_niqe_params()
    sources = [protocol.folder_source(d) for d in args.hr_dir]
    sources += [protocol.tfds_source(n, args.data_dir, args.manual_dir) for n in args.dataset]
    names = protocol.unique_names([s.name for s in sources])
    sources = [protocol.ImageSource(n, s.size, s.images) for s, n in zip(sources, names)]
    document = blend.sweep(
        *args.models,
        alphas,
        sources,
        metrics=metrics,
        tile_size=args.tile_size,
        progress=not args.no_progress,
    )
    for name, entry in document["datasets"].items():
        print(f"{name}: {' | '.join(n.upper() for n in metrics)} against alpha")
        for point in entry["points"]:
            values = "  ".join(f"{m}={point['mean'][m]:.4f}" for m in metrics)
            print(f"  alpha={point['alpha']:g}  {values}")
        if "hr" in entry:
            print(f"  HR NIQE={entry['hr']['mean']['niqe']:.4f}")
    if "niqe" in metrics:
        print(protocol.NIQE_NOTE)
    write_json(args.json, document)
    return 0


def run(args: argparse.Namespace) -> int:
    from keras_srfm.inference import blend

    if args.sweep is not None:
        return _run_sweep(args)
    if not args.output.endswith(".keras"):
        raise ValueError(f"the output must be a .keras file. Received: {args.output}")
    model = blend.blend_files(*args.models, alpha=blend.check_alpha(args.alpha))
    path = blend.save_model(model, args.output)
    print(
        f"blended {args.models[0]} (1 - {args.alpha:g}) + {args.models[1]} ({args.alpha:g}) -> {path}"
    )
    return 0
