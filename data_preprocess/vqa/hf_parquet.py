"""Hugging Face parquet releases with embedded images (``image: {bytes, path}``, ``question``, ``answer``), as
``datasets`` writes them: ``data/<split>-0000k-of-0000n-<hash>.parquet`` on the main branch, or
``<config>/<split>/0000.parquet`` on the ``refs/convert/parquet`` branch. VQA-RAD and PathVQA ship this way."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

from ..common import ConversionError
from .core import VQAItem, files_by_split, require

_SHARD = re.compile(r"^(?P<split>[A-Za-z_]+?)(?:[-_]\d{5}-of-\d{5}.*)?\.parquet$")
COLUMNS = ("image", "question", "answer")


def split_of(path: Path) -> str | None:
    """``train-00000-of-00001-x.parquet`` -> train; ``default/test/0000.parquet`` -> test.

    >>> split_of(Path("data/validation-00000-of-00001-ab.parquet")), split_of(Path("default/test/0000.parquet"))
    ('validation', 'test')
    """
    match = _SHARD.match(path.name)
    if match and not match["split"].isdigit():
        return match["split"]
    return path.parent.name if path.stem.isdigit() else None


def parquet_splits(input_path: Path) -> dict[str, list[Path]]:
    """Parquet shards under ``input_path`` (a file or a folder) by split; none found is an error."""
    files = (
        [input_path]
        if input_path.is_file()
        else [p for p in input_path.rglob("*.parquet") if not any(part.startswith(".") for part in p.parts)]
    )
    splits = files_by_split(files, split_of)
    if not splits:
        raise ConversionError(
            f"--input {input_path}: no <split>-*.parquet files (Hugging Face layout data/"
            "train-00000-of-00001-*.parquet)"
        )
    return splits


def iter_parquet(
    paths: list[Path], make_item: Callable[[dict, str], VQAItem], batch_rows: int = 64
) -> Iterator[VQAItem]:
    """Items of the shards in order, ``batch_rows`` rows in memory at a time; a missing column names the file."""
    import pyarrow.parquet as pq
    from pyarrow import ArrowException

    for path in paths:
        try:
            parquet = pq.ParquetFile(path)
        except (OSError, ArrowException) as err:
            raise ConversionError(f"{path}: not a readable parquet file ({err})") from None
        names = parquet.schema_arrow.names
        for column in COLUMNS:
            if column not in names:
                raise ConversionError(f"{path}: field '{column}' is missing (columns: {names})")
        row = 0
        for batch in parquet.iter_batches(batch_size=batch_rows, columns=list(COLUMNS)):
            for record in batch.to_pylist():
                yield make_item(record, f"{path}: row {row}")
                row += 1


def embedded_image(record: dict, where: str) -> Callable[[], bytes]:
    """The loader of a row's embedded ``image`` struct; missing bytes name the field."""
    image = record.get("image")
    data = image.get("bytes") if isinstance(image, dict) else None
    if not data:
        raise ConversionError(f"{where}: field 'image.bytes' is missing or empty")
    return lambda: data


def qa_item(record: dict, where: str, modality: str = "") -> VQAItem:
    """An image-question-answer row (no options, no question type in these releases)."""
    return VQAItem(
        where=where,
        question=require(record, "question", where),
        answer=require(record, "answer", where),
        images=[embedded_image(record, where)],
        modality=modality,
    )
