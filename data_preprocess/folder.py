"""A new classification task from a folder-per-class image dataset or a CSV, described by a task card.

    python -m data_preprocess.folder --card my_task.yaml --image_dir my_images --output_dir ~/data/my_task
    python -m data_preprocess.folder --card my_task.yaml --csv labels.csv --output_dir ~/data/my_task

Folder layouts: ``<image_dir>/<class>/*.png`` (split at random, per class, by ``--val_fraction`` /
``--test_fraction``) or ``<image_dir>/{train,val,test}/<class>/*.png``. A CSV has a column of image paths
(relative to ``--image_root``, default the CSV's folder), a label column and optionally a split column;
multi-label rows list their labels separated by ``;`` (empty or ``none``: no finding).

``--group_column`` (e.g. a patient or lesion id) makes the random split group-aware: all images of one group
land in the same split, so no patient is seen in training and tested on. Groups are split per stratum (the
group's most frequent label) in seeded random order, each group going to the split whose share of the stratum's
images its middle falls in: split sizes stay close to the fractions, counted in images. A group whose rows carry
different split values is an error; rows of a group without a split value follow the group's given split.

Lesion boxes (``extra_info.lesion_boxes``, read by the zoom reward's grounding term, docs/tools.md): with
``--mask_suffix _mask`` each image's segmentation masks ``<stem>_mask*.<ext>`` beside it (BUSI's layout) give one
box per mask (an empty mask: no lesion); with ``--lesion_column`` a CSV column holds each image's boxes as JSON
``[[x1, y1, x2, y2], ...]`` in its source pixels (empty cell: not known). Boxes are scaled to the stored image and
written in ``--box_format``, the model's convention (``abs`` for Qwen2.5-VL, ``rel1000`` for Qwen3-VL).

Class folders and CSV labels are matched to the card's labels by name, official name or alias (case and
punctuation insensitive). The card fixes the label order; a folder or label the card does not know, a card class
without any image, or an empty class folder stop the conversion. See docs/new_task.md for the card format.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import cast

import numpy as np
from tqdm import tqdm

from reward_fns.boxes import MAX_BOXES
from reward_fns.task_type import TaskType

from . import grounding, validate
from .cards import TaskCard, label_index, load_card, task_spec
from .cli import (
    ImageOptions,
    PromptOptions,
    SplitOptions,
    SubsetOptions,
    add_num_proc_arg,
    add_output_args,
    option_keywords,
    run_cli,
)
from .common import SPLITS, ConversionError, atomic_outputs, fit_png_file
from .errors import excerpt
from .parallel import Workers, in_order
from .release_paths import ReleaseRoot
from .schema import BOX_FORMATS, arrow_schema

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
EMPTY_LABEL_SET = ("", "none")


@dataclass
class Sample:
    image: Path
    label: int | tuple[int, ...]  # class index, or sorted class indices (multilabel)
    split: str = ""
    group: str = ""  # patient / lesion id (--group_column): a group never straddles splits; "" = no group
    masks: list[Path] = field(default_factory=list)  # segmentation masks of the image (--mask_suffix)
    lesions: list[list[float]] | None = None  # lesion boxes in source pixels (--lesion_column); None: not given
    source: str = ""  # where the lesion boxes came from, for error messages


# A cell starting with one of these is a spreadsheet formula ("=BENIGN" would run in Excel); the reward's spelling
# equivalence would read it as "benign", so a label that is not literally a card spelling is refused.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _lookup(card: TaskCard, value: str, where: str) -> int:
    spellings = {s for c in card.labels for s in (c.name, c.official, *c.aliases)}
    if value.startswith(FORMULA_PREFIXES) and value not in spellings:
        raise ConversionError(
            f"{where}: {excerpt(value)} starts like a spreadsheet formula ({value[0]!r}); write the label itself"
        )
    index = label_index(card, value)
    if index is None:
        raise ConversionError(
            f"{where}: {excerpt(value)} is not a label of the task card {card.path} "
            f"(labels: {card.label_names}, or their official names / aliases)"
        )
    return index


def _class_folders(root: Path, card: TaskCard, split: str, mask_suffix: str | None) -> list[Sample]:
    samples = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        index = _lookup(card, folder.name, f"{folder}: class folder")
        images = sorted(
            p
            for p in folder.rglob("*")
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not (mask_suffix and mask_suffix in p.stem)
        )
        if not images:
            raise ConversionError(f"{folder}: class folder is empty (no {', '.join(IMAGE_SUFFIXES)} files)")
        for p in images:
            masks = grounding.mask_files(p, p.parent, mask_suffix) if mask_suffix else []
            samples.append(Sample(image=p, label=index, split=split, masks=masks, source=str(p)))
    return samples


def read_image_folder(root: Path, card: TaskCard, mask_suffix: str | None = None) -> list[Sample]:
    """Samples of ``root/<class>/`` or ``root/<split>/<class>/``, in path order; with ``mask_suffix``, files
    ``<stem><mask_suffix>*`` are the masks of image ``<stem>`` (its lesion boxes), not images."""
    if card.task_type == TaskType.MULTILABEL:
        raise ConversionError(
            f"{card.path}: field 'task_type': a folder per class cannot hold multi-label data; use --csv"
        )
    if not root.is_dir():
        raise ConversionError(f"{root}: not a folder")
    subfolders = {p.name for p in root.iterdir() if p.is_dir()}
    if subfolders and subfolders <= set(SPLITS):
        return [
            s for split in SPLITS if split in subfolders for s in _class_folders(root / split, card, split, mask_suffix)
        ]
    return _class_folders(root, card, "", mask_suffix)


def read_csv(
    path: Path,
    card: TaskCard,
    image_root: Path | None = None,
    image_column: str = "image",
    label_column: str = "label",
    split_column: str = "split",
    group_column: str | None = None,
    lesion_column: str | None = None,
) -> list[Sample]:
    """Samples of a CSV with image path, label and optional split, group and lesion-box columns, in file order."""
    image_root = image_root if image_root is not None else path.parent
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:  # utf-8-sig: Excel saves CSVs with a BOM
            reader = csv.DictReader(f)
            columns = reader.fieldnames or []
            for column in (image_column, label_column, *(c for c in (group_column, lesion_column) if c)):
                if column not in columns:
                    raise ConversionError(f"{path}: field '{column}': no such column (columns: {columns})")
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise ConversionError(f"{path}: not a readable CSV: {err}") from err
    release = ReleaseRoot(image_root)  # a cell never reaches outside the image folder (release_paths)
    samples = []
    for line, row in enumerate(rows, start=2):
        where = f"{path}:{line}: field '{label_column}'"
        value = (row.get(label_column) or "").strip()
        if card.task_type == TaskType.MULTILABEL:
            names = [] if value.casefold() in EMPTY_LABEL_SET else [v for v in value.split(";") if v.strip()]
            label: int | tuple[int, ...] = tuple(sorted({_lookup(card, v.strip(), where) for v in names}))
        else:
            label = _lookup(card, value, where)
        split = (row.get(split_column) or "").strip() if split_column in columns else ""
        if split and split not in SPLITS:
            raise ConversionError(f"{path}:{line}: field '{split_column}': {split!r} is not one of {SPLITS}")
        group = ""
        if group_column:
            group = (row.get(group_column) or "").strip()
            if not group:
                raise ConversionError(
                    f"{path}:{line}: field '{group_column}': empty group id (every row needs one, "
                    "or a patient's images could straddle splits)"
                )
        cell = (row.get(image_column) or "").strip()
        image = release.resolve_given(image_root, cell, f"{path}:{line}: field '{image_column}'")
        lesions, lesion_where = None, f"{path}:{line}: field '{lesion_column}'"
        if lesion_column:
            lesions = parse_lesion_cell((row.get(lesion_column) or "").strip(), lesion_where)
        samples.append(Sample(image=image, label=label, split=split, group=group, lesions=lesions, source=lesion_where))
    return samples


def parse_lesion_cell(cell: str, where: str) -> list[list[float]] | None:
    """A lesion-box cell: JSON ``[[x1, y1, x2, y2], ...]`` in source pixels (x1 < x2, y1 < y2, not negative);
    ``[]`` = no lesion, an empty cell = not known (None)."""
    if not cell:
        return None
    try:
        boxes = json.loads(cell)
    except (ValueError, RecursionError):
        raise ConversionError(f"{where}: {excerpt(cell)} is not JSON (expected [[x1, y1, x2, y2], ...])") from None
    if not isinstance(boxes, list) or len(boxes) > MAX_BOXES:
        raise ConversionError(f"{where}: {excerpt(cell)}: expected a list of at most {MAX_BOXES} boxes")
    for box in boxes:
        if not (
            isinstance(box, list)
            and len(box) == 4
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in box)
            and 0 <= box[0] < box[2]
            and 0 <= box[1] < box[3]
        ):
            raise ConversionError(
                f"{where}: box {excerpt(json.dumps(box))}: expected [x1, y1, x2, y2] pixels with 0 <= x1 < x2, "
                "0 <= y1 < y2"
            )
    return [[float(v) for v in box] for box in boxes]


def fit_png_with_lesions(
    sample: Sample, max_side: int, max_pixels: int, box_format: str
) -> tuple[bytes, tuple[int, int], list[list[float]] | None]:
    """``fit_png_file`` plus the sample's lesion boxes (its masks' or its CSV cell's) scaled to the stored image
    in ``box_format``; None when it has neither. Run on a worker (it decodes the masks)."""
    if not sample.masks and sample.lesions is None:
        png, size = fit_png_file(sample.image, max_side, max_pixels)
        return png, size, None
    how = grounding.Preparation(max_side, max_pixels, False, grounding.MASK_THRESHOLD, False)
    prepared = grounding.prepare_sample(
        grounding.Sample(image=sample.image, boxes=list(sample.lesions or []), masks=sample.masks), how
    )
    assert prepared is not None  # drop_empty=False: every sample is kept
    png, stored, boxes, (width, height) = prepared
    for box in sample.lesions or []:
        if box[2] > width or box[3] > height:
            raise ConversionError(f"{sample.source}: box {box} lies outside its {width}x{height} image {sample.image}")
    return png, stored, grounding.scale_boxes(boxes, (width, height), stored, box_format)


def _stratum(labels: list[int | tuple[int, ...]]) -> int:
    """A group's stratum: its most frequent single label (the smallest on a tie); -1 for multi-label data."""
    single = [x for x in labels if isinstance(x, int)]
    if not single:
        return -1
    counts = np.bincount(single)
    return int(np.argmax(counts))


