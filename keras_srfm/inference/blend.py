"""Network interpolation of two generators: a "detail vs smoothness" knob (ESRGAN, Sec. 3.4).

Two generators of the same architecture, e.g. the PSNR-oriented M_p and a perceptual M_pcsva,
are blended weight by weight, theta = (1 - alpha) * theta_A + alpha * theta_B (Wang et al.,
"ESRGAN", ECCVW 2018). alpha = 0 is A, alpha = 1 is B; in between, the output moves between
A's smooth, high-PSNR images and B's detailed ones without the noise of blending images.

`sweep` evaluates a range of alphas on benchmark sets (PSNR and NIQE by default); its JSON is
the blend curve `srfm plot-pd` draws on the perception-distortion plane.

Example:
>>> blended = blend_files("srfm_mp", "srfm_pcsva_vgg34", alpha=0.3)
>>> blended.save("blended.keras")
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from keras_srfm.evaluation import protocol
from keras_srfm.imaging.atomic import atomic_path

SWEEP_KIND = "srfm-blend-sweep"
DEFAULT_SWEEP_METRICS = ("psnr", "niqe")


@dataclasses.dataclass(frozen=True)
class BlendConfig:
    """Which two generators are blended, and how much of the second.

    Attributes:
        model_a: str. First generator (alpha = 0): a shipped model's name, a `.keras` path or
            a URL.
        model_b: str. Second generator (alpha = 1), of the same architecture.
        alpha: float in [0, 1]. Weight of `model_b`.
    """

    model_a: str
    model_b: str
    alpha: float = 0.5

    def __post_init__(self) -> None:
        check_alpha(self.alpha)

    @property
    def name(self) -> str:
        """A short model name, e.g. `blend_srfm_mp_srfm_pcsa_0.3`."""
        stems = (Path(m).stem if Path(m).suffix else m for m in (self.model_a, self.model_b))
        return f"blend_{'_'.join(stems)}_{self.alpha:g}"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def check_alpha(alpha: float) -> float:
    """alpha must be a number in [0, 1] (interpolation, not extrapolation)."""
    if not isinstance(alpha, (int, float)) or not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must be in [0, 1]. Received: alpha={alpha}")
    return float(alpha)


def parse_alphas(text: str) -> tuple[float, ...]:
    """`"0,0.25,0.5"` -> (0.0, 0.25, 0.5); each checked, sorted, no repeats.

    Raises:
        ValueError: not numbers, or outside [0, 1] (one line).
    """
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError as err:
        raise ValueError(f"alphas must be comma-separated numbers. Received: {text!r}") from err
    if not values:
        raise ValueError(f"give at least one alpha. Received: {text!r}")
    return tuple(sorted({check_alpha(v) for v in values}))


# === Weights ===


def _layer_signature(layer: Any) -> dict[str, Any]:
    """A layer's class and configuration without its name and dtype policy."""
    config = {
        k: v for k, v in layer.get_config().items() if k not in ("name", "dtype", "trainable")
    }
    return {"class": type(layer).__name__, "config": config}


def architecture_difference(a: Any, b: Any) -> str | None:
    """The first difference between two models' layers or weight shapes, or None.

    Args:
        a: keras.Model.
        b: keras.Model.

    Returns:
        str describing the first mismatch (one line), or None when the architectures agree.
    """
    if len(a.layers) != len(b.layers):
        return f"{len(a.layers)} layers vs {len(b.layers)}"
    for la, lb in zip(a.layers, b.layers):
        sa, sb = _layer_signature(la), _layer_signature(lb)
        if sa != sb:
            return f"layer {la.name!r} ({sa['class']}) differs from {lb.name!r} ({sb['class']})"
        shapes_a = [tuple(w.shape) for w in la.weights]
        shapes_b = [tuple(w.shape) for w in lb.weights]
        if shapes_a != shapes_b:
            return f"layer {la.name!r} weight shapes {shapes_a} vs {shapes_b}"
    return None


def interpolate(
    weights_a: Sequence[np.ndarray], weights_b: Sequence[np.ndarray], alpha: float
) -> list[np.ndarray]:
    """theta = (1 - alpha) * theta_A + alpha * theta_B, per array, in float64, cast back.

    Non-float arrays (counters) must be equal and are copied from A.
    """
    alpha = check_alpha(alpha)
    out = []
    for wa, wb in zip(weights_a, weights_b, strict=True):
        wa, wb = np.asarray(wa), np.asarray(wb)
        if wa.shape != wb.shape:
            raise ValueError(f"weight shapes differ. Received: {wa.shape} and {wb.shape}")
        if not np.issubdtype(wa.dtype, np.floating):
            if not np.array_equal(wa, wb):
                raise ValueError(f"non-float weights differ (dtype {wa.dtype}); cannot blend")
            out.append(wa.copy())
            continue
        mixed = (1.0 - alpha) * wa.astype(np.float64) + alpha * wb.astype(np.float64)
        out.append(mixed.astype(wa.dtype))
    return out


