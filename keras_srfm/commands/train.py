"""`srfm train`: train (or resume) one variant; prints its configuration first."""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from pathlib import Path
from typing import Any

from keras_srfm.config import (  # dataclasses only: no TensorFlow import
    STRENGTHS,
    VARIANTS,
    DataConfig,
    DiscriminatorConfig,
    GeneratorConfig,
    LossConfig,
    TrainConfig,
)
from keras_srfm.training.recipe import CONFIG_OPTIONS, RUN_OPTIONS  # no TensorFlow import

# Options a recipe may not set: where this run goes and what this command does.
COMMAND_OPTIONS = ("config", "phase", "run_dir", "export_only", "verbose", "help")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help=f"train or resume a model (variants {', '.join(VARIANTS)})",
        description="Trains one variant of Sec. V-B, or resumes the run in --run-dir. Every input "
        "(data, VGG19 weights, --init-from, an existing run's configuration) is checked before "
        "the run folder is created or changed.",
    )
    p.add_argument("--config", default=None, metavar="RECIPE",
                   help="take the settings of a recipe.json phase (a file, or a shipped model's name, e.g. "
                        "srfm_pcsa); options given here win, and --steps N stops the phase at step N "
                        "(default: none)")
    p.add_argument("--phase", default=None,
                   help="which phase of --config (default: its last phase that srfm train can rerun)")
    p.add_argument("--variant", default=TrainConfig.variant, choices=list(VARIANTS),
                   help="loss combination of Sec. V-B; pva and pcsva need the ImageNet VGG19 weights "
                        "(the paper's final model is pcsva)")
    p.add_argument("--run-dir", required=True, help="run directory; an existing one is resumed")
    p.add_argument("--data", action="append", default=None, metavar="SOURCE",
                   help="TFDS name (srfm_div2k, srfm_flickr2k, ...) or folder of HR images; repeatable "
                        f"(default: {' + '.join(DataConfig.sources)}, as in the paper; they download on first use)")
    p.add_argument("--data-weights", type=float, nargs="+", default=None,
                   help="sampling weight per --data (default: proportional to the number of images)")
    p.add_argument("--data-dir", default=None, help="TFDS data_dir (default: ~/tensorflow_datasets)")
    p.add_argument("--manual-dir", default=None,
                   help="TFDS manual_dir holding downloaded archives, to prepare offline (default: none)")
    p.add_argument("--degradation", default=DataConfig.degradation, choices=DataConfig.choices("degradation"),
                   help="LR synthesis: bicubic (MATLAB, the paper's), realistic (Real-ESRGAN's strong chain) "
                        "or ladder (per image one rung of clean/mild/medium/strong, weights --ladder)")
    p.add_argument("--ladder", type=float, nargs=len(STRENGTHS), default=list(DataConfig.ladder),
                   metavar="W", help=f"--degradation ladder: weight of each rung ({', '.join(STRENGTHS)})")
    p.add_argument("--steps", type=int, default=TrainConfig.steps, help="total generator updates (paper: 2e5)")
    p.add_argument("--batch-size", type=int, default=DataConfig.batch_size, help="global batch size (paper: 16)")
    p.add_argument("--patches-per-image", type=int, default=DataConfig.patches_per_image,
                   help="random patches cut from each decoded image")
    p.add_argument("--lr-patch", type=int, default=DataConfig.lr_patch,
                   help="LR patch side in pixels; the HR patch is 4x it and must be a multiple of 16 "
                        "(paper: 24)")
    p.add_argument("--g-lr", type=float, default=TrainConfig.g_learning_rate, help="generator Adam rate (paper: 1e-4)")
    p.add_argument("--d-lr", type=float, default=TrainConfig.d_learning_rate, help="discriminator Adam rate (paper: 1e-4)")
    p.add_argument("--decay-every", type=int, default=TrainConfig.decay_every, help="steps between decays (paper: 1e5)")
    p.add_argument("--decay-factor", type=float, default=TrainConfig.decay_factor,
                   help="learning-rate factor per decay (paper: 0.1)")
    p.add_argument("--decay-start", type=int, default=TrainConfig.decay_start,
                   help="step from which --decay-every counts; may change when resuming a run")
    p.add_argument("--decay-at", type=int, nargs="+", default=list(TrainConfig.decay_at), metavar="STEP",
                   help="decay at these steps instead of every --decay-every steps (default: none)")
    p.add_argument("--warmup-steps", type=int, default=TrainConfig.warmup_steps,
                   help="linear rate warm-up of a fresh optimizer, e.g. when fine-tuning with --init-from")
    p.add_argument("--adam-epsilon", type=float, default=TrainConfig.adam_epsilon,
                   help="Adam epsilon; keep it far below the gradient scale (eta=0.01 makes it ~1e-8)")
    p.add_argument("--checkpoint-every", type=int, default=TrainConfig.checkpoint_every, help="steps between checkpoints")
    p.add_argument("--keep-checkpoints", type=int, default=TrainConfig.keep_checkpoints,
                   help="how many of the newest checkpoints to keep; may change when resuming a run")
    p.add_argument("--blocks", type=int, default=GeneratorConfig.num_blocks, help="generator residual blocks (paper: 16)")
    p.add_argument("--filters", type=int, default=GeneratorConfig.filters, help="generator filters (paper: 64)")
    p.add_argument("--rgb-mean", type=float, nargs=3, default=None,
                   help="dataset RGB mean on [0,1] (default: DIV2K's; see `srfm stats`)")
    p.add_argument("--stats", default=None,
                   help="JSON written by `srfm stats`: its rgb_mean is used (default: none)")
    p.add_argument("--vgg-weights", default=LossConfig.vgg_weights,
                   help="'imagenet' (downloaded once into ~/.keras), a local VGG19 notop .h5 file, "
                        "or 'none' (random VGG: tests only)")
    p.add_argument("--vgg-layer", default=LossConfig.vgg_layer, choices=LossConfig.choices("vgg_layer"),
                   metavar="LAYER",
                   help="VGG19 conv layer whose features L_vgg (Eq. 3) matches (default: block5_conv4, the "
                        "paper's); e.g. block3_conv4 with a VGG19 file holding blocks 1-3 only")
    p.add_argument("--vgg-normalise", default=LossConfig.vgg_normalise, choices=LossConfig.choices("vgg_normalise"),
                   help="scale of L_vgg (Eq. 3): none (the paper's raw squared distance) or hr_energy (divided "
                        "by the HR features' mean energy: balanced on any --vgg-layer)")
    p.add_argument("--content-mode", default=LossConfig.content_mode, choices=LossConfig.choices("content_mode"),
                   help="content loss L_content (Eq. 6): as the paper writes it, or as the authors' code")
    p.add_argument("--tap", default=DiscriminatorConfig.tap, choices=DiscriminatorConfig.choices("tap"),
                   help="where the discriminator's feature taps sit relative to BatchNorm")
    p.add_argument("--huber-delta", type=float, default=LossConfig.huber_delta,
                   help="delta of the Huber point loss (Eq. 2) on [0, 1] images")
    p.add_argument("--jit", action=argparse.BooleanOptionalAction, default=TrainConfig.jit_compile,
                   help="XLA-compile the train step (jit_compile=True)")
    p.add_argument("--mixed-precision", default=TrainConfig.mixed_precision,
                   choices=(*TrainConfig.choices("mixed_precision"), "auto"),
                   help="compute dtype (variables and losses stay float32); auto: the fastest that "
                        "`srfm bench --train` measured here, else bfloat16/float16 where the hardware has it "
                        "natively (a resumed run keeps its own)")
    p.add_argument("--backend", default=TrainConfig.backend, choices=TrainConfig.choices("backend"),
                   help="Keras backend of the train step: tensorflow (every strategy), or jax (data-parallel on "
                        "every local device, hosts joined by JAX_COORDINATOR_ADDRESS; no TensorFlow needed; "
                        "folders of HR images as --data; the same run folder)")
    p.add_argument("--strategy", default=TrainConfig.strategy, choices=TrainConfig.choices("strategy"),
                   help="tf.distribute strategy: one device, all local GPUs, TF_CONFIG workers, or a TPU")
    p.add_argument("--ema", action=argparse.BooleanOptionalAction, default=TrainConfig.use_ema,
                   help="keep an EMA of generator weights and export it")
    p.add_argument("--init-from", default=None,
                   help="start G from these weights: a .keras or .weights.h5 file, or a shipped model's name "
                        "(default: random init)")
    p.add_argument("--bench-dir", default=None,
                   help="folder of HR images (e.g. Set5/HR) for a Y-PSNR learning curve at each checkpoint "
                        "(default: no curve)")
    p.add_argument("--seed", type=int, default=TrainConfig.seed, help="seed of the data order, patches and initial weights")
    p.add_argument("--verbose", default="auto", help="Keras progress output: auto, 0, 1 or 2")
    p.add_argument("--export-only", default=None, metavar="FILE.keras",
                   help="write the generator of --run-dir's latest checkpoint to FILE.keras and exit "
                        "(safe while that run is training)")
    p.set_defaults(func=run, prepare=functools.partial(with_recipe, p))


