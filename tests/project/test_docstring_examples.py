"""The `>>>` examples of the docstrings: those that can run here run (doctest), the others
(which need a trained model file, a TF Serving server or a training dataset) at least parse.

A module with examples is in exactly one of the two lists, so a new example is a decision.
"""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "keras_srfm"
# Examples that run as written (NumPy, TensorFlow, the shipped models).
RUN = (
    "keras_srfm.inference.tiling",
    "keras_srfm.imaging.imresize",
    "keras_srfm.models.generator",
    "keras_srfm.models.discriminator",
    "keras_srfm.data.degradation",
    "keras_srfm.inference.presets",
)
# Illustrations with placeholders: the file, image, model or server they name is the reader's.
PARSE_ONLY = (
    "keras_srfm.evaluation.compare",
    "keras_srfm.evaluation.demo",
    "keras_srfm.training.jax_step",
    "keras_srfm.training.tf_step",
    "keras_srfm.metrics.niqe",
    "keras_srfm.export.serving_client",
    "keras_srfm.inference.upscalers",
    "keras_srfm.inference.bench",
    "keras_srfm.inference.blend",
)


def _modules_with_examples() -> set[str]:
    found = set()
    for path in PACKAGE.rglob("*.py"):
        if ">>>" in path.read_text():
            parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
            found.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


def _examples(source: str) -> list[doctest.Example]:
    parser = doctest.DocTestParser()
    return [e for e in parser.parse(source) if isinstance(e, doctest.Example)]


def test_every_module_with_examples_is_listed_once():
    assert not set(RUN) & set(PARSE_ONLY)
    assert _modules_with_examples() == set(RUN) | set(PARSE_ONLY)


@pytest.mark.parametrize("name", PARSE_ONLY)
def test_placeholder_examples_parse(name):
    path = PACKAGE.parent / (name.replace(".", "/") + ".py")
    examples = _examples(path.read_text())
    assert examples, name
    for example in examples:
        compile(example.source, f"{name} example", "single")


@pytest.mark.slow  # TensorFlow, a paper-size discriminator, a shipped model
@pytest.mark.parametrize("name", RUN)
def test_examples_run(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = [t for t in finder.find(module) if t.examples]
    assert tests, name
    for test in tests:
        runner.run(test)
    assert runner.failures == 0, f"{runner.failures} of {runner.tries} example(s) of {name} failed (see output)"
