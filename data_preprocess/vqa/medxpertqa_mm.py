"""MedXpertQA MM (Zuo et al. 2025) as released on Hugging Face by TsinghuaC3I/MedXpertQA: ``MM/dev.jsonl`` and
``MM/test.jsonl`` (one question per line: ``id``, ``question`` with the choices appended after "Answer
Choices:", ``options`` {"A": .., "E": ..}, ``label`` (a letter), ``images`` (file names), ``medical_task``,
``body_system``, ``question_type``) and the images in ``images.zip``, zipped or unpacked. Every question is a
five-option ``mcq``; some have several images (one ``<image>`` each). The release names no modality."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import ExitStack
from functools import partial
from pathlib import Path

from .. import validate
from ..common import ConversionError
from ..errors import excerpt
from .core import Drop, ImageStore, VQAItem, item_or_drop, letter_index, require, split_files
from .registry import ExampleRun, SplitItems, register

CARD = "https://huggingface.co/datasets/TsinghuaC3I/MedXpertQA"
SPLIT_FILES = {"val": ("dev.jsonl",), "test": ("test.jsonl",)}
_CHOICES = re.compile(r"\s*Answer Choices:.*\Z", re.DOTALL)


def items(path: Path, images: ImageStore) -> Iterator[VQAItem | Drop]:
    """Stream the JSONL file line by line."""
    try:
        yield from _records(path, images)
    except UnicodeDecodeError:
        raise validate.not_utf8(path, "MedXpertQA JSONL file") from None


def _records(path: Path, images: ImageStore) -> Iterator[VQAItem | Drop]:
    with path.open(encoding="utf-8-sig") as handle:
        for n, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}: line {n}"
            yield item_or_drop(partial(_item, line, where, images))


def _item(line: str, where: str, images: ImageStore) -> VQAItem:
    """One JSONL line as an item; a broken line is one error naming it."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise ConversionError(f"{where}: not valid JSON ({err.msg})") from None
    except RecursionError:
        raise ConversionError(f"{where}: nested too deeply to parse (a hostile or broken file)") from None
    if not isinstance(record, dict):
        raise ConversionError(f"{where}: expected a JSON object, got {type(record).__name__}")
    options = record.get("options")
    if not isinstance(options, dict) or not options:
        raise ConversionError(f"{where}: field 'options' is missing or not an object of lettered choices")
    letters = sorted(options)
    if letters != [chr(ord("A") + i) for i in range(len(letters))]:
        raise ConversionError(f"{where}: field 'options': keys {excerpt(letters)} are not A, B, ... in order")
    texts = [require(options, x, f"{where}: options") for x in letters]
    names = record.get("images")
    if not isinstance(names, list) or not names or not all(isinstance(x, str) and x for x in names):
        raise ConversionError(f"{where}: field 'images' is missing or not a list of image file names")
    label = require(record, "label", where)
    return VQAItem(
        where=where,
        question=_CHOICES.sub("", require(record, "question", where)),
        answer=label,
        options=texts,
        correct=letter_index(label, len(texts), where, "label"),
        images=[images.loader(name, where) for name in names],
        organ=require(record, "body_system", where, allow_empty=True),
        question_type=require(record, "question_type", where, allow_empty=True),
    )


# A test set (its dev split, written as val, is a handful of few-shot examples): the run trains and validates on
# PMC-VQA (mcq too, as MedVLThinker does) and evaluates on this test split at the end. Longer prompts (a vignette
# and several images) and longer reasoning than the other benchmarks: our choice of limits; 1,000 steps.
RUN = ExampleRun(
    download="huggingface-cli download TsinghuaC3I/MedXpertQA --repo-type dataset --local-dir ~/downloads/MedXpertQA",
    train=("trainer.total_training_steps=1000", "data.max_prompt_length=4096", "data.max_response_length=1024"),
    train_on="pmc_vqa",
)


@register(
    "medxpertqa_mm",
    card=CARD,
    layout="the dataset repo folder with MM/{dev,test}.jsonl and images.zip",
    splits=tuple(SPLIT_FILES),
    run=RUN,
)
def read(input_path: Path, stack: ExitStack) -> dict[str, SplitItems]:
    """Splits of the release (val = dev, test) -> their items."""
    root = input_path if input_path.is_dir() else input_path.parent
    mm = root / "MM" if (root / "MM").is_dir() else root
    top = mm.parent if mm.name == "MM" else mm
    return split_files(
        mm,
        SPLIT_FILES,
        items,
        [top / "images", top / "images.zip", top],
        stack,
        missing=f"--input {input_path}: no MM/dev.jsonl or MM/test.jsonl",
    )
