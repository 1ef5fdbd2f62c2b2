"""The command line every converter shares: its option groups as dataclasses, each with the one function that adds
its flags to a parser (``add_args``) and the one that reads them back (``from_args``), so a converter's ``main`` is
its own flags plus ``convert(..., prompt=PromptOptions.from_args(args), ...)``; and ``run_cli``, the guarded entry.

Imports run one way: ``errors`` <- ``validate`` <- ``common`` <- ``prompts`` <- ``cli`` <- the converters.
"""

from __future__ import annotations

import argparse
import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import numpy as np
from PIL import Image

from . import validate
from .common import DEFAULT_MAX_IMAGE_PIXELS, SPLITS, assign_splits, fit_size, open_image, resize, select_indices
from .exclude import ExcludeIndex, add_exclude_args, drop_excluded
from .prompts import RowBuilder, TaskSpec, available_templates

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S")


def add_output_args(parser: argparse.ArgumentParser) -> None:
    """``--output_dir`` and ``--seed``, the one seed of a run's random choices (subsets, random splits)."""
    parser.add_argument("--output_dir", required=True, help="folder for train/val/test.parquet (created)")
    parser.add_argument("--seed", type=int, default=42, help="seed of subset sampling and random splits")


def add_num_proc_arg(parser: argparse.ArgumentParser) -> None:
    """``--num_proc``: processes for the images (decoding, resizing, encoding); the output is the same for any."""
    parser.add_argument(
        "--num_proc",
        type=validate.positive_int,
        default=None,
        help="processes decoding, resizing and encoding the images (default: every core); same output for any",
    )


@dataclass(frozen=True)
class PromptOptions:
    """How every row is prompted (``--template``, ``--option_style``, ``--system_prompt``).

    Args:
        template (`str`, *optional*, defaults to `"vrft"`):
            Prompt template: a name in ``data_preprocess/templates/`` or a YAML file of the same shape.
        option_style (`str`, *optional*, defaults to `"none"`):
            How the class list is shown: plain names (``"none"``), ``"letter"`` (``A. name``) or ``"number"``.
        system_prompt (`str`, *optional*):
            System message of every row; ``None`` takes the template's own.
    """

    template: str = "vrft"
    option_style: str = "none"
    system_prompt: str | None = None

    @staticmethod
    def add_args(parser: argparse.ArgumentParser, *, option_style: bool = True) -> None:
        """Add the flags; ``option_style=False`` for tasks without a class list (grounding, VQA)."""
        parser.add_argument(
            "--template",
            default="vrft",
            help=f"prompt template, one of {available_templates()} (data_preprocess/templates/) or "
            "a YAML file of the same shape: 'vrft' = baseline V-RFT prompt, the knowledge stays "
            "in extra_info for verl-med's dataset class to inject; 'classlist' / 'knowledge' "
            "bake the class list / the knowledge into the prompt, for plain verl",
        )
        if option_style:
            parser.add_argument(
                "--option_style",
                default="none",
                choices=["none", "letter", "number"],
                help="list classes as plain names, 'A. name' or '1. name'",
            )
        parser.add_argument("--system_prompt", default=None, help="optional system message for every row")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> PromptOptions:
        return cls(
            template=args.template, option_style=getattr(args, "option_style", "none"), system_prompt=args.system_prompt
        )

    def row_builder(self, task: TaskSpec) -> RowBuilder:
        """The builder of ``task``'s rows with these options."""
        return RowBuilder(
            task, template=self.template, option_style=self.option_style, system_prompt=self.system_prompt
        )


@dataclass(frozen=True)
class SubsetOptions:
    """Which rows of each split are written (``--train_size``, ``--val_size``, ``--test_size``, ``--no_balance``).

    Args:
        sizes (`Mapping[str, int]`, *optional*):
            Rows to keep per split; ``-1`` or a split left out keeps all, ``0`` writes an empty val or test file.
        balanced (`bool`, *optional*, defaults to `True`):
            The train subset takes the same number of rows per class; val and test keep the data's distribution.
    """

    sizes: Mapping[str, int] = field(default_factory=dict)
    balanced: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "sizes", dict(self.sizes or {}))  # a copy: None (the old default) = all rows

    @staticmethod
    def add_args(parser: argparse.ArgumentParser) -> None:
        for split in SPLITS:
            parser.add_argument(
                f"--{split}_size",
                default=-1,
                type=validate.train_size if split == "train" else validate.split_size,
                help=f"rows to keep in {split} (-1: all); "
                + (
                    "balanced per class unless --no_balance"
                    if split == "train"
                    else "uniform: keeps the class distribution"
                ),
            )
        parser.add_argument(
            "--no_balance",
            action="store_true",
            help="sample the train subset uniformly instead of the same number per class",
        )

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> SubsetOptions:
        return cls(sizes={s: getattr(args, f"{s}_size") for s in SPLITS}, balanced=not args.no_balance)

    def check(self) -> None:
        """The command line's rules for the sizes, for the Python API."""
        validate.check_split_sizes(self.sizes)

    def select(self, labels: np.ndarray, split: str, *, seed: int, stream: int) -> np.ndarray:
        """Sorted indices of ``split``'s rows to keep (``common.select_indices``); balanced in train only."""
        return select_indices(
            labels, self.sizes.get(split, -1), balanced=self.balanced and split == "train", seed=seed, stream=stream
        )

    def may_be_empty(self, split: str) -> bool:
        return validate.may_be_empty(split, self.sizes)


