"""Discriminator of Sec. III-A / Fig. 2 (bottom), exposing its pre-activation conv features."""

from __future__ import annotations

from typing import Any

import keras

from keras_srfm.config import DiscriminatorConfig

# (filters multiplier, kernel, stride) of the 8 conv layers: 3x3/1 and 4x4/2 alternating,
# channels 64 -> 512 (Sec. III-A).
_CONV_SPECS = ((1, 3, 1), (1, 4, 2), (2, 3, 1), (2, 4, 2), (4, 3, 1), (4, 4, 2), (8, 3, 1), (8, 4, 2))

TAP_NAMES = tuple(f"conv{i}" for i in range(1, len(_CONV_SPECS) + 1))

# === Functional Model ===


def build_discriminator(config: DiscriminatorConfig | None = None, **overrides: Any) -> keras.Model:
    """Builds the discriminator of Fig. 2 (bottom) as a Keras functional model.

    8 convs (no BatchNorm after the first), BatchNorm + LeakyReLU(0.2) between convs, then
    Dense(1024) - LeakyReLU - Dense(1) (the logit) and a sigmoid. The pre-activation map of
    every conv block (phi_i of Eq. 6: after BatchNorm and before LeakyReLU, or before
    BatchNorm with `tap="before_bn"`) is an extra output, for the content loss.

    Args:
        config: DiscriminatorConfig or None. Defaults to the paper's network on 96x96 patches.
        **overrides: fields of DiscriminatorConfig replacing those of `config`.

    Returns:
        keras.Model mapping float32 RGB `(batch, P, P, 3)` in [0, 1] to a dict with
        `"prob"` and `"logit"` of shape `(batch, 1)` and `"conv1"`..`"conv8"` feature maps.

    Example:
    >>> d = build_discriminator()
    >>> sorted(d(keras.ops.zeros((2, 96, 96, 3))))[:3]
    ['conv1', 'conv2', 'conv3']
    """
    cfg = DiscriminatorConfig.from_dict({**(config or DiscriminatorConfig()).to_dict(), **overrides})
    size = cfg.patch_size
    inputs = keras.Input(shape=(size, size, 3), name="image")
    # Centre to [-1, 1]: BN-free first conv sees zero-mean input.
    x = keras.layers.Rescaling(2.0, offset=-1.0, name="to_signed")(inputs)
    taps: dict[str, Any] = {}
    for i, (mult, kernel, stride) in enumerate(_CONV_SPECS, start=1):
        name = f"conv{i}"
        x = keras.layers.Conv2D(
            cfg.base_filters * mult, kernel, strides=stride, padding="same", name=name
        )(x)
        if i > 1:
            before_bn = x
            x = keras.layers.BatchNormalization(
                momentum=0.9, epsilon=1e-5, synchronized=cfg.sync_batchnorm, name=f"{name}_bn"
            )(x)
            taps[name] = before_bn if cfg.tap == "before_bn" else x
        else:
            taps[name] = x
        x = keras.layers.LeakyReLU(cfg.leaky_alpha, name=f"{name}_lrelu")(x)
    if cfg.pooling == "avg":
        x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    else:
        x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(cfg.dense_units, name="dense1")(x)
    x = keras.layers.LeakyReLU(cfg.leaky_alpha, name="dense1_lrelu")(x)
    logit = keras.layers.Dense(1, name="logit")(x)
    prob = keras.layers.Activation("sigmoid", name="prob")(logit)
    outputs = {"prob": prob, "logit": logit, **taps}
    return keras.Model(inputs, outputs, name="srfm_discriminator")
