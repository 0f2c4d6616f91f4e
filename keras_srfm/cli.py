"""`srfm` command line: one subcommand per module in `keras_srfm.commands`; glue only.

Each command module defines `add_parser(subparsers)` (which sets `func`) and keeps its heavy
imports (TensorFlow) inside the function that runs, so `srfm --help` is instant and a typo
fails before TensorFlow loads. Errors that a user can fix (`ValueError`, `FileNotFoundError`,
`CommandError`, argparse's usage errors, a missing optional extra) become one line on stderr
and exit status 2.

TensorFlow's own log lines are kept out of the terminal while a command runs
(`keras_srfm.commands.tf_logs.quiet_tensorflow`); `srfm --verbose COMMAND` shows everything.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from keras_srfm.commands.errors import CommandError
from keras_srfm.commands.tf_logs import quiet_tensorflow

COMMANDS = (
    "train",
    "stats",
    "evaluate",
    "upscale",
    "export",
    "convert",
    "demo",
    "compare",
    "bench",
    "mos",
    "models",
    "blend",
    "plot_pd",
    "degrade",
)

# Optional dependencies -> the pyproject extra that installs them.
EXTRAS = {"ai_edge_litert": "litert", "flask": "mos", "scipy": "mos"}


# === Help and usage errors ===


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends "(default: X)" to option help that does not state its default already."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            "default" in text.lower()
            or action.default in (None, argparse.SUPPRESS)
            or isinstance(action.default, bool)
            or not action.option_strings
        ):
            return text
        return f"{text} (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """ArgumentParser with `HelpFormatter` and usage errors on one line (exit status 2)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    from keras_srfm import __version__

    parser = Parser(
        prog="srfm", description="4x super-resolution with adversarial feature matching (Tej et al.)"
    )
    parser.add_argument("--version", action="version", version=f"srfm {__version__}")
    parser.add_argument(
        "--verbose",
        action="store_true",
        dest="show_tf_logs",  # not `verbose`: `srfm train --verbose` is Keras' progress output
        help="show TensorFlow's own log lines (hidden by default, as are those below the "
        "level in TF_CPP_MIN_LOG_LEVEL when you set it)",
    )
    subparsers = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=Parser
    )
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"keras_srfm.commands.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"keras_srfm.commands.{name}":
                raise
            continue
        module.add_parser(subparsers)
    return parser


# === Entry point ===


def _one_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    try:
        if hasattr(args, "prepare"):  # a command that reads more settings (srfm train --config)
            args = args.prepare(args, argv)
        with quiet_tensorflow(args.show_tf_logs):
            return int(args.func(args) or 0)
    except (CommandError, ValueError, FileNotFoundError, NotADirectoryError) as err:
        print(f"srfm {args.command}: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as err:
        module = (err.name or "").split(".")[0]
        if module not in EXTRAS:
            raise
        print(
            f"srfm {args.command}: error: this needs the optional package {module}: "
            f'pip install "keras-srfm[{EXTRAS[module]}]"',
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print(f"srfm {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    # `python -m keras_srfm.cli` runs this file as __main__; use the package module so that
    # exception classes (CommandError) are the ones the commands raise.
    from keras_srfm.cli import main as _main

    sys.exit(_main())
