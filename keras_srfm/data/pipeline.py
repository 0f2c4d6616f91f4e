"""Training input (Sec. V-A): aligned random 24x24 LR / 96x96 HR patches, flips and rotations.

Per source (a TFDS dataset such as `srfm_div2k`, or a folder of HR images):

    image files (shuffled, repeated) -> decode [-> LR = MATLAB bicubic of the whole image]
    -> `patches_per_image` aligned random crops, each with a random symmetry of the square
    -> unbatch -> shuffle buffer

so one expensive decode feeds many patches. With `DataConfig.degradation="realistic"` the
LR is not the bicubic of the image: each HR patch window goes through Real-ESRGAN's
second-order degradation (`keras_srfm.data.degradation`, ranges in `DataConfig.realistic`);
with `"ladder"` each image draws a rung of the ladder (clean bicubic, mild, medium, strong).
Sources are mixed with
`tf.data.Dataset.sample_from_datasets`, then batched (`drop_remainder=True`), turned into
float32 in [0, 1] and prefetched. Everything in the loop is a TensorFlow op (parallel `map`,
no `py_function`). Randomness is stateless, seeded from `DataConfig.seed`, the input
pipeline id and the element index (and, for a resumed run, the step it resumes at), so one
seed always gives the same stream.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import tensorflow as tf

from keras_srfm.config import STRENGTHS, DataConfig, DegradationConfig
from keras_srfm.data.degradation import degrade, to_uint8, usm_sharpen
from keras_srfm.data.files import list_images
from keras_srfm.imaging.imresize import imresize_tf as _imresize_tf

# Plain TF ops with Python-level loops over taps: AutoGraph has nothing to convert.
imresize_tf = tf.autograph.experimental.do_not_convert(_imresize_tf)

logger = logging.getLogger("keras_srfm.data")

AUTOTUNE = tf.data.AUTOTUNE
# Sources whose encoded images total less than this keep their decoded images in memory.
AUTO_CACHE_BYTES = 128 * 2**20
# LR pixels of context around a window in `lr_from="window"` mode. The bicubic kernel
# widened for downscaling reaches 2 LR pixels; 3 leaves a pixel to spare.
WINDOW_MARGIN = 3
LR_FROM = ("image", "window")
_TFDS_NAME = re.compile(r"^[a-z][a-z0-9_]*(/[\w.]+)?(:[\d.*]+)?$")


# === Sources ===


@dataclasses.dataclass(frozen=True)
class Source:
    """A resolved input: a checked list of HR files, or a prepared TFDS split."""

    spec: str
    kind: str  # "folder" or "tfds"
    num_images: int
    encoded_bytes: int
    files: tuple[str, ...] = ()
    builder: Any = None


def _resolve_tfds(spec: str, config: DataConfig) -> Source:
    import tensorflow_datasets as tfds

    import tfds_builders  # noqa: F401  (registers the srfm_* builders)

    name = spec
    if "/" not in spec.split(":")[0]:
        try:
            configs = [c.name for c in tfds.builder_cls(spec.split(":")[0]).BUILDER_CONFIGS]
        except tfds.core.registered.DatasetNotFoundError as err:
            raise ValueError(
                f"Source {spec!r} is neither a folder nor a TFDS dataset. Received: sources={config.sources}"
            ) from err
        if f"bicubic_x{config.scale}" in configs:
            base, _, version = spec.partition(":")
            name = f"{base}/bicubic_x{config.scale}" + (f":{version}" if version else "")
    builder = tfds.builder(name, data_dir=config.data_dir)
    builder_scale = getattr(builder.builder_config, "scale", config.scale)
    if builder_scale != config.scale:
        raise ValueError(f"{name} is a x{builder_scale} dataset. Received: scale={config.scale}")
    if not builder.is_prepared():
        logger.warning("Preparing %s in %s (first use)", name, builder.data_dir)
        download_config = tfds.download.DownloadConfig(manual_dir=config.manual_dir)
        try:
            builder.download_and_prepare(download_config=download_config)
        except Exception as err:  # TFDS raises many types (download, manual_dir, bad file)
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ValueError(f"Cannot prepare {name}: {first}") from err
    splits = builder.info.splits
    try:
        split = splits[config.split]
    except (KeyError, ValueError) as err:
        raise ValueError(
            f"{name} has no split {config.split!r} (it has {sorted(splits)}). Received: split={config.split!r}"
        ) from err
    return Source(spec, "tfds", split.num_examples, int(split.num_bytes), builder=builder)


def resolve_source(spec: str, config: DataConfig) -> Source:
    """Turns one `DataConfig.sources` entry into a `Source`.

    An existing folder is listed recursively and each file checked (`list_images`, with
    `on_bad_image`); anything else is a TFDS name (`"srfm_div2k"`, `"srfm_div2k/bicubic_x4"`),
    prepared on first use (offline with `DataConfig.manual_dir`).
    """
    path = Path(spec).expanduser()
    if path.is_dir():
        files = list_images(path, on_bad_image=config.on_bad_image, min_size=config.hr_patch)
        size = sum(Path(f).stat().st_size for f in files)
        return Source(spec, "folder", len(files), size, files=tuple(files))
    if not _TFDS_NAME.match(spec):
        raise FileNotFoundError(f"Image folder not found: {spec}")
    return _resolve_tfds(spec, config)


def _mix_weights(sources: Sequence[Source], config: DataConfig) -> list[float]:
    weights = list(config.weights) or [float(s.num_images) for s in sources]
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError(f"weights must be >= 0 with a positive sum. Received: weights={weights}")
    return [w / sum(weights) for w in weights]


# === Decoding ===


def mod_crop(image: tf.Tensor, scale: int) -> tf.Tensor:
    """Crops bottom/right so height and width are multiples of `scale` (benchmark rule)."""
    shape = tf.shape(image)
    return image[: shape[0] - shape[0] % scale, : shape[1] - shape[1] % scale]


def decode_hr(path: tf.Tensor, scale: int) -> tf.Tensor:
    """Reads an image file as uint8 RGB (gray made 3-channel), mod-cropped to `scale`."""
    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    return mod_crop(tf.ensure_shape(image, [None, None, 3]), scale)


def bicubic_lr(hr: tf.Tensor, scale: int) -> tf.Tensor:
    """LR of a whole mod-cropped HR image: MATLAB `imresize(hr, 1/scale, 'bicubic')` on uint8."""
    return imresize_tf(hr, scale=1.0 / scale)


def _decode_pair(lr_png: tf.Tensor, hr_png: tf.Tensor, scale: int) -> tuple[tf.Tensor, tf.Tensor]:
    lr = tf.io.decode_png(lr_png, channels=3)
    hr = tf.io.decode_png(hr_png, channels=3)
    lr_hw = tf.shape(lr)[:2]
    tf.debugging.assert_greater_equal(
        tf.shape(hr)[:2], lr_hw * scale, message=f"HR smaller than {scale} x LR"
    )
    return lr, hr[: lr_hw[0] * scale, : lr_hw[1] * scale]


# === Patches ===


def _crop(image: tf.Tensor, ys: tf.Tensor, xs: tf.Tensor, size: int) -> tf.Tensor:
    """`len(ys)` crops of `size`x`size` at (ys, xs) from a (H, W, C) image, in one gather."""
    grid = tf.range(size)
    shape = tf.stack([tf.shape(ys)[0], size, size])
    rows = tf.broadcast_to(ys[:, None, None] + grid[None, :, None], shape)
    cols = tf.broadcast_to(xs[:, None, None] + grid[None, None, :], shape)
    return tf.gather_nd(image, tf.stack([rows, cols], axis=-1))


def _symmetry(
    patches: tf.Tensor, transpose: tf.Tensor, flip_rows: tf.Tensor, flip_cols: tf.Tensor
) -> tf.Tensor:
    """Applies per patch one of the 8 symmetries of the square (transpose, then flips).

    Transpose x row flip x column flip gives the same 8 maps as the paper's 90° rotations
    with horizontal and vertical flips (Sec. V-A), each with probability 1/8.
    """
    size = patches.shape[1]
    grid = tf.range(size)
    rows, cols = tf.meshgrid(grid, grid, indexing="ij")
    t = transpose[:, None, None]
    r = tf.where(t, cols, rows)
    c = tf.where(t, rows, cols)
    r = tf.where(flip_rows[:, None, None], size - 1 - r, r)
    c = tf.where(flip_cols[:, None, None], size - 1 - c, c)
    # An explicit patch index, not `batch_dims=1`: same result, and TensorFlow's batch_dims
    # path logs a spurious oneDNN error ("supports DT_INT32 only ... AVX-512") on every run.
    b = tf.broadcast_to(tf.range(tf.shape(patches)[0])[:, None, None], tf.shape(r))
    return tf.gather_nd(patches, tf.stack([b, r, c], axis=-1))


def _augment(lr: tf.Tensor, hr: tf.Tensor, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    bits = tf.random.stateless_uniform([3, tf.shape(lr)[0]], seed, 0, 2, dtype=tf.int32) > 0
    return _symmetry(lr, *tf.unstack(bits)), _symmetry(hr, *tf.unstack(bits))


def _positions(seed: tf.Tensor, count: int, limits: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """`count` uniform (y, x) in [0, limits); the modulo bias is below 2e-6 for 2K images."""
    draws = tf.random.stateless_uniform([2, count], seed, 0, 2**30, dtype=tf.int32)
    return tf.unstack(draws % limits[:, None])


def random_patches(
    lr: tf.Tensor, hr: tf.Tensor, seed: tf.Tensor, *, count: int, lr_patch: int, scale: int
) -> tuple[tf.Tensor, tf.Tensor]:
    """Aligned random crops of an LR/HR image pair, each randomly flipped/rotated.

    Args:
        lr: uint8 tensor (h, w, 3).
        hr: uint8 tensor (h * scale, w * scale, 3).
        seed: int tensor of shape (2,). Stateless seed of this image.
        count: int. Number of patches.
        lr_patch: int. LR patch size; the HR patch is `lr_patch * scale`.
        scale: int. Upscaling factor.

    Returns:
        `(lr_patches, hr_patches)`: uint8 (count, lr_patch, lr_patch, 3) and
        (count, lr_patch * scale, lr_patch * scale, 3); HR patch i covers exactly the
        pixels that LR patch i was made from.
    """
    pos_seed, aug_seed = tf.unstack(tf.random.split(seed, 2))
    shape = tf.shape(lr)
    limits = tf.stack([shape[0], shape[1]]) - lr_patch + 1
    ys, xs = _positions(pos_seed, count, limits)
    lr_p = _crop(lr, ys, xs, lr_patch)
    hr_p = _crop(hr, ys * scale, xs * scale, lr_patch * scale)
    return _augment(lr_p, hr_p, aug_seed)


def random_window_patches(
    hr: tf.Tensor, seed: tf.Tensor, *, count: int, lr_patch: int, scale: int
) -> tuple[tf.Tensor, tf.Tensor]:
    """As `random_patches`, but LR made per patch from an HR window with context.

    Each LR patch is the bicubic resize of its HR patch plus `WINDOW_MARGIN` LR pixels of
    context on every side, the image padded symmetrically as MATLAB's `imresize` does at
    its borders. Since the kernel never reaches past that context, the LR equals the
    matching crop of the whole-image LR (checked bit for bit in the tests), at a fraction
    of the cost of resizing a 2K image.
    """
    pos_seed, aug_seed = tf.unstack(tf.random.split(seed, 2))
    shape = tf.shape(hr)
    limits = tf.stack([shape[0], shape[1]]) // scale - lr_patch + 1
    ys, xs = _positions(pos_seed, count, limits)
    pad = WINDOW_MARGIN * scale
    padded = tf.pad(hr, [[pad, pad], [pad, pad], [0, 0]], mode="SYMMETRIC")
    windows = _crop(padded, ys * scale, xs * scale, (lr_patch + 2 * WINDOW_MARGIN) * scale)
    lr_windows = imresize_tf(windows, scale=1.0 / scale)
    lr_p = lr_windows[
        :, WINDOW_MARGIN : WINDOW_MARGIN + lr_patch, WINDOW_MARGIN : WINDOW_MARGIN + lr_patch
    ]
    hr_p = windows[:, pad : pad + lr_patch * scale, pad : pad + lr_patch * scale]
    return _augment(lr_p, hr_p, aug_seed)


def random_degraded_patches(
    hr: tf.Tensor,
    seed: tf.Tensor,
    *,
    count: int,
    lr_patch: int,
    scale: int,
    config: DegradationConfig,
) -> tuple[tf.Tensor, tf.Tensor]:
    """As `random_window_patches`, but LR from the realistic degradation of each HR window.

    Each HR window (the patch plus `config.context` LR pixels of context, the image padded
    symmetrically) is optionally unsharp-masked (`config.usm_target`: the sharpened window is
    both the chain's input and the target, as in Real-ESRGAN), degraded by
    `keras_srfm.data.degradation.degrade` and cropped back to the patch. The image's patches
    share one call, hence its per-call draws (resize factors, modes, final order).
    """
    pos_seed, aug_seed, degrade_seed = tf.unstack(tf.random.split(seed, 3))
    shape = tf.shape(hr)
    limits = tf.stack([shape[0], shape[1]]) // scale - lr_patch + 1
    ys, xs = _positions(pos_seed, count, limits)
    margin = config.context
    pad = margin * scale
    padded = tf.pad(hr, [[pad, pad], [pad, pad], [0, 0]], mode="SYMMETRIC")
    windows = _crop(padded, ys * scale, xs * scale, (lr_patch + 2 * margin) * scale)
    if config.usm_target:
        windows = to_uint8(
            usm_sharpen(
                tf.cast(windows, tf.float32) / 255.0,
                config.usm_weight,
                config.usm_threshold,
                config.usm_radius,
            )
        )
    lr_windows = degrade(windows, degrade_seed, config).lr
    lr_p = lr_windows[:, margin : margin + lr_patch, margin : margin + lr_patch]
    hr_p = windows[:, pad : pad + lr_patch * scale, pad : pad + lr_patch * scale]
    return _augment(lr_p, hr_p, aug_seed)


def random_ladder_patches(
    hr: tf.Tensor,
    seed: tf.Tensor,
    *,
    weights: Sequence[float],
    count: int,
    lr_patch: int,
    scale: int,
) -> tuple[tf.Tensor, tf.Tensor]:
    """One rung of the degradation ladder per image, drawn with `weights` over `STRENGTHS`.

    `clean` gives `random_window_patches` (MATLAB bicubic); `mild`, `medium` and `strong`
    give `random_degraded_patches` with `DegradationConfig.preset`. A model trained on this
    mixture sees clean downscales and phone-like photos as often as heavy degradations
    (Real-ESRGAN trains on its strong chain alone and loses on clean inputs).
    """
    rung_seed, patch_seed = tf.unstack(tf.random.split(seed, 2))
    logits = tf.math.log(tf.constant([list(weights)], tf.float32))
    rung = tf.random.stateless_categorical(logits, 1, rung_seed, dtype=tf.int32)[0, 0]
    kwargs = {"count": count, "lr_patch": lr_patch, "scale": scale}

    def clean() -> tuple[tf.Tensor, tf.Tensor]:
        return random_window_patches(hr, patch_seed, **kwargs)

    def chain(strength: str) -> Callable[[], tuple[tf.Tensor, tf.Tensor]]:
        preset = DegradationConfig.preset(strength)
        return lambda: random_degraded_patches(hr, patch_seed, config=preset, **kwargs)

    branches = [clean, *(chain(name) for name in STRENGTHS[1:])]
    return tf.switch_case(rung, branches)


# === Per-source streams ===


def _seed(*parts: int) -> int:
    value = 0
    for part in parts:
        value = (value * 1_000_003 + int(part)) % (2**31 - 1)
    return value


def _folder_images(
    source: Source,
    config: DataConfig,
    ctx: tf.distribute.InputContext,
    seed: int,
    cache: bool,
    lr_from: str,
) -> tf.data.Dataset:
    files = list(source.files)
    ds = tf.data.Dataset.from_tensor_slices(files)
    if ctx.num_input_pipelines > 1 and len(files) >= ctx.num_input_pipelines:
        ds = ds.shard(ctx.num_input_pipelines, ctx.input_pipeline_id)

    scale = config.scale

    @tf.autograph.experimental.do_not_convert  # graph code already, as `cut` in patch_stream
    def load(path: tf.Tensor) -> Any:
        hr = decode_hr(path, scale)
        return (bicubic_lr(hr, scale), hr) if lr_from == "image" else hr

    def robust(images: tf.data.Dataset) -> tf.data.Dataset:
        # Files passed Pillow's check; a decode error past it is skipped (logged) or raised.
        return images.ignore_errors(log_warning=True) if config.on_bad_image == "skip" else images

    if cache:
        ds = robust(ds.map(load, num_parallel_calls=AUTOTUNE)).cache()
        return ds.shuffle(min(len(files), 64), seed=seed).repeat()
    ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True).repeat()
    return robust(ds.map(load, num_parallel_calls=AUTOTUNE))


def _tfds_images(
    source: Source, config: DataConfig, ctx: tf.distribute.InputContext, seed: int, cache: bool
) -> tf.data.Dataset:
    import tensorflow_datasets as tfds

    builder = source.builder
    shards = builder.info.splits[config.split].num_shards
    read_config = tfds.ReadConfig(
        shuffle_seed=seed,
        try_autocache=False,
        input_context=ctx if 1 < ctx.num_input_pipelines <= shards else None,
    )
    skip = tfds.decode.SkipDecoding()
    ds = builder.as_dataset(
        split=config.split,
        shuffle_files=True,
        read_config=read_config,
        decoders={"lr": skip, "hr": skip},
    )
    ds = ds.map(lambda ex: (ex["lr"], ex["hr"]), num_parallel_calls=AUTOTUNE)

    def decode(lr_png: tf.Tensor, hr_png: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return _decode_pair(lr_png, hr_png, config.scale)

    if cache:
        ds = ds.map(decode, num_parallel_calls=AUTOTUNE).cache()
        ds = ds.shuffle(min(source.num_images, 64), seed=seed).repeat()
    else:
        # A small buffer of encoded images on top of TFDS's shard shuffling.
        ds = ds.shuffle(16, seed=seed).repeat().map(decode, num_parallel_calls=AUTOTUNE)
    lr_patch = config.lr_patch
    return ds.filter(lambda lr, hr: tf.reduce_min(tf.shape(lr)[:2]) >= lr_patch)


def patch_stream(
    source: Source,
    config: DataConfig,
    *,
    input_context: tf.distribute.InputContext | None = None,
    seed: int = 0,
    cache: bool = False,
    lr_from: str = "image",
) -> tf.data.Dataset:
    """Endless, shuffled uint8 `(lr_patch, hr_patch)` pairs from one source (not batched)."""
    ctx = input_context or tf.distribute.InputContext()
    kwargs = {"count": config.patches_per_image, "lr_patch": config.lr_patch, "scale": config.scale}
    realistic = config.degradation in ("realistic", "ladder")
    if source.kind == "folder":
        # The realistic LR is made per patch: load HR only, as for lr_from="window".
        images = _folder_images(source, config, ctx, seed, cache, "window" if realistic else lr_from)
    else:
        images = _tfds_images(source, config, ctx, seed, cache)
        lr_from = "image"  # TFDS examples carry their LR (unused when realistic)

    def cut(index: tf.Tensor, pair: Any) -> tuple[tf.Tensor, tf.Tensor]:
        image_seed = tf.stack([tf.constant(seed, tf.int64), index])
        if config.degradation == "ladder":
            hr = pair if source.kind == "folder" else pair[1]
            return random_ladder_patches(hr, image_seed, weights=config.ladder, **kwargs)
        if realistic:
            hr = pair if source.kind == "folder" else pair[1]
            return random_degraded_patches(hr, image_seed, config=config.realistic, **kwargs)
        if lr_from == "window":
            return random_window_patches(pair, image_seed, **kwargs)
        return random_patches(pair[0], pair[1], image_seed, **kwargs)

    # `cut` and the chains below it are graph code already (tf.cond / tf.switch_case / tf.where;
    # their Python `if`s test config values): skipping autograph's source conversion halves the
    # map's trace, which a run pays at every start (building the stream of 3 images, 2-core AMD
    # EPYC: ladder 8.7 -> 4.2 s, realistic 5.6 -> 1.6 s, bicubic 1.8 -> 0.9 s; same patches).
    patches = images.enumerate().map(tf.autograph.experimental.do_not_convert(cut), num_parallel_calls=AUTOTUNE)
    return patches.unbatch().shuffle(config.shuffle_buffer, seed=seed)


# === Public entry points ===


def _to_float(lr: tf.Tensor, hr: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    return tf.cast(lr, tf.float32) / 255.0, tf.cast(hr, tf.float32) / 255.0


def make_dataset_fn(
    config: DataConfig,
    *,
    cache: bool | None = None,
    lr_from: str = "image",
    start_step: int = 0,
) -> Callable[[tf.distribute.InputContext], tf.data.Dataset]:
    """A `dataset_fn` for `strategy.distribute_datasets_from_function` (Sec. V-A input).

    Sources are resolved once, here: folders listed and checked, TFDS datasets prepared.
    Each input pipeline then reads its own shard of the files (when there are enough)
    with its own seed, and batches `input_context.get_per_replica_batch_size(batch_size)`.

    Args:
        config: DataConfig. Sources, weights, split, scale, patch size, batch size, seed...
        cache: bool or None. Keep decoded images (and folder LR) in memory. None: only for
            sources under `AUTO_CACHE_BYTES` of encoded images. Defaults to None.
        lr_from: str. For folders: `"image"` makes LR from the whole mod-cropped HR image
            (default); `"window"` from each patch's HR window with context, which gives
            the same pixels at a fraction of the cost (see `random_window_patches`).
        start_step: int. The training step the stream starts at. A resumed run (> 0) gets
            a stream reseeded from it, so it does not replay the patches of steps 0, 1, ...;
            0 gives the stream of `config.seed` alone. Defaults to 0.

    Returns:
        `dataset_fn(input_context) -> tf.data.Dataset` of endless `(lr, hr)` float32 batches
        in [0, 1]: (B, lr_patch, lr_patch, 3) and (B, hr_patch, hr_patch, 3).

    Example:

    ```python
    strategy = tf.distribute.MirroredStrategy()
    dist = strategy.distribute_datasets_from_function(make_dataset_fn(DataConfig()))
    ```
    """
    if lr_from not in LR_FROM:
        raise ValueError(f"lr_from must be 'image' or 'window'. Received: lr_from={lr_from!r}")
    if not config.sources:
        raise ValueError(
            f"DataConfig needs at least one source. Received: sources={config.sources}"
        )
    sources = [resolve_source(spec, config) for spec in config.sources]
    weights = _mix_weights(sources, config)
    caches = [s.encoded_bytes < AUTO_CACHE_BYTES if cache is None else cache for s in sources]
    for source, weight, cached in zip(sources, weights, caches, strict=True):
        logger.info(
            "source %s: %s, %d images, weight %.3f%s",
            source.spec, source.kind, source.num_images, weight, ", cached" if cached else "",
        )  # fmt: skip

    if start_step < 0:
        raise ValueError(f"start_step must be >= 0. Received: start_step={start_step}")

    def seed_of(*parts: int) -> int:  # fresh runs keep the streams they always had
        return _seed(config.seed, *parts, *((start_step,) if start_step else ()))

    def dataset_fn(input_context: tf.distribute.InputContext) -> tf.data.Dataset:
        batch_size = input_context.get_per_replica_batch_size(config.batch_size)
        pipeline = input_context.input_pipeline_id
        streams = [
            patch_stream(
                source,
                config,
                input_context=input_context,
                seed=seed_of(pipeline, index),
                cache=cached,
                lr_from=lr_from,
            )
            for index, (source, cached) in enumerate(zip(sources, caches, strict=True))
        ]
        if len(streams) == 1:
            ds = streams[0]
        else:
            ds = tf.data.Dataset.sample_from_datasets(
                streams, weights=weights, seed=seed_of(pipeline, len(streams))
            )
        ds = ds.batch(batch_size, drop_remainder=True)
        ds = ds.map(_to_float, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)
        options = tf.data.Options()
        options.deterministic = True
        if input_context.num_input_pipelines > 1:  # sharded above, by file
            options.experimental_distribute.auto_shard_policy = (
                tf.data.experimental.AutoShardPolicy.OFF
            )
        return ds.with_options(options)

    return dataset_fn


def make_train_dataset(
    config: DataConfig, *, cache: bool | None = None, lr_from: str = "image", start_step: int = 0
) -> tf.data.Dataset:
    """The training stream for `model.fit`: endless `(lr, hr)` batches of `config.batch_size`.

    Args:
        config: DataConfig.
        cache: bool or None. See `make_dataset_fn`.
        lr_from: str. See `make_dataset_fn`.
        start_step: int. See `make_dataset_fn` (a resumed run's stream is reseeded).

    Returns:
        tf.data.Dataset of `(lr, hr)`: float32 in [0, 1], (B, 24, 24, 3) and (B, 96, 96, 3)
        with the paper's defaults; repeated forever, `drop_remainder=True`.

    Example:

    ```python
    ds = make_train_dataset(DataConfig(sources=("path/to/DIV2K_train_HR",), batch_size=16))
    model.fit(ds, steps_per_epoch=200)
    ```
    """
    fn = make_dataset_fn(config, cache=cache, lr_from=lr_from, start_step=start_step)
    return fn(tf.distribute.InputContext())
