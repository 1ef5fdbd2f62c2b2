"""VQA-RAD (Lau et al. 2018) as released on Hugging Face by flaviagiammarino/vqa-rad: parquet shards
``data/{train,test}-*.parquet`` with ``image`` (embedded bytes), ``question``, ``answer``. The release keeps no
modality or question type, so those stay empty; yes/no answers become ``closed`` rows, the rest ``open``."""

from __future__ import annotations

from contextlib import ExitStack
from functools import partial
from pathlib import Path

from .hf_parquet import iter_parquet, parquet_splits, qa_item
from .registry import ExampleRun, SplitItems, register

CARD = "https://huggingface.co/datasets/flaviagiammarino/vqa-rad"


# No validation split in the release: 10% of the train images are held out as val for the validation curve (the
# test split is read only by the final evaluation). 15 epochs: our choice.
RUN = ExampleRun(
    download="huggingface-cli download flaviagiammarino/vqa-rad --repo-type dataset --local-dir ~/downloads/vqa-rad",
    convert=("--val_from_train", "0.1"),
    train=("trainer.total_epochs=15",),
)


@register("vqa_rad", card=CARD, layout="the dataset repo folder, its data/ folder or one parquet shard", run=RUN)
def read(input_path: Path, stack: ExitStack) -> dict[str, SplitItems]:
    """Splits of the release (train, test) -> their items."""
    return {split: partial(iter_parquet, paths, qa_item) for split, paths in parquet_splits(input_path).items()}
