"""`srfm train`'s first-run checks: every input is checked before the run folder is touched.

Two stages, so that a typo fails in well under a second and a missing download fails within
seconds, both as one line that says what to pass instead:

1. `check_*_quick` (no TensorFlow): data folders exist and hold images, TFDS names are
   well-formed, `--init-from`, `--stats`, `--vgg-weights` and `--bench-dir` exist, and the
   ImageNet VGG19 weights are cached or their download host answers.
2. `check_inputs` (imports TensorFlow): every image of each data folder is readable, each TFDS
   source is prepared or its download host answers, the VGG19 weights of L_vgg (Eq. 3) are
   cached, downloadable (then downloaded now) or a loadable local file, `--init-from` loads
   into the configured generator, and an existing run folder holds a compatible run.

Nothing here writes to the run folder; a download of the VGG weights goes to Keras' cache.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlparse

from keras_srfm.config import DataConfig, GeneratorConfig, LossConfig

NETWORK_TIMEOUT_S = 3.0  # a host that does not answer in 3 s counts as offline
VGG19_NOTOP_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
VGG19_NOTOP_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/vgg19/" + VGG19_NOTOP_FILE
)
VGG19_NOTOP_MD5 = "253f8cb515780f3b799900260a226db6"  # keras.applications.VGG19's file_hash
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
_TFDS_NAME = re.compile(r"^[a-z][a-z0-9_]*(/[\w.]+)?(:[\d.*]+)?$")


class PreflightError(ValueError):
    """An input of `srfm train` is unusable; the message is one line and says what to pass."""


def reachable(host: str, port: int = 443, timeout: float = NETWORK_TIMEOUT_S) -> bool:
    """True if a TCP connection to `host:port` opens within `timeout` seconds."""
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError:
        return False
    return True


# === Stage 1: no TensorFlow ===


def check_data_quick(sources: Sequence[str], backend: str = "tensorflow") -> None:
    """Each source is a folder holding image files, or a well-formed TFDS name; a
    `srfm degrade --copies` set (HR/ + LR/ pairs) only for the JAX path, which reads its pairs
    (tf.data would take its LR copies for HR images)."""
    from keras_srfm.imaging.formats import is_training_set

    for spec in sources:
        path = Path(spec).expanduser()
        if path.is_dir() and is_training_set(path) and backend != "jax":
            raise PreflightError(
                f"--data {spec} is a `srfm degrade --copies` set (HR/ + LR/): train on its pairs with "
                "--backend jax"
            )
        if path.is_dir():
            if not any(p.suffix.lower() in IMAGE_SUFFIXES for p in path.rglob("*")):
                raise PreflightError(
                    f"--data {spec}: no images ({', '.join(IMAGE_SUFFIXES)}) under {path}"
                )
        elif path.exists():
            raise PreflightError(f"--data {spec}: not a folder (pass a folder of HR images)")
        elif not _TFDS_NAME.match(spec):
            raise FileNotFoundError(f"--data {spec}: image folder not found: {path}")


def check_files_quick(
    init_from: str | None, stats: str | None, vgg_weights: str | None, bench_dir: str | None
) -> None:
    """The files and folders named by options exist (loadability is checked in stage 2)."""
    if init_from:
        from keras_srfm.inference.presets import resolve_weights

        init_from = resolve_weights(init_from)
        if not Path(init_from).is_file():
            raise FileNotFoundError(f"--init-from file not found: {init_from}")
        if not init_from.endswith((".keras", ".weights.h5")):
            raise PreflightError(
                f"--init-from must be a .keras generator or a .weights.h5 file. Received: {init_from}"
            )
    if stats and not Path(stats).is_file():
        raise FileNotFoundError(f"--stats file not found: {stats}")
    if vgg_weights not in (None, "imagenet") and not Path(vgg_weights).is_file():
        raise FileNotFoundError(
            f"--vgg-weights file not found: {vgg_weights} (a {VGG19_NOTOP_FILE} file)"
        )
    if bench_dir and not Path(bench_dir).is_dir():
        raise FileNotFoundError(f"--bench-dir folder not found: {bench_dir}")


# === Stage 2: TensorFlow ===


def check_tfds_source(spec: str, data: DataConfig) -> None:
    """A TFDS source is prepared, has a manual_dir, or its download hosts answer."""
    import tensorflow_datasets as tfds

    import tfds_builders  # noqa: F401  (registers the srfm_* builders)

    base = spec.split(":")[0].split("/")[0]
    try:
        builder_cls = tfds.builder_cls(base)
    except tfds.core.registered.DatasetNotFoundError as err:
        raise FileNotFoundError(
            f"--data {spec}: neither an image folder nor a TFDS dataset"
        ) from err
    configs = [c.name for c in getattr(builder_cls, "BUILDER_CONFIGS", None) or []]
    name = spec
    if "/" not in spec.split(":")[0] and f"bicubic_x{data.scale}" in configs:
        name = f"{base}/bicubic_x{data.scale}"
    builder = tfds.builder(name, data_dir=data.data_dir)
    if builder.is_prepared() or data.manual_dir:
        return
    urls = getattr(builder_cls, "URLS", {}).get(data.scale, {}).values()
    hosts = sorted({urlparse(url).hostname for url in urls if urlparse(url).hostname})
    offline = [host for host in hosts if not reachable(host)]
    if offline or not hosts:
        where = f"its download host {', '.join(offline)} does not answer" if offline else (
            "it cannot be downloaded"
        )
        raise PreflightError(
            f"--data {spec}: not prepared in {builder.data_dir} and {where}; pass --data FOLDER "
            "(HR images), --manual-dir DIR (its downloaded archives) or the --data-dir where it "
            "is prepared"
        )


def check_data(data: DataConfig) -> None:
    """Every image of each folder source is readable; TFDS sources via `check_tfds_source`."""
    from keras_srfm.data.files import list_images

    for spec in data.sources:
        path = Path(spec).expanduser()
        if path.is_dir():
            try:
                list_images(path, on_bad_image=data.on_bad_image, min_size=data.hr_patch)
            except ValueError as err:
                raise PreflightError(f"--data {spec}: {err}") from err
        else:
            check_tfds_source(spec, data)


def _keras_cache_dirs() -> list[Path]:
    home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")).expanduser()
    return [home / "models", Path("/tmp/.keras/models")]  # Keras falls back to /tmp/.keras


def check_vgg_quick(loss: LossConfig) -> None:
    """ImageNet VGG19 weights (L_vgg, Eq. 3) are cached or their host answers (no TensorFlow)."""
    if not loss.use_vgg or loss.vgg_weights != "imagenet":
        return
    if any((d / VGG19_NOTOP_FILE).is_file() for d in _keras_cache_dirs()):
        return
    host = urlparse(VGG19_NOTOP_URL).hostname
    if not reachable(host):
        raise PreflightError(
            f"cannot download the ImageNet VGG19 weights of L_vgg ({host} does not answer); "
            f"pass --vgg-weights PATH to a copy of {VGG19_NOTOP_FILE}, or a variant without "
            "L_vgg (--variant pcsa)"
        )


def check_vgg(loss: LossConfig, patch_size: int) -> None:
    """The VGG19 weights of L_vgg (Eq. 3) are cached (downloaded now if not) or load from a file."""
    if not loss.use_vgg or loss.vgg_weights is None:
        return
    if loss.vgg_weights == "imagenet":
        check_vgg_quick(loss)
        import keras

        keras.utils.get_file(
            VGG19_NOTOP_FILE, VGG19_NOTOP_URL, cache_subdir="models", file_hash=VGG19_NOTOP_MD5
        )
        return
    from keras_srfm.models.vgg import build_vgg_features

    try:
        build_vgg_features(loss.vgg_layer, loss.vgg_weights, patch_size)
    except Exception as err:  # h5py / Keras raise many types for a wrong file
        raise PreflightError(
            f"--vgg-weights {loss.vgg_weights} does not load as VGG19 weights "
            f"({type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''})"
        ) from err


def check_init_from(path: str | None, generator: GeneratorConfig) -> None:
    """`--init-from` loads into a generator built from `generator`."""
    if not path:
        return
    from keras_srfm.models.generator import build_generator
    from keras_srfm.training.run_setup import load_generator_weights

    try:
        load_generator_weights(build_generator(generator), path)
    except Exception as err:  # a foreign or broken file: Keras / h5py raise many types
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise PreflightError(
            f"--init-from {path} does not load into the generator "
            f"(--blocks {generator.num_blocks} --filters {generator.filters}): {first}"
        ) from err
