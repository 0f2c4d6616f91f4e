"""`srfm upscale`: x4 super-resolve image files, folders or globs with any model format."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
        help="image file, folder (not recursive) or glob; folders: PNG, JPEG, BMP, GIF, TIFF, "
        "WebP (other files are named in a note)",
    )
    p.add_argument(
        "--output-dir", "-o", required=True, help="folder for the results (created if missing)"
    )
    p.add_argument(
        "--model",
        default="default",
        help="'default' (the model in exported_models/), a .keras file, a SavedModel folder, "
        "a .tflite file, 'bicubic' or 'nearest' (default: default)",
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
        "--max-pixels", type=int, default=64_000_000, help="refuse larger inputs (default: 64e6)"
    )
    p.add_argument("--format", default="png", choices=FORMATS, help="output format (default: png)")
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
    from keras_srfm.cli import CommandError

    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".srfm-write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise CommandError(f"output folder {path} is not writable ({err.strerror or err})") from err


def _output_path(source: Path, args: argparse.Namespace) -> Path:
    ext = source.suffix.lower() if args.format == "same" else "." + args.format
    return Path(args.output_dir) / f"{source.stem}{args.suffix}{ext}"


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
    from keras_srfm import inference
    from keras_srfm.cli import CommandError

    if args.blend:
        if args.model != "default":
            raise CommandError("give --model or --blend, not both")
        from keras_srfm.blend import blend_upscaler, check_alpha

        return blend_upscaler(
            *args.blend,
            check_alpha(args.alpha),
            tile_size=args.tile_size,
            tile_overlap=args.tile_overlap,
            jit_compile=args.jit,
        )
    return inference.load_upscaler(
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

    from keras_srfm import inference

    if args.max_pixels < 1:
        raise ValueError(f"--max-pixels must be >= 1. Received: {args.max_pixels}")
    out_dir = Path(args.output_dir)
    _check_output_dir(out_dir)
    stale = inference.remove_stale_parts(out_dir)
    if stale:
        print(
            f"srfm upscale: note: removed {len(stale)} partial file(s) left in {out_dir} by an "
            "interrupted run",
            file=sys.stderr,
        )
    upscaler = _resolve_upscaler(args)
    items = inference.expand_inputs(
        args.inputs, on_skip=lambda note: print(f"srfm upscale: note: {note}", file=sys.stderr)
    )
    input_paths = {p.resolve() for _, p in items if p is not None}
    claimed: dict[Path, str] = {}
    failures = skipped = 0
    bar = tqdm(
        items, desc=f"upscale ({upscaler.name})", unit="img", disable=True if args.quiet else None
    )
    for spec, path in bar:
        if path is None:
            _report("error", spec, "no such file, or no images matched")
            failures += 1
            continue
        target = _output_path(path, args)
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
            loaded = inference.read_image(path, max_pixels=args.max_pixels)
            result = inference.upscale_loaded(upscaler, loaded, progress=not args.quiet)
            notes = loaded.notes + inference.write_image(result, target)
        except inference.ImageError as err:
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
        f"upscaled {done}/{len(items)} image(s) into {out_dir}"
        + (f", {skipped} skipped" if skipped else ""),
        file=sys.stderr,
    )
    return 0 if failures == 0 else 1
