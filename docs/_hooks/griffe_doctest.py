"""Griffe extension: doctest blocks in docstrings become fenced `pycon` code.

The package's docstrings follow the keras-hub style: an `Example:` line followed by `>>>`
lines at the same indentation. Griffe's Google parser knows only `Examples:` sections, so
without this the prompts would render as Markdown block quotes and an output such as
`['conv1', 'conv2']` as a reference link. Each run of non-blank lines that starts with `>>>`
is wrapped in a fence; the docstrings themselves stay plain doctest for `python -m doctest`.
"""

from __future__ import annotations

from typing import Any

import griffe


def fence_doctests(text: str) -> str:
    """Wraps each block of non-blank lines that starts with `>>>` in a ```pycon fence."""
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.lstrip().startswith(">>>"):
            out.append(line)
            i += 1
            continue
        indent = line[: len(line) - len(line.lstrip())]
        out.append(f"{indent}```pycon")
        while i < len(lines) and lines[i].strip():
            out.append(lines[i])
            i += 1
        out.append(f"{indent}```")
    return "\n".join(out)


class DoctestFences(griffe.Extension):
    """Applies `fence_doctests` to every docstring griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None and ">>>" in obj.docstring.value:
            obj.docstring.value = fence_doctests(obj.docstring.value)
