"""Eq. 1 assembled once: the generator and discriminator objectives of one SRFM update.

`srfm_objective` turns the outputs of one forward pass (SR image, discriminator on
`[HR; SR]`, VGG19 features) into this replica's part of
`L = L_content + lambda L_adv + eta L_point + gamma L_vgg` (Eq. 1, with Eqs. 2-4 and 6-7) and
of the discriminator loss (Eq. 5), plus the logged values. It is written in `keras.ops` only,
so `SRFM.train_step` (TensorFlow, any `tf.distribute` strategy) and the JAX step
(`keras_srfm.training.jax_step`) run the same code; what differs between them, how a value is summed
over replicas, is passed in as a `CrossReplica`.

Replica correctness: per-example losses are summed and divided by the *global* batch (the
optimizers sum gradients over replicas), and the layer-wise content losses are summed over
replicas *before* the softmax of Eq. 7, so that every replica weighs the layers identically.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from keras import ops

from keras_srfm.config import LossConfig
from keras_srfm.models.discriminator import TAP_NAMES
from keras_srfm.training import losses

# The authors' public code differs from the paper's text; `content_mode="authors"` follows it:
# Huber distance on features of conv1-7 only, no initial rescale, no stop-gradient, and the
# pixel term enters the same softmax as the content terms.
AUTHORS_TAPS = TAP_NAMES[:7]

# === Config ===


def _identity(value: Any) -> Any:
    return value


@dataclasses.dataclass(frozen=True)
class CrossReplica:
    """How one replica's values become global ones.

    Attributes:
        sum: callable. Sums a tensor over all replicas: `replica_context.all_reduce(SUM, x)`
            under `tf.distribute`, `jax.lax.psum(x, axis_name)` under a JAX mapped axis, the
            identity on one device (the default).
        num_replicas: int. Replicas taking part; the global batch is the local batch times
            this. Defaults to 1.
    """

    sum: Callable[[Any], Any] = _identity
    num_replicas: Any = 1


SINGLE_DEVICE = CrossReplica()


class StepObjective(NamedTuple):
    """What one update needs from Eq. 1 and Eq. 5 (a NamedTuple, hence a JAX pytree).

    Attributes:
        g_loss: scalar. This replica's part of Eq. 1: summed over replicas, the batch mean.
        d_loss: scalar. This replica's part of Eq. 5 (0 without a discriminator).
        logs: dict of global scalars (identical on every replica): `g_total`, `g_point`,
            `g_vgg`, `g_adv`, `g_content`, `w_<tap>` (Eq. 7 weights), `d_loss`, `d_real`,
            `d_fake`, `psnr`, each only where the variant has it.
        scales: `(num_taps,)` Eq. 7 rescale to store after the step, or None where the
            variant does not rescale.
    """

    g_loss: Any
    d_loss: Any
    logs: dict[str, Any]
    scales: Any


def content_taps(config: LossConfig) -> tuple[str, ...]:
    """Discriminator taps phi_i entering L_content (Eq. 6): conv1-8, or conv1-7 in the authors' mode."""
    return AUTHORS_TAPS if config.content_mode == "authors" else TAP_NAMES


def log_names(config: LossConfig) -> list[str]:
    """Names of the values `srfm_objective` logs for `config`, in a fixed order."""
    names = ["g_total"]
    names += ["g_point"] if config.use_point else []
    names += ["g_vgg"] if config.use_vgg else []
    names += ["g_adv"] if config.use_adv else []
    if config.use_content:
        names += ["g_content"] + [f"w_{tap}" for tap in content_taps(config)]
    if config.needs_discriminator:
        names += ["d_loss", "d_real", "d_fake"]
    return names + ["psnr"]


# === Eq. 1 ===