def assign_group_splits(samples: list[Sample], val_fraction: float, test_fraction: float, seed: int) -> None:
    """Give every sample without a split a random one, whole groups at a time (see the module doc). Deterministic
    for a given seed and sample order; samples that come with a split keep it."""
    validate.check_fractions(val_fraction, test_fraction)
    members: dict[str, list[Sample]] = {}
    for sample in samples:
        members.setdefault(sample.group, []).append(sample)
    todo: list[str] = []
    for group, items in members.items():
        given = sorted({s.split for s in items if s.split})
        if len(given) > 1:
            raise ConversionError(
                f"group {group!r}: its images are in several splits ({', '.join(given)}); a group "
                "must stay in one split"
            )
        if given:
            for s in items:
                s.split = given[0]
        else:
            todo.append(group)
    rng = np.random.default_rng(seed)
    strata: dict[int, list[str]] = {}
    for group in todo:
        strata.setdefault(_stratum([s.label for s in members[group]]), []).append(group)
    for key in sorted(strata):
        groups = strata[key]
        total = sum(len(members[g]) for g in groups)
        n_test, n_val = total * test_fraction, total * val_fraction
        start = 0
        for index in rng.permutation(len(groups)):
            items = members[groups[index]]
            middle = start + len(items) / 2
            split = "test" if middle < n_test else "val" if middle < n_test + n_val else "train"
            for s in items:
                s.split = split
            start += len(items)


