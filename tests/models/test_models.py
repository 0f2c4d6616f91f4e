"""Generator, discriminator and VGG feature extractor (Sec. III-A)."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from keras_srfm import build_discriminator, build_generator  # noqa: E402
from keras_srfm.config import DiscriminatorConfig, GeneratorConfig  # noqa: E402
from keras_srfm.models.discriminator import TAP_NAMES  # noqa: E402
from keras_srfm.models.vgg import build_vgg_features  # noqa: E402

TINY_G = {"num_blocks": 2, "filters": 8}


def test_paper_generator_shapes_and_size():
    g = build_generator()
    assert g(np.zeros((1, 24, 24, 3), "float32")).shape == (1, 96, 96, 3)
    # 16 blocks x 2 convs + head + body + 2 upsampling convs + output conv.
    convs = [layer for layer in g.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) == 16 * 2 + 2 + 2 + 1
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in g.layers)
    assert 1.4e6 < g.count_params() < 1.6e6


@pytest.mark.parametrize("size", [(7, 9), (16, 16), (31, 5)])
def test_generator_any_size(size):
    g = build_generator(**TINY_G)
    h, w = size
    assert g(np.zeros((2, h, w, 3), "float32")).shape == (2, 4 * h, 4 * w, 3)


@pytest.mark.parametrize("scale", [2, 3, 8])
def test_generator_other_scales(scale):
    g = build_generator(**TINY_G, scale=scale)
    assert g(np.zeros((1, 6, 6, 3), "float32")).shape == (1, 6 * scale, 6 * scale, 3)


def test_msra_times_point_one_is_applied():
    g = build_generator(num_blocks=2, filters=64)
    kernel = g.get_layer("block1_conv1").kernel.numpy()
    he_std = np.sqrt(2.0 / (3 * 3 * 64))
    # Truncated-free HeNormal in Keras 3 is a truncated normal (std ~0.88 of nominal).
    assert 0.07 * he_std < kernel.std() < 0.11 * he_std
    plain = keras.initializers.HeNormal(seed=1)((3, 3, 64, 64)).numpy().std()
    assert kernel.std() == pytest.approx(0.1 * plain, rel=0.05)


def test_generator_mean_subtraction_round_trip():
    mean = (0.3, 0.5, 0.7)
    g = build_generator(**TINY_G, rgb_mean=mean)
    g.set_weights([np.zeros_like(w) for w in g.get_weights()])
    out = g(np.full((1, 4, 4, 3), 0.2, "float32")).numpy()
    # All-zero convs: the output is exactly the mean added back.
    np.testing.assert_allclose(out[0, 0, 0], mean, atol=1e-6)


def test_generator_serialisation_safe_mode(tmp_path):
    g = build_generator(**TINY_G)
    path = tmp_path / "g.keras"
    g.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    x = np.random.default_rng(0).random((1, 5, 6, 3)).astype("float32")
    np.testing.assert_allclose(loaded(x), g(x), atol=1e-6)
    rebuilt = keras.Model.from_config(g.get_config())
    assert rebuilt.count_params() == g.count_params()


def test_generator_config_validation():
    with pytest.raises(ValueError, match="Received: scale=5"):
        GeneratorConfig(scale=5)
    with pytest.raises(ValueError, match="Unknown GeneratorConfig"):
        GeneratorConfig.from_dict({"blocks": 3})


def test_paper_discriminator_outputs():
    d = build_discriminator()
    out = d(np.zeros((2, 96, 96, 3), "float32"))
    assert set(out) == {"prob", "logit", *TAP_NAMES}
    channels = [64, 64, 128, 128, 256, 256, 512, 512]
    sizes = [96, 48, 48, 24, 24, 12, 12, 6]
    for name, c, s in zip(TAP_NAMES, channels, sizes):
        assert out[name].shape == (2, s, s, c), name
    assert out["prob"].shape == (2, 1)
    np.testing.assert_allclose(out["prob"], 1 / (1 + np.exp(-out["logit"])), rtol=1e-5)
    kernels = [d.get_layer(n).kernel.shape[0] for n in TAP_NAMES]
    assert kernels == [3, 4] * 4
    bns = [layer for layer in d.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(bns) == 7 and all(bn.synchronized for bn in bns)


def test_discriminator_taps_are_pre_activation():
    x = np.random.default_rng(0).random((2, 32, 32, 3)).astype("float32")
    after = build_discriminator(patch_size=32, base_filters=4, dense_units=8)
    out = after(x, training=True)
    # Pre-activation maps keep negative values (a LeakyReLU output would be scaled down).
    assert float(np.min(out["conv3"])) < -0.1
    # After BN in training mode: per-channel batch mean ~0, std ~1.
    np.testing.assert_allclose(np.mean(out["conv3"], axis=(0, 1, 2)), 0.0, atol=1e-4)
    before = build_discriminator(patch_size=32, base_filters=4, dense_units=8, tap="before_bn")
    before.set_weights(after.get_weights())
    raw = before(x, training=True)["conv3"]
    assert not np.allclose(raw, out["conv3"])


def test_discriminator_global_pooling_any_size():
    d = build_discriminator(patch_size=None, pooling="avg", base_filters=4, dense_units=8)
    assert d(np.zeros((1, 40, 56, 3), "float32"))["logit"].shape == (1, 1)
    with pytest.raises(ValueError, match="patch_size"):
        DiscriminatorConfig(patch_size=None)


def test_vgg_offline_paths(tmp_path):
    vgg = build_vgg_features("block2_conv2", weights=None)
    assert vgg(np.zeros((1, 32, 32, 3), "float32")).shape == (1, 16, 16, 128)
    assert not vgg.trainable_weights
    with pytest.raises(FileNotFoundError):
        build_vgg_features(weights=str(tmp_path / "missing.h5"))
    with pytest.raises(ValueError, match="Unknown VGG19 layer"):
        build_vgg_features("block9_conv1", weights=None)
    # A local weights file is loaded (here: one we saved from a random VGG19).
    src = keras.applications.VGG19(include_top=False, weights=None)
    path = tmp_path / "vgg19_notop.weights.h5"
    src.save_weights(path)
    local = build_vgg_features("block1_conv1", weights=str(path))
    inner = local.get_layer("vgg19_block1_conv1")
    np.testing.assert_array_equal(inner.get_layer("block1_conv1").kernel, src.get_layer("block1_conv1").kernel)


def test_vgg_truncated_imagenet_file(shared_data):
    """The shared blocks 1-3 file serves layers up to block3_conv4 and refuses deeper ones."""
    path = shared_data.parent / "weights" / "vgg19_block1to3_imagenet.h5"
    if not path.is_file():
        pytest.skip(f"truncated VGG19 weights not found at {path}")
    vgg = build_vgg_features("block3_conv4", weights=str(path))
    inner = vgg.get_layer("vgg19_block3_conv4")
    # First values of block1_conv1's bias, as its README (and Keras' own file) give them.
    np.testing.assert_allclose(
        np.asarray(inner.get_layer("block1_conv1").bias)[:4], [0.7301776, 0.0649363, 0.0342885, 0.8260386], atol=1e-7
    )
    assert vgg(np.zeros((1, 32, 32, 3), "float32")).shape == (1, 8, 8, 256)
    shallow = build_vgg_features("block2_conv2", weights=str(path))  # a subset loads by name
    np.testing.assert_array_equal(
        shallow.get_layer("vgg19_block2_conv2").get_layer("block2_conv2").kernel,
        inner.get_layer("block2_conv2").kernel,
    )
    with pytest.raises(ValueError, match="lacks the VGG19 layers block4_conv1..block5_conv4"):
        build_vgg_features("block5_conv4", weights=str(path))


def test_vgg_imagenet_offline_error_is_clear(monkeypatch):
    import socket

    def no_network(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setenv("KERAS_HOME", "/nonexistent-keras-home")
    with pytest.raises(RuntimeError, match="ImageNet VGG19 weights"):
        build_vgg_features(weights="imagenet")


@pytest.mark.parametrize("block_size", [2, 3])
def test_depth_to_space_ops_matches_tensorflow(block_size):
    # The keras.ops path serves the JAX backend (srfm train --backend jax); it must be TF's DCR order.
    import tensorflow as tf

    from keras_srfm.models.layers import depth_to_space

    x = np.random.default_rng(0).random((2, 3, 5, 4 * block_size**2)).astype("float32")
    np.testing.assert_array_equal(
        np.asarray(depth_to_space(x, block_size)), tf.nn.depth_to_space(x, block_size).numpy()
    )
