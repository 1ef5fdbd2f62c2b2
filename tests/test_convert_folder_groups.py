"""Group-aware split of the CSV converter: one patient's images never straddle splits, the split sizes
stay close to the fractions and a rerun writes the same bytes."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from convert_checks import read_rows
from fixtures_data import REPO
from PIL import Image

from data_preprocess import folder
from data_preprocess.common import ConversionError, assign_splits
from data_preprocess.knowledge import load_card

CARD = """
name: toy_derm
task_type: multiclass
question: What is the lesion in this image?
labels:
  - {name: nevus}
  - {name: melanoma}
  - {name: keratosis}
"""


def _dataset(tmp_path: Path, n_patients: int = 60, seed: int = 0) -> tuple[Path, Path, dict[str, str]]:
    """A CSV of 1-6 images per patient (one label per patient, as a lesion id would give), images unique."""
    rng = np.random.default_rng(seed)
    (tmp_path / "imgs").mkdir()
    lines, patient_of = ["image,label,patient"], {}
    labels = ("nevus", "melanoma", "keratosis")
    k = 0
    for p in range(n_patients):
        label = labels[p % 3]
        for _ in range(int(rng.integers(1, 7))):
            Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(tmp_path / "imgs" / f"{k}.png")
            lines.append(f"imgs/{k}.png,{label},P{p:03d}")
            patient_of[f"{k}.png"] = f"P{p:03d}"
            k += 1
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("\n".join(lines) + "\n")
    card = tmp_path / "card.yaml"
    card.write_text(CARD)
    return csv_path, card, patient_of


def _run(csv_path: Path, card: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "data_preprocess.folder",
            "--card",
            str(card),
            "--csv",
            str(csv_path),
            "--group_column",
            "patient",
            "--output_dir",
            str(out),
            "--no_balance",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )


def test_no_patient_straddles_splits_sizes_balanced_and_rerun_identical(tmp_path):
    csv_path, card, patient_of = _dataset(tmp_path)
    samples = folder.read_csv(csv_path, load_card(card), group_column="patient")
    folder.assign_group_splits(samples, 0.1, 0.2, seed=42)
    splits_of: dict[str, set[str]] = {}
    for s in samples:
        splits_of.setdefault(s.group, set()).add(s.split)
    assert all(len(v) == 1 for v in splits_of.values())
    # Without groups the same data straddles: the test would mean nothing otherwise.
    plain = folder.read_csv(csv_path, load_card(card))
    assign_splits(plain, [s.label for s in plain], 0.1, 0.2, 42)
    assert any(len({s.split for s in plain if patient_of[s.image.name] == p}) > 1 for p in set(patient_of.values()))
    n = len(samples)
    sizes = Counter(s.split for s in samples)
    for split, fraction in (("train", 0.7), ("val", 0.1), ("test", 0.2)):
        assert abs(sizes[split] / n - fraction) < 0.06, sizes
    for label in range(3):  # every class in every split, near its share
        in_class = [s for s in samples if s.label == label]
        by_split = Counter(s.split for s in in_class)
        assert all(by_split[split] > 0 for split in ("train", "val", "test")), (label, by_split)
        assert abs(by_split["test"] / len(in_class) - 0.2) < 0.1

    first, second = tmp_path / "a", tmp_path / "b"
    for out in (first, second):
        proc = _run(csv_path, card, out)
        assert proc.returncode == 0, proc.stderr
    for name in ("train.parquet", "val.parquet", "test.parquet"):
        digest = [hashlib.sha256((out / name).read_bytes()).hexdigest() for out in (first, second)]
        assert digest[0] == digest[1], name
    # The CLI (default seed 42) writes the split computed above.
    assert {name: len(read_rows(first / f"{name}.parquet")) for name in ("train", "val", "test")} == dict(sizes)


def test_group_given_splits_and_bad_groups(tmp_path):
    card = load_card(_dataset(tmp_path, n_patients=3)[1])
    (tmp_path / "g.csv").write_text(
        "image,label,split,patient\na.png,nevus,train,P1\nb.png,nevus,,P1\nc.png,melanoma,,P2\n"
    )
    samples = folder.read_csv(tmp_path / "g.csv", card, group_column="patient")
    folder.assign_group_splits(samples, 0.1, 0.2, seed=0)
    assert samples[1].split == "train"  # follows its patient's given split
    (tmp_path / "clash.csv").write_text("image,label,split,patient\na.png,nevus,train,P1\nb.png,nevus,test,P1\n")
    with pytest.raises(ConversionError, match="group 'P1': its images are in several splits"):
        folder.assign_group_splits(folder.read_csv(tmp_path / "clash.csv", card, group_column="patient"), 0.1, 0.2, 0)
    (tmp_path / "empty.csv").write_text("image,label,patient\na.png,nevus,\n")
    with pytest.raises(ConversionError, match=r"empty.csv:2: field 'patient': empty group id"):
        folder.read_csv(tmp_path / "empty.csv", card, group_column="patient")
    with pytest.raises(ConversionError, match=r"field 'lesion': no such column"):
        folder.read_csv(tmp_path / "g.csv", card, group_column="lesion")
