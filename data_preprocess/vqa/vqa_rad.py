"""VQA-RAD (Lau et al. 2018) as released on Hugging Face by flaviagiammarino/vqa-rad: parquet shards
``data/{train,test}-*.parquet`` with ``image`` (embedded bytes), ``question``, ``answer``. The release keeps no
modality or question type, so those stay empty; yes/no answers become ``closed`` rows, the rest ``open``."""

from __future__ import annotations

from contextlib import ExitStack
from functools import partial
from pathlib import Path

from .hf_parquet import iter_parquet, parquet_splits, qa_item
from .registry import SplitItems, register

CARD = "https://huggingface.co/datasets/flaviagiammarino/vqa-rad"


@register("vqa_rad", card=CARD, layout="the dataset repo folder, its data/ folder or one parquet shard")
def read(input_path: Path, stack: ExitStack) -> dict[str, SplitItems]:
    """Splits of the release (train, test) -> their items."""
    return {split: partial(iter_parquet, paths, qa_item) for split, paths in parquet_splits(input_path).items()}
