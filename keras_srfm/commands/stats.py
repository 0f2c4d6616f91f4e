"""`srfm stats SOURCE... [--json FILE]`: the training set's RGB mean on [0, 1] (Sec. V-A)."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "stats",
        help="RGB mean (and std) of a training set on [0, 1], for the generator's mean shift",
        description=(
            "Measures the per-channel mean and std of every HR pixel of the sources (folders "
            "of images, searched recursively, or TFDS names such as srfm_div2k), prints them "
            "and optionally stores them as JSON for training (GeneratorConfig.rgb_mean)."
        ),
    )
    parser.add_argument("sources", nargs="+", metavar="SOURCE", help="image folder or TFDS name")
    parser.add_argument("--json", metavar="FILE", help="write the statistics to FILE (JSON)")
    parser.add_argument("--split", default="train", help="TFDS split (default: train)")
    parser.add_argument("--data-dir", help="TFDS data_dir")
    parser.add_argument("--manual-dir", help="TFDS manual_dir, to prepare a dataset offline")
    parser.add_argument(
        "--on-bad-image",
        choices=("skip", "error"),
        default="skip",
        help="unreadable files in folders: skip with a warning (default) or fail",
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from keras_srfm.data.stats import compute_rgb_stats, save_rgb_stats

    stats = compute_rgb_stats(
        args.sources,
        split=args.split,
        data_dir=args.data_dir,
        manual_dir=args.manual_dir,
        on_bad_image=args.on_bad_image,
    )
    mean = " ".join(f"{v:.4f}" for v in stats["rgb_mean"])
    std = " ".join(f"{v:.4f}" for v in stats["rgb_std"])
    print(
        f"RGB mean on [0, 1]: {mean}  (std {std}; "
        f"{stats['num_images']} images, {stats['num_pixels']} pixels)"
    )
    if args.json:
        save_rgb_stats(stats, args.json)
        print(f"wrote {args.json}")
    return 0
