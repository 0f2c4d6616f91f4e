"""Mixed precision (bfloat16 / float16 with loss scaling) and EMA of generator weights."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from keras_srfm.config import (  # noqa: E402
    DataConfig,
    DiscriminatorConfig,
    GeneratorConfig,
    TrainConfig,
    loss_config_for,  # noqa: E402
)
from keras_srfm.training.run_setup import RunConfig  # noqa: E402
from keras_srfm.training.runner import build_training_model, export_generator, set_precision  # noqa: E402


def tiny_run(variant: str = "pcsa", **train: object) -> RunConfig:
    return RunConfig(
        train=TrainConfig(variant=variant, steps=10, checkpoint_every=5, **train),
        data=DataConfig(sources=("synthetic",), batch_size=4, lr_patch=8),
        generator=GeneratorConfig(num_blocks=2, filters=8),
        discriminator=DiscriminatorConfig(patch_size=32, base_filters=8, dense_units=16),
        loss=loss_config_for(variant),
    )


def batch(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    hr = np.random.default_rng(seed).random((4, 32, 32, 3)).astype("float32")
    return tf.image.resize(hr, (8, 8), method="area").numpy(), hr


@pytest.fixture
def restore_policy():
    yield
    set_precision("off")


@pytest.mark.parametrize("mode", ["bfloat16", "float16"])
def test_mixed_precision_step_is_finite(mode, restore_policy):
    run = tiny_run(mixed_precision=mode)
    set_precision(mode)
    model = build_training_model(run)
    compute = {"bfloat16": "bfloat16", "float16": "float16"}[mode]
    assert model.generator(batch()[0]).dtype == compute
    assert all(v.dtype == "float32" for v in model.generator.trainable_variables)
    before = [v.numpy().copy() for v in model.generator.trainable_variables]
    for seed in range(3):
        logs = model.train_step(batch(seed))
    assert all(np.isfinite(float(v)) for v in logs.values()), logs
    assert float(logs["g_content"]) > 0
    # Softmax weights are computed in float32 and still sum to one.
    weights = sum(float(logs[f"w_conv{i}"]) for i in range(1, 9))
    assert weights == pytest.approx(1.0, abs=1e-5)
    moved = max(float(np.abs(v.numpy() - b).max()) for v, b in zip(model.generator.trainable_variables, before))
    assert moved > 0
    if mode == "float16":
        assert isinstance(model.g_optimizer, keras.optimizers.LossScaleOptimizer)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_ema_weights_are_exported(tmp_path, momentum):
    model = build_training_model(tiny_run("p", use_ema=True, ema_momentum=momentum, g_learning_rate=1e-2))
    initial = [v.numpy().copy() for v in model.generator.trainable_variables]
    for seed in range(4):
        model.train_step(batch(seed))
    raw = [v.numpy().copy() for v in model.generator.trainable_variables]
    loaded = keras.saving.load_model(export_generator(model, tmp_path / "g.keras"))
    exported = [v.numpy() for v in loaded.trainable_variables]
    if momentum == 0.0:  # EMA with no memory is the raw weights
        for a, b in zip(exported, raw):
            np.testing.assert_allclose(a, b, atol=1e-7)
    else:  # the average lags behind: between the initial and the raw weights
        dist = lambda a, b: sum(float(np.sum((x - y) ** 2)) for x, y in zip(a, b))  # noqa: E731
        assert dist(exported, raw) > 0
        assert dist(exported, initial) < dist(raw, initial)