def srfm_objective(
    config: LossConfig,
    hr: Any,
    sr: Any,
    *,
    discriminate: Callable[[Any], Mapping[str, Any]] | None = None,
    vgg_features: Callable[[Any], Any] | None = None,
    scales: Any = None,
    calibrated: Any = None,
    reduction: CrossReplica = SINGLE_DEVICE,
) -> StepObjective:
    """Eq. 1 for the generator and Eq. 5 for the discriminator, from one forward pass.

    Args:
        config: LossConfig. Terms and weights of Eq. 1 (see `keras_srfm.config.VARIANTS`).
        hr: `(batch, H, W, 3)` float32 targets in [0, 1] (this replica's part of the batch).
        sr: `(batch, H, W, 3)` float32 generator outputs for the same images.
        discriminate: callable mapping `(2 * batch, H, W, 3)` images to the discriminator's
            output dict (`"logit"`, `"prob"`, `"conv1"`..`"conv8"`), in training mode. Needed
            when the variant uses L_adv or L_content.
        vgg_features: callable mapping images to VGG19 features psi (Eq. 3). Needed when the
            variant uses L_vgg.
        scales: `(num_taps,)` stored Eq. 7 rescale; needed when `config.content_rescale`.
        calibrated: scalar, > 0 once `scales` holds the first batch's calibration; while it
            is 0 the rescale is calibrated on this batch (Sec. III-B, "before starting").
        reduction: CrossReplica. Defaults to one device.

    Returns:
        StepObjective: this replica's G and D losses, global logs, the rescale to store.
    """
    if config.needs_discriminator and discriminate is None:
        raise ValueError(f"This loss configuration needs a discriminator. Received: discriminate=None, config={config}")
    if config.use_vgg and vgg_features is None:
        raise ValueError(f"This loss configuration uses L_vgg. Received: vgg_features=None, config={config}")
    global_batch = ops.cast(ops.shape(hr)[0], "float32") * ops.cast(reduction.num_replicas, "float32")

    def share(per_example: Any) -> Any:  # this replica's part of a batch mean
        return ops.sum(per_example, axis=0) / global_batch

    local: dict[str, Any] = {}
    if config.use_point:
        local["g_point"] = share(losses.point_loss(hr, sr, config.huber_delta))  # Eq. 2
    if config.use_vgg:
        # Two calls, not one on [HR; SR]: back-propagation then runs through VGG19 for the SR
        # half only (a third less VGG work per step).
        hr_features = ops.stop_gradient(vgg_features(hr))
        local["g_vgg"] = share(losses.vgg_loss(hr_features, vgg_features(sr), config.vgg_normalise))  # Eq. 3
    d_loss = ops.zeros((), "float32")
    content = None
    if config.needs_discriminator:
        real, fake = _halves(discriminate(ops.concatenate([hr, sr], axis=0)))
        if config.use_adv:
            local["g_adv"] = share(losses.adversarial_loss(fake["logit"]))  # Eq. 4
        d_loss = share(losses.discriminator_loss(real["logit"], fake["logit"]))  # Eq. 5
        local["d_loss"] = d_loss
        local["d_real"] = share(ops.reshape(ops.cast(real["prob"], "float32"), (-1,)))
        local["d_fake"] = share(ops.reshape(ops.cast(fake["prob"], "float32"), (-1,)))
        if config.use_content:
            content = _content(config, real, fake, local.get("g_point"), share, reduction, scales, calibrated)
    logs = _sum_scalars(local, reduction)
    terms = []
    new_scales = None
    if content is not None:
        terms.append(content.local)
        logs["g_content"] = content.total
        logs.update({f"w_{tap}": content.weights[i] for i, tap in enumerate(content_taps(config))})
        new_scales = content.scales
    if config.use_adv:
        terms.append(config.lambda_adv * local["g_adv"])
    if config.use_point and not (content is not None and config.content_mode == "authors"):
        terms.append(config.eta_point * local["g_point"])  # the authors' mode has it in the softmax
    if config.use_vgg:
        terms.append(config.gamma_vgg * local["g_vgg"])
    g_loss = terms[0]
    for term in terms[1:]:
        g_loss = g_loss + term
    logs["g_total"] = reduction.sum(ops.stop_gradient(g_loss))
    logs["psnr"] = batch_psnr(hr, sr, reduction)
    return StepObjective(g_loss, d_loss, logs, new_scales)