def _check_coverage(samples: list[Sample], card: TaskCard, source: Path) -> None:
    """Every class of a single-label card must have images: otherwise the card and the data disagree."""
    if not samples:
        raise ConversionError(f"{source}: no images found")
    if card.task_type != TaskType.MULTILABEL:
        missing = [c.name for i, c in enumerate(card.labels) if not any(s.label == i for s in samples)]
        if missing:
            raise ConversionError(f"{card.path}: field 'labels': class(es) {missing} have no images in {source}")


@option_keywords
def convert(
    samples: list[Sample],
    card: TaskCard,
    output_dir: Path | str,
    *,
    source: Path | str = "",
    seed: int = 42,
    image: ImageOptions = ImageOptions(),
    subset: SubsetOptions = SubsetOptions(),
    split: SplitOptions = SplitOptions(),
    prompt: PromptOptions = PromptOptions(),
    box_format: str = "abs",
    progress: bool = True,
    num_proc: int | None = None,
) -> dict[str, Path]:
    """Write the train/val/test parquet of a task card's samples (``python -m data_preprocess.folder``).

    Samples without a split are split at random, per class, or per group when they carry one (``Sample.group``: a
    patient never straddles splits). Samples whose image matches ``image.exclude`` (images of another dataset's
    evaluation splits) are dropped first.

    Args:
        samples (`list[Sample]`):
            The images and their labels, e.g. from ``read_image_folder`` or ``read_csv``.
        card (`TaskCard`):
            The task card (``knowledge.load_card``): label order, question, knowledge.
        output_dir (`Path` or `str`):
            Folder for ``train/val/test.parquet`` (created).
        source (`Path` or `str`, *optional*):
            Where the samples came from, named in errors.
        seed (`int`, *optional*, defaults to `42`):
            Seed of the random split and the subset sampling.
        image (`ImageOptions`, *optional*):
            Longest stored side (448 px), the decompression-bomb limit and the images to leave out.
        subset (`SubsetOptions`, *optional*):
            Rows to keep per split and whether train is balanced per class; defaults to every row.
        split (`SplitOptions`, *optional*):
            Val and test fractions of the random split (0.1 and 0.2).
        prompt (`PromptOptions`, *optional*):
            Template, option style and system prompt of the rows.
        box_format (`str`, *optional*, defaults to `"abs"`):
            Convention of the lesion boxes (samples with masks or lesion boxes): ``"abs"`` (pixels of the stored
            image), ``"rel1000"`` or ``"rel1"``.
        progress (`bool`, *optional*, defaults to `True`):
            Show a progress bar per split.
        num_proc (`int`, *optional*):
            Processes decoding, resizing and PNG-encoding the images (default: every core); the output is the same
            for any.

        The options' fields are taken as keywords too, as before the option groups (``max_side=``,
        ``exclude=``, ``split_sizes=``, ``val_fraction=``, ``template=``, ...; ``cli.option_keywords``).

    Returns:
        `dict[str, Path]`: The written parquet files by file name (``train.parquet``, ``val.parquet``,
        ``test.parquet``).

    Example:

    >>> import tempfile, pyarrow.parquet as pq, yaml
    >>> from PIL import Image
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     root = Path(tmp)
    ...     card = {"name": "colours", "task_type": "binary", "question": "Which colour is this image?",
    ...             "labels": [{"name": "red"}, {"name": "blue"}]}
    ...     _ = (root / "card.yaml").write_text(yaml.safe_dump(card))
    ...     for i in range(20):
    ...         colour = ("red", "blue")[i % 2]
    ...         (root / "images" / colour).mkdir(parents=True, exist_ok=True)
    ...         Image.new("RGB", (32, 32), colour).save(root / "images" / colour / f"{i}.png")
    ...     card = load_card(root / "card.yaml")
    ...     written = convert(read_image_folder(root / "images", card), card, root / "out", progress=False,
    ...                       split=SplitOptions(val_fraction=0.2, test_fraction=0.2))
    ...     {name: pq.ParquetFile(path).metadata.num_rows for name, path in written.items()}
    {'train.parquet': 12, 'val.parquet': 4, 'test.parquet': 4}
    """
    subset.check()
    if box_format not in BOX_FORMATS:
        raise ConversionError(f"--box_format {box_format!r}: expected one of {BOX_FORMATS}")
    samples = image.without_excluded(samples)
    _check_coverage(samples, card, Path(source))
    if any(s.group for s in samples):
        assign_group_splits(samples, split.val_fraction, split.test_fraction, seed)
    else:
        split.assign(samples, [s.label if isinstance(s.label, int) else -1 for s in samples], seed)
    builder = prompt.row_builder(replace(task_spec(card), box_format=box_format))
    multilabel = card.task_type == TaskType.MULTILABEL
    with Workers(num_proc) as workers, atomic_outputs(output_dir) as outputs:
        for stream, name in enumerate(SPLITS):
            members = [s for s in samples if s.split == name]
            if multilabel:
                labels = np.zeros((len(members), len(card.labels)), dtype=np.uint8)
                for row, s in enumerate(members):
                    labels[row, list(cast(tuple[int, ...], s.label))] = 1  # multilabel: sorted indices
            else:
                labels = np.asarray([s.label for s in members], dtype=np.int64)
            keep = subset.select(labels, name, seed=seed, stream=stream)  # balanced in train only
            sink = outputs.open(f"{name}.parquet", arrow_schema(), subset.may_be_empty(name))
            jobs = (
                (
                    int(i),
                    workers.submit(
                        fit_png_with_lesions, members[i], image.max_side, image.max_image_pixels, box_format
                    ),
                )
                for i in keep
            )
            ordered = in_order(jobs, workers.window)
            for i, job in tqdm(ordered, total=len(keep), desc=f"{card.name} {name}", unit="img", disable=not progress):
                png, size, lesions = job.result()
                label = members[i].label
                sink.write(
                    builder.row(split=name, index=i, image_png=png, image_size=size, label=label, lesions=lesions)
                )
    return {f"{split}.parquet": Path(output_dir).expanduser() / f"{split}.parquet" for split in SPLITS}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m data_preprocess.folder",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--card", required=True, help="task card YAML (format: docs/new_task.md)")
    inputs = parser.add_mutually_exclusive_group(required=True)
    inputs.add_argument("--image_dir", help="folder with one sub-folder per class (optionally inside train/val/test)")
    inputs.add_argument("--csv", help="CSV with image path, label and optional split columns")
    parser.add_argument("--image_root", default=None, help="folder CSV image paths are relative to")
    parser.add_argument("--image_column", default="image")
    parser.add_argument("--label_column", default="label")
    parser.add_argument("--split_column", default="split")
    parser.add_argument(
        "--group_column",
        default=None,
        help="CSV column of a patient / lesion id: one group's images never straddle splits",
    )
    parser.add_argument(
        "--mask_suffix",
        default=None,
        help="with --image_dir: files <stem><suffix>*.<ext> (e.g. _mask, BUSI) are image <stem>'s segmentation "
        "masks, written as its lesion boxes (extra_info.lesion_boxes), not images",
    )
    parser.add_argument(
        "--lesion_column",
        default=None,
        help="with --csv: column of each image's lesion boxes, JSON [[x1, y1, x2, y2], ...] in its pixels",
    )
    parser.add_argument(
        "--box_format", default="abs", choices=BOX_FORMATS, help="convention of the lesion boxes (the model's)"
    )
    ImageOptions.add_args(parser, "longest stored side, sides rounded to multiples of 28 (0: keep the file's size)")
    SplitOptions.add_args(parser)
    SubsetOptions.add_args(parser)
    PromptOptions.add_args(parser)
    add_output_args(parser)
    add_num_proc_arg(parser)
    args = parser.parse_args(argv)
    card = load_card(args.card)
    if args.image_dir:
        if args.group_column or args.lesion_column:
            parser.error("--group_column and --lesion_column need --csv (a class folder has no columns)")
        source = Path(args.image_dir)
        samples = read_image_folder(source, card, args.mask_suffix)
    else:
        source = Path(args.csv)
        samples = read_csv(
            source,
            card,
            Path(args.image_root) if args.image_root else None,
            args.image_column,
            args.label_column,
            args.split_column,
            args.group_column,
            args.lesion_column,
        )
    written = convert(
        samples,
        card,
        args.output_dir,
        source=source,
        seed=args.seed,
        image=ImageOptions.from_args(args),
        subset=SubsetOptions.from_args(args),
        split=SplitOptions.from_args(args),
        prompt=PromptOptions.from_args(args),
        box_format=args.box_format,
        num_proc=args.num_proc,
    )
    for path in written.values():
        print(path)


if __name__ == "__main__":
    run_cli(main)
