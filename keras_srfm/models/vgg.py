"""Frozen VGG19 features psi_i for the perceptual loss L_vgg (Eq. 3)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import keras

from keras_srfm.models.layers import PACKAGE

_DOWNLOAD_TIMEOUT_S = 60.0


@keras.saving.register_keras_serializable(package=PACKAGE)
class VGGPreprocess(keras.layers.Layer):
    """RGB [0, 1] -> the caffe-style input VGG19 was trained on (BGR, 0-255, ImageNet mean off)."""

    def call(self, inputs: Any) -> Any:
        return keras.applications.vgg19.preprocess_input(inputs * 255.0)


def build_vgg_features(
    layer: str = "block5_conv4", weights: str | None = "imagenet", patch_size: int | None = None
) -> keras.Model:
    """VGG19 truncated at `layer`, frozen, taking RGB images in [0, 1] (psi_i of Eq. 3).

    Args:
        layer: str. VGG19 layer whose output is matched. Defaults to "block5_conv4".
        weights: str or None. "imagenet" (downloads once into ~/.keras), a local weights
            file (the Keras `vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5`), or None for
            random weights (tests only: a random VGG is no perceptual loss).
        patch_size: int or None. Fixed input size, or None for any size.

    Returns:
        keras.Model, non-trainable, mapping `(batch, H, W, 3)` to the layer's feature map.

    Raises:
        RuntimeError: ImageNet weights were asked for and could not be downloaded.
        FileNotFoundError: a local weights file does not exist.
    """
    local = weights not in (None, "imagenet")
    if local and not Path(str(weights)).is_file():
        raise FileNotFoundError(f"VGG19 weights file not found: {weights}")
    vgg = _vgg19(None if local else weights)
    try:
        features = vgg.get_layer(layer).output
    except ValueError as err:
        names = [layer.name for layer in vgg.layers if "conv" in layer.name]
        raise ValueError(f"Unknown VGG19 layer. Expected one of {names}. Received: layer={layer!r}") from err
    inputs = keras.Input(shape=(patch_size, patch_size, 3), name="image")
    truncated = keras.Model(vgg.input, features, name=f"vgg19_{layer}")
    if local:
        _load_local_weights(vgg, truncated, str(weights), layer)
    model = keras.Model(inputs, truncated(VGGPreprocess(name="vgg_preprocess")(inputs)), name="vgg_features")
    model.trainable = False
    return model


def _vgg19(weights: str | None) -> keras.Model:
    if weights != "imagenet":
        return keras.applications.VGG19(include_top=False, weights=None)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(_DOWNLOAD_TIMEOUT_S)  # fail, not hang, on a dead network
    try:
        return keras.applications.VGG19(include_top=False, weights="imagenet")
    except Exception as err:  # urllib raises several types; all mean "no weights"
        raise RuntimeError(
            "Could not download the ImageNet VGG19 weights needed by L_vgg "
            f"({type(err).__name__}: {err}). Download "
            "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5 once and pass its path as "
            "--vgg-weights, or use a variant without L_vgg."
        ) from err
    finally:
        socket.setdefaulttimeout(previous)


def _load_local_weights(vgg: keras.Model, truncated: keras.Model, path: str, layer: str) -> None:
    """Loads a Keras VGG19 weights file: the full `notop` file, or one truncated at a block.

    A truncated file (such as `vgg19_block1to3_imagenet.h5`, blocks 1-3 only) serves every
    `layer` whose conv layers it holds; the full file serves any layer. A file that lacks a
    layer the truncated network uses is refused: a VGG with random layers is no perceptual loss.
    """
    try:
        vgg.load_weights(path)  # the full file, in Keras' legacy HDF5 layout or the .weights.h5 one
        return
    except ValueError as err:
        if "Layer count mismatch" not in str(err):
            raise
    import h5py  # a Keras dependency; legacy HDF5 files list their layers in an attribute

    with h5py.File(path, "r") as f:
        saved = {n.decode() if isinstance(n, bytes) else n for n in f.attrs.get("layer_names", [])}
    needed = [w.name for w in truncated.layers if w.weights]
    missing = [name for name in needed if name not in saved]
    if missing:
        raise ValueError(
            f"{path} lacks the VGG19 layers {missing[0]}..{missing[-1]} that L_vgg on {layer} needs: "
            "pass a layer the file holds (e.g. --vgg-layer block3_conv4 for "
            f"vgg19_block1to3_imagenet.h5) or the full weights. Received: layer={layer!r}"
        )
    truncated.load_weights(path, by_name=True)
