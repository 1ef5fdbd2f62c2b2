"""OmniMedVQA (Hu et al. 2024) as released on Hugging Face by foreverbeliever/OmniMedVQA (``OmniMedVQA.zip``, read
in place or unpacked): ``QA_information/Open-access/<dataset>.json`` and
``QA_information/Restricted-access/<dataset>.json`` (lists of ``question_id``, ``question``, ``gt_answer``,
``option_A`` .. ``option_D``, ``image_path``, ``modality_type``, ``question_type``, ``dataset``) and
``Images/<dataset>/...``. Only the open-access subset ships its images, so it is the default (``access="all"``
adds the restricted files, whose images you place under Images/).

The release has no splits (it is an evaluation benchmark). Generalisation studies as in Med-R1 (Lai et al. 2025):
``split_by="modality"`` or ``"question_type"`` trains on ``train_groups`` and tests on ``test_groups`` (default:
every other group); ``split_by="random"`` (default) is a seeded split of the images (every question on one image
in one split), stratified by modality.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any

from .. import validate
from ..common import ConversionError
from ..errors import DroppedRow
from ..release_paths import ZipReader
from .core import Drop, ImageStore, VQAItem, grouped_split, item_or_drop, require
from .registry import ExampleRun, SplitItems, register

CARD = "https://huggingface.co/datasets/foreverbeliever/OmniMedVQA"
ACCESS_FOLDERS = {"open": ("Open-access",), "all": ("Open-access", "Restricted-access")}
_OPTION_KEY = re.compile(r"option_[A-Z]")
SPLIT_BY = ("random", "modality", "question_type", "medr1")
# Known quirks of the release, accepted by name only: (QA file stem, field) -> the key that file uses instead.
# "Chest CT Scan.json" holds one record keyed ``modality`` instead of ``modality_type``, as reported by
# GiovanniCornejo/MediVision-OmniMedVQA (reports/draft_reports/part1_dataexploration.md, "Data Cleaning and Schema
# Consistency"); Med-R1's split files (Yuxiang-Lai117/Med-R1@88d76c7, Splits/modality/train/unknown_train.json) file
# that one Chest CT Scan question under "unknown" for the same reason.
FIELD_QUIRKS = {("Chest CT Scan", "modality_type"): "modality"}
STUDY_OPTIONS = (
    "split_by",
    "train_groups",
    "test_groups",
    "test_fraction",
    "val_fraction",
    "seed",
    "access",
    "medr1_splits",
)
# Med-R1's published split files (github.com/Yuxiang-Lai117/Med-R1 @ 88d76c73e7d21cd958a2b2dc32eca038be766f8f,
# Splits/{modality,question_type}/{train,test}/<group>_{train,test}.json): JSON lists of {"image": the release's
# image_path, "problem": the question, a space and "A)<option>, B)<option>, ...", "solution": "<answer> C </answer>"}.
MEDR1_SOLUTION = re.compile(r"^\s*<answer>\s*([A-Z])\s*</answer>\s*$")


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
            stem = PurePosixPath(name.replace("\\", "/")).stem
            for i, record in enumerate(records):
                built = item_or_drop(partial(item, known_quirks(record, stem), f"{name}: record {i}", images))
                if isinstance(built, Drop):
                    if drops is None:
                        raise DroppedRow(built.where, built.reason)
                    drops.append(built)
                else:
                    out.append(built)
    return out


def known_quirks(record: Any, stem: str) -> Any:
    """The record with a known quirk of its file (``FIELD_QUIRKS``) read under the documented field name; any
    other record, or the same quirk in another file, is returned unchanged (and refused by ``item``).

    >>> known_quirks({"modality": "CT(Computed Tomography)"}, "Chest CT Scan")
    {'modality_type': 'CT(Computed Tomography)'}
    >>> known_quirks({"modality": "CT(Computed Tomography)"}, "Covid CT")
    {'modality': 'CT(Computed Tomography)'}
    """
    if not isinstance(record, dict):
        return record
    out = record
    for (file_stem, field), used in FIELD_QUIRKS.items():
        if stem == file_stem and field not in out and used in out:
            out = {(field if k == used else k): v for k, v in out.items()}
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
        image_key=image_path,
        modality=require(record, "modality_type", where),
        question_type=require(record, "question_type", where),
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
        parts = grouped_split(items, val_fraction, test_fraction, seed, lambda x: x.modality)
        return {s: v for s, v in parts.items() if v}
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
    if val_fraction > 0:  # a validation share of the training groups' images, seeded and stratified
        parts = grouped_split(train, val_fraction, 0.0, seed, key)
        out = {"train": parts["train"], "val": parts["val"], "test": out["test"]}
    return {s: v for s, v in out.items() if v}


def medr1_problem(item: VQAItem) -> str:
    """The ``problem`` text Med-R1's split files give this question (the join key with ``image_path``).

    >>> medr1_problem(VQAItem("f: 1", "What imaging technique is used?", "CT", [], options=["MRI", "CT"]))
    'What imaging technique is used? A)MRI, B)CT'
    """
    return f"{item.question} " + ", ".join(f"{chr(ord('A') + i)}){text}" for i, text in enumerate(item.options))


def medr1_files(folder: Path) -> dict[str, dict[str, Path]]:
    """Med-R1's split files under ``folder`` (``Splits/modality``, ``Splits/question_type``, or ``Splits`` for the
    modality study): split ("train"/"test") -> group -> file."""
    if (folder / "modality").is_dir():
        folder = folder / "modality"
    out: dict[str, dict[str, Path]] = {}
    for split in ("train", "test"):
        for path in sorted((folder / split).glob(f"*_{split}.json")):
            out.setdefault(split, {})[path.name[: -len(f"_{split}.json")]] = path
    if set(out) != {"train", "test"}:
        raise ConversionError(
            f"--medr1_splits {folder}: no train/<group>_train.json and test/<group>_test.json (point it at "
            "Med-R1's Splits/modality or Splits/question_type folder)"
        )
    return out


def medr1_items(path: Path, index: dict[tuple[str, str], VQAItem]) -> list[VQAItem]:
    """The release's questions one Med-R1 split file lists, in its order; a question the release lacks or whose
    answer letter differs is an error naming the file and the record."""
    records = validate.parse_document(
        validate.read_text(path, "Med-R1 split file"), str(path), expect=list, what="a JSON list", fmt="json"
    )
    out = []
    for i, record in enumerate(records):
        where = f"{path}: record {i}"
        key = (require(record, "image", where), require(record, "problem", where))
        item = index.get(key)
        if item is None:
            raise ConversionError(
                f"{where}: image {key[0]!r} with this problem is not in the release's questions (--access all for "
                "the restricted subsets)"
            )
        solution = require(record, "solution", where)
        match = MEDR1_SOLUTION.match(solution)
        if not match or item.correct is None or ord(match[1]) - ord("A") != item.correct:
            raise ConversionError(
                f"{where}: field 'solution' {solution!r} is not the release's answer "
                f"{chr(ord('A') + (item.correct or 0))} ({item.where})"
            )
        out.append(item)
    return out


def medr1_split_items(
    items: Sequence[VQAItem],
    folder: Path,
    train_groups: Sequence[str] | None,
    val_fraction: float,
    seed: int,
) -> dict[str, list[VQAItem]]:
    """Med-R1's split: train on the questions of the ``train_groups`` train files (default: every group), test on
    every group's test file, the same group included (the diagonal of Med-R1's train x test table, which the
    evaluation's per-modality figures of each run fill); val: ``val_fraction`` of the train images."""
    files = medr1_files(folder)
    unknown = sorted(set(train_groups or ()) - set(files["train"]))
    if unknown:
        raise ConversionError(f"--train_groups {unknown}: not a Med-R1 group; it has {sorted(files['train'])}")
    index = {(x.image_key, medr1_problem(x)): x for x in items}
    chosen = train_groups or sorted(files["train"])
    train = [x for group in chosen for x in medr1_items(files["train"][group], index)]
    test = [x for group in sorted(files["test"]) for x in medr1_items(files["test"][group], index)]
    parts = grouped_split(train, val_fraction, 0.0, seed) if val_fraction > 0 else {"train": train, "val": []}
    return {s: v for s, v in {"train": parts["train"], "val": parts["val"], "test": test}.items() if v}


