"""The package's import graph, read from the source (AST): no cycle, and the seams it keeps.

Every `import` counts, at module level or inside a function (a lazy import is still a
dependency). `keras_srfm.image_io` (image files) and `keras_srfm.tiling` (receptive field,
tiles) stand alone: no upscaler and no TensorFlow at import; `keras_srfm.atomic` (atomic
file writes) imports only the standard library; `keras_srfm.evaluation` and
`keras_srfm.mos` score and show images without the upscalers of `keras_srfm.inference`.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "keras_srfm"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, *, top_level_only: bool = False) -> set[str]:
    """The modules (of any package) that module `name` imports; `from a import b` gives `a.b`
    when that is a module of this package, else `a`."""
    tree = ast.parse(MODULES[name].read_text(), filename=str(MODULES[name]))
    if top_level_only:
        nodes, stack = [], list(tree.body)
        while stack:  # module level: also inside if / try, but not in def or class bodies
            node = stack.pop()
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                nodes.append(node)
                stack.extend(ast.iter_child_nodes(node))
    else:
        nodes = list(ast.walk(tree))
    package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, `level - 1` packages up
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in MODULES else base)
    return found


def _graph() -> dict[str, set[str]]:
    return {name: {m for m in _imports(name) if m in MODULES and m != name} for name in MODULES}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), i.e. the cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_the_walk_sees_the_package():
    graph = _graph()
    for name in ("keras_srfm.inference", "keras_srfm.image_io", "keras_srfm.tiling", "keras_srfm.mos.prepare"):
        assert name in graph
    assert {"keras_srfm.image_io", "keras_srfm.tiling"} <= graph["keras_srfm.inference"]
    assert "keras_srfm.image_io" in graph["keras_srfm.evaluation"]  # a lazy import counts
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle():
    assert _cycles(_graph()) == []


@pytest.mark.parametrize("name", ["keras_srfm.evaluation", *sorted(m for m in MODULES if m.startswith("keras_srfm.mos"))])
def test_scoring_and_mos_do_not_import_the_upscalers(name):
    assert "keras_srfm.inference" not in _imports(name)


@pytest.mark.parametrize("name", ["keras_srfm.image_io", "keras_srfm.tiling"])
def test_image_io_and_tiling_stand_alone(name):
    top = {m.split(".")[0] if not m.startswith("keras_srfm") else m for m in _imports(name, top_level_only=True)}
    assert "keras_srfm.inference" not in _imports(name)
    assert not top & {"tensorflow", "keras", "jax"}, top


def test_atomic_writes_need_only_the_standard_library():
    """`keras_srfm.atomic` is used from every layer (images, reports, checkpoints): no cycle, no cost."""
    assert {m.split(".")[0] for m in _imports("keras_srfm.atomic")} <= set(sys.stdlib_module_names) | {"__future__"}


def test_image_io_and_tiling_import_no_tensorflow():
    code = ("import sys, keras_srfm.image_io, keras_srfm.tiling; "
            "print(sorted(m for m in ('tensorflow', 'keras', 'keras_srfm.inference') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.split() == ["[]"], out.stderr[-2000:]