def blend_generators(a: Any, b: Any, alpha: float, name: str | None = None) -> Any:
    """A new generator with A's architecture and the interpolated weights of A and B.

    Args:
        a: keras.Model. Generator A.
        b: keras.Model. Generator B, of the same architecture as A.
        alpha: float in [0, 1]. 0 gives A's weights, 1 gives B's.
        name: str or None. Name of the new model. Defaults to A's.

    Raises:
        ValueError: the architectures differ (one line naming the first difference).
    """
    import keras

    difference = architecture_difference(a, b)
    if difference is not None:
        raise ValueError(f"cannot blend models of different architectures: {difference}")
    blended = keras.models.clone_model(a)
    blended.set_weights(interpolate(a.get_weights(), b.get_weights(), alpha))
    if name:
        blended.name = name
    return blended


def load_pair(model_a: str, model_b: str) -> tuple[Any, Any]:
    """Loads two generators: shipped names, `.keras` paths or URLs (`keras_srfm.inference.presets`)."""
    from keras_srfm.inference.presets import load_generator

    return load_generator(model_a), load_generator(model_b)


def blend_files(model_a: str, model_b: str, alpha: float) -> Any:
    """Loads two generators and returns their blend (see `blend_generators`)."""
    config = BlendConfig(model_a, model_b, alpha)
    a, b = load_pair(model_a, model_b)
    return blend_generators(a, b, config.alpha, name=config.name)


def blend_upscaler(model_a: str, model_b: str, alpha: float, **kwargs: Any) -> Any:
    """A `KerasUpscaler` of the blend, for `srfm upscale --blend A B --alpha X`.

    Args:
        model_a: str. See `BlendConfig`.
        model_b: str. See `BlendConfig`.
        alpha: float. See `BlendConfig`.
        **kwargs: `KerasUpscaler` options (tile_size, tile_overlap, jit_compile).
    """
    from keras_srfm.inference.upscalers import KerasUpscaler

    config = BlendConfig(model_a, model_b, alpha)
    return KerasUpscaler(blend_files(model_a, model_b, alpha), name=config.name, **kwargs)


def save_model(model: Any, path: str | os.PathLike) -> Path:
    """Saves a `.keras` file through a temporary sibling, so a failure leaves nothing."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"the output must be a .keras file. Received: {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        model.save(tmp)
    return path


# === Sweep ===


def sweep(
    model_a: str,
    model_b: str,
    alphas: Sequence[float],
    sources: Sequence[protocol.ImageSource],
    *,
    metrics: Sequence[str] = DEFAULT_SWEEP_METRICS,
    tile_size: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluates the blend at each alpha on each test set (the blend curve).

    Args:
        model_a: str. Path or shipped name of generator A.
        model_b: str. Path or shipped name of generator B.
        alphas: floats in [0, 1].
        sources: test sets (`evaluation.folder_source` / `tfds_source`).
        metrics: names from `evaluation.METRICS`. Defaults to PSNR and NIQE.
        tile_size: LR tile edge (see `keras_srfm.inference.upscalers.Upscaler`).
        progress: bool. Show progress bars.

    Returns:
        The sweep document: `kind`, `models`, `metrics`, `protocol` and per dataset its
        `points` (alpha and the means) and, with NIQE, `hr` (the ground truth's mean NIQE).
    """
    from keras_srfm.inference.upscalers import KerasUpscaler

    alphas = [check_alpha(a) for a in alphas]
    a, b = load_pair(model_a, model_b)
    if (difference := architecture_difference(a, b)) is not None:
        raise ValueError(f"cannot blend models of different architectures: {difference}")
    datasets: dict[str, dict[str, Any]] = {
        s.name: {"num_images": s.size, "points": []} for s in sources
    }
    for alpha in alphas:
        config = BlendConfig(model_a, model_b, alpha)
        upscaler = KerasUpscaler(
            blend_generators(a, b, alpha, name=config.name),
            name=config.name,
            tile_size=tile_size,
        )
        for source in sources:
            result = protocol.evaluate_source(
                upscaler, source, progress=progress, metrics=metrics
            )
            entry = datasets[source.name]
            entry["points"].append({"alpha": alpha, "mean": result.mean})
            if result.hr and "hr" not in entry:
                entry["hr"] = {"mean": result.hr_mean}
    steps = protocol.PROTOCOL + (protocol.NIQE_PROTOCOL if "niqe" in metrics else "")
    return {
        "kind": SWEEP_KIND,
        "models": [model_a, model_b],
        "formula": "theta = (1 - alpha) * theta_A + alpha * theta_B",
        "metrics": list(metrics),
        "protocol": steps,
        "datasets": datasets,
    }
