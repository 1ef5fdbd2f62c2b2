"""The conversion loop shared by every VQA benchmark: stream items split by split into ``<split>.parquet`` through
the MedMNIST converter's atomic writer (``common.atomic_outputs``): bounded memory, no partial output on any
error or interrupt, byte-identical files on rerun."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Any

from tqdm import tqdm

from .. import validate
from ..cli import PromptOptions, option_keywords
from ..common import JPEG_QUALITY, ConversionError, atomic_outputs
from ..errors import DroppedRow
from ..parallel import Workers, in_order
from ..release_paths import ZipLimits, using_zip_limits
from ..schema import arrow_schema
from .core import Drop, MissingImage, RowFactory, VQAItem, grouped_by_image, grouped_split, normalise_split
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
    train = list(available["train"]())
    drops = [x for x in train if isinstance(x, Drop)]  # counted with train's drops
    parts = grouped_split([x for x in train if not isinstance(x, Drop)], fraction, 0.0, VAL_SEED, min_val=1)
    out = dict(available)
    out["train"], out["val"] = partial(iter, [*drops, *parts["train"]]), partial(iter, parts["val"])
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
    zip_limits: ZipLimits | None = None,
    jpeg_quality: int = JPEG_QUALITY,
    num_proc: int | None = None,
    **options: Any,
) -> dict[str, Path]:
    """Convert one benchmark's public release to verl parquet (``python -m data_preprocess.vqa``).

    Args:
        benchmark (`str`):
            A registered name (``data_preprocess.vqa.benchmark_names()``).
        input_path (`Path` or `str`):
            The downloaded release (folder, file or zip; see docs/vqa.md per benchmark).
        output_dir (`Path` or `str`):
            Folder for ``<split>.parquet`` (created). Rows list each image's questions together, in release
            order (``core.grouped_by_image``), so an image is stored once per row group.
        splits (`Sequence[str]`, *optional*):
            The splits to write; defaults to every split the release has (``validation``/``dev`` = ``val``). A
            split of the benchmark's layout that the copy given lacks is an error, asked for or not.
        prompt (`PromptOptions`, *optional*):
            Template and system prompt of the rows (options are always lettered: they are part of the question).
        max_side (`int`, *optional*, defaults to `448`):
            Longest stored image side (multiples of 28 px; 0 keeps the size). An image already at its stored size
            is stored as released (a JPEG or PNG of grey or RGB pixels, decoded once to check it); a resized one
            keeps its kind: JPEG at ``jpeg_quality`` for a JPEG source, lossless PNG for every other.
        progress (`bool`, *optional*, defaults to `True`):
            Show a progress bar per split.
        skip_missing_images (`bool`, *optional*, defaults to `False`):
            Skip (and count, on stderr) the questions whose image is not in the release instead of failing on
            the first one; a question is never paired with another image of the same file name.
        val_from_train (`float`, *optional*, defaults to `0`):
            For a release without a validation split (VQA-RAD, PMC-VQA): this share of the train split's images
            (seeded, 42; every question on one image in one split) is written as ``val``, so the validation curve
            never reads the test split.
        zip_limits (`ZipLimits`, *optional*):
            Uncompressed-size caps of the zip members read (``release_paths.ZipLimits``; defaults fit every
            release).
        jpeg_quality (`int`, *optional*, defaults to `common.JPEG_QUALITY` (90)):
            Quality (1-95) of the JPEG sources that are resized.
        num_proc (`int`, *optional*):
            Processes fitting and encoding the images (default: every core); the output is the same for any.
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
    validate.check_jpeg_quality(jpeg_quality)
    output_dir = Path(output_dir).expanduser()
    with ExitStack() as stack:
        workers = stack.enter_context(Workers(num_proc))
        factory = RowFactory(
            spec.name,
            template=prompt.template,
            max_side=max_side,
            system_prompt=prompt.system_prompt,
            jpeg_quality=jpeg_quality,
            workers=workers,
        )
        stack.enter_context(using_zip_limits(zip_limits))
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
        drops = Drops()
        with atomic_outputs(output_dir) as outputs:
            rows: dict[str, int] = {}
            for split in dict.fromkeys(wanted):
                sink = outputs.open(f"{split}.parquet", arrow_schema())
                with tqdm(desc=f"{spec.name} {split}", unit="q", disable=not progress) as bar:  # closed before errors
                    items = grouped_by_image(_counted(available[split](), drops, split))
                    jobs = ((item, factory.image_jobs(item)) for item in items)
                    for item, images in in_order(jobs, workers.window):
                        bar.update()
                        try:
                            row = factory.row(item, split, sink.rows, images)
                        except MissingImage as err:
                            if not skip_missing_images:
                                raise
                            drops.add(split, str(err), "image not in the release (--skip_missing_images)")
                            continue
                        except DroppedRow as drop:
                            drops.add(split, drop.where, drop.reason)
                            continue
                        sink.write(row)
                rows[split] = sink.rows
            outputs.add_text(MANIFEST, manifest(spec.name, Path(input_path), rows, drops))
        drops.report(spec.name)
    return {f"{s}.parquet": output_dir / f"{s}.parquet" for s in dict.fromkeys(wanted)}


MANIFEST = "manifest.json"


def _counted(items: Iterable[VQAItem | Drop], drops: Drops, split: str) -> Iterator[VQAItem]:
    """The items a reader yields, its ``Drop`` records counted in ``drops`` on the way."""
    for item in items:
        if isinstance(item, Drop):
            drops.add(split, item.where, item.reason)
        else:
            yield item


class Drops:
    """Records left out of a conversion, per split and reason, with the first few ``where`` of each."""

    EXAMPLES = 3

    def __init__(self) -> None:
        self.by_reason: dict[tuple[str, str], list[str]] = {}
        self.counts: dict[tuple[str, str], int] = {}

    def add(self, split: str, where: str, reason: str) -> None:
        key = (split, _reason_kind(reason))
        self.counts[key] = self.counts.get(key, 0) + 1
        examples = self.by_reason.setdefault(key, [])
        if len(examples) < self.EXAMPLES:
            examples.append(f"{where}: {reason}")

    def as_dict(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for (split, reason), count in sorted(self.counts.items()):
            out.setdefault(split, {})[reason] = {"count": count, "examples": self.by_reason[(split, reason)]}
        return out

    def report(self, benchmark: str) -> None:
        """One line per split and reason on stderr, after the conversion."""
        for (split, reason), count in sorted(self.counts.items()):
            print(
                f"verl-med: {benchmark} {split}: dropped {count} record(s): {reason} "
                f"(e.g. {self.by_reason[(split, reason)][0]}; all in {MANIFEST})",
                file=sys.stderr,
            )


def _reason_kind(reason: str) -> str:
    """A reason without its record-specific details (letters, values), so drops group: "options B and D have
    the same text" -> "options have the same text"."""
    return re.sub(r"\b(option|options) [A-Z](?: and [A-Z])?\b", r"\1", reason)


def manifest(benchmark: str, source: Path, rows: dict[str, int], drops: Drops) -> str:
    """``manifest.json`` of an output folder: what was converted, the rows per split, and every drop reason."""
    return (
        json.dumps(
            {"benchmark": benchmark, "input": str(source), "rows": rows, "dropped": drops.as_dict()},
            indent=2,
            ensure_ascii=False,
        )
        + "\n"
    )