def with_recipe(p: argparse.ArgumentParser, args: argparse.Namespace, argv: list[str]) -> argparse.Namespace:
    """`--config`: `args.calls`, one namespace per `srfm train` call of the recipe's phase.

    Each call takes the recipe's values (RunConfig fields, turned into options by
    `options_from_call`), except for the options given on the command line (found by parsing
    `argv` again with a marker as every default). Without `--config`, `args.calls` is `[args]`.
    """
    if not args.config:
        args.calls = [args]
        return args
    from keras_srfm.training.recipe import phase_calls, stop_calls

    explicit = _explicit_options(p, argv)
    name, calls = phase_calls(args.config, args.phase)
    steps = args.steps if "steps" in explicit else None
    namespaces = []
    for call in stop_calls(calls, steps):
        options = options_from_call(call)
        if "stats" in explicit:  # --stats here replaces the recipe's rgb_mean (which beats --stats)
            options.pop("rgb_mean", None)
        values = {k: v for k, v in options.items() if k not in explicit or k == "steps"}
        namespaces.append(argparse.Namespace(**{**vars(args), **values}))
    print(f"srfm train: phase {name!r} of {args.config}: {len(namespaces)} call(s), "
          f"to step {namespaces[-1].steps}", flush=True)
    args.calls = namespaces
    return args


