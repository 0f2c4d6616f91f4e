"""`srfm` command line: one subcommand per module in `keras_srfm.commands`; glue only.

Each command module defines `add_parser(subparsers)` (which sets `func`) and keeps its heavy
imports (TensorFlow) inside the function that runs, so `srfm --help` is instant. Errors that
a user can fix (`ValueError`, `FileNotFoundError`, `CommandError`) become one line on stderr
and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

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
)


class CommandError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="srfm", description="4x super-resolution with adversarial feature matching (Tej et al.)"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"keras_srfm.commands.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"keras_srfm.commands.{name}":
                raise
            continue
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (CommandError, ValueError, FileNotFoundError, NotADirectoryError) as err:
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        print(f"srfm {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"srfm {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    # `python -m keras_srfm.cli` runs this file as __main__; use the package module so that
    # exception classes (CommandError) are the ones the commands raise.
    from keras_srfm.cli import main as _main

    sys.exit(_main())
