"""OmniMedVQA (Hu et al. 2024) as released on Hugging Face by foreverbeliever/OmniMedVQA (``OmniMedVQA.zip``, read
in place or unpacked): ``QA_information/Open-access/<dataset>.json`` and
``QA_information/Restricted-access/<dataset>.json`` (lists of ``question_id``, ``question``, ``gt_answer``,
``option_A`` .. ``option_D``, ``image_path``, ``modality_type``, ``question_type``, ``dataset``) and
``Images/<dataset>/...``. Only the open-access subset ships its images, so it is the default (``access="all"``
adds the restricted files, whose images you place under Images/).

The release has no splits (it is an evaluation benchmark). Generalisation studies as in Med-R1 (Lai et al. 2025):
``split_by="modality"`` or ``"question_type"`` trains on ``train_groups`` and tests on ``test_groups`` (default:
every other group); ``split_by="random"`` (default) is a seeded split stratified by modality and question type.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from functools import partial
from pathlib import Path, PurePosixPath

from .. import validate
from ..common import ConversionError, split_indices
from ..errors import DroppedRow
from ..release_paths import ZipReader
from .core import Drop, ImageStore, VQAItem, item_or_drop, require
from .registry import SplitItems, register

CARD = "https://huggingface.co/datasets/foreverbeliever/OmniMedVQA"
ACCESS_FOLDERS = {"open": ("Open-access",), "all": ("Open-access", "Restricted-access")}
_OPTION_KEY = re.compile(r"option_[A-Z]")
SPLIT_BY = ("random", "modality", "question_type")
STUDY_OPTIONS = ("split_by", "train_groups", "test_groups", "test_fraction", "val_fraction", "seed", "access")


def locate(input_path: Path) -> Path:
    """The unpacked folder holding ``QA_information`` or the downloaded ``OmniMedVQA.zip`` (read in place)."""
    for root in (input_path, input_path / "OmniMedVQA"):
        if (root / "QA_information").is_dir():
            return root
    for archive in (input_path, input_path / "OmniMedVQA.zip"):
        if archive.is_file() and zipfile.is_zipfile(archive):
            return archive
    raise ConversionError(
        f"--input {input_path}: neither a QA_information/ folder nor OmniMedVQA.zip (point "
        "--input at the downloaded folder, the zip or its unpacked OmniMedVQA/ folder)"
    )


def qa_files(source: Path, folder: str) -> list[tuple[str, Callable[[], str]]]:
    """``(name, read_text)`` of the QA files of one access folder, in name order, from the folder or the zip."""
    if source.is_dir():
        return [
            (str(p), partial(validate.read_text, p, "OmniMedVQA QA file"))
            for p in sorted((source / "QA_information" / folder).glob("*.json"))
        ]
    with zipfile.ZipFile(source) as archive:
        names = sorted(
            n
            for n in archive.namelist()
            if n.endswith(".json") and PurePosixPath(n).parts[-3:-1] == ("QA_information", folder)
        )

    def read(name: str) -> str:
        archive = ZipReader(source)
        try:
            data = archive.read(name, str(source))
        finally:
            archive.close()
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise ConversionError(
                f"{source}: {name}: not UTF-8 text (byte {data[err.start]:#04x} at offset {err.start})"
            ) from None

    return [(f"{source}: {n}", partial(read, n)) for n in names]


def open_access_subsets(input_path: Path) -> list[str]:
    """The open-access sub-datasets of the release: the file names under ``QA_information/Open-access``.

    Args:
        input_path: the downloaded folder, ``OmniMedVQA.zip`` or its unpacked ``OmniMedVQA/`` folder.

    Returns:
        The sub-dataset names (file stems), sorted.
    """
    return sorted(PurePosixPath(name).stem for name, _ in qa_files(locate(input_path), "Open-access"))


def read_items(source: Path, access: str, images: ImageStore, drops: list[Drop] | None = None) -> list[VQAItem]:
    """Every question of the chosen access subsets, files in name order, records in file order; a record that
    cannot be a row goes to ``drops`` (counted and reported by the conversion) when given, else is an error."""
    out: list[VQAItem] = []
    for folder in ACCESS_FOLDERS[access]:
        for name, read_text in qa_files(source, folder):
            records = validate.parse_document(
                read_text(), name, expect=list, what="a JSON list of questions", fmt="json"
            )
            for i, record in enumerate(records):
                built = item_or_drop(partial(item, record, f"{name}: record {i}", images))
                if isinstance(built, Drop):
                    if drops is None:
                        raise DroppedRow(built.where, built.reason)
                    drops.append(built)
                else:
                    out.append(built)
    return out


def option_keys(record: object) -> list[str]:
    """Every non-empty ``option_<letter>`` of a record in letter order (the release has up to E; a record with
    ``option_F`` keeps it rather than losing it without a word).

    >>> option_keys({"option_B": "b", "option_A": "a", "option_F": "f", "option_C": ""})
    ['option_A', 'option_B', 'option_F']
    """
    if not isinstance(record, dict):
        return []
    keys = [k for k, v in record.items() if isinstance(k, str) and _OPTION_KEY.fullmatch(k) and v not in (None, "")]
    return sorted(keys)


def item(record: dict, where: str, images: ImageStore) -> VQAItem:
    options = [require(record, k, where) for k in option_keys(record)]
    answer = require(record, "gt_answer", where)
    question = require(record, "question", where)
    image_path = require(record, "image_path", where)
    if len(options) < 2:
        raise ConversionError(f"{where}: field 'option_A'/'option_B': a question needs at least two options")
    matches = [i for i, text in enumerate(options) if text == answer]
    if len(matches) != 1:
        raise ConversionError(
            f"{where}: field 'gt_answer' {answer!r} matches {len(matches)} of the options "
            f"{options} (expected exactly one)"
        )
    return VQAItem(
        where=where,
        question=question,
        answer=answer,
        options=options,
        correct=matches[0],
        images=[images.loader(image_path, where)],
        modality=require(record, "modality_type", where),
        question_type=require(record, "question_type", where),
        group=f"{image_path}\t{' '.join(question.split()).casefold()}",
    )


def study_splits(
    items: Sequence[VQAItem],
    split_by: str,
    train_groups: Sequence[str] | None,
    test_groups: Sequence[str] | None,
    test_fraction: float,
    val_fraction: float,
    seed: int,
) -> dict[str, list[VQAItem]]:
    """Items per split: seeded random (stratified) or train-on-some-groups / test-on-others."""
    if split_by not in SPLIT_BY:
        raise ConversionError(f"--split_by {split_by!r}: choose from {SPLIT_BY}")
    if split_by == "random":
        if train_groups or test_groups:
            raise ConversionError("--train_groups/--test_groups need --split_by modality or question_type")
        return grouped_split(items, val_fraction, test_fraction, seed)
    key = (lambda x: x.modality) if split_by == "modality" else (lambda x: x.question_type)
    present = sorted({key(x) for x in items})
    if not train_groups:
        raise ConversionError(f"--split_by {split_by}: give --train_groups, some of {present}")
    unknown = sorted(set(train_groups) - set(present)) + sorted(set(test_groups or ()) - set(present))
    if unknown:
        raise ConversionError(
            f"--train_groups/--test_groups: {unknown} not a {split_by} of this release; it has {present}"
        )
    overlap = sorted(set(train_groups) & set(test_groups or ()))
    if overlap:
        raise ConversionError(
            f"--train_groups and --test_groups share {overlap}: a generalisation test needs disjoint groups"
        )
    tests = set(test_groups) if test_groups else set(present) - set(train_groups)
    train = [x for x in items if key(x) in train_groups]
    out = {"train": train, "test": [x for x in items if key(x) in tests]}
    if val_fraction > 0:  # a validation share of the training groups, seeded and stratified
        parts = split_indices(len(train), val_fraction, 0.0, seed, [key(x) for x in train])
        out = {
            "train": [train[i] for i in parts["train"]],
            "val": [train[i] for i in parts["val"]],
            "test": out["test"],
        }
    return {s: v for s, v in out.items() if v}


def grouped_split(
    items: Sequence[VQAItem], val_fraction: float, test_fraction: float, seed: int
) -> dict[str, list[VQAItem]]:
    """Seeded random split stratified by modality and question type, by ``VQAItem.group`` (the same question on
    the same image): duplicates of a question never land in both train and test. Groups are not the question
    text alone: generic texts ("What modality is used to take this image?") repeat over thousands of images and
    are no leak."""
    groups: dict[str, list[int]] = {}
    for i, x in enumerate(items):
        groups.setdefault(x.group or f"#{i}", []).append(i)
    members = list(groups.values())
    strata = [f"{items[m[0]].modality}\t{items[m[0]].question_type}" for m in members]
    parts = split_indices(len(members), val_fraction, test_fraction, seed, strata)
    out = {s: sorted(i for g in parts[s] for i in members[g]) for s in ("train", "val", "test")}
    return {s: [items[i] for i in out[s]] for s in ("train", "val", "test") if out[s]}


@register(
    "omnimedvqa",
    card=CARD,
    options=STUDY_OPTIONS,
    layout="the download folder with OmniMedVQA.zip, the zip, or its unpacked OmniMedVQA/ folder",
)
def read(
    input_path: Path,
    stack: ExitStack,
    *,
    split_by: str | None = None,
    train_groups: Sequence[str] | None = None,
    test_groups: Sequence[str] | None = None,
    test_fraction: float | None = None,
    val_fraction: float | None = None,
    seed: int | None = None,
    access: str | None = None,
) -> dict[str, SplitItems]:
    """Study splits of the chosen access subsets -> their items (see the module docstring)."""
    access = access or "open"
    if access not in ACCESS_FOLDERS:
        raise ConversionError(f"--access {access!r}: choose from {sorted(ACCESS_FOLDERS)}")
    source = locate(input_path)
    images = ImageStore([source, source / "Images"] if source.is_dir() else [source])
    stack.callback(images.close)
    drops: list[Drop] = []
    items = read_items(source, access, images, drops)
    if not items:
        raise ConversionError(f"{source}: no questions in QA_information/{', '.join(ACCESS_FOLDERS[access])}")
    validate.check_fractions(val_fraction or 0.0, 0.2 if test_fraction is None else test_fraction)
    splits = study_splits(
        items,
        split_by or "random",
        train_groups,
        test_groups,
        0.2 if test_fraction is None else test_fraction,
        val_fraction or 0.0,
        42 if seed is None else seed,
    )
    first = next(iter(splits), "")  # drops are reported with the first split (the release has no splits)
    return {s: partial(iter, [*(drops if s == first else []), *v]) for s, v in splits.items()}