def options_from_call(call: dict[str, Any]) -> dict[str, Any]:
    """A recipe call (RunConfig fields by group, plus `RUN_OPTIONS`; checked by
    `keras_srfm.training.recipe.phase_calls`) -> `srfm train` option values, by `CONFIG_OPTIONS`."""
    dest_of = {where: dest for dest, where in CONFIG_OPTIONS.items()}
    options = {key: call[key] for key in RUN_OPTIONS if key in call}
    for group, fields in call.items():
        if isinstance(fields, dict):
            for field, value in fields.items():
                dest = dest_of[(group, field)]
                options[dest] = _OPTION_VALUE.get(dest, lambda v: v)(value)
    return options


_UNSET = object()  # an option that leaves its field at the dataclass default


def _option_values(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The field values the options of `CONFIG_OPTIONS` give, by group (`_FIELD_VALUE`
    converts those whose option and field differ in form); `rgb_mean` only when given."""
    groups: dict[str, dict[str, Any]] = {}
    for dest, (group, field) in CONFIG_OPTIONS.items():
        value = _FIELD_VALUE.get(dest, lambda v, _: v)(getattr(args, dest), args)
        if value is not _UNSET:
            groups.setdefault(group, {})[field] = value
    return groups


def _rgb_mean(value: Any, args: argparse.Namespace) -> Any:
    if value:
        return tuple(value)
    return _rgb_mean_from_stats(args.stats) if args.stats else _UNSET


# Option value -> field value, where they differ; `_OPTION_VALUE` is the way back (recipes).
_FIELD_VALUE = {
    "data": lambda v, _: tuple(v or DataConfig.sources),
    "data_weights": lambda v, _: tuple(v or ()),
    "decay_at": lambda v, _: tuple(v),
    "ladder": lambda v, _: tuple(v),
    "rgb_mean": _rgb_mean,
    "vgg_weights": lambda v, _: None if v == "none" else v,
    "mixed_precision": lambda v, args: _mixed_precision(args),
}
_OPTION_VALUE = {
    "vgg_weights": lambda v: "none" if v is None else v,
}


def _explicit_options(p: argparse.ArgumentParser, argv: list[str]) -> set[str]:
    """The options of `srfm train` given in `argv` (argparse keeps no record of it)."""
    unset = object()
    saved = {a.dest: a.default for a in p._actions}
    # An append action needs a list-like default; --data's None already means "not given".
    markers = {a.dest: (None if a.default is None else unset) for a in p._actions}
    p.set_defaults(**markers)
    try:
        probe, _ = p.parse_known_args(argv[argv.index("train") + 1 :] if "train" in argv else argv)
    finally:
        p.set_defaults(**saved)
    return {k for k, v in vars(probe).items() if k in markers and v is not unset and v is not None}


def _rgb_mean_from_stats(path: str) -> tuple[float, ...]:
    try:
        mean = json.loads(Path(path).read_text())["rgb_mean"]
        return tuple(float(v) for v in mean)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"--stats {path} is not a JSON file written by `srfm stats` ({err})") from err


def configs_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The five configs of a run (fields by `CONFIG_OPTIONS`), checked by their dataclasses;
    imports no TensorFlow."""
    from keras_srfm.config import loss_config_for

    values = _option_values(args)
    data = DataConfig(**values["data"], seed=args.seed)
    return {
        "train": TrainConfig(**values["train"]),
        "data": data,
        "generator": GeneratorConfig(**values["generator"]),
        "discriminator": DiscriminatorConfig(patch_size=data.hr_patch, **values["discriminator"]),
        "loss": loss_config_for(args.variant, **values["loss"]),
    }


def run_config_from_args(args: argparse.Namespace):  # -> RunConfig (import kept lazy)
    from keras_srfm.training.run_setup import RunConfig

    return RunConfig(**configs_from_args(args))


def _keras_verbosity(text: str) -> int | str:
    if text not in ("auto", "0", "1", "2"):
        raise ValueError(f"--verbose must be auto, 0, 1 or 2. Received: {text}")
    return int(text) if text.isdigit() else text


def check_inputs(args: argparse.Namespace) -> Any:  # -> RunConfig
    """Checks every input before the run folder is created or changed (keras_srfm.commands.train_checks).

    Cheap checks (no TensorFlow) come first, so a typo fails in well under a second.
    """
    from keras_srfm.commands import train_checks

    configs = configs_from_args(args)
    train_checks.check_files_quick(args.init_from, args.stats, configs["loss"].vgg_weights, args.bench_dir)
    train_checks.check_data_quick(configs["data"].sources, configs["train"].backend)
    train_checks.check_vgg_quick(configs["loss"])

    from keras_srfm.training.run_setup import RunConfig, check_resume_config

    run_cfg = RunConfig(**configs)
    if run_cfg.train.backend == "jax":
        from keras_srfm.training.jax_run import unsupported

        reason = unsupported(run_cfg)
        if reason:
            raise ValueError(f"--backend jax: {reason}")
    check_resume_config(Path(args.run_dir), run_cfg)
    train_checks.check_init_from(args.init_from, run_cfg.generator)
    if run_cfg.train.backend != "jax":  # the JAX path reads its folders itself (no tf.data)
        train_checks.check_data(run_cfg.data)
    train_checks.check_vgg(run_cfg.loss, run_cfg.discriminator.patch_size)
    return run_cfg


def _saved_train(run_dir: str) -> dict[str, Any]:
    """The `train` settings a run folder was started with (empty for a new folder)."""
    path = Path(run_dir) / "config.json"
    return json.loads(path.read_text()).get("train", {}) if path.is_file() else {}


def _saved_backend(run_dir: str) -> str:
    """The backend a run folder was trained with (tensorflow for folders that predate the key)."""
    return _saved_train(run_dir).get("backend", "tensorflow")


def _mixed_precision(args: argparse.Namespace) -> str:
    """`--mixed-precision`, with `auto` resolved: a resumed run's own, else the measured or rule
    choice of `keras_srfm.training.precision` (no TensorFlow import)."""
    if args.mixed_precision != "auto":
        return args.mixed_precision
    saved = _saved_train(args.run_dir).get("mixed_precision")
    if saved:
        return saved
    from keras_srfm.training.precision import choose

    return choose(args.backend, args.jit, args.variant).mode


def precision_notes(args: argparse.Namespace) -> list[str]:
    """The lines printed before training: what `auto` chose and why, and the cost of a precision
    this hardware does not compute natively (one line each, at most two)."""
    from keras_srfm.training import precision

    mode = _mixed_precision(args)
    lines = []
    if args.mixed_precision == "auto":
        if _saved_train(args.run_dir).get("mixed_precision"):
            why = "kept from the run being resumed"
        else:
            why = precision.choose(args.backend, args.jit, args.variant).reason
        lines.append(f"srfm train: --mixed-precision auto -> {mode} ({why})")
    note = precision.cost_note(mode, args.backend, args.jit, args.variant)
    return lines + ([note] if note else [])


def use_jax_backend() -> None:
    """Makes Keras use JAX: sets KERAS_BACKEND before Keras loads, or restarts this command."""
    if os.environ.get("KERAS_BACKEND") == "jax":
        return
    os.environ["KERAS_BACKEND"] = "jax"
    if "keras" in sys.modules:  # a process has one Keras backend
        os.execv(sys.executable, [sys.executable, "-m", "keras_srfm.cli", *sys.argv[1:]])


def run(args: argparse.Namespace) -> int:
    calls = getattr(args, "calls", [args])
    backends = {call.backend for call in calls}  # a recipe's calls name theirs
    if len(backends) > 1:
        raise ValueError(f"the calls of --config {args.config} name several backends: {sorted(backends)}")
    if backends == {"jax"} or (args.export_only and _saved_backend(args.run_dir) == "jax"):
        use_jax_backend()
    if args.export_only and _saved_backend(args.run_dir) == "jax":
        from keras_srfm.training.jax_run import export_from_checkpoint

        path, step = export_from_checkpoint(args.run_dir, args.export_only)
        print(f"srfm train: wrote the step-{step} generator of {args.run_dir} to {path}")
        return 0
    if args.export_only:
        from keras_srfm.training.runner import export_from_checkpoint

        path, step = export_from_checkpoint(args.run_dir, args.export_only)
        print(f"srfm train: wrote the step-{step} generator of {args.run_dir} to {path}")
        return 0
    verbose = _keras_verbosity(args.verbose)
    kernels = None
    if backends != {"jax"}:
        from keras_srfm.training import onednn

        # Before anything imports TensorFlow: the switch is read at import (training.onednn).
        # Said once the inputs are checked, so that a bad option stays a one-line error.
        kernels = f"srfm train: {onednn.enable_for_training()}"
    if Path(args.run_dir).exists() and not Path(args.run_dir).is_dir():
        raise NotADirectoryError(f"--run-dir {args.run_dir} is a file")
    from keras_srfm.training.run_setup import newest_checkpoint_step, run_folder_lock

    # One writer per run folder, for the whole command and before anything in it is read or
    # changed: a second `srfm train` on it is refused in one line (keras_srfm.imaging.locks).
    with run_folder_lock(Path(args.run_dir), {call.strategy for call in calls}):
        done = newest_checkpoint_step(Path(args.run_dir))
        # A recipe's later calls resume the run with their schedule changes; calls already past
        # (an interrupted `--config` run started again) are skipped, not replayed.
        todo = [c for c in calls if c.steps > done] or calls[-1:]
        for call in todo:
            _train(call, verbose, kernels)
    return 0


def _train(args: argparse.Namespace, verbose: int | str, kernels: str | None = None) -> None:
    """One `srfm train` run (or resume) of `args`; `kernels` is the TensorFlow-kernels line to say."""
    run_cfg = check_inputs(args)
    for line in ([kernels] if kernels else []) + precision_notes(args):
        print(line, flush=True)
    from keras_srfm.commands.errors import CommandError

    if run_cfg.train.backend == "jax":
        import errno

        from keras_srfm.training import jax_run
        from keras_srfm.training.run_setup import disk_full_message

        try:
            jax_run.run_training(run_cfg, args.run_dir, bench_dir=args.bench_dir)
        except OSError as err:  # the one line of the TensorFlow path (DiskFullError)
            if err.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            raise CommandError(disk_full_message(Path(args.run_dir))) from err
        return
    from keras_srfm.training.checkpoints import DiskFullError

    try:
        if run_cfg.train.strategy == "multiworker":
            from keras_srfm.training.distributed import run_multiworker

            run_multiworker(run_cfg, args.run_dir, bench_dir=args.bench_dir)
        else:
            from keras_srfm.training.runner import run_training

            run_training(run_cfg, args.run_dir, bench_dir=args.bench_dir, verbose=verbose)
    except DiskFullError as err:
        raise CommandError(str(err)) from err