@dataclass(frozen=True)
class SplitOptions:
    """How samples the source gives no split are split at random (``--val_fraction``, ``--test_fraction``).

    Args:
        val_fraction (`float`, *optional*, defaults to `0.1`):
            Share of each stratum (class) that goes to val.
        test_fraction (`float`, *optional*, defaults to `0.2`):
            Share of each stratum that goes to test.
    """

    val_fraction: float = 0.1
    test_fraction: float = 0.2

    @classmethod
    def add_args(cls, parser: argparse.ArgumentParser) -> None:
        for name in ("val_fraction", "test_fraction"):
            parser.add_argument(
                f"--{name}",
                type=validate.fraction,
                default=getattr(cls(), name),
                help="random split when the source has none",
            )

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> SplitOptions:
        return cls(val_fraction=args.val_fraction, test_fraction=args.test_fraction)

    def assign(self, samples: Sequence[Any], strata: Sequence[Any], seed: int) -> None:
        """Give each sample without a split a random one, per stratum (``common.assign_splits``)."""
        assign_splits(samples, strata, self.val_fraction, self.test_fraction, seed)


@dataclass(frozen=True)
class ImageOptions:
    """Which source images are used and how they are read and stored (``--max_side``, ``--max_image_pixels``,
    ``--exclude``, ``--exclude_threshold``).

    Args:
        max_side (`int`, *optional*, defaults to `448`):
            Longest stored side, sides rounded to multiples of 28 px (``common.fit_size``); ``0`` keeps the size.
        max_image_pixels (`int`, *optional*, defaults to `DEFAULT_MAX_IMAGE_PIXELS`):
            Larger images are refused (decompression-bomb guard).
        exclude (`ExcludeIndex`, *optional*):
            Images of prepared splits whose copies are left out (``data_preprocess.exclude``).
    """

    max_side: int = 448
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    exclude: ExcludeIndex | None = None

    @classmethod
    def add_args(cls, parser: argparse.ArgumentParser, max_side_help: str) -> None:
        parser.add_argument("--max_side", type=validate.image_side, default=cls().max_side, help=max_side_help)
        parser.add_argument(
            "--max_image_pixels",
            type=int,
            default=DEFAULT_MAX_IMAGE_PIXELS,
            help="refuse larger images (decompression-bomb guard)",
        )
        add_exclude_args(parser)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ImageOptions:
        exclude = (
            ExcludeIndex(args.exclude, args.exclude_threshold, require_all=not args.exclude_partial)
            if args.exclude
            else None
        )
        return cls(max_side=args.max_side, max_image_pixels=args.max_image_pixels, exclude=exclude)

    def open(self, path: Path | str) -> Image.Image:
        """The decoded source image (``common.open_image``)."""
        return open_image(path, self.max_image_pixels)

    def fit(self, image: Image.Image) -> Image.Image:
        """``image`` at its stored size."""
        return resize(image, fit_size(*image.size, self.max_side))

    def without_excluded(self, samples: list[S]) -> list[S]:
        """``samples`` (objects with an ``image`` path) but those matching ``exclude``; prints the count dropped."""
        return drop_excluded(samples, self.exclude, lambda s: self.open(s.image))


# The converters' keyword arguments of earlier versions that are now option fields under another name.
_RENAMED_KEYWORDS = {"split_sizes": "sizes"}


def option_keywords(convert: Callable[P, R]) -> Callable[P, R]:
    """Decorator: ``convert`` also takes the fields of its option groups (its keyword-only parameters whose default
    is an option dataclass) as keywords, as the converters did before the groups:
    ``convert(..., template="classlist")`` is ``convert(..., prompt=PromptOptions(template="classlist"))``, and
    ``split_sizes`` is ``SubsetOptions.sizes``. Such keywords override the fields of the options given.

    >>> @option_keywords
    ... def build(*, prompt: PromptOptions = PromptOptions(), subset: SubsetOptions = SubsetOptions()):
    ...     return prompt.template, subset.sizes
    >>> build(template="classlist", split_sizes={"train": 4})
    ('classlist', {'train': 4})
    """
    params = inspect.signature(convert).parameters
    groups = {name: p.default for name, p in params.items() if is_dataclass(p.default)}
    group_fields = {name: {f.name for f in fields(default)} for name, default in groups.items()}

    @functools.wraps(convert)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        for group, names in group_fields.items():
            changes = {
                _RENAMED_KEYWORDS.get(k, k): kwargs.pop(k)
                for k in list(kwargs)
                if k not in params and _RENAMED_KEYWORDS.get(k, k) in names
            }
            if changes:
                kwargs[group] = replace(kwargs.get(group, groups[group]), **changes)  # type: ignore[type-var]
        return convert(*args, **kwargs)

    return wrapper


def run_cli(main_fn: Callable[[Sequence[str] | None], Any], argv: Sequence[str] | None = None) -> None:
    """Run a converter's main: a bad input ends with its one-line message (exit status ``USER_ERROR_EXIT``),
    Ctrl-C with exit 130; never a traceback (``validate.run_guarded``)."""
    validate.run_guarded(main_fn, argv)
