"""`srfm upscale`: x4 super-resolve image files, folders or globs with any model format.

Optionally resized to an exact factor or size, walking folder trees, keeping EXIF / ICC / DPI
and 16-bit samples (docs/upscaling.md).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from keras_srfm.imaging.image_io import (
    DEFAULT_MAX_PIXELS,  # no TensorFlow: `srfm --help` stays instant
)

FORMATS = ("png", "jpg", "webp", "tiff", "bmp", "same")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "upscale",
        help="x4 super-resolve images (files, folders, globs)",
        description="Upscale images x4. Exit status 0 only if every input was upscaled (or "
        "skipped with --skip-existing); 130 after Ctrl+C, 143 after SIGTERM, with no partial "
        "file left behind.",
    )
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="image file, folder or glob; folders: PNG, JPEG, BMP, GIF, TIFF, WebP (other "
        "files are named in a note)",
    )
    p.add_argument(
        "--recursive",
        "-r",
        action="store_true",
        help="walk folders' sub-folders too; outputs mirror the tree under --output-dir",
    )
    p.add_argument(
        "--output-dir", "-o", required=True, help="folder for the results (created if missing)"
    )
    p.add_argument(
        "--model",
        default="default",
        help="a shipped model's name (`srfm models`; srfm_mp for clean downscales, srfm_real "
        "for camera photos and JPEGs), 'default', a .keras file, a SavedModel folder, a .tflite "
        "file, 'bicubic' or 'nearest' (default: default)",
    )
    p.add_argument(
        "--blend",
        nargs=2,
        default=None,
        metavar=("A", "B"),
        help="instead of --model: blend two .keras generators (paths or shipped names), "
        "theta = (1-alpha) theta_A + alpha theta_B (see `srfm blend`)",
    )
    p.add_argument(
        "--alpha", type=float, default=0.5, help="with --blend: weight of B in [0, 1] (default 0.5)"
    )
    p.add_argument(
        "--tile-size",
        type=int,
        default=None,
        help="LR tile edge incl. overlap; bounds memory (default: 256, or a fixed-shape .tflite "
        "model's input; 0: no tiling)",
    )
    p.add_argument(
        "--tile-overlap",
        type=int,
        default=None,
        help="LR context per tile side (default: the model's receptive-field radius, which makes "
        "tiled output equal untiled output)",
    )
    p.add_argument(
        "--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
        help=f"refuse larger inputs (default: {DEFAULT_MAX_PIXELS:,})"
    )
    size = p.add_argument_group(
        "output size", "x4 by the model, then MATLAB bicubic to the size asked (default: x4)"
    )
    size.add_argument(
        "--outscale", type=float, default=None, metavar="S", help="final factor, e.g. 2 or 3.5"
    )
    size.add_argument(
        "--width", type=int, default=None, metavar="W", help="final width (aspect kept alone)"
    )
    size.add_argument(
        "--height", type=int, default=None, metavar="H", help="final height (aspect kept alone)"
    )
    p.add_argument(
        "--format",
        default="png",
        choices=FORMATS,
        help="output format; 'same' keeps the input's (GIF gives PNG) (default: png)",
    )
    p.add_argument(
        "--quality",
        type=int,
        default=None,
        metavar="Q",
        help="JPEG / WebP quality 1-100 (default: JPEG 95, WebP lossless); ignored for PNG, "
        "TIFF, BMP",
    )
    p.add_argument(
        "--alpha-upsampler",
        default="bicubic",
        choices=("bicubic", "model"),
        help="how an alpha channel is upscaled: MATLAB bicubic, or by the model as a gray "
        "image (default: bicubic)",
    )
    p.add_argument("--suffix", default="_x4", help="added to each output file name (default: _x4)")
    p.add_argument(
        "--jit", action="store_true", help="XLA-compile a Keras model (faster for large images)"
    )
    p.add_argument(
        "--threads", type=int, default=None, help="LiteRT interpreter threads (default: all cores)"
    )
    existing = p.add_mutually_exclusive_group()
    existing.add_argument(
        "--overwrite", action="store_true", help="replace existing outputs (each one is noted)"
    )
    existing.add_argument(
        "--skip-existing",
        action="store_true",
        help="leave existing outputs as they are and skip their inputs (e.g. to finish an "
        "interrupted batch); without either flag an existing output is an error",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _check_output_dir(path: Path) -> None:
    """The output folder can be written (the probe `srfm evaluate` uses for its outputs)."""
    from keras_srfm.evaluation.protocol import check_writable

    check_writable(path, folder=True, flag="--output-dir")


def _output_path(relative: Path, args: argparse.Namespace) -> Path:
    """`--output-dir / <sub-folders> / <stem><suffix>.<format>`.

    `--format same` keeps the input's extension, except one that cannot be written (GIF),
    which gives PNG.
    """
    from keras_srfm.imaging.formats import OUTPUT_FORMATS

    ext = relative.suffix.lower() if args.format == "same" else "." + args.format
    if ext not in OUTPUT_FORMATS:
        ext = ".png"
    return Path(args.output_dir) / relative.parent / f"{relative.stem}{args.suffix}{ext}"


def _check_options(args: argparse.Namespace) -> None:
    from keras_srfm.imaging.image_io import output_size

    if args.max_pixels < 1:
        raise ValueError(f"--max-pixels must be >= 1. Received: {args.max_pixels}")
    if args.quality is not None and not 1 <= args.quality <= 100:
        raise ValueError(f"--quality must be in 1..100. Received: {args.quality}")
    output_size(
        1, 1, outscale=args.outscale, out_width=args.width, out_height=args.height
    )  # conflicting or non-positive sizes fail here, before the model loads


def _prepare_folder(folder: Path, seen: set[Path]) -> None:
    """Creates an output (sub-)folder once and removes partial files a killed run left there."""
    from keras_srfm.imaging import image_io

    if folder in seen:
        return
    seen.add(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stale = image_io.remove_stale_parts(folder)
    if stale:
        print(
            f"srfm upscale: note: removed {len(stale)} partial file(s) left in {folder} by an "
            "interrupted run",
            file=sys.stderr,
        )


def _upscale_one(path: Path, target: Path, upscaler: Any, args: argparse.Namespace) -> list[str]:
    """Reads, upscales, resizes and writes one image; returns its notes."""
    from keras_srfm.imaging import image_io
    from keras_srfm.inference import upscalers

    loaded = image_io.read_image(path, max_pixels=args.max_pixels, keep_16bit=True)
    height, width = loaded.rgb.shape[:2]
    size = image_io.output_size(
        width,
        height,
        scale=upscaler.scale,
        outscale=args.outscale,
        out_width=args.width,
        out_height=args.height,
    )
    if loaded.rgb16 is not None and not upscaler.float_native:
        loaded.notes.append(f"{upscaler.name} takes 8-bit input: 16-bit precision reduced")
    result = upscalers.upscale_loaded(
        upscaler, loaded, progress=not args.quiet, alpha=args.alpha_upsampler, size=size
    )
    return loaded.notes + image_io.write_upscaled(result, target, quality=args.quality)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[list[int]]:
    """Turns SIGTERM into KeyboardInterrupt, so it cleans up exactly like Ctrl+C.

    Yields a list that holds the signal number once SIGTERM arrived. Further SIGTERMs are
    ignored while the interrupted write removes its temp file.
    """
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def handler(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        received.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield received
    finally:
        signal.signal(signal.SIGTERM, previous)


def _resolve_upscaler(args: argparse.Namespace) -> Any:
    """The model of `--model`, or the blend of `--blend A B --alpha X`."""
    from keras_srfm.commands.errors import CommandError
    from keras_srfm.inference import upscalers

    if args.blend:
        if args.model != "default":
            raise CommandError("give --model or --blend, not both")
        from keras_srfm.inference.blend import blend_upscaler, check_alpha

        return blend_upscaler(
            *args.blend,
            check_alpha(args.alpha),
            tile_size=args.tile_size,
            tile_overlap=args.tile_overlap,
            jit_compile=args.jit,
        )
    return upscalers.load_upscaler(
        args.model,
        tile_size=args.tile_size,
        tile_overlap=args.tile_overlap,
        jit_compile=args.jit,
        num_threads=args.threads,
    )


def run(args: argparse.Namespace) -> int:
    with _sigterm_as_interrupt() as terminated:
        try:
            return _run(args)
        except KeyboardInterrupt:
            if not terminated:
                raise
    print("srfm upscale: terminated (SIGTERM); no partial file left", file=sys.stderr)
    return 128 + signal.SIGTERM


def _report(kind: str, name: str, message: str) -> None:
    from tqdm.auto import tqdm

    tqdm.write(f"srfm upscale: {kind}: {name}: {message}", file=sys.stderr)


def _run(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from keras_srfm.imaging import image_io

    started = time.monotonic()
    _check_options(args)
    out_dir = Path(args.output_dir)
    _check_output_dir(out_dir)
    upscaler = _resolve_upscaler(args)  # before any folder is made: a bad model leaves nothing
    prepared: set[Path] = set()
    _prepare_folder(out_dir, prepared)
    items = image_io.expand_inputs(
        args.inputs,
        on_skip=lambda note: print(f"srfm upscale: note: {note}", file=sys.stderr),
        recursive=args.recursive,
    )
    input_paths = {item.path.resolve() for item in items if item.path is not None}
    claimed: dict[Path, str] = {}
    failures = skipped = 0
    bar = tqdm(
        items, desc=f"upscale ({upscaler.name})", unit="img", disable=True if args.quiet else None
    )
    for spec, path, relative in bar:
        if path is None:
            _report("error", spec, "no such file, or no images matched")
            failures += 1
            continue
        target = _output_path(relative, args)
        resolved = target.resolve()
        if resolved in input_paths:
            _report(
                "error",
                spec,
                f"output {target} would overwrite an input; change --suffix or --output-dir",
            )
            failures += 1
            continue
        if resolved in claimed:
            _report("error", spec, f"output {target} is already written for {claimed[resolved]}")
            failures += 1
            continue
        claimed[resolved] = spec
        existed = os.path.lexists(target)
        if existed and args.skip_existing:
            _report("note", spec, f"skipped: {target} exists (--skip-existing)")
            skipped += 1
            continue
        if existed and not args.overwrite:
            _report("error", spec, f"{target} exists; use --overwrite or --skip-existing")
            failures += 1
            continue
        try:
            _prepare_folder(target.parent, prepared)
            notes = _upscale_one(path, target, upscaler, args)
        except image_io.ImageError as err:
            _report("error", spec, str(err))
            failures += 1
            continue
        except Exception as err:  # one bad file must not stop the others
            first = str(err).strip().splitlines()[0] if str(err).strip() else ""
            _report("error", spec, f"{type(err).__name__}: {first}")
            failures += 1
            continue
        for note in notes:
            _report("warning", spec, note)
        if existed:
            _report("note", spec, f"replaced the existing {target} (--overwrite)")
    bar.close()
    done = len(items) - failures - skipped
    print(
        f"upscaled {done}/{len(items)} image(s) into {out_dir}: {done} done, {skipped} skipped, "
        f"{failures} failed in {time.monotonic() - started:.1f} s",
        file=sys.stderr,
    )
    return 0 if failures == 0 else 1
