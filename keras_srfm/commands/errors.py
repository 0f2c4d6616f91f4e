"""The one error type of the `srfm` commands: a message a user can act on.

`keras_srfm.cli.main` prints it as one line on stderr and exits with status 2 (as it does for
`ValueError`, `FileNotFoundError` and argparse's usage errors).
"""

from __future__ import annotations


class CommandError(Exception):
    """A user-facing error: printed as one line, exit status 2."""