# The release has no splits: the example run writes a seeded one, stratified by modality and question type (70%
# train, 10% val, 20% test); examples/vqa/omnimedvqa_cross_modality.sh is the cross-modality study. 1,000 steps.
RUN = ExampleRun(
    download="huggingface-cli download foreverbeliever/OmniMedVQA --repo-type dataset "
    "--local-dir ~/downloads/omnimedvqa",
    convert=("--split_by", "random", "--test_fraction", "0.2", "--val_fraction", "0.1", "--seed", "42"),
    train=("trainer.total_training_steps=1000",),
)


@register(
    "omnimedvqa",
    card=CARD,
    options=STUDY_OPTIONS,
    run=RUN,
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
    medr1_splits: str | None = None,
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
    if (split_by == "medr1") != (medr1_splits is not None):
        raise ConversionError("--split_by medr1 and --medr1_splits PATH go together (Med-R1's Splits/ folder)")
    if split_by == "medr1":
        if test_groups or test_fraction is not None:
            raise ConversionError("--split_by medr1 tests on every Med-R1 test file: no --test_groups/--test_fraction")
        folder = Path(str(medr1_splits)).expanduser()
        splits = medr1_split_items(items, folder, train_groups, val_fraction or 0.0, 42 if seed is None else seed)
    else:
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
