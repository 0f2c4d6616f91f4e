"""SRFM: the training model that combines every loss of Eq. 1 in one custom `train_step`.

Follows the Keras GAN guide (`GAN(keras.Model)` holding both networks, one tape each, own
`Mean` trackers) and is correct under any `tf.distribute` strategy: per-example losses are
summed and divided by the *global* batch (optimizers sum gradients over replicas), the
layer-wise content losses are all-reduced *before* the softmax of Eq. 7 so every replica uses
the same weights, and the discriminator's BatchNorm is synchronised (`synchronized=True`).
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from keras_srfm import losses
from keras_srfm.config import VARIANTS, LossConfig, loss_config_for  # noqa: F401  (re-exported)
from keras_srfm.models.discriminator import TAP_NAMES

# The authors' public code differs from the paper's text; `content_mode="authors"` follows it:
# Huber distance on features of conv1-7 only, no initial rescale, no stop-gradient, and the
# pixel term enters the same softmax as the content terms.
_AUTHORS_TAPS = TAP_NAMES[:7]


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
        self.taps = _AUTHORS_TAPS if cfg.content_mode == "authors" else TAP_NAMES
        # Eq. 7's initial rescale: calibrated on the first batch, then frozen and checkpointed.
        self.content_scales = self.add_weight(
            shape=(len(self.taps),), initializer="ones", trainable=False,
            name="content_scales", aggregation="only_first_replica",
        )
        self.calibrated = self.add_weight(
            shape=(), initializer="zeros", trainable=False, name="calibrated",
            aggregation="only_first_replica",
        )
        self._trackers = {name: keras.metrics.Mean(name=name) for name in self._metric_names()}

    def _metric_names(self) -> list[str]:
        cfg = self.loss_config
        names = ["g_total"]
        names += ["g_point"] if cfg.use_point else []
        names += ["g_vgg"] if cfg.use_vgg else []
        names += ["g_adv"] if cfg.use_adv else []
        if cfg.use_content:
            names += ["g_content"] + [f"w_{tap}" for tap in self.taps]
        if cfg.needs_discriminator:
            names += ["d_loss", "d_real", "d_fake"]
        return names + ["psnr"]

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
        replica = tf.distribute.get_replica_context()
        global_batch = tf.cast(tf.shape(hr)[0] * tf.distribute.get_strategy().num_replicas_in_sync, tf.float32)
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            sr = tf.cast(self.generator(lr, training=True), tf.float32)
            g_loss, d_loss, logs = self._compute_losses(hr, sr, global_batch, replica)
            # Loss scaling (float16) must be recorded by the tapes; a no-op otherwise.
            g_loss = self.g_optimizer.scale_loss(g_loss)
            if self.discriminator is not None:
                d_loss = self.d_optimizer.scale_loss(d_loss)
        self._apply(self.g_optimizer, g_tape, g_loss, self.generator.trainable_variables)
        if self.discriminator is not None:
            self._apply(self.d_optimizer, d_tape, d_loss, self.discriminator.trainable_variables)
        logs["psnr"] = _psnr(hr, sr, global_batch, replica)
        return self._update_trackers(logs)

    def test_step(self, data: Any) -> dict[str, Any]:
        lr, hr = data
        hr = tf.cast(hr, tf.float32)
        sr = tf.cast(self.generator(lr, training=False), tf.float32)
        replica = tf.distribute.get_replica_context()
        global_batch = tf.cast(tf.shape(hr)[0] * tf.distribute.get_strategy().num_replicas_in_sync, tf.float32)
        self._trackers["psnr"].update_state(_psnr(hr, sr, global_batch, replica))
        return {"psnr": self._trackers["psnr"].result()}

    def _apply(self, optimizer: Any, tape: tf.GradientTape, loss: tf.Tensor, variables: list) -> None:
        grads = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(grads, variables))

    def _update_trackers(self, logs: dict[str, tf.Tensor]) -> dict[str, Any]:
        for name, value in logs.items():
            self._trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self._trackers.items()}

    # --- Eq. 1 ----------------------------------------------------------------------------

    def _compute_losses(
        self, hr: tf.Tensor, sr: tf.Tensor, global_batch: tf.Tensor, replica: Any
    ) -> tuple[tf.Tensor, tf.Tensor, dict[str, tf.Tensor]]:
        """Per-replica G and D losses (already divided by the global batch) and global logs."""
        cfg = self.loss_config

        def share(per_example: tf.Tensor) -> tf.Tensor:  # this replica's part of a batch mean
            return tf.reduce_sum(per_example, axis=0) / global_batch

        local: dict[str, tf.Tensor] = {}
        if cfg.use_point:
            local["g_point"] = share(losses.point_loss(hr, sr, cfg.huber_delta))
        if self.vgg is not None:
            # Two calls, not one on [HR; SR]: the tape then back-propagates through VGG19
            # for the SR half only (a third less VGG work per step).
            hr_f = tf.stop_gradient(self.vgg(hr, training=False))
            local["g_vgg"] = share(losses.vgg_loss(hr_f, self.vgg(sr, training=False)))
        d_loss = tf.constant(0.0)
        content = None
        if self.discriminator is not None:
            out = self.discriminator(tf.concat([hr, sr], axis=0), training=True)
            real, fake = _halves(out)
            if cfg.use_adv:
                local["g_adv"] = share(losses.adversarial_loss(fake["logit"]))
            d_loss = share(losses.discriminator_loss(real["logit"], fake["logit"]))
            local["d_loss"] = d_loss
            local["d_real"] = share(tf.reshape(tf.cast(real["prob"], tf.float32), [-1]))
            local["d_fake"] = share(tf.reshape(tf.cast(fake["prob"], tf.float32), [-1]))
            if cfg.use_content:
                content = self._content(real, fake, local.get("g_point"), share, replica)
        logs = _all_reduce_dict(local, replica)
        g_loss = tf.constant(0.0)
        if content is not None:
            content_local, content_global, weights = content
            g_loss += content_local
            logs["g_content"] = content_global
            logs.update({f"w_{tap}": weights[i] for i, tap in enumerate(self.taps)})
        if cfg.use_adv:
            g_loss += cfg.lambda_adv * local["g_adv"]
        if cfg.use_point and not (content is not None and cfg.content_mode == "authors"):
            g_loss += cfg.eta_point * local["g_point"]
        if self.vgg is not None:
            g_loss += cfg.gamma_vgg * local["g_vgg"]
        logs["g_total"] = replica.all_reduce(tf.distribute.ReduceOp.SUM, g_loss)
        return g_loss, d_loss, logs

    def _content(
        self, real: dict, fake: dict, point_local: tf.Tensor | None, share: Any, replica: Any
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """L_content (Eqs. 6-7): returns (this replica's part, global value, layer weights)."""
        cfg = self.loss_config
        delta = cfg.huber_delta if cfg.content_mode == "authors" else None
        per_example = losses.content_losses(real, fake, self.taps, huber_delta=delta)
        layer_local = share(per_example)  # (n,)
        # All-reduce BEFORE the softmax: every replica must weigh the layers identically.
        layer_global = replica.all_reduce(tf.distribute.ReduceOp.SUM, layer_local)
        if cfg.content_mode == "authors":
            terms_local = tf.concat([[point_local], layer_local], axis=0)
            terms_global = tf.concat([[replica.all_reduce("sum", point_local)], layer_global], axis=0)
            weights = losses.softmax_weights(terms_global, stop_gradient=False)
            content_local = tf.reduce_sum(weights * terms_local)
            return content_local, tf.reduce_sum(weights * terms_global), weights[1:]
        scales = self._scales(layer_global) if cfg.content_rescale else tf.ones_like(layer_global)
        scaled_global = tf.stop_gradient(scales) * layer_global
        if cfg.content_weighting == "softmax":
            weights = losses.softmax_weights(scaled_global)
        else:
            weights = tf.fill(tf.shape(layer_global), 1.0 / len(self.taps))
        content_local = tf.reduce_sum(weights * tf.stop_gradient(scales) * layer_local)
        return content_local, tf.reduce_sum(weights * scaled_global), weights

    def _scales(self, layer_global: tf.Tensor) -> tf.Tensor:
        """Per-layer 1/L_i from the first batch; stored (and checkpointed) afterwards."""
        scales = tf.cond(
            self.calibrated > 0,
            lambda: tf.identity(self.content_scales),
            lambda: losses.calibration_scales(tf.stop_gradient(layer_global)),
        )
        self.content_scales.assign(scales)
        self.calibrated.assign(1.0)
        return scales


def _halves(outputs: dict[str, tf.Tensor]) -> tuple[dict[str, tf.Tensor], dict[str, tf.Tensor]]:
    real, fake = {}, {}
    for name, value in outputs.items():
        real[name], fake[name] = tf.split(value, 2, axis=0)
    return real, fake


def _all_reduce_dict(values: dict[str, tf.Tensor], replica: Any) -> dict[str, tf.Tensor]:
    """One all-reduce for all scalar logs (cheaper than one per value)."""
    if not values:
        return {}
    names = sorted(values)
    summed = replica.all_reduce(
        tf.distribute.ReduceOp.SUM, tf.stop_gradient(tf.stack([values[n] for n in names]))
    )
    return {name: summed[i] for i, name in enumerate(names)}


def _psnr(hr: tf.Tensor, sr: tf.Tensor, global_batch: tf.Tensor, replica: Any) -> tf.Tensor:
    """Batch-mean RGB PSNR on [0, 1] (a training signal; benchmark PSNR lives in metrics)."""
    per_example = tf.image.psnr(tf.clip_by_value(sr, 0.0, 1.0), hr, max_val=1.0)
    return replica.all_reduce(tf.distribute.ReduceOp.SUM, tf.reduce_sum(per_example) / global_batch)
