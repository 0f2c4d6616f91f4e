"""TensorFlow's own log lines kept out of the terminal while an `srfm` command runs.

TensorFlow's C++ logger prints some lines at import time whatever `TF_CPP_MIN_LOG_LEVEL` says
(the absl "All log messages before absl::InitializeLog()" preamble, oneDNN's "custom operations
are on", the CPU feature guard), so the first `import tensorflow` runs with file descriptor 2
captured and those lines are dropped. `srfm --verbose COMMAND` shows everything; a user's own
`TF_CPP_MIN_LOG_LEVEL` is honoured, including for the import-time lines. Standard library only.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

# Level used when neither --verbose nor TF_CPP_MIN_LOG_LEVEL is given: errors surface as
# Python exceptions (one line each), so TensorFlow's own lines are all noise to a user.
QUIET_LEVEL = 3
_SEVERITIES = "IWEF"  # absl / glog severities: info, warning, error, fatal
_ABSL_RECORD = re.compile(r"^([IWEF])\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] ")
_ABSL_PREAMBLE = "WARNING: All log messages before absl::InitializeLog() is called"

def filter_tf_log(text: str, level: int) -> str:
    """Drops absl/glog records below `level` (0 info .. 3 fatal only) and their continuations.

    Args:
        text: str. Captured stderr.
        level: int. TF_CPP_MIN_LOG_LEVEL semantics: records with a lower severity are dropped.

    Returns:
        str, the lines that are kept (other output, e.g. Python's, is always kept).
    """
    kept, dropping = [], False
    for line in text.splitlines(keepends=True):
        record = _ABSL_RECORD.match(line)
        if record:
            dropping = _SEVERITIES.index(record.group(1)) < level
        elif line.startswith(_ABSL_PREAMBLE):
            dropping = level >= 1  # the preamble itself is an absl warning about info lines
            if dropping:
                continue
        elif not line.startswith((" ", "To enable")):
            dropping = False  # a continuation is indented, or the feature guard's second line
        if not dropping:
            kept.append(line)
    return "".join(kept)


@contextlib.contextmanager
def filtered_stderr(level: int) -> Iterator[None]:
    """Captures file descriptor 2 (C++ and Python writes) and replays it through `filter_tf_log`."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = filter_tf_log(capture.read().decode(errors="replace"), level)
            if kept:
                sys.stderr.write(kept)
                sys.stderr.flush()


class _FilteredLoader(importlib.abc.Loader):
    """Runs another loader's `exec_module` inside `filtered_stderr`."""

    def __init__(self, loader: Any, level: int) -> None:
        self.loader, self.level = loader, level

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        module.__loader__ = module.__spec__.loader = self.loader
        with filtered_stderr(self.level):
            self.loader.exec_module(module)


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    """Meta-path hook: the first `import tensorflow` (by any module) runs filtered."""

    def __init__(self, level: int) -> None:
        self.level = level

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != "tensorflow":
            return None
        uninstall(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _FilteredLoader(spec.loader, self.level)
        return spec


def uninstall(finder: Any) -> None:
    with contextlib.suppress(ValueError):
        sys.meta_path.remove(finder)


@contextlib.contextmanager
def quiet_tensorflow(verbose: bool = False) -> Iterator[None]:
    """Keeps TensorFlow's log lines out of the terminal while a command runs.

    Sets `TF_CPP_MIN_LOG_LEVEL` to `QUIET_LEVEL` unless the user set it, and filters the lines
    TensorFlow prints at import time regardless of it. Python-side `absl` and `tensorflow`
    loggers pass errors only. `verbose=True` changes nothing.
    """
    if verbose:
        yield
        return
    level = os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", str(QUIET_LEVEL))
    finder = _QuietTensorFlowFinder(int(level) if level.isdigit() else QUIET_LEVEL)
    if "tensorflow" not in sys.modules:
        sys.meta_path.insert(0, finder)
    loggers = [logging.getLogger(name) for name in ("absl", "tensorflow")]
    errors_only = _ErrorsOnly()
    for logger in loggers:
        logger.addFilter(errors_only)  # a filter survives absl resetting the level on import
    try:
        yield
    finally:
        uninstall(finder)
        for logger in loggers:
            logger.removeFilter(errors_only)


class _ErrorsOnly(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR


