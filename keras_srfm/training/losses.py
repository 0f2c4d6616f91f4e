"""Loss terms of Eq. 1: L = L_content + lambda L_adv + eta L_point + gamma L_vgg (Sec. III-B).

Every function returns a **per-example** loss of shape `(batch,)` (float32), averaged over the
image dimensions as the paper states below Eq. 2. The training model turns per-example values
into a replica-correct scalar by summing and dividing by the *global* batch size.

Written with `keras.ops` only, so the same equations serve every Keras backend (TensorFlow
for `SRFM.train_step`; JAX for GPU runs on machines without TensorFlow).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from keras import ops

# === Point-estimate loss (Eq. 2) ===


def point_loss(hr: Any, sr: Any, delta: float = 1.0) -> Any:
    """Huber loss, Eq. 2, averaged over H, W, C.

    With images in [0, 1] and the paper's threshold delta = 1, |I_est - I_HR| < 1 holds for
    every pixel of a sane output, so in practice this is 0.5 * MSE; the L1 branch only
    catches wild early outputs. A smaller delta (e.g. 1/255) makes it L1-like.

    Args:
        hr: `(batch, H, W, C)` target in [0, 1].
        sr: `(batch, H, W, C)` estimate.
        delta: float. Threshold between the quadratic and linear branches. Defaults to 1.0.

    Returns:
        `(batch,)` float32.
    """
    err = ops.abs(ops.cast(sr, "float32") - ops.cast(hr, "float32"))
    quadratic = ops.minimum(err, delta)
    linear = err - quadratic
    per_pixel = 0.5 * ops.square(quadratic) + delta * linear
    return ops.mean(per_pixel, axis=(1, 2, 3))


# === Perceptual loss (Eq. 3) ===


# ImageNet VGG19 features of a natural image have a mean energy far above this (about 1e5 on
# block3_conv4, inputs in Keras' caffe preprocessing); below it the normalisation would amplify.
HR_ENERGY_FLOOR = 1.0


def vgg_loss(hr_features: Any, sr_features: Any, normalise: str = "none") -> Any:
    """Perceptual loss, Eq. 3: squared L2 between VGG19 features psi_i of SR and HR (mean).

    `hr_features` is a constant target (gradients are stopped).

    Args:
        hr_features: `(batch, h, w, c)` psi_i(I_HR).
        sr_features: `(batch, h, w, c)` psi_i(I_est).
        normalise: "none" (Eq. 3 as written) or "hr_energy": each example's distance divided
            by the mean of psi_i(I_HR)^2 (a constant), i.e. the relative feature error, whose
            size does not depend on the layer (`LossConfig.vgg_normalise`). Energies below
            `HR_ENERGY_FLOOR` are not divided by: a flat patch's features (or a random VGG's,
            6.7e-8 at block5_conv4 on 16x16 patches) would otherwise blow the loss up, and
            underflow to zero in float16 (measured: every update of a float16 run skipped).

    Returns:
        `(batch,)` float32.
    """
    distance = _feature_mse(hr_features, sr_features)
    if normalise == "none":
        return distance
    if normalise != "hr_energy":
        raise ValueError(f"normalise must be 'none' or 'hr_energy'. Received: normalise={normalise!r}")
    target = ops.stop_gradient(ops.cast(hr_features, "float32"))
    energy = ops.mean(ops.square(target), axis=tuple(range(1, len(target.shape))))
    return distance / ops.maximum(energy, HR_ENERGY_FLOOR)


# === Adversarial losses (Eqs. 4-5) ===


def adversarial_loss(fake_logit: Any) -> Any:
    """Generator adversarial loss, Eq. 4: -log D(G(I_LR)), from logits (non-saturating).

    Returns:
        `(batch,)` float32.
    """
    logit = ops.reshape(ops.cast(fake_logit, "float32"), (-1,))
    return ops.softplus(-logit)  # -log(sigmoid(x)), stable for any logit


def discriminator_loss(real_logit: Any, fake_logit: Any) -> Any:
    """Discriminator loss, Eq. 5: -log(1 - D(G(I_LR))) - log D(I_HR), from logits.

    Returns:
        `(batch,)` float32.
    """
    real = ops.reshape(ops.cast(real_logit, "float32"), (-1,))
    fake = ops.reshape(ops.cast(fake_logit, "float32"), (-1,))
    # -log(sigmoid(r)) - log(1 - sigmoid(f)) = softplus(-r) + softplus(f)
    return ops.softplus(-real) + ops.softplus(fake)


# === Content loss (Eq. 6) ===


def content_losses(
    hr_features: Mapping[str, Any],
    sr_features: Mapping[str, Any],
    taps: Sequence[str],
    huber_delta: float | None = None,
) -> Any:
    """Layer-wise content losses L_content^i, Eq. 6, for every discriminator tap.

    Squared L2 (mean over H, W, C) between the pre-activation feature maps phi_i of SR and HR;
    HR features are a constant target. `huber_delta` switches to a Huber distance (the
    authors' public code does this; the paper uses squared L2).

    Returns:
        `(batch, len(taps))` float32.
    """
    columns = []
    for name in taps:
        if huber_delta is None:
            columns.append(_feature_mse(hr_features[name], sr_features[name]))
        else:
            columns.append(point_loss(ops.stop_gradient(hr_features[name]), sr_features[name], huber_delta))
    return ops.stack(columns, axis=1)


# === Softmax reweighing (Eq. 7) ===


def softmax_weights(layer_losses: Any, stop_gradient: bool = True) -> Any:
    """Weights of Eq. 7: softmax of the (rescaled) layer-wise content losses.

    Wrapped in a stop-gradient by default: Eq. 7 does not back-propagate through the
    softmax, so each layer's gradient is its own gradient times a constant weight.

    Args:
        layer_losses: `(num_layers,)` batch-mean losses, identical on every replica.
        stop_gradient: bool. False reproduces the authors' public code.

    Returns:
        `(num_layers,)` float32 summing to 1.
    """
    weights = ops.softmax(ops.cast(layer_losses, "float32"), axis=-1)
    return ops.stop_gradient(weights) if stop_gradient else weights


def reweighed_content_loss(layer_losses: Any, weights: Any) -> Any:
    """L_content of Eq. 7: sum_i w_i * L_content^i over the last axis (the layers).

    The objective calls it on the batch-summed layer losses, with the per-layer rescale of
    Sec. III-B folded into `weights` (w_i * s_i); it works the same on per-example rows.

    Args:
        layer_losses: `(..., num_layers)` layer-wise content losses, e.g. `(batch, num_layers)`
            or `(num_layers,)`.
        weights: `(num_layers,)` from `softmax_weights` (times any per-layer rescale), or
            uniform for plain averaging.

    Returns:
        float32 of shape `layer_losses.shape[:-1]`.
    """
    return ops.sum(layer_losses * weights, axis=-1)


def calibration_scales(layer_losses: Any, eps: float = 1e-12) -> Any:
    """Initial per-layer rescale (Sec. III-B, "before starting the training"): 1 / L_i.

    Brings each layer's first-batch content loss to 1 so that the softmax starts uniform and
    no layer dominates by its raw magnitude.
    """
    return 1.0 / ops.maximum(ops.cast(layer_losses, "float32"), eps)


def _feature_mse(target: Any, estimate: Any) -> Any:
    target = ops.stop_gradient(ops.cast(target, "float32"))
    estimate = ops.cast(estimate, "float32")
    axes = tuple(range(1, len(estimate.shape)))
    return ops.mean(ops.square(estimate - target), axis=axes)