# === Eqs. 6-7 ===


class _Content(NamedTuple):
    local: Any  # this replica's part of L_content
    total: Any  # global L_content (logged)
    weights: Any  # (num_taps,) Eq. 7 weights (logged)
    scales: Any  # rescale to store, or None


def _content(
    config: LossConfig,
    real: Mapping[str, Any],
    fake: Mapping[str, Any],
    point_local: Any,
    share: Callable[[Any], Any],
    reduction: CrossReplica,
    scales: Any,
    calibrated: Any,
) -> _Content:
    """L_content: layer losses of Eq. 6, rescaled and reweighed by Eq. 7 (or the authors' code)."""
    taps = content_taps(config)
    authors = config.content_mode == "authors"
    per_example = losses.content_losses(real, fake, taps, huber_delta=config.huber_delta if authors else None)
    layer_local = share(per_example)  # (n,)
    # Summed over replicas BEFORE the softmax: every replica must weigh the layers identically.
    layer_global = reduction.sum(layer_local)
    if authors:
        if point_local is None:
            raise ValueError(f"content_mode='authors' puts L_point into the softmax and needs use_point=True. Received: {config}")
        terms_local = ops.concatenate([ops.reshape(point_local, (1,)), layer_local], axis=0)
        terms_global = ops.concatenate([ops.reshape(reduction.sum(point_local), (1,)), layer_global], axis=0)
        weights = losses.softmax_weights(terms_global, stop_gradient=False)
        return _Content(ops.sum(weights * terms_local), ops.sum(weights * terms_global), weights[1:], None)
    new_scales = None
    factor = ops.ones_like(layer_global)
    if config.content_rescale:
        if scales is None or calibrated is None:
            raise ValueError("content_rescale=True needs the stored scales and calibrated flag. Received: None")
        first = losses.calibration_scales(ops.stop_gradient(layer_global))
        new_scales = ops.where(ops.cast(calibrated, "float32") > 0, ops.cast(scales, "float32"), first)
        factor = ops.stop_gradient(new_scales)
    scaled_global = factor * layer_global
    if config.content_weighting == "softmax":
        weights = losses.softmax_weights(scaled_global)  # Eq. 7, stop-gradient softmax
    else:
        weights = ops.full((len(taps),), 1.0 / len(taps), dtype="float32")  # plain average (M_pca)
    return _Content(ops.sum(weights * factor * layer_local), ops.sum(weights * scaled_global), weights, new_scales)


# === Helpers ===


def batch_psnr(hr: Any, sr: Any, reduction: CrossReplica = SINGLE_DEVICE) -> Any:
    """Batch-mean RGB PSNR on [0, 1], as `tf.image.psnr` (a training signal; Table I PSNR is in metrics)."""
    sr = ops.clip(ops.cast(sr, "float32"), 0.0, 1.0)
    mse = ops.mean(ops.square(sr - ops.cast(hr, "float32")), axis=(1, 2, 3))
    per_example = -10.0 * ops.log(mse) / math.log(10.0)
    global_batch = ops.cast(ops.shape(hr)[0], "float32") * ops.cast(reduction.num_replicas, "float32")
    return reduction.sum(ops.sum(per_example) / global_batch)


def _halves(outputs: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Splits the discriminator's outputs on `[HR; SR]` into the real and the fake half."""
    real, fake = {}, {}
    for name, value in outputs.items():
        real[name], fake[name] = ops.split(value, 2, axis=0)
    return real, fake


def _sum_scalars(values: dict[str, Any], reduction: CrossReplica) -> dict[str, Any]:
    """One cross-replica sum for all scalar logs (cheaper than one per value)."""
    if not values:
        return {}
    names = sorted(values)
    summed = reduction.sum(ops.stop_gradient(ops.stack([values[n] for n in names])))
    return {name: summed[i] for i, name in enumerate(names)}
