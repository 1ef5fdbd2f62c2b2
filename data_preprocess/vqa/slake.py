"""SLAKE (Liu et al. 2021) as released on Hugging Face by BoKelvin/SLAKE: ``train.json``, ``validation.json``
(``validate.json`` before the card's commit b2eb8c5 "Rename validate.json to validation.json"; both are read),
``test.json`` (a list of questions: ``img_name``, ``question``, ``answer``, ``q_lang``, ``answer_type``,
``content_type``, ``modality``, ``location``, ...) and the images in ``imgs.zip`` (``imgs/xmlab<N>/source.jpg``),
zipped or unpacked. Only English questions (``q_lang == "en"``) are kept: the Chinese half asks the same things."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from functools import partial
from pathlib import Path

from .. import validate
from .core import Drop, ImageStore, VQAItem, item_or_drop, require, split_files
from .registry import ExampleRun, SplitItems, register

CARD = "https://huggingface.co/datasets/BoKelvin/SLAKE"
# split -> file names, the current release's first (BoKelvin/SLAKE commit b2eb8c58556c5ceefe7b9203d3ad17ce0693d193
# renamed validate.json to validation.json).
SPLIT_FILES = {"train": ("train.json",), "val": ("validation.json", "validate.json"), "test": ("test.json",)}
LANGUAGE = "en"


def read_records(path: Path) -> list:
    """A SLAKE question file: a JSON list (a few MB, read whole)."""
    return validate.parse_document(
        validate.read_text(path, "SLAKE question file"),
        str(path),
        expect=list,
        what="a JSON list of questions",
        fmt="json",
    )


def items(path: Path, images: ImageStore) -> Iterator[VQAItem | Drop]:
    for i, record in enumerate(read_records(path)):
        where = f"{path}: record {i}"
        language = require(record, "q_lang", where)
        if language.casefold() != LANGUAGE:  # "EN" is English too
            yield Drop(where, f"q_lang {language[:20]!r}: only English questions are kept")
            continue
        yield item_or_drop(partial(item, record, where, images))


def item(record: dict, where: str, images: ImageStore) -> VQAItem:
    return VQAItem(
        where=where,
        question=require(record, "question", where),
        answer=require(record, "answer", where),
        images=[images.loader(require(record, "img_name", where), where)],
        image_key=require(record, "img_name", where),
        modality=require(record, "modality", where),
        organ=require(record, "location", where, allow_empty=True),
        question_type=require(record, "content_type", where, allow_empty=True),
    )


# train / validation / test in the release; 10 epochs: our choice.
RUN = ExampleRun(
    download="huggingface-cli download BoKelvin/SLAKE --repo-type dataset --local-dir ~/downloads/SLAKE",
    train=("trainer.total_epochs=10",),
)


@register(
    "slake",
    card=CARD,
    layout="the dataset folder with train.json/validation.json/test.json and imgs.zip or imgs/",
    splits=tuple(SPLIT_FILES),
    run=RUN,
)
def read(input_path: Path, stack: ExitStack) -> dict[str, SplitItems]:
    """Splits of the release (train, val, test) -> their English items."""
    root = input_path if input_path.is_dir() else input_path.parent
    return split_files(
        root,
        SPLIT_FILES,
        items,
        [root / "imgs", root / "imgs.zip", root],
        stack,
        missing=f"--input {input_path}: none of {', '.join(n for v in SPLIT_FILES.values() for n in v)} found",
    )
