"""One SRFM step on MirroredStrategy (2 logical CPUs) vs one device, same global batch.

Prints one JSON line: max |difference| of generator, discriminator (incl. BatchNorm moving
statistics) and Eq. 7 state after the step, and the logged metrics of both runs.
Usage: python mirrored_step.py [VARIANT]
"""

from __future__ import annotations

import json
import sys

import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_srfm import SRFM, VARIANTS, build_discriminator, build_generator  # noqa: E402
from keras_srfm.models.vgg import build_vgg_features  # noqa: E402


def build(variant: str) -> SRFM:
    keras.utils.set_random_seed(0)
    cfg = VARIANTS[variant]
    g = build_generator(num_blocks=2, filters=8)
    d = build_discriminator(patch_size=32, base_filters=8, dense_units=16) if cfg.needs_discriminator else None
    vgg = build_vgg_features("block2_conv2", weights=None, patch_size=32) if cfg.use_vgg else None
    model = SRFM(g, d, vgg, variant=variant)
    model.compile(g_optimizer=keras.optimizers.SGD(0.1),
                  d_optimizer=keras.optimizers.SGD(0.1) if d is not None else None)
    return model


def main() -> None:
    variant = sys.argv[1] if len(sys.argv) > 1 else "pcsva"
    rng = np.random.default_rng(0)
    hr = rng.random((8, 32, 32, 3)).astype("float32")
    lr = tf.image.resize(hr, (8, 8), method="area").numpy()
    ds = tf.data.Dataset.from_tensor_slices((lr, hr)).batch(8)  # one global batch of 8

    single = build(variant)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        mirrored = build(variant)
    mirrored.set_weights(single.get_weights())
    initial = [w.numpy().copy() for w in single.generator.weights]  # what a fresh build(variant) holds
    logs = {}
    for name, model in (("single", single), ("mirrored", mirrored)):
        history = model.fit(ds, epochs=1, verbose=0).history
        logs[name] = {k: float(v[-1]) for k, v in history.items()}

    def max_diff(a: list, b: list) -> float:
        return max(float(np.max(np.abs(np.asarray(x) - np.asarray(y)))) for x, y in zip(a, b))

    print(json.dumps({
        "replicas": strategy.num_replicas_in_sync,
        "generator": max_diff(single.generator.weights, mirrored.generator.weights),
        "discriminator": max_diff(single.discriminator.weights, mirrored.discriminator.weights)
        if single.discriminator is not None else 0.0,
        "scales": max_diff([single.content_scales], [mirrored.content_scales]),
        "moved": max_diff(single.generator.weights, initial),
        "logs": logs,
    }))


if __name__ == "__main__":
    main()
