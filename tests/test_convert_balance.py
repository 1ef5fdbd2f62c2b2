"""Class balancing shapes the training subset only: val/test subsets keep the official distribution,
so their metrics estimate performance on the population the dataset describes."""

from __future__ import annotations

import numpy as np
from convert_checks import read_rows
from fixtures_data import synthetic_images

from data_preprocess import medmnist as mm


def skewed_npz(path):
    """RetinaMNIST-shaped: 40 of class 0 and 5 of each other grade in every split (like real grading sets)."""
    labels = np.array([0] * 40 + [1, 2, 3, 4] * 5, dtype=np.uint8).reshape(-1, 1)
    arrays = {}
    for k, split in enumerate(("train", "val", "test")):
        arrays[f"{split}_images"] = synthetic_images(len(labels), 28, 3, seed=k)
        arrays[f"{split}_labels"] = labels
    np.savez_compressed(path, **arrays)
    return path


def test_subsets_balanced_in_train_only(tmp_path):
    npz = skewed_npz(tmp_path / "retinamnist.npz")
    written = mm.convert(
        "retinamnist", tmp_path / "out", npz=npz, split_sizes={"train": 20, "val": 20, "test": 20}, progress=False
    )
    counts = {}
    for split in ("train", "val", "test"):
        gts = [r["reward_model"]["ground_truth"] for r in read_rows(written[f"{split}.parquet"])]
        counts[split] = sorted(gts.count(g) for g in set(gts))
    assert counts["train"] == [4, 4, 4, 4, 4]  # few-shot training: the same number per class
    for split in ("val", "test"):  # uniform: the majority grade keeps about 2/3 of the rows (40 of 60)
        assert max(counts[split]) >= 9, counts
