"""``python -m data_preprocess.vqa --benchmark NAME --input PATH --output_dir DIR [--split ...]``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from .. import validate
from ..cli import PromptOptions, add_num_proc_arg, run_cli
from ..common import JPEG_QUALITY
from ..release_paths import ZipLimits
from . import benchmark_names
from .pipeline import convert


def _names(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def main(argv: Sequence[str] | None = None) -> None:
    from .registry import BENCHMARKS

    names = benchmark_names()
    parser = argparse.ArgumentParser(
        prog="python -m data_preprocess.vqa",
        description=__doc__
        + "\n\nBenchmarks (see docs/vqa.md):\n"
        + "\n".join(f"  {n}: --input {BENCHMARKS[n].layout} ({BENCHMARKS[n].card})" for n in names),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--benchmark", required=True, choices=names)
    parser.add_argument("--input", required=True, help="the downloaded release (see above)")
    parser.add_argument("--output_dir", required=True, help="folder for <split>.parquet (created)")
    parser.add_argument(
        "--split",
        action="append",
        default=None,
        help="split(s) to write, repeatable or comma-separated (default: all the release has)",
    )
    parser.add_argument(
        "--max_side",
        type=validate.image_side,
        default=448,
        help="longest stored image side, rounded to multiples of 28 px (0 keeps the size)",
    )
    parser.add_argument(
        "--jpeg_quality",
        type=validate.jpeg_quality,
        default=JPEG_QUALITY,
        help="quality of a JPEG source that is resized (default %(default)s). An image already at its stored size "
        "is stored as released (JPEG or PNG of grey/RGB pixels); a resized one keeps its kind: JPEG for a JPEG "
        "source, lossless PNG for every other",
    )
    add_num_proc_arg(parser)
    parser.add_argument(
        "--skip_missing_images",
        action="store_true",
        help="skip and count the questions whose image is not in the release (default: error naming the first)",
    )
    parser.add_argument(
        "--val_from_train",
        type=validate.fraction,
        default=0.0,
        help="for a release without a validation split: this share of train's images (seeded) is written as val",
    )
    limits = ZipLimits()
    parser.add_argument(
        "--zip_member_limit_mb",
        type=validate.positive_int,
        default=limits.member_bytes >> 20,
        help="refuse a zip member that unpacks to more (zip-bomb guard; default fits every release)",
    )
    parser.add_argument(
        "--zip_total_limit_mb",
        type=validate.positive_int,
        default=limits.total_bytes >> 20,
        help="refuse a zip whose members unpack to more in all (zip-bomb guard)",
    )
    PromptOptions.add_args(parser, option_style=False)  # options are always lettered: part of the question
    study = parser.add_argument_group("OmniMedVQA generalisation studies (Med-R1)")
    study.add_argument(
        "--split_by",
        choices=["random", "modality", "question_type", "medr1"],
        default=None,
        help="random (default): seeded split of the images stratified by modality; modality / "
        "question_type: train on --train_groups, test on --test_groups (default: the others); medr1: "
        "Med-R1's published split files (--medr1_splits)",
    )
    study.add_argument(
        "--medr1_splits",
        default=None,
        help="with --split_by medr1: Med-R1's Splits/modality (or Splits/question_type) folder; trains on the "
        "--train_groups train files (default all), tests on every test file",
    )
    study.add_argument("--train_groups", type=_names, default=None, help="comma-separated modalities/question types")
    study.add_argument("--test_groups", type=_names, default=None, help="comma-separated; default: all others")
    study.add_argument("--test_fraction", type=validate.fraction, default=None, help="random split (default 0.2)")
    study.add_argument("--val_fraction", type=validate.fraction, default=None, help="share of train kept for val")
    study.add_argument("--seed", type=int, default=None, help="seed of the random splits (default 42)")
    study.add_argument(
        "--access",
        choices=["open", "all"],
        default=None,
        help="open (default): the open-access subsets, whose images ship; all: also restricted",
    )
    args = parser.parse_args(argv)
    splits = [s for chunk in args.split for s in _names(chunk)] if args.split else None
    written = convert(
        args.benchmark,
        args.input,
        args.output_dir,
        splits=splits,
        prompt=PromptOptions.from_args(args),
        max_side=args.max_side,
        jpeg_quality=args.jpeg_quality,
        num_proc=args.num_proc,
        skip_missing_images=args.skip_missing_images,
        val_from_train=args.val_from_train,
        zip_limits=ZipLimits(args.zip_member_limit_mb << 20, args.zip_total_limit_mb << 20),
        split_by=args.split_by,
        train_groups=args.train_groups,
        test_groups=args.test_groups,
        test_fraction=args.test_fraction,
        val_fraction=args.val_fraction,
        seed=args.seed,
        access=args.access,
        medr1_splits=args.medr1_splits,
    )
    for path in written.values():
        print(path)


def cli() -> None:
    """Console-script entry: one error line and exit status 2 on bad input, never a traceback."""
    run_cli(main)


if __name__ == "__main__":
    cli()
