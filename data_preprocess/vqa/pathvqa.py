"""PathVQA (He et al. 2020) as released on Hugging Face by flaviagiammarino/path-vqa: parquet shards
``data/{train,validation,test}-*.parquet`` with ``image`` (embedded bytes), ``question``, ``answer``. Every image
is a pathology image, so ``modality`` is "Pathology"; yes/no answers are ``closed``, the rest ``open``."""

from __future__ import annotations

from contextlib import ExitStack
from functools import partial
from pathlib import Path

from .hf_parquet import iter_parquet, parquet_splits, qa_item
from .registry import ExampleRun, SplitItems, register

CARD = "https://huggingface.co/datasets/flaviagiammarino/path-vqa"
MODALITY = "Pathology"


# train / validation / test in the release; 2 epochs (the largest train split but OmniMedVQA's): our choice.
RUN = ExampleRun(
    download="huggingface-cli download flaviagiammarino/path-vqa --repo-type dataset --local-dir ~/downloads/path-vqa",
    train=("trainer.total_epochs=2",),
)


@register("pathvqa", card=CARD, layout="the dataset repo folder, its data/ folder or one parquet shard", run=RUN)
def read(input_path: Path, stack: ExitStack) -> dict[str, SplitItems]:
    """Splits of the release (train, val, test) -> their items."""
    make = partial(qa_item, modality=MODALITY)
    return {split: partial(iter_parquet, paths, make) for split, paths in parquet_splits(input_path).items()}
