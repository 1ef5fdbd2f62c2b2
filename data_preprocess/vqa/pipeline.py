"""The conversion loop shared by every VQA benchmark: stream items split by split into ``<split>.parquet`` through
the MedMNIST converter's atomic writer (``common.atomic_outputs``): bounded memory, no partial output on any
error or interrupt, byte-identical files on rerun."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Any

from tqdm import tqdm

from .. import validate
from ..cli import PromptOptions, option_keywords
from ..common import ConversionError, atomic_outputs
from ..schema import arrow_schema
from .core import MissingImage, RowFactory, grouped_split, normalise_split
from .registry import SplitItems, get_benchmark, open_reader

VAL_SEED = 42


def held_out_val(available: dict[str, SplitItems], fraction: float, name: str) -> dict[str, SplitItems]:
    """The splits with ``fraction`` of train's images moved to a new ``val`` split (``grouped_split``); a release
    that has a validation split, or no train split, is an error."""
    validate.check_fractions(fraction, 0.0)
    if "val" in available or "train" not in available:
        raise ConversionError(
            f"--val_from_train {fraction}: {name} has {'a val' if 'val' in available else 'no train'} split "
            f"(it has: {', '.join(available)}); only a release without a validation split needs one held out"
        )
    parts = grouped_split(list(available["train"]()), fraction, 0.0, VAL_SEED, min_val=1)
    out = dict(available)
    out["train"], out["val"] = partial(iter, parts["train"]), partial(iter, parts["val"])
    return out


@option_keywords
def convert(
    benchmark: str,
    input_path: Path | str,
    output_dir: Path | str,
    *,
    splits: Sequence[str] | None = None,
    prompt: PromptOptions = PromptOptions(),
    max_side: int = 448,
    progress: bool = True,
    skip_missing_images: bool = False,
    val_from_train: float = 0.0,
    **options: Any,
) -> dict[str, Path]:
    """Convert one benchmark's public release to verl parquet (``python -m data_preprocess.vqa``).

    Args:
        benchmark (`str`):
            A registered name (``data_preprocess.vqa.benchmark_names()``).
        input_path (`Path` or `str`):
            The downloaded release (folder, file or zip; see docs/vqa.md per benchmark).
        output_dir (`Path` or `str`):
            Folder for ``<split>.parquet`` (created).
        splits (`Sequence[str]`, *optional*):
            The splits to write; defaults to every split the release has (``validation``/``dev`` = ``val``). A
            split of the benchmark's layout that the copy given lacks is an error, asked for or not.
        prompt (`PromptOptions`, *optional*):
            Template and system prompt of the rows (options are always lettered: they are part of the question).
        max_side (`int`, *optional*, defaults to `448`):
            Longest stored image side (multiples of 28 px; 0 keeps the size).
        progress (`bool`, *optional*, defaults to `True`):
            Show a progress bar per split.
        skip_missing_images (`bool`, *optional*, defaults to `False`):
            Skip (and count, on stderr) the questions whose image is not in the release instead of failing on
            the first one; a question is never paired with another image of the same file name.
        val_from_train (`float`, *optional*, defaults to `0`):
            For a release without a validation split (VQA-RAD, PMC-VQA): this share of the train split's images
            (seeded, 42; every question on one image in one split) is written as ``val``, so the validation curve
            never reads the test split.
        **options:
            Benchmark-specific reader options (OmniMedVQA's study splits).

        The prompt's fields are taken as keywords too, as before ``prompt`` (``template=``, ``system_prompt=``;
        ``cli.option_keywords``).

    Returns:
        `dict[str, Path]`: The written parquet files by file name.

    Example:

    >>> import json, tempfile, pyarrow.parquet as pq
    >>> from PIL import Image
    >>> with tempfile.TemporaryDirectory() as tmp:  # a SLAKE-shaped release: question files and imgs/
    ...     root = Path(tmp)
    ...     (root / "imgs" / "xmlab1").mkdir(parents=True)
    ...     Image.new("L", (64, 64)).save(root / "imgs" / "xmlab1" / "source.jpg")
    ...     question = {"img_name": "xmlab1/source.jpg", "question": "Is this a CT?", "answer": "Yes",
    ...                 "q_lang": "en", "modality": "CT", "location": "Lung", "content_type": "Modality"}
    ...     _ = (root / "train.json").write_text(json.dumps([question, dict(question, q_lang="zh")]))
    ...     _ = (root / "validation.json").write_text(json.dumps([question]))
    ...     _ = (root / "test.json").write_text(json.dumps([question]))
    ...     written = convert("slake", root, root / "out", progress=False)
    ...     {name: pq.ParquetFile(path).metadata.num_rows for name, path in written.items()}
    {'train.parquet': 1, 'val.parquet': 1, 'test.parquet': 1}
    >>> convert("nosuch", "in", "out")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    data_preprocess.errors.ConversionError: --benchmark 'nosuch': unknown; choose from [...]
    """
    if prompt.option_style != "none":
        raise ConversionError(f"--option_style {prompt.option_style}: VQA options are always lettered")
    spec = get_benchmark(benchmark)
    factory = RowFactory(spec.name, template=prompt.template, max_side=max_side, system_prompt=prompt.system_prompt)
    output_dir = Path(output_dir).expanduser()
    with ExitStack() as stack:
        available = open_reader(spec, Path(input_path).expanduser(), stack, **options)
        if val_from_train > 0:
            available = held_out_val(available, val_from_train, spec.name)
        wanted = [normalise_split(s) for s in splits] if splits else list(spec.splits or available)
        missing = [s for s in wanted if s not in available]
        if missing:
            asked = f"--split {','.join(missing)}" if splits else f"{spec.name} split {','.join(missing)}"
            raise ConversionError(
                f"{asked}: {input_path} has no such split (it has: {', '.join(available) or 'none'}; "
                f"{spec.name} expects {spec.layout}; name the splits you want with --split)"
            )
        with atomic_outputs(output_dir) as outputs:
            for split in dict.fromkeys(wanted):
                sink = outputs.open(f"{split}.parquet", arrow_schema())
                skipped: list[str] = []
                index = 0
                with tqdm(desc=f"{spec.name} {split}", unit="q", disable=not progress) as bar:  # closed before errors
                    for item in available[split]():
                        try:
                            row = factory.row(item, split, index)
                        except MissingImage as err:
                            if not skip_missing_images:
                                raise
                            skipped.append(str(err))
                            continue
                        sink.write(row)
                        index += 1
                        bar.update()
                if skipped:
                    print(
                        f"verl-med: {spec.name} {split}: skipped {len(skipped)} question(s) whose image is missing "
                        f"(--skip_missing_images); first: {skipped[0]}",
                        file=sys.stderr,
                    )
    return {f"{s}.parquet": output_dir / f"{s}.parquet" for s in dict.fromkeys(wanted)}
