"""Run configuration: one frozen dataclass per concern, JSON-serialisable.

Defaults follow the paper (Sec. III-A and V-A). Every run prints its configs at start and
saves them as JSON beside its checkpoints.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, TypeVar

T = TypeVar("T", bound="_Config")

# RGB mean of the DIV2K training set on [0, 1] (the value EDSR and its descendants use).
# `srfm stats` recomputes it for any dataset; see keras_srfm.data.
DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)
# Blur kernels of the realistic degradation (DegradationConfig.kernel_types).
KERNEL_TYPES = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")
# LR synthesis of the training input: MATLAB bicubic (the paper's), one realistic chain, or the
# ladder's mixture (clean bicubic pairs and the three realistic strengths, `DataConfig.ladder`).
DEGRADATIONS = ("bicubic", "realistic", "ladder")
# The degradation ladder, weakest first: `clean` is MATLAB bicubic (the benchmarks' LR files),
# the others are `DegradationConfig.preset(name)`.
STRENGTHS = ("clean", "mild", "medium", "strong")
# Conv layers of Keras' VGG19 whose features psi may serve L_vgg (Eq. 3); the paper uses block5_conv4.
VGG19_CONV_LAYERS = tuple(
    f"block{block}_conv{i}" for block, convs in enumerate((2, 2, 4, 4, 4), start=1) for i in range(1, convs + 1)
)


def _choice(default: str, choices: tuple[str, ...]) -> Any:
    """A str field restricted to `choices`: checked by `_Config._check_choices`, listed by
    `_Config.choices` (the CLI takes its `choices=` from there)."""
    return dataclasses.field(default=default, metadata={"choices": choices})


class _Config:
    """Mixin: dict/JSON round trip with a one-line error on unknown keys; restricted fields."""

    @classmethod
    def choices(cls, name: str) -> tuple[str, ...]:
        """The allowed values of field `name` (declared with `_choice`)."""
        for field in dataclasses.fields(cls):  # type: ignore[arg-type]
            if field.name == name and "choices" in field.metadata:
                return field.metadata["choices"]
        raise ValueError(f"{cls.__name__} has no restricted field {name!r}. Received: name={name!r}")

    def _check_choices(self) -> None:
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            allowed = field.metadata.get("choices")
            value = getattr(self, field.name)
            if allowed is not None and value not in allowed:
                raise ValueError(f"{field.name} must be one of {', '.join(allowed)}. Received: {field.name}={value!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls: type[T], values: dict[str, Any]) -> T:
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"Unknown {cls.__name__} field(s) {unknown}. Received: {values}")
        fixed = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        return cls(**fixed)


@dataclasses.dataclass(frozen=True)
class GeneratorConfig(_Config):
    """Generator of Fig. 2 (top): residual blocks without BatchNorm, sub-pixel upsampling."""

    num_blocks: int = 16
    filters: int = 64
    scale: int = 4
    leaky_alpha: float = 0.2
    init_scale: float = 0.1  # MSRA init multiplied by 0.1 (Sec. V-A)
    rgb_mean: tuple[float, float, float] = DIV2K_RGB_MEAN

    def __post_init__(self) -> None:
        if self.num_blocks < 1:
            raise ValueError(f"num_blocks must be >= 1. Received: num_blocks={self.num_blocks}")
        if self.filters < 1:
            raise ValueError(f"filters must be >= 1. Received: filters={self.filters}")
        if self.scale not in (2, 3, 4, 8):
            raise ValueError(f"scale must be one of 2, 3, 4, 8. Received: scale={self.scale}")
        if len(self.rgb_mean) != 3:
            raise ValueError(f"rgb_mean needs 3 values. Received: rgb_mean={self.rgb_mean}")


@dataclasses.dataclass(frozen=True)
class DiscriminatorConfig(_Config):
    """Discriminator of Fig. 2 (bottom): 8 convs (64->512), BN + LeakyReLU, 2 dense layers."""

    patch_size: int | None = 96  # fixed HR patch as in the paper; None needs pooling="avg"
    base_filters: int = 64
    dense_units: int = 1024
    leaky_alpha: float = 0.2
    tap: str = _choice("after_bn", ("after_bn", "before_bn"))  # where the pre-activation taps sit
    pooling: str = _choice("flatten", ("flatten", "avg"))  # "flatten" (paper) or "avg" (any input size)
    sync_batchnorm: bool = True  # BN statistics synchronised across replicas

    def __post_init__(self) -> None:
        self._check_choices()
        if self.pooling == "flatten" and (self.patch_size is None or self.patch_size % 16):
            raise ValueError(
                "pooling='flatten' needs a fixed patch_size divisible by 16. "
                f"Received: patch_size={self.patch_size}"
            )


@dataclasses.dataclass(frozen=True)
class LossConfig(_Config):
    """Terms and weights of Eq. 1: L = L_content + lambda L_adv + eta L_point + gamma L_vgg."""

    use_point: bool = True
    use_content: bool = False
    use_adv: bool = False
    use_vgg: bool = False
    content_weighting: str = _choice("softmax", ("softmax", "mean"))  # Eq. 7, or plain average (M_pca)
    content_rescale: bool = True  # per-layer rescale calibrated on the first batch (Sec. III-B)
    content_mode: str = _choice("paper", ("paper", "authors"))  # or the authors' public code (objective)
    lambda_adv: float = 0.005
    eta_point: float = 0.01
    gamma_vgg: float = 0.5
    huber_delta: float = 1.0
    vgg_layer: str = _choice("block5_conv4", VGG19_CONV_LAYERS)  # truncated files: e.g. block3_conv4
    vgg_weights: str | None = "imagenet"  # "imagenet", a local .h5/.weights.h5 path, or None
    # Scale of Eq. 3. "none": the paper's squared distance of raw features, whose size depends
    # on the layer (about 1.2e5 on block3_conv4, where gamma L_vgg then outweighs every other
    # term of Eq. 1 by four orders of magnitude). "hr_energy": that distance divided by the HR
    # features' mean energy, per example (the relative feature error, about 0.1-1 on any
    # layer), so gamma L_vgg enters Eq. 1 at a layer-independent weight (`losses.vgg_loss`).
    vgg_normalise: str = _choice("none", ("none", "hr_energy"))

    def __post_init__(self) -> None:
        self._check_choices()
        if not (self.use_point or self.use_content or self.use_adv or self.use_vgg):
            raise ValueError("LossConfig needs at least one loss term. Received: all terms off")
        if self.huber_delta <= 0:
            raise ValueError(f"huber_delta must be > 0. Received: huber_delta={self.huber_delta}")

    @property
    def needs_discriminator(self) -> bool:
        return self.use_adv or self.use_content


@dataclasses.dataclass(frozen=True)
class DegradationConfig(_Config):
    """Ranges of the second-order "realistic" degradation (Real-ESRGAN, Wang et al., ICCVW 2021).

    Two rounds of blur -> random resize -> noise -> JPEG, then a resize to the LR size with a
    sinc filter and a last JPEG in random order (`keras_srfm.data.degradation`). Defaults are
    Real-ESRGAN's x4 recipe; fields ending in `2` belong to the second round. Probabilities
    are in [0, 1]; `(lo, hi)` pairs are uniform ranges; noise sigmas are on the 0-255 scale.
    """

    scale: int = 4
    kernel_sizes: tuple[int, ...] = (7, 9, 11, 13, 15, 17, 19, 21)  # odd; padded to the largest
    kernel_types: tuple[str, ...] = KERNEL_TYPES
    kernel_probs: tuple[float, ...] = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)
    resize_modes: tuple[str, ...] = ("area", "bilinear", "bicubic")
    # Round 1.
    sinc_prob: float = 0.1
    blur_sigma: tuple[float, float] = (0.2, 3.0)
    betag_range: tuple[float, float] = (0.5, 4.0)  # generalized Gaussian shape
    betap_range: tuple[float, float] = (1.0, 2.0)  # plateau shape
    resize_probs: tuple[float, float, float] = (0.2, 0.7, 0.1)  # up, down, keep
    resize_range: tuple[float, float] = (0.15, 1.5)
    gaussian_noise_prob: float = 0.5  # else Poisson
    noise_range: tuple[float, float] = (1.0, 30.0)
    poisson_scale_range: tuple[float, float] = (0.05, 3.0)
    gray_noise_prob: float = 0.4
    jpeg_range: tuple[int, int] = (30, 95)
    # Round 2.
    second_blur_prob: float = 0.8
    sinc_prob2: float = 0.1
    blur_sigma2: tuple[float, float] = (0.2, 1.5)
    betag_range2: tuple[float, float] = (0.5, 4.0)
    betap_range2: tuple[float, float] = (1.0, 2.0)
    resize_probs2: tuple[float, float, float] = (0.3, 0.4, 0.3)
    resize_range2: tuple[float, float] = (0.3, 1.2)
    gaussian_noise_prob2: float = 0.5
    noise_range2: tuple[float, float] = (1.0, 25.0)
    poisson_scale_range2: tuple[float, float] = (0.05, 2.5)
    gray_noise_prob2: float = 0.4
    jpeg_range2: tuple[int, int] = (30, 95)
    # Final resize to the LR size; sinc then JPEG, or JPEG then sinc (probability 1/2 each).
    final_sinc_prob: float = 0.8
    # Sharpened target (Real-ESRGAN's `gt_usm`): HR is unsharp-masked before the chain and
    # is the training target. radius 50 -> 51-tap Gaussian of sigma 8 (OpenCV's rule).
    usm_target: bool = False
    usm_weight: float = 0.5
    usm_threshold: float = 10.0  # on the 0-255 scale
    usm_radius: int = 50
    # LR pixels of context degraded around each training patch and then cropped away, so
    # that the patch's borders see real neighbours rather than reflect padding.
    context: int = 4
    # Stages skipped with a probability (Real-ESRGAN applies every stage; 1.0 keeps its chain).
    # Per sample: the round-1 blur, each round's noise, the round-1 JPEG; per call: round 2.
    blur_prob: float = 1.0
    noise_prob: float = 1.0
    jpeg_prob: float = 1.0
    second_round_prob: float = 1.0
    noise_prob2: float = 1.0

    @classmethod
    def preset(cls, strength: str) -> DegradationConfig:
        """A rung of the degradation ladder: `mild`, `medium` or `strong` (see `STRENGTHS`).

        - `mild`: what a phone or web photo has: slight blur (sigma 0.2-1.2), light sensor
          noise on half the images (Gaussian sigma 1-5 or weak Poisson), one JPEG at quality
          60-90; no resize before the final one, no second round.
        - `medium`: more blur (sigma 0.2-2), a random resize, noise up to sigma 15, a first
          JPEG at 40-90 on half the images, the second round on half of them.
        - `strong`: Real-ESRGAN's x4 ranges, every stage applied (the defaults).

        `clean` (MATLAB bicubic) is not a chain: `srfm degrade --strength clean` and the
        `ladder` training mixture make it with `keras_srfm.imresize`.
        """
        if strength == "strong":
            return cls()
        if strength == "mild":
            return cls(
                kernel_types=("iso", "aniso"), kernel_probs=(0.7, 0.3), sinc_prob=0.0,
                blur_sigma=(0.2, 1.2), resize_probs=(0.0, 0.0, 1.0), noise_prob=0.5,
                noise_range=(1.0, 5.0), poisson_scale_range=(0.05, 0.5), jpeg_prob=0.0,
                second_round_prob=0.0, final_sinc_prob=0.0, jpeg_range2=(60, 90),
            )  # fmt: skip
        if strength == "medium":
            return cls(
                sinc_prob=0.05, blur_sigma=(0.2, 2.0), resize_probs=(0.2, 0.5, 0.3),
                resize_range=(0.3, 1.5), noise_prob=0.8, noise_range=(1.0, 15.0),
                poisson_scale_range=(0.05, 1.5), jpeg_prob=0.5, jpeg_range=(40, 90),
                second_round_prob=0.5, sinc_prob2=0.05, blur_sigma2=(0.2, 1.0),
                noise_range2=(1.0, 10.0), poisson_scale_range2=(0.05, 1.0),
                final_sinc_prob=0.4, jpeg_range2=(40, 90),
            )  # fmt: skip
        raise ValueError(f"strength must be one of {STRENGTHS[1:]} for a chain. Received: {strength!r}")

    def __post_init__(self) -> None:
        for name in ("kernel_types", "kernel_probs", "resize_modes"):
            if not getattr(self, name):
                raise ValueError(f"{name} must not be empty. Received: {name}={getattr(self, name)}")
        unknown = sorted(set(self.kernel_types) - set(KERNEL_TYPES))
        if unknown or len(self.kernel_probs) != len(self.kernel_types):
            raise ValueError(
                f"kernel_types must be among {KERNEL_TYPES}, one kernel_probs value each. "
                f"Received: kernel_types={self.kernel_types}, kernel_probs={self.kernel_probs}"
            )
        if sorted(set(self.resize_modes) - {"area", "bilinear", "bicubic"}):
            raise ValueError(
                "resize_modes must be among area, bilinear, bicubic. "
                f"Received: resize_modes={self.resize_modes}"
            )
        if not self.kernel_sizes or any(k < 1 or k % 2 == 0 for k in self.kernel_sizes):
            raise ValueError(f"kernel_sizes must be odd and >= 1. Received: kernel_sizes={self.kernel_sizes}")
        if self.scale < 1 or self.context < 0 or self.usm_radius < 1:
            raise ValueError(
                "scale and usm_radius must be >= 1, context >= 0. Received: "
                f"scale={self.scale}, context={self.context}, usm_radius={self.usm_radius}"
            )
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name.endswith(("_prob", "_prob2")) and not 0.0 <= value <= 1.0:
                raise ValueError(f"{field.name} must be in [0, 1]. Received: {field.name}={value}")
            if field.name.endswith(("_range", "_range2", "sigma", "sigma2")) and not 0 < value[0] <= value[1]:
                raise ValueError(f"{field.name} must be (lo, hi) with 0 < lo <= hi. Received: {field.name}={value}")
        for name in ("jpeg_range", "jpeg_range2"):
            lo, hi = getattr(self, name)
            if not 1 <= lo <= hi <= 100:
                raise ValueError(f"{name} must lie in [1, 100]. Received: {name}={(lo, hi)}")
        for name in ("kernel_probs", "resize_probs", "resize_probs2"):
            probs = getattr(self, name)
            if min(probs) < 0 or sum(probs) <= 0:
                raise ValueError(f"{name} must be >= 0 with a positive sum. Received: {name}={probs}")


@dataclasses.dataclass(frozen=True)
class DataConfig(_Config):
    """Training input: aligned random LR/HR patches (Sec. V-A)."""

    sources: tuple[str, ...] = ("srfm_div2k", "srfm_flickr2k")  # TFDS names or HR folders
    weights: tuple[float, ...] = ()  # sampling weights per source; () = proportional to size
    split: str = "train"
    scale: int = 4
    lr_patch: int = 24
    batch_size: int = 16  # global batch
    patches_per_image: int = 16  # patches cut from each decoded image before moving on
    shuffle_buffer: int = 512
    seed: int = 0
    on_bad_image: str = _choice("skip", ("skip", "error"))  # skip: one warning line each
    data_dir: str | None = None  # TFDS data_dir
    manual_dir: str | None = None  # TFDS manual_dir (offline preparation)
    # LR synthesis: "bicubic" (MATLAB bicubic, the paper's) or "realistic" (Real-ESRGAN's
    # second-order model with the ranges of `realistic`; keras_srfm.data.degradation).
    degradation: str = _choice("bicubic", DEGRADATIONS)
    realistic: DegradationConfig = dataclasses.field(default_factory=DegradationConfig)
    # degradation="ladder": probability of each rung of `STRENGTHS` (clean, mild, medium,
    # strong) per decoded image; the realistic rungs use `DegradationConfig.preset`.
    ladder: tuple[float, ...] = (0.25, 0.25, 0.25, 0.25)

    def __post_init__(self) -> None:
        if isinstance(self.realistic, dict):  # from JSON (to_dict nests it as a dict)
            object.__setattr__(self, "realistic", DegradationConfig.from_dict(self.realistic))
        if self.degradation not in DEGRADATIONS:
            raise ValueError(
                f"degradation must be one of {DEGRADATIONS}. Received: degradation={self.degradation!r}"
            )
        if len(self.ladder) != len(STRENGTHS) or min(self.ladder) < 0 or sum(self.ladder) <= 0:
            raise ValueError(
                f"ladder needs {len(STRENGTHS)} weights >= 0 ({', '.join(STRENGTHS)}) with a "
                f"positive sum. Received: ladder={self.ladder}"
            )
        if self.degradation == "realistic" and self.realistic.scale != self.scale:
            raise ValueError(
                "realistic.scale must equal scale. "
                f"Received: scale={self.scale}, realistic.scale={self.realistic.scale}"
            )
        self._check_choices()
        if self.weights and len(self.weights) != len(self.sources):
            raise ValueError(
                f"weights needs one value per source. Received: sources={self.sources}, weights={self.weights}"
            )
        if self.batch_size < 1 or self.lr_patch < 1:
            raise ValueError(
                f"batch_size and lr_patch must be >= 1. Received: batch_size={self.batch_size}, lr_patch={self.lr_patch}"
            )

    @property
    def hr_patch(self) -> int:
        return self.lr_patch * self.scale

    def to_dict(self) -> dict[str, Any]:
        """As `_Config.to_dict`, but a bicubic config leaves out `degradation` and `realistic`,
        so it serialises as before those fields existed (older run directories still resume)."""
        values = super().to_dict()
        if self.degradation == "bicubic":
            del values["degradation"], values["realistic"]
        if self.degradation != "ladder":
            del values["ladder"]  # older run directories still resume
        return values


@dataclasses.dataclass(frozen=True)
class TrainConfig(_Config):
    """Optimisation schedule (Sec. V-A): Adam 1e-4 for G and D, x0.1 decay, 2e5 updates."""

    variant: str = "pcsva"
    steps: int = 200_000
    g_learning_rate: float = 1e-4
    d_learning_rate: float = 1e-4
    decay_every: int = 100_000  # steps between decays by decay_factor (paper: every 200 epochs)
    decay_factor: float = 0.1
    # Not Keras' 1e-7: with eta=0.01 (Eq. 1) the point-only variant's gradients are ~1e-8, and a
    # 1e-7 epsilon silently cut 97% of the generator's Adam steps ~10x (measured on the M_p run).
    adam_epsilon: float = 1e-12
    decay_start: int = 0  # step from which decay_every counts (lets a resumed run start decaying)
    # Explicit decay steps (each multiplies the rate by decay_factor); when given they replace
    # decay_every / decay_start, e.g. the uneven 40k, 64k of the shipped GPU phases.
    decay_at: tuple[int, ...] = ()
    warmup_steps: int = 0  # linear rate ramp of a fresh optimizer (fine-tuning with init_from)
    checkpoint_every: int = 200  # steps; also the Keras "epoch" length
    eval_every: int = 0  # steps between Set5-style validation runs (0 = only at checkpoints)
    keep_checkpoints: int = 3
    use_ema: bool = False
    ema_momentum: float = 0.999
    jit_compile: bool = False
    mixed_precision: str = _choice("off", ("off", "float16", "bfloat16"))
    strategy: str = _choice("default", ("default", "mirrored", "multiworker", "tpu"))
    backend: str = _choice("tensorflow", ("tensorflow", "jax"))  # Keras backend of the train step
    init_from: str | None = None  # generator weights (.keras / .weights.h5) to start from
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1. Received: steps={self.steps}")
        if self.checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be >= 1. Received: checkpoint_every={self.checkpoint_every}")
        if self.g_learning_rate <= 0 or self.d_learning_rate <= 0:
            raise ValueError(
                "learning rates must be > 0. "
                f"Received: g_learning_rate={self.g_learning_rate}, d_learning_rate={self.d_learning_rate}"
            )
        if self.adam_epsilon <= 0 or self.decay_every < 1 or self.decay_start < 0:
            raise ValueError(
                "adam_epsilon must be > 0, decay_every >= 1, decay_start >= 0. Received: "
                f"adam_epsilon={self.adam_epsilon}, decay_every={self.decay_every}, decay_start={self.decay_start}"
            )
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0. Received: warmup_steps={self.warmup_steps}")
        if any(b < 1 for b in self.decay_at) or list(self.decay_at) != sorted(set(self.decay_at)):
            raise ValueError(f"decay_at must be increasing steps >= 1. Received: decay_at={self.decay_at}")
        if self.keep_checkpoints < 1:
            raise ValueError(f"keep_checkpoints must be >= 1. Received: keep_checkpoints={self.keep_checkpoints}")
        self._check_choices()


# === Variants (Sec. V-B) ===

VARIANTS: dict[str, LossConfig] = {
    # M_p: L_point only.
    "p": LossConfig(use_point=True),
    # M_pva: L_point + L_vgg + L_adv.
    "pva": LossConfig(use_point=True, use_vgg=True, use_adv=True),
    # M_pca: L_point + L_content (plain average of the layer losses) + L_adv.
    "pca": LossConfig(
        use_point=True, use_content=True, use_adv=True, content_weighting="mean", content_rescale=False
    ),
    # M_pcσa: L_point + L_content (softmax reweighing, Eq. 7) + L_adv.
    "pcsa": LossConfig(use_point=True, use_content=True, use_adv=True, content_weighting="softmax"),
    # M_pcσva: L_point + L_content (softmax) + L_vgg + L_adv: the paper's final model.
    "pcsva": LossConfig(
        use_point=True, use_content=True, use_adv=True, use_vgg=True, content_weighting="softmax"
    ),
}


def loss_config_for(variant: str, **overrides: Any) -> LossConfig:
    """The LossConfig of a variant name (`p`, `pva`, `pca`, `pcsa`, `pcsva`), with overrides."""
    if variant not in VARIANTS:
        raise ValueError(f"Unknown variant. Expected one of {sorted(VARIANTS)}. Received: variant={variant!r}")
    return dataclasses.replace(VARIANTS[variant], **overrides)
