"""Folder/CSV converter for new tasks: task card + images -> the same parquet as MedMNIST."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from convert_checks import check_rl_rows, no_outputs, read_rows
from fixtures_data import REPO
from PIL import Image

from data_preprocess import folder, validate
from data_preprocess.common import ConversionError
from data_preprocess.knowledge import load_card

CARD = """
name: toy_fundus
modality: colour fundus photograph
task_type: ordinal
question: How severe is the retinopathy in this image?
description: A toy grading task.
labels:
  - name: none
    official: grade_0
    findings: No lesions.
  - name: mild
    official: grade_1
    aliases: [slight]
    findings: A few small red dots.
  - name: severe
    official: grade_2
    findings: Many haemorrhages.
"""


def _card(tmp_path: Path, text: str = CARD) -> Path:
    path = tmp_path / "card.yaml"
    path.write_text(text)
    return path


def _images(folder_path: Path, n: int, seed: int = 0, size=(40, 30)) -> None:
    folder_path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(folder_path / f"{i}.png")


def test_folder_per_class_end_to_end_via_cli(tmp_path, qwen_tokenizer, qwen_processor):
    for k, name in enumerate(("grade_0", "Grade-1", "severe")):  # official name, spelling variant, display name
        _images(tmp_path / "data" / name, 6, seed=k)
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "data_preprocess.folder",
            "--card",
            str(_card(tmp_path)),
            "--image_dir",
            str(tmp_path / "data"),
            "--output_dir",
            str(out),
            "--template",
            "classlist",
            "--option_style",
            "number",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    files = [out / f"{s}.parquet" for s in ("train", "val", "test")]
    assert check_rl_rows(files, qwen_tokenizer, qwen_processor, tmp_path) == 18
    rows = [r for f in files for r in read_rows(f)]
    splits = [r["extra_info"]["split"] for r in rows]
    assert (splits.count("train"), splits.count("val"), splits.count("test")) == (12, 3, 3)  # per class 4/1/1
    info = rows[0]["extra_info"]
    assert info["labels"] == ["none", "mild", "severe"] and info["task_type"] == "ordinal"
    assert info["label_aliases"] == [["grade_0"], ["grade_1", "slight"], ["grade_2"]]
    assert "2. mild" in rows[0]["prompt"][0]["content"] and "- mild: A few small red dots." in info["knowledge"]
    assert info["image_size"] == [28, 28]  # 40x30 -> sides rounded to multiples of 28 (never upscaled)


def test_split_folders_and_balanced_subset(tmp_path):
    for split, n in (("train", 5), ("test", 2)):
        for k, name in enumerate(("none", "mild", "severe")):
            _images(tmp_path / "data" / split / name, n + k, seed=k)
    samples = folder.read_image_folder(tmp_path / "data", load_card(_card(tmp_path)))
    written = folder.convert(
        samples, load_card(_card(tmp_path)), tmp_path / "out", split_sizes={"train": 9, "val": 0}, progress=False
    )  # no val folder: an empty val split must be asked for (never silently empty)
    train = read_rows(written["train.parquet"])
    gts = [r["reward_model"]["ground_truth"] for r in train]
    assert sorted(gts) == sorted(["none", "mild", "severe"] * 3)
    assert read_rows(written["val.parquet"]) == [] and len(read_rows(written["test.parquet"])) == 2 + 3 + 4


def test_csv_multilabel_with_split_column(tmp_path, qwen_tokenizer, qwen_processor):
    card = _card(
        tmp_path,
        """
name: toy_cxr
task_type: multilabel
question: Which findings are present?
labels:
  - {name: effusion, findings: Blunted costophrenic angle.}
  - {name: nodule}
  - {name: cardiomegaly, aliases: [enlarged heart]}
