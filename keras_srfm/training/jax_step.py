"""One SRFM update on the Keras JAX backend, with Keras' stateless API (no TensorFlow).

The lent GPU machines have JAX but no TensorFlow. This module trains the *same* networks
(`keras_srfm.models`) with the *same* objective (`keras_srfm.training.objective.srfm_objective`, Eq. 1
and Eq. 5) as `SRFM.train_step`, for all five variants: G's gradient comes from Eq. 1 only and
D's from Eq. 5 only, both from one forward pass (`jax.vjp` with two cotangents, the JAX form
of the two tapes), each applied by its own optimizer's `stateless_apply`.

The state is a dict of arrays (a pytree), so a step can be `jax.jit`-ed with the state
donated; `JaxSRFM.assign` writes it back into the Keras variables for saving (the `.keras`
files load unchanged under TensorFlow).

Example:
>>> trainer = JaxSRFM(generator, discriminator, None, loss_config_for("pcsa"), g_opt, d_opt)
>>> state = trainer.initial_state()
>>> step = jax.jit(trainer.step, donate_argnums=0)
>>> state, logs = step(state, lr, hr)
>>> trainer.assign(state)  # then generator.save("G.keras")
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import keras

from keras_srfm.config import LossConfig
from keras_srfm.training.objective import (
    SINGLE_DEVICE,
    CrossReplica,
    content_taps,
    log_names,
    srfm_objective,
)

State = dict[str, Any]

# === Step ===


class JaxSRFM:
    """Generator + discriminator (+ VGG19) trained with Eq. 1 on the JAX backend.

    Args:
        generator: keras.Model from `build_generator`.
        discriminator: keras.Model from `build_discriminator`, or None unless the variant
            uses L_adv or L_content.
        vgg: keras.Model from `build_vgg_features`, or None unless the variant uses L_vgg.
        loss_config: LossConfig. Terms and weights of Eq. 1.
        g_optimizer: built-or-unbuilt keras optimizer for G (built here).
        d_optimizer: keras optimizer for D, or None without a discriminator.
        reduction: CrossReplica. How values are summed over replicas; defaults to one device.
    """

    def __init__(
        self,
        generator: keras.Model,
        discriminator: keras.Model | None,
        vgg: keras.Model | None,
        loss_config: LossConfig,
        g_optimizer: keras.optimizers.Optimizer,
        d_optimizer: keras.optimizers.Optimizer | None = None,
        reduction: CrossReplica = SINGLE_DEVICE,
    ) -> None:
        if keras.backend.backend() != "jax":
            raise RuntimeError(f"JaxSRFM needs KERAS_BACKEND=jax. Received: backend={keras.backend.backend()!r}")
        if loss_config.needs_discriminator and (discriminator is None or d_optimizer is None):
            raise ValueError("This loss configuration trains a discriminator. Received: discriminator or d_optimizer None")
        if loss_config.use_vgg and vgg is None:
            raise ValueError("This loss configuration uses L_vgg and needs a VGG model. Received: vgg=None")
        self.generator = generator
        self.discriminator = discriminator if loss_config.needs_discriminator else None
        self.vgg = vgg if loss_config.use_vgg else None
        self.loss_config = loss_config
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer if self.discriminator is not None else None
        self.reduction = reduction
        self.g_optimizer.build(generator.trainable_variables)
        if self.d_optimizer is not None:
            self.d_optimizer.build(self.discriminator.trainable_variables)

    @property
    def log_names(self) -> list[str]:
        """Names of the logged values, as `SRFM.metrics` names them."""
        return log_names(self.loss_config)

    def initial_state(self, scales: Any = None, calibrated: float = 0.0) -> State:
        """Current values of every variable the step reads or writes, and Eq. 7's rescale.

        Args:
            scales: `(num_taps,)` stored rescale (a resumed run), or None for ones.
            calibrated: float. 1 once `scales` holds a calibration, 0 to calibrate on the
                first batch. Defaults to 0.
        """
        d, opt = self.discriminator, self.d_optimizer
        taps = len(content_taps(self.loss_config))
        return {
            "g_tv": _values(self.generator.trainable_variables),
            "g_ntv": _values(self.generator.non_trainable_variables),
            "g_ov": _values(self.g_optimizer.variables),
            "d_tv": _values(d.trainable_variables) if d is not None else [],
            "d_ntv": _values(d.non_trainable_variables) if d is not None else [],
            "d_ov": _values(opt.variables) if opt is not None else [],
            "vgg": _values(self.vgg.variables) if self.vgg is not None else [],
            "scales": jnp.ones((taps,), "float32") if scales is None else jnp.asarray(scales, "float32"),
            "calibrated": jnp.asarray(calibrated, "float32"),
        }

    def step(self, state: State, lr: Any, hr: Any) -> tuple[State, dict[str, Any]]:
        """One update of G (Eq. 1) and, where there is one, of D (Eq. 5). Pure: jit it.

        Args:
            state: dict from `initial_state` (or a previous step).
            lr: `(batch, h, w, 3)` float32 inputs in [0, 1].
            hr: `(batch, 4h, 4w, 3)` float32 targets in [0, 1].

        Returns:
            (new state, logs): logs are the step's global scalars, named as `SRFM`'s metrics.
        """
        hr = jnp.asarray(hr, "float32")

        def objective(g_tv: list, d_tv: list) -> tuple[tuple[Any, Any], dict[str, Any]]:
            sr, g_ntv = self.generator.stateless_call(g_tv, state["g_ntv"], lr, training=True)
            updated = {"d_ntv": state["d_ntv"]}

            def discriminate(images: Any) -> Any:
                out, updated["d_ntv"] = self.discriminator.stateless_call(
                    d_tv, state["d_ntv"], images, training=True
                )
                return out

            def vgg_features(images: Any) -> Any:
                return self.vgg.stateless_call([], state["vgg"], images, training=False)[0]

            result = srfm_objective(
                self.loss_config, hr, jnp.asarray(sr, "float32"),
                discriminate=discriminate if self.discriminator is not None else None,
                vgg_features=vgg_features if self.vgg is not None else None,
                scales=state["scales"], calibrated=state["calibrated"], reduction=self.reduction,
            )
            aux = {"logs": result.logs, "scales": result.scales, "g_ntv": g_ntv, "d_ntv": updated["d_ntv"]}
            return (result.g_loss, result.d_loss), aux

        (g_loss, d_loss), vjp, aux = jax.vjp(objective, state["g_tv"], state["d_tv"], has_aux=True)
        one, zero = jnp.ones_like(g_loss), jnp.zeros_like(g_loss)
        new = dict(state, g_ntv=aux["g_ntv"], d_ntv=aux["d_ntv"])
        g_grads = vjp((one, zero))[0]  # G: Eq. 1 only
        new["g_tv"], new["g_ov"] = self.g_optimizer.stateless_apply(state["g_ov"], g_grads, state["g_tv"])
        if self.d_optimizer is not None:
            d_grads = vjp((zero, one))[1]  # D: Eq. 5 only
            new["d_tv"], new["d_ov"] = self.d_optimizer.stateless_apply(state["d_ov"], d_grads, state["d_tv"])
        if aux["scales"] is not None:  # Eq. 7's rescale: calibrated on the first batch, then kept
            new["scales"], new["calibrated"] = aux["scales"], jnp.ones_like(state["calibrated"])
        return new, aux["logs"]

    def predict_fn(self) -> Any:
        """`f(g_tv, g_ntv, lr) -> sr`, the generator in inference mode, jitted (for monitoring)."""
        generator = self.generator
        return jax.jit(lambda tv, ntv, x: generator.stateless_call(tv, ntv, x, training=False)[0])

    def assign(self, state: State) -> None:
        """Writes `state` back into the Keras variables of the networks and optimizers."""
        pairs = [
            (self.generator.trainable_variables, state["g_tv"]),
            (self.generator.non_trainable_variables, state["g_ntv"]),
            (self.g_optimizer.variables, state["g_ov"]),
        ]
        if self.discriminator is not None:
            pairs += [
                (self.discriminator.trainable_variables, state["d_tv"]),
                (self.discriminator.non_trainable_variables, state["d_ntv"]),
                (self.d_optimizer.variables, state["d_ov"]),
            ]
        for variables, values in pairs:
            for variable, value in zip(variables, values):
                variable.assign(value)


def _values(variables: list) -> list:
    return [v.value for v in variables]
