"""Tiled upscaling: the receptive field of a generator, and crop-not-blend tiles.

A fully convolutional upscaler can run on tiles of a large image instead of the whole of it.
Tiles overlap by the generator's receptive-field radius (`receptive_radius`); each one keeps
only the pixels that saw their whole receptive field (`tile_spans`), so the stitched result
(`tiled_apply`) equals the untiled one up to float rounding while memory grows with the tile,
not the image.

NumPy only at import: Keras is imported by `receptive_radius` when it reads a model, and
tqdm by `tiled_apply` when it shows progress.

Example:
>>> tile_spans(10, 6, 2)  # (in_start, in_end, keep_start, keep_end) per window
[(0, 6, 0, 4), (2, 8, 4, 6), (4, 10, 6, 10)]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np


def receptive_radius(model: Any) -> int | None:
    """LR-pixel radius of the receptive field of a fully convolutional upscaler.

    Walks the layers in topological order; a `same` conv with kernel k adds (k - 1) / 2 pixels
    of context at the resolution it runs at, i.e. (k - 1) / 2 / f LR pixels after a x`f`
    sub-pixel shuffle. Skip connections only shorten paths, so the sum is an upper bound. For
    the paper generator (Sec. III-A: 16 blocks): 34 convs at LR, one after each x2 shuffle
    -> 34 + 1 + 1/2 + 1/4, i.e. 36 LR pixels.

    Args:
        model: keras.Model. A generator made of convolutions, `DepthToSpace` and point-wise layers.

    Returns:
        int, or None when a layer of unknown spatial extent is found.
    """
    import keras

    from keras_srfm.models.layers import DepthToSpace, MeanShift

    pointwise = (
        keras.layers.InputLayer,
        keras.layers.Add,
        keras.layers.Activation,
        keras.layers.LeakyReLU,
        keras.layers.ReLU,
        keras.layers.PReLU,
        keras.layers.Rescaling,
        MeanShift,
    )
    radius, factor = 0.0, 1
    for layer in model.layers:
        if type(layer) is keras.layers.Conv2D:  # not subclasses (transposed, depthwise...)
            if layer.padding != "same" or any(s != 1 for s in layer.strides):
                return None
            pairs = zip(layer.kernel_size, layer.dilation_rate, strict=True)
            radius += max((k - 1) // 2 * d for k, d in pairs) / factor
        elif isinstance(layer, DepthToSpace):
            factor *= layer.block_size
        elif not isinstance(layer, pointwise):
            return None
    return math.ceil(radius - 1e-9)


def tile_spans(length: int, tile: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """Splits one axis into overlapping input windows and the disjoint parts each one keeps.

    Every window has length `min(tile, length)`; a kept pixel is at least `overlap` pixels from
    any window edge that is not an image edge, so it saw its whole receptive field.

    Args:
        length: int. Image size along the axis (LR pixels).
        tile: int. Window size, overlap included.
        overlap: int. Context kept on each side of a window's kept part.

    Returns:
        list of `(in_start, in_end, keep_start, keep_end)`; the keep ranges partition [0, length).
    """
    if tile < 1 or overlap < 0:
        raise ValueError(
            f"tile must be >= 1 and overlap >= 0. Received: tile={tile}, overlap={overlap}"
        )
    if length <= tile:
        return [(0, length, 0, length)]
    if tile <= 2 * overlap:
        raise ValueError(
            "tile_size must exceed twice the overlap (nothing would be kept). "
            f"Received: tile_size={tile}, tile_overlap={overlap}"
        )
    spans = []
    keep_start = 0
    while keep_start < length:
        in_start = max(0, min(keep_start - overlap, length - tile))
        in_end = in_start + tile
        keep_end = length if in_end >= length else in_end - overlap
        spans.append((in_start, in_end, keep_start, keep_end))
        keep_start = keep_end
    return spans


def tiled_apply(
    image: np.ndarray,
    fn: Callable[[np.ndarray], np.ndarray],
    *,
    scale: int = 4,
    tile_size: int,
    overlap: int,
    progress: bool = False,
    desc: str = "tiles",
) -> np.ndarray:
    """Applies a fully convolutional upscaler tile by tile (crop, not blend).

    Only the output array (the dtype `fn` returns) is held at full size: memory is bounded by
    the tile, not the image.

    Args:
        image: np.ndarray (H, W, C), any dtype `fn` accepts.
        fn: callable (h, w, C) -> (scale*h, scale*w, C').
        scale: int. Upscale factor. Defaults to 4.
        tile_size: int. LR tile edge, overlap included.
        overlap: int. LR context on each side; >= the receptive-field radius for exact results.
        progress: bool. Show a tqdm bar over tiles (only when there is more than one).
        desc: str. Label of the progress bar.

    Returns:
        np.ndarray (scale*H, scale*W, C') of `fn`'s dtype.
    """
    h, w = image.shape[:2]
    rows, cols = tile_spans(h, tile_size, overlap), tile_spans(w, tile_size, overlap)
    if len(rows) == len(cols) == 1:
        return fn(image)
    out = None
    tiles = [(r, c) for r in rows for c in cols]
    if progress:
        from tqdm.auto import tqdm

        tiles = tqdm(tiles, desc=desc, unit="tile", leave=False, disable=None)
    for (r0, r1, kr0, kr1), (c0, c1, kc0, kc1) in tiles:
        result = fn(image[r0:r1, c0:c1])
        if out is None:
            out = np.empty((scale * h, scale * w, result.shape[-1]), dtype=result.dtype)
        out[scale * kr0 : scale * kr1, scale * kc0 : scale * kc1] = result[
            scale * (kr0 - r0) : scale * (kr1 - r0), scale * (kc0 - c0) : scale * (kc1 - c0)
        ]
    return out
