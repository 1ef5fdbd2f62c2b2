"""PMC-VQA (Zhang et al. 2023) as released on Hugging Face by xmcmic/PMC-VQA: ``train.csv``, ``test.csv``,
``test_clean.csv`` (version 2: ``train_2.csv``, ``test_2.csv``) with ``Figure_path``, ``Question``, ``Answer``
(``Anwser`` in early files), ``Choice A`` .. ``Choice D`` (the text repeats the letter: ``"A:Diffuse uptake"``)
and ``Answer_label``; the figures in ``images.zip`` / ``images_2.zip``, zipped or unpacked. Every question is a
four-option ``mcq``. The CSVs are streamed row by row."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

from .. import validate
from ..common import ConversionError
from ..errors import excerpt
from .core import ImageStore, VQAItem, letter_index, normalise_split, require, split_files, strip_choice_prefix
from .registry import ExampleRun, SplitItems, register

CARD = "https://huggingface.co/datasets/xmcmic/PMC-VQA"
SPLIT_FILES = ("train.csv", "test.csv", "test_clean.csv", "train_2.csv", "test_2.csv")
LETTERS = ("A", "B", "C", "D")
MAX_FIELD = 1 << 24  # 16 MB: far above any real question or choice; a longer field is refused, not read


def items(path: Path, images: ImageStore) -> Iterator[VQAItem]:
    """Stream the CSV row by row; a file that is not UTF-8 or a field over ``MAX_FIELD`` is one error line."""
    csv.field_size_limit(MAX_FIELD)
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        try:
            yield from _rows(path, reader, images)
        except UnicodeDecodeError:
            raise validate.not_utf8(path, "PMC-VQA CSV") from None
        except csv.Error as err:  # "field larger than field limit", NUL bytes, a broken quote
            # the failing row starts after the last line read
            raise ConversionError(f"{path}: row {reader.line_num + 1}: not a readable CSV row ({err})") from None


def _rows(path: Path, reader: csv.DictReader, images: ImageStore) -> Iterator[VQAItem]:
    header = reader.fieldnames or []
    needed = ["Figure_path", "Question", *(f"Choice {x}" for x in LETTERS), "Answer_label"]
    for key in needed:
        if key not in header:
            raise ConversionError(f"{path}: field '{key}' is missing (columns: {excerpt(header, 200)})")
    for i, record in enumerate(reader):
        where = f"{path}: row {i + 2}"  # line number in the file (after the header)
        options = [strip_choice_prefix(require(record, f"Choice {x}", where), x) for x in LETTERS]
        yield VQAItem(
            where=where,
            question=require(record, "Question", where),
            answer=require(record, "Answer_label", where),
            options=options,
            correct=letter_index(record["Answer_label"], len(options), where, "Answer_label"),
            images=[images.loader(require(record, "Figure_path", where), where)],
            image_key=require(record, "Figure_path", where),
        )


# Reported on test_clean (the manually checked test questions; the full test.csv is not needed). No validation
# split: 2% of the train images are held out as val for the validation curve. 1,000 steps (a fraction of an
# epoch): our choice.
RUN = ExampleRun(
    download="huggingface-cli download xmcmic/PMC-VQA train.csv test_clean.csv images.zip "
    "--repo-type dataset --local-dir ~/downloads/PMC-VQA",
    convert=("--split", "train,val,test_clean", "--val_from_train", "0.02"),
    train=("trainer.total_training_steps=1000",),
    evaluate_split="test_clean",
)


@register(
    "pmc_vqa",
    card=CARD,
    layout="the dataset folder with train.csv/test.csv and images.zip or images/",
    run=RUN,
)
def read(input_path: Path, stack: ExitStack) -> dict[str, SplitItems]:
    """Splits of the release (train, test, test_clean, train_2, test_2: those present) -> their items."""
    root = input_path if input_path.is_dir() else input_path.parent
    return split_files(
        root,
        {normalise_split(n.rsplit(".", 1)[0]): (n,) for n in SPLIT_FILES},
        items,
        [root / "images", root / "figures", root / "images.zip", root / "images_2.zip", root],
        stack,
        missing=f"--input {input_path}: none of {', '.join(SPLIT_FILES)} found",
    )
