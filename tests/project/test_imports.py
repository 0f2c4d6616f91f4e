"""The package's import graph, read from the source (AST): no cycle, one import path per name,
and the seams it keeps.

Every `import` counts, at module level or inside a function (a lazy import is still a
dependency), and so does `importlib.import_module("keras_srfm....")`: a literal names one module,
an f-string every module its pattern matches (`f"keras_srfm.commands.{name}"`: all commands),
and a call with a computed name (the public API's lazy table in `keras_srfm/__init__.py`) counts
every module name written as a string in that file. An import of the package root itself is no
edge: Python imports `keras_srfm/__init__.py` before any submodule anyway. `keras_srfm.imaging.image_io` (image files) and `keras_srfm.inference.tiling` (receptive field,
tiles) stand alone: no upscaler and no TensorFlow at import; `keras_srfm.imaging.atomic` (atomic
file writes) imports only the standard library; `keras_srfm.evaluation.protocol` and
`keras_srfm.mos` score and show images without the upscalers of `keras_srfm.inference.upscalers`.
"""

from __future__ import annotations

import ast
import functools
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "keras_srfm"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _import_module_targets(call: ast.Call, strings: set[str]) -> set[str]:
    """The package modules an `importlib.import_module(...)` call can load."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    if name != "import_module" or not call.args:
        return set()
    arg = call.args[0]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return {arg.value}
    if isinstance(arg, ast.JoinedStr):  # an f-string: its literal parts, anything between them
        pattern = "".join(
            re.escape(part.value) if isinstance(part, ast.Constant) else r"\w+" for part in arg.values
        )
        return {m for m in MODULES if re.fullmatch(pattern, m)}
    return strings  # a computed name: any module the file names in a string


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
    strings = {
        node.value for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in MODULES
    }
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
        elif isinstance(node, ast.Call):
            found.update(_import_module_targets(node, strings))
    return found


def _graph() -> dict[str, set[str]]:
    root = PACKAGE.name  # imported before any submodule: an edge to it says nothing
    return {name: {m for m in _imports(name) if m in MODULES and m not in (name, root)} for name in MODULES}


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
    for name in ("keras_srfm.inference.upscalers", "keras_srfm.imaging.image_io", "keras_srfm.inference.tiling", "keras_srfm.mos.prepare"):
        assert name in graph
    assert {"keras_srfm.imaging.image_io", "keras_srfm.inference.tiling"} <= graph["keras_srfm.inference.upscalers"]
    assert "keras_srfm.imaging.image_io" in graph["keras_srfm.evaluation.protocol"]  # a lazy import counts
    assert "keras_srfm.commands.train" in graph["keras_srfm.cli"]  # import_module(f"...{name}")
    assert {"keras_srfm.commands.upscale", "keras_srfm.commands.degrade"} <= graph["keras_srfm.cli"]
    assert "keras_srfm.inference.presets" in graph["keras_srfm"]  # the lazy public API
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle():
    assert _cycles(_graph()) == []


@pytest.mark.parametrize("name", ["keras_srfm.evaluation.protocol", *sorted(m for m in MODULES if m.startswith("keras_srfm.mos"))])
def test_scoring_and_mos_do_not_import_the_upscalers(name):
    assert "keras_srfm.inference.upscalers" not in _imports(name)


@pytest.mark.parametrize("name", ["keras_srfm.imaging.image_io", "keras_srfm.inference.tiling"])
def test_image_io_and_tiling_stand_alone(name):
    top = {m.split(".")[0] if not m.startswith("keras_srfm") else m for m in _imports(name, top_level_only=True)}
    assert "keras_srfm.inference.upscalers" not in _imports(name)
    assert not top & {"tensorflow", "keras", "jax"}, top


def test_atomic_writes_need_only_the_standard_library():
    """`keras_srfm.imaging.atomic` is used from every layer (images, reports, checkpoints): no cycle, no cost."""
    assert {m.split(".")[0] for m in _imports("keras_srfm.imaging.atomic")} <= set(sys.stdlib_module_names) | {"__future__"}


def test_image_io_and_tiling_import_no_tensorflow():
    code = ("import sys, keras_srfm.imaging.image_io, keras_srfm.inference.tiling; "
            "print(sorted(m for m in ('tensorflow', 'keras', 'keras_srfm.inference.upscalers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.split() == ["[]"], out.stderr[-2000:]


# === One import path per name ===

ROOT = PACKAGE.parent
# The documented public API (keras_srfm/__init__.py's lazy table): the one second path a name has.
PUBLIC = {"__version__", "register_keras_objects"}


@functools.cache
def _defined(module: str) -> set[str]:
    """Names a module binds itself at module level (def, class, assignment; also under if / try)."""
    names: set[str] = set()
    stack = list(ast.parse(MODULES[module].read_text()).body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            stack.extend(ast.iter_child_nodes(node))
    return names


@functools.cache
def _public_api() -> set[str]:
    import keras_srfm

    return set(keras_srfm.__all__) | PUBLIC


def _dotted(node: ast.AST) -> list[str]:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return [node.id, *reversed(parts)] if isinstance(node, ast.Name) else []


def _second_paths(path: Path) -> list[str]:
    """`from keras_srfm.m import x` and `m.x` where module `m` does not define `x` itself."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found, aliases = [], {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGE.name):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                if sub in MODULES:
                    aliases[alias.asname or alias.name] = sub
                elif node.module == PACKAGE.name:
                    if alias.name not in _public_api():
                        found.append(f"{path.name}:{node.lineno} {sub}")
                elif node.module not in MODULES or alias.name not in _defined(node.module):
                    found.append(f"{path.name}:{node.lineno} {sub}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(PACKAGE.name):
                    aliases[alias.asname or alias.name.split(".")[0]] = alias.asname and alias.name or PACKAGE.name
    for node in ast.walk(tree):
        parts = _dotted(node) if isinstance(node, ast.Attribute) else []
        if not parts or parts[0] not in aliases:
            continue
        module = aliases[parts[0]]
        for part in parts[1:]:
            if f"{module}.{part}" in MODULES:
                module = f"{module}.{part}"
                continue
            allowed = _public_api() if module == PACKAGE.name else _defined(module)
            if part not in allowed and not part.startswith("__"):
                found.append(f"{path.name}:{node.lineno} {module}.{part}")
            break
    return found


def test_one_import_path_per_name():
    """No re-exports: a name is imported from the module that defines it (the public API aside)."""
    files = [p for folder in (PACKAGE.name, "tests", "tools", "benchmarks", "tfds_builders")
             for p in sorted((ROOT / folder).rglob("*.py"))]
    assert len(files) > 100
    assert [f for path in files for f in _second_paths(path)] == []


def test_the_path_check_sees_a_re_export(tmp_path):
    (tmp_path / "user.py").write_text(
        "from keras_srfm.inference.upscalers import read_image\n"  # defined in imaging.image_io
        "from keras_srfm.imaging import image_io\n"
        "image_io.atomic_save\n"  # defined in imaging.atomic
        "from keras_srfm.inference.upscalers import load_upscaler\n"  # fine
        "from keras_srfm import load_generator, compare\n"  # public API fine, `compare` is no module
    )
    assert [f.split(" ")[1] for f in _second_paths(tmp_path / "user.py")] == [
        "keras_srfm.inference.upscalers.read_image",
        "keras_srfm.compare",
        "keras_srfm.imaging.image_io.atomic_save",
    ]