""",
    )
    _images(tmp_path / "imgs", 6)
    lines = [
        "image,label,split",
        "imgs/0.png,effusion;nodule,train",
        "imgs/1.png,,train",
        "imgs/2.png,none,val",
        "imgs/3.png,Enlarged heart,test",
        "imgs/4.png,nodule,",
        "imgs/5.png,effusion,",
    ]
    (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n")
    samples = folder.read_csv(tmp_path / "labels.csv", load_card(card))
    assert [s.label for s in samples] == [(0, 1), (), (), (2,), (1,), (0,)]
    written = folder.convert(
        samples, load_card(card), tmp_path / "out", val_fraction=0.0, test_fraction=0.0, progress=False
    )
    check_rl_rows(written.values(), qwen_tokenizer, qwen_processor, tmp_path)
    train = read_rows(written["train.parquet"])
    assert [json.loads(r["reward_model"]["ground_truth"]) for r in train] == [
        ["effusion", "nodule"],
        [],
        ["nodule"],
        ["effusion"],
    ]


def test_bad_data_and_card_disagreements_are_named(tmp_path):
    card = load_card(_card(tmp_path))
    _images(tmp_path / "data" / "none", 2)
    (tmp_path / "data" / "mild").mkdir()
    with pytest.raises(ConversionError, match=r"data/mild: class folder is empty"):
        folder.read_image_folder(tmp_path / "data", card)
    _images(tmp_path / "data" / "mild", 2)
    _images(tmp_path / "data" / "moderate", 2)
    with pytest.raises(ConversionError, match=r"data/moderate: class folder: 'moderate' is not a label of the task"):
        folder.read_image_folder(tmp_path / "data", card)
    (tmp_path / "data" / "moderate" / "0.png").unlink()
    (tmp_path / "data" / "moderate" / "1.png").unlink()
    (tmp_path / "data" / "moderate").rmdir()
    with pytest.raises(ConversionError, match=r"card.yaml: field 'labels': class\(es\) \['severe'\] have no images"):
        folder.convert(folder.read_image_folder(tmp_path / "data", card), card, tmp_path / "out", progress=False)
    _images(tmp_path / "data" / "severe", 2)
    (tmp_path / "data" / "severe" / "1.png").write_bytes(b"GIF89a-garbage")
    with pytest.raises(ConversionError, match=r"severe/1.png: image: unreadable"):
        folder.convert(folder.read_image_folder(tmp_path / "data", card), card, tmp_path / "out", progress=False)
    assert no_outputs(tmp_path / "out")
    (tmp_path / "bad.csv").write_text("image,label\na.png,grade_9\n")
    with pytest.raises(ConversionError, match=r"bad.csv:2: field 'label': 'grade_9' is not a label"):
        folder.read_csv(tmp_path / "bad.csv", card)
    (tmp_path / "cols.csv").write_text("path,label\na.png,none\n")
    with pytest.raises(ConversionError, match=r"cols.csv: field 'image': no such column"):
        folder.read_csv(tmp_path / "cols.csv", card)


def test_sixteen_bit_grey_images_are_stretched_not_clipped(tmp_path):
    from data_preprocess.common import open_image

    path = tmp_path / "ct.png"
    Image.fromarray((np.arange(64 * 64).reshape(64, 64) * 8).astype(np.uint16)).save(path)  # 0..32760
    pixels = np.asarray(open_image(path))
    assert pixels.dtype == np.uint8 and pixels.min() == 0 and pixels.max() == 255
    assert len(np.unique(pixels)) == 256  # a ramp, not a saturated white block


@pytest.mark.parametrize("kind", ["mcq", "closed", "open", "grounding"])
def test_a_card_declares_only_a_kind_its_converter_writes(tmp_path, capsys, kind):
    """A folder card declaring a VQA or grounding task type would become rows no reward or evaluation can grade
    (mcq rows with no options scored acc 1, every row dropped by the evaluation): the converter refuses it in one
    line naming the card and the key, and writes nothing. Mutation checked: ``cards.CARD_TASK_TYPES`` as every
    ``TaskType`` except grounding (the former rule) fails here for mcq, closed and open."""
    card = _card(tmp_path, CARD.replace("task_type: ordinal", f"task_type: {kind}"))
    _images(tmp_path / "data" / "grade_0", 2)
    with pytest.raises(SystemExit) as stop:
        validate.run_guarded(
            folder.main,
            ["--card", str(card), "--image_dir", str(tmp_path / "data"), "--output_dir", str(tmp_path / "o")],
        )
    message = f"{capsys.readouterr().err}{stop.value.code if isinstance(stop.value.code, str) else ''}"
    lines = [line for line in message.splitlines() if line.strip()]
    assert len(lines) == 1 and f"{card}: field 'task_type': '{kind}' is not a task type a card can declare" in lines[0]
    assert "Traceback" not in message and not (tmp_path / "o").exists()
