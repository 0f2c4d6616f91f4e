"""Loss terms of Eqs. 2-7 on tiny tensors (BasicSR-style 1x4x4x3 inputs)."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from keras_srfm.training import losses  # noqa: E402

RNG = np.random.default_rng(0)


def test_point_loss_is_huber_eq2():
    hr = RNG.random((2, 4, 4, 3)).astype("float32")
    sr = hr + RNG.normal(0, 0.8, hr.shape).astype("float32")  # some |err| > 1
    got = losses.point_loss(hr, sr, delta=1.0).numpy()
    err = np.abs(sr - hr)
    expected = np.where(err < 1, 0.5 * err**2, err - 0.5).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    assert (err >= 1).any() and (err < 1).any()


def test_point_loss_small_delta_is_l1_like():
    hr = np.zeros((1, 4, 4, 3), "float32")
    sr = np.full_like(hr, 0.5)
    # Linear branch: delta * (|err| - delta / 2), i.e. a scaled L1.
    assert losses.point_loss(hr, sr, delta=0.01).numpy()[0] == pytest.approx(0.01 * (0.5 - 0.005), rel=1e-5)


def test_adversarial_losses_eq4_eq5():
    fake = np.array([[-2.0], [0.0], [3.0]], "float32")
    real = np.array([[1.0], [-1.0], [0.5]], "float32")
    sig = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    np.testing.assert_allclose(losses.adversarial_loss(fake), -np.log(sig(fake[:, 0])), rtol=1e-5)
    expected_d = -np.log(1 - sig(fake[:, 0])) - np.log(sig(real[:, 0]))
    np.testing.assert_allclose(losses.discriminator_loss(real, fake), expected_d, rtol=1e-5)
    # From logits: finite even where the sigmoid saturates.
    assert np.isfinite(losses.adversarial_loss(np.array([[-200.0]], "float32")).numpy()).all()


def test_content_losses_eq6_hr_is_constant_target():
    hr = {"a": tf.constant(RNG.random((2, 4, 4, 3)), tf.float32), "b": tf.constant(RNG.random((2, 2, 2, 5)), tf.float32)}
    sr = {k: tf.Variable(v + 0.1) for k, v in hr.items()}
    hr_var = {k: tf.Variable(v) for k, v in hr.items()}
    with tf.GradientTape(persistent=True) as tape:
        per = losses.content_losses(hr_var, sr, ["a", "b"])
        total = tf.reduce_sum(per)
    assert per.shape == (2, 2)
    np.testing.assert_allclose(per.numpy(), 0.01, rtol=1e-4)
    assert tape.gradient(total, hr_var["a"]) is None
    assert tape.gradient(total, sr["a"]) is not None


def test_softmax_weights_eq7_stop_gradient():
    layer = tf.Variable([1.0, 2.0, 0.5])
    with tf.GradientTape() as tape:
        w = losses.softmax_weights(layer)
        out = tf.reduce_sum(w * tf.constant([3.0, 1.0, 2.0]))
    np.testing.assert_allclose(w.numpy(), np.exp([1, 2, 0.5]) / np.exp([1, 2, 0.5]).sum(), rtol=1e-6)
    assert tape.gradient(out, layer) is None
    with tf.GradientTape() as tape:
        out = tf.reduce_sum(losses.softmax_weights(layer, stop_gradient=False) * tf.constant([3.0, 1.0, 2.0]))
    assert tape.gradient(out, layer) is not None


def test_reweighed_gradient_is_weight_times_layer_gradient():
    x = tf.Variable([1.0, 2.0])
    with tf.GradientTape() as tape:
        per_layer = tf.stack([x[0] ** 2, 3 * x[1]])[tf.newaxis, :]  # (batch=1, layers=2)
        w = losses.softmax_weights(per_layer[0])
        total = tf.reduce_sum(losses.reweighed_content_loss(per_layer, w))
    grad = tape.gradient(total, x).numpy()
    wv = w.numpy()
    np.testing.assert_allclose(grad, [wv[0] * 2 * 1.0, wv[1] * 3], rtol=1e-6)


def test_calibration_scales_bring_layers_to_one():
    layer = tf.constant([1e-4, 3.0, 250.0])
    np.testing.assert_allclose((losses.calibration_scales(layer) * layer).numpy(), 1.0, rtol=1e-6)


def test_vgg_loss_hr_energy_is_the_relative_feature_error():
    hr = RNG.random((2, 3, 3, 4)).astype("float32") * 1e3  # raw VGG features are large
    sr = hr * 1.1  # 10 % too strong everywhere
    raw = losses.vgg_loss(hr, sr).numpy()
    np.testing.assert_allclose(raw, ((sr - hr) ** 2).mean(axis=(1, 2, 3)), rtol=1e-5)
    balanced = losses.vgg_loss(hr, sr, normalise="hr_energy").numpy()
    np.testing.assert_allclose(balanced, [0.01, 0.01], rtol=1e-4)  # (0.1 h)^2 / h^2
    # The balanced loss does not depend on the features' scale (the layer), the raw one does.
    np.testing.assert_allclose(losses.vgg_loss(hr * 50, sr * 50, normalise="hr_energy").numpy(), balanced, rtol=1e-4)
    with pytest.raises(ValueError, match="normalise must be"):
        losses.vgg_loss(hr, sr, normalise="l1")


def test_vgg_loss_hr_energy_does_not_amplify_vanishing_features():
    """Features with almost no energy (a flat patch; a random VGG's block5_conv4, 6.7e-8) are
    not divided by it: the loss stays the raw Eq. 3 and finite in float16 too."""
    hr = RNG.random((2, 1, 1, 8)).astype("float32") * 1e-3
    sr = RNG.random((2, 1, 1, 8)).astype("float32") * 1e-3
    np.testing.assert_allclose(losses.vgg_loss(hr, sr, normalise="hr_energy").numpy(),
                               losses.vgg_loss(hr, sr).numpy(), rtol=1e-6)
    half = losses.vgg_loss(hr.astype("float16"), sr.astype("float16"), normalise="hr_energy").numpy()
    assert np.all(np.isfinite(half))


def test_vgg_loss_hr_energy_gradient_reaches_sr_only():
    hr = tf.constant(RNG.random((1, 2, 2, 3)).astype("float32") * 10)  # energy ~33, above the floor
    sr = tf.Variable(RNG.random((1, 2, 2, 3)).astype("float32") * 10)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(hr)
        loss = tf.reduce_sum(losses.vgg_loss(hr, sr, normalise="hr_energy"))
    assert tape.gradient(loss, hr) is None  # the target and its energy are constants
    expected = 2 * (sr.numpy() - hr.numpy()) / sr.numpy().size / np.mean(hr.numpy() ** 2)
    np.testing.assert_allclose(tape.gradient(loss, sr).numpy(), expected, rtol=1e-4)


@pytest.mark.parametrize("variant, content_mode", [("pcsa", "paper"), ("pca", "paper"), ("pcsa", "authors")])
def test_the_objective_reweighs_with_the_tested_eq7(variant, content_mode, monkeypatch):
    """Training's L_content is `reweighed_content_loss` (one implementation of Eq. 7), whatever
    the weighting (softmax, plain mean) or the content mode."""
    from keras_srfm.config import loss_config_for
    from keras_srfm.models.discriminator import TAP_NAMES
    from keras_srfm.training import objective

    calls, real = [], losses.reweighed_content_loss

    def spy(layer_losses, weights):
        calls.append(layer_losses.shape)
        return real(layer_losses, weights)

    monkeypatch.setattr(losses, "reweighed_content_loss", spy)  # the module objective.py calls through
    hr = RNG.random((2, 8, 8, 3)).astype("float32")
    sr = RNG.random((2, 8, 8, 3)).astype("float32")
    features = {tap: tf.constant(RNG.random((4, 4, 4, 2)).astype("float32")) for tap in TAP_NAMES}
    logit = tf.constant(RNG.normal(size=(4, 1)).astype("float32"))

    def discriminate(images):
        return {**features, "logit": logit, "prob": tf.sigmoid(logit)}

    config = loss_config_for(variant, content_mode=content_mode, use_vgg=False, vgg_weights=None)
    out = objective.srfm_objective(config, hr, sr, discriminate=discriminate,
                                   scales=tf.ones(len(TAP_NAMES)), calibrated=tf.constant(1.0))
    assert len(calls) == 2  # this replica's part and the global total of L_content
    assert np.isfinite(float(out.logs["g_content"]))
