"""Fixtures shared by the export tests (ONNX, ncnn): the generator every format is compared with."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def generator():  # -> keras.Model
    """A 2-block, 8-filter generator with init_scale=0.6, so that its outputs span [0, 1] (the
    paper's x0.1 init would make a parity check between formats trivial)."""
    keras = pytest.importorskip("keras")
    from keras_srfm.models.generator import build_generator

    keras.utils.set_random_seed(0)
    return build_generator(num_blocks=2, filters=8, init_scale=0.6)
