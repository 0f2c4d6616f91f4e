"""SRFM: the TensorFlow training model; its `train_step` applies Eq. 1 to G and Eq. 5 to D.

Follows the Keras GAN guide (`GAN(keras.Model)` holding both networks, one tape each, own
`Mean` trackers). The losses come from `keras_srfm.training.objective.srfm_objective`, the one
assembly of Eq. 1 that the JAX step (`keras_srfm.training.jax_step`) uses too; this module supplies
the `tf.distribute` cross-replica sum, so a step is correct under any strategy (per-example
losses divided by the *global* batch, layer-wise content losses summed *before* the softmax
of Eq. 7, and the discriminator's BatchNorm synchronised with `synchronized=True`).
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from keras_srfm.config import LossConfig, loss_config_for
from keras_srfm.training.objective import (
    CrossReplica,
    batch_psnr,
    content_taps,
    log_names,
    srfm_objective,
)

# === Training model ===


@keras.saving.register_keras_serializable(package="keras_srfm")
class SRFM(keras.Model):
    """Generator + discriminator (+ VGG19) trained with Eq. 1.

    `L = L_content + lambda L_adv + eta L_point + gamma L_vgg` for the generator (Eqs. 2-4,
    6-7) and Eq. 5 for the discriminator. One forward pass of D over `[HR; SR]` serves both
    updates (as in TensorFlow's DCGAN tutorial): D's gradients come from Eq. 5 only, G's from
    Eq. 1 only, each applied by its own optimizer, so the G update never changes D's weights.

    Args:
        generator: keras.Model from `build_generator`.
        discriminator: keras.Model from `build_discriminator`, or None for variant `p`.
        vgg: keras.Model from `build_vgg_features`, or None unless the variant uses L_vgg.
        loss_config: LossConfig, or None for `variant`'s configuration.
        variant: str. One of `VARIANTS`, used when `loss_config` is None. Defaults to "pcsva".

    Example:
    >>> model = SRFM(build_generator(), build_discriminator(), variant="pcsa")
    >>> model.compile(g_optimizer=keras.optimizers.Adam(1e-4), d_optimizer=keras.optimizers.Adam(1e-4))
    >>> model.fit(dataset_of_lr_hr_batches, steps_per_epoch=200, epochs=10)
    """

    def __init__(
        self,
        generator: keras.Model,
        discriminator: keras.Model | None = None,
        vgg: keras.Model | None = None,
        loss_config: LossConfig | None = None,
        variant: str = "pcsva",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        cfg = loss_config or loss_config_for(variant)
        if cfg.needs_discriminator and discriminator is None:
            raise ValueError("This loss configuration needs a discriminator. Received: discriminator=None")
        if cfg.use_vgg and vgg is None:
            raise ValueError("This loss configuration uses L_vgg and needs a VGG model. Received: vgg=None")
        self.generator = generator
        self.discriminator = discriminator if cfg.needs_discriminator else None
        self.vgg = vgg if cfg.use_vgg else None
        self.loss_config = cfg
        self.taps = content_taps(cfg)
        # Eq. 7's initial rescale: calibrated on the first batch, then frozen and checkpointed.
        self.content_scales = self.add_weight(
            shape=(len(self.taps),), initializer="ones", trainable=False,
            name="content_scales", aggregation="only_first_replica",
        )
        self.calibrated = self.add_weight(
            shape=(), initializer="zeros", trainable=False, name="calibrated",
            aggregation="only_first_replica",
        )
        self._trackers = {name: keras.metrics.Mean(name=name) for name in log_names(cfg)}

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return list(self._trackers.values())

    def compile(
        self,
        g_optimizer: keras.optimizers.Optimizer,
        d_optimizer: keras.optimizers.Optimizer | None = None,
        **kwargs: Any,
    ) -> None:
        """Sets one optimizer per network and builds them (needed under MirroredStrategy)."""
        super().compile(**kwargs)
        if self.discriminator is not None and d_optimizer is None:
            raise ValueError("This variant trains a discriminator. Received: d_optimizer=None")
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer if self.discriminator is not None else None
        self.g_optimizer.build(self.generator.trainable_variables)
        if self.d_optimizer is not None:
            self.d_optimizer.build(self.discriminator.trainable_variables)

    def call(self, inputs: Any, training: bool = False) -> Any:
        return self.generator(inputs, training=training)

    # --- one step -------------------------------------------------------------------------

    def train_step(self, data: Any) -> dict[str, Any]:
        lr, hr = data
        hr = tf.cast(hr, tf.float32)
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            sr = tf.cast(self.generator(lr, training=True), tf.float32)
            result = srfm_objective(
                self.loss_config, hr, sr,
                discriminate=self._discriminate if self.discriminator is not None else None,
                vgg_features=self._vgg_features if self.vgg is not None else None,
                scales=self.content_scales, calibrated=self.calibrated, reduction=_cross_replica(),
            )
            # Loss scaling (float16) must be recorded by the tapes; a no-op otherwise.
            g_loss = self.g_optimizer.scale_loss(result.g_loss)
            if self.discriminator is not None:
                d_loss = self.d_optimizer.scale_loss(result.d_loss)
        self._apply(self.g_optimizer, g_tape, g_loss, self.generator.trainable_variables)
        if self.discriminator is not None:
            self._apply(self.d_optimizer, d_tape, d_loss, self.discriminator.trainable_variables)
        if result.scales is not None:  # Eq. 7's rescale: calibrated on the first batch, then kept
            self.content_scales.assign(result.scales)
            self.calibrated.assign(1.0)
        return self._update_trackers(result.logs)

    def test_step(self, data: Any) -> dict[str, Any]:
        lr, hr = data
        hr = tf.cast(hr, tf.float32)
        sr = tf.cast(self.generator(lr, training=False), tf.float32)
        self._trackers["psnr"].update_state(batch_psnr(hr, sr, _cross_replica()))
        return {"psnr": self._trackers["psnr"].result()}

    def _discriminate(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        return self.discriminator(images, training=True)

    def _vgg_features(self, images: tf.Tensor) -> tf.Tensor:
        return self.vgg(images, training=False)

    def _apply(self, optimizer: Any, tape: tf.GradientTape, loss: tf.Tensor, variables: list) -> None:
        grads = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(grads, variables))

    def _update_trackers(self, logs: dict[str, tf.Tensor]) -> dict[str, Any]:
        for name, value in logs.items():
            self._trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self._trackers.items()}


def _cross_replica() -> CrossReplica:
    """Sums over the replicas of the current `tf.distribute` strategy (identity on one device)."""
    replica = tf.distribute.get_replica_context()
    return CrossReplica(
        sum=lambda value: replica.all_reduce(tf.distribute.ReduceOp.SUM, value),
        num_replicas=tf.distribute.get_strategy().num_replicas_in_sync,
    )
