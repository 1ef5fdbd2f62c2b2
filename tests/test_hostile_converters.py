"""Hostile input, converters: useless or hostile input is refused with one ``error:`` line naming the file or flag
(never a traceback, never an output file), a BOM CSV is read, Ctrl-C/SIGTERM exit 130/143 without leftovers, and stale
temporary files of a killed run are removed by the next one."""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from convert_checks import no_outputs, read_rows
from fixtures_data import REPO, default_sigint, write_fake_medmnist_npz
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from data_preprocess import folder, validate
from data_preprocess import grounding as loc
from data_preprocess import medmnist as mm
from data_preprocess.common import USER_ERROR_EXIT, ConversionError, atomic_outputs
from data_preprocess.knowledge import load_card
from reward_fns import compute_score

CARD = """
name: toy
modality: photograph
task_type: multiclass
question: Which class?
labels:
  - {name: cat, findings: Whiskers.}
  - {name: dog, findings: A tail that wags.}
"""


def _card(tmp_path: Path, text: str = CARD) -> Path:
    path = tmp_path / "card.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _images(root: Path, n: int, size=(32, 32)) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        paths.append(root / f"{i}.png")
        Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(paths[-1])
    return paths


def _cli(main, argv: list[str], capsys) -> tuple[int, str]:
    """A converter's command line in-process, as ``python -m`` runs it: (exit status, stderr)."""
    with pytest.raises(SystemExit) as stop:
        validate.run_guarded(main, argv)
    code = stop.value.code
    err = capsys.readouterr().err
    if isinstance(code, str):  # SystemExit("error: ...") prints the message and exits 1
        return 1, err + code
    return code, err


# --- command-line values -----------------------------------------------------------------------------------------

BAD_FLAGS = [
    (mm.main, ["--dataset", "breastmnist", "--train_size", "0"], "--train_size: 0: expected -1 (all rows)"),
    (mm.main, ["--dataset", "breastmnist", "--train_size", "-5"], "--train_size: -5"),
    (mm.main, ["--dataset", "breastmnist", "--val_size", "-2"], "--val_size: -2"),
    (mm.main, ["--dataset", "breastmnist", "--image_size", "50000"], "--image_size: 50000: expected 0"),
    (mm.main, ["--dataset", "breastmnist", "--image_size", "-1"], "--image_size: -1"),
    (folder.main, ["--card", "c.yaml", "--image_dir", "x", "--val_fraction", "nan"], "--val_fraction: nan"),
    (folder.main, ["--card", "c.yaml", "--image_dir", "x", "--test_fraction", "1.5"], "--test_fraction: 1.5"),
    (folder.main, ["--card", "c.yaml", "--image_dir", "x", "--max_side", "99999"], "--max_side: 99999"),
    (loc.main, ["--masks", "x", "--name", "n", "--val_fraction", "inf"], "--val_fraction: inf"),
    (loc.main, ["--masks", "x", "--name", "n", "--max_side", "1e3"], "--max_side: '1e3' is not an integer"),
]


@pytest.mark.parametrize(("main", "argv", "expected"), BAD_FLAGS, ids=[" ".join(a[-2:]) for _, a, _ in BAD_FLAGS])
def test_bad_flag_values_are_refused_naming_the_flag(tmp_path, capsys, main, argv, expected):
    code, err = _cli(main, [*argv, "--output_dir", str(tmp_path / "out")], capsys)
    assert code == 2 and expected in err and "Traceback" not in err
    assert no_outputs(tmp_path / "out")


@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.text(max_size=6)))
def test_fraction_accepts_exactly_finite_numbers_in_0_1(text):
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    ok = math.isfinite(value) and 0 <= value < 1
    try:
        assert validate.fraction(text) == value and ok
    except argparse.ArgumentTypeError:
        assert not ok


@given(st.integers(-(10**6), 10**6))
def test_size_flags_accept_exactly_their_ranges(value):
    for check, ok in (
        (validate.train_size, value == -1 or value >= 1),
        (validate.split_size, value >= -1),
        (validate.image_side, 0 <= value <= validate.MAX_IMAGE_SIDE),
    ):
        try:
            assert check(str(value)) == value and ok
        except argparse.ArgumentTypeError:
            assert not ok


def test_api_split_sizes_follow_the_same_rules(tmp_path):
    npz = write_fake_medmnist_npz(tmp_path / "b.npz", n_classes=2, channels=1)
    with pytest.raises(ConversionError, match="--train_size 0"):
        mm.convert("breastmnist", tmp_path / "o", npz=npz, split_sizes={"train": 0}, progress=False)
    with pytest.raises(ConversionError, match=r"--val_fraction nan"):
        folder.convert(
            [folder.Sample(image=p, label=i % 2) for i, p in enumerate(_images(tmp_path / "i", 4))],
            load_card(_card(tmp_path)),
            tmp_path / "o",
            val_fraction=math.nan,
            progress=False,
        )
    assert no_outputs(tmp_path / "o")


# --- useless output: empty splits, 0x0 images, no images -----------------------------------------------------------


def test_zero_by_zero_images_are_refused(tmp_path):
    npz = tmp_path / "zero.npz"
    arrays = {f"{s}_images": np.zeros((2, 0, 0), np.uint8) for s in ("train", "val", "test")}
    arrays |= {f"{s}_labels": np.array([[0], [1]], np.uint8) for s in ("train", "val", "test")}
    np.savez(npz, **arrays)
    with pytest.raises(ConversionError, match=r"zero.npz: array 'train_images': image of size 0x0"):
        mm.convert("breastmnist", tmp_path / "o", npz=npz, progress=False)
    assert no_outputs(tmp_path / "o")


def test_an_empty_split_in_the_source_is_refused(tmp_path):
    npz = write_fake_medmnist_npz(tmp_path / "b.npz", n_classes=2, channels=1, counts=(6, 0, 4))
    with pytest.raises(ConversionError, match=r"val.parquet would have no rows"):
        mm.convert("breastmnist", tmp_path / "o", npz=npz, image_size=28, progress=False)
    assert no_outputs(tmp_path / "o")
    # Asked for explicitly, an empty val split is still fine.
    written = mm.convert("breastmnist", tmp_path / "o", npz=npz, image_size=28, progress=False, split_sizes={"val": 0})
    assert read_rows(written["val.parquet"]) == [] and len(read_rows(written["train.parquet"])) == 6


def test_a_split_column_with_one_value_is_refused(tmp_path):
    _images(tmp_path / "imgs", 4)
    csv = tmp_path / "labels.csv"
    csv.write_text(
        "image,label,split\n" + "".join(f"imgs/{i}.png,{'cat' if i % 2 else 'dog'},train\n" for i in range(4))
    )
    card = load_card(_card(tmp_path))
    with pytest.raises(ConversionError, match=r"val.parquet, test.parquet would have no rows"):
        folder.convert(folder.read_csv(csv, card), card, tmp_path / "o", progress=False)
    assert no_outputs(tmp_path / "o")


def test_excel_csv_with_a_bom_is_read(tmp_path):
    _images(tmp_path / "imgs", 6)
    csv = tmp_path / "labels.csv"
    lines = "image,label\n" + "".join(f"imgs/{i}.png,{'cat' if i % 2 else 'dog'}\n" for i in range(6))
    csv.write_bytes(b"\xef\xbb\xbf" + lines.replace("\n", "\r\n").encode("utf-8"))  # as Excel saves "CSV UTF-8"
    samples = folder.read_csv(csv, load_card(_card(tmp_path)))
    assert [s.label for s in samples] == [1, 0, 1, 0, 1, 0]  # dog, cat, ...


def test_coco_without_images_is_refused(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"images": [], "annotations": []}))
    with pytest.raises(ConversionError, match=r"c.json: field 'images': empty"):
        loc.read_coco(path, tmp_path, "train")


def test_coco_duplicate_image_ids_name_both_entries(tmp_path):
    path = tmp_path / "c.json"
    images = [
        {"id": 1, "file_name": "a.png", "width": 32, "height": 32},
        {"id": 2, "file_name": "b.png", "width": 32, "height": 32},
        {"id": 1, "file_name": "c.png", "width": 32, "height": 32},
    ]
    path.write_text(json.dumps({"images": images, "annotations": []}))
    with pytest.raises(ConversionError) as err:
        loc.read_coco(path, tmp_path, "train")
    assert "duplicate image id 1 in images[0] ('a.png') and images[2] ('c.png')" in str(err.value)


@given(st.lists(st.integers(0, 5), min_size=1, max_size=12))
def test_any_repeated_id_is_refused_naming_its_first_and_second_entry(ids):
    entries = [(i, f"images[{j}]") for j, i in enumerate(ids)]
    repeated = [j for j, i in enumerate(ids) if i in ids[:j]]
    try:
        validate.check_unique_ids(entries, "f.json")
        assert not repeated
    except ConversionError as err:
        second = repeated[0]
        assert f"images[{ids.index(ids[second])}] and images[{second}]" in str(err)


def test_deeply_nested_coco_is_one_line(tmp_path, capsys):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    code, err = _cli(loc.main, ["--coco", str(path), "--name", "n", "--output_dir", str(tmp_path / "o")], capsys)
    assert code == USER_ERROR_EXIT and "deep.json: not readable COCO json" in err and "Traceback" not in err


# --- files: output folder, card encoding ----------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["is a file", "under a file"])
def test_unusable_output_dir_is_one_line(tmp_path, capsys, case):
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    out = blocker if case == "is a file" else blocker / "sub" / "out"
    npz = write_fake_medmnist_npz(tmp_path / "b.npz", n_classes=2, channels=1)
    code, err = _cli(mm.main, ["--dataset", "breastmnist", "--npz", str(npz), "--output_dir", str(out)], capsys)
    assert code == USER_ERROR_EXIT and f"--output_dir {out}: " in err and case.split()[0] in err
    assert "Traceback" not in err
    assert blocker.read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_dir_is_one_line(tmp_path, capsys):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    npz = write_fake_medmnist_npz(tmp_path / "b.npz", n_classes=2, channels=1)
    try:
        code, err = _cli(mm.main, ["--dataset", "breastmnist", "--npz", str(npz), "--output_dir", str(out)], capsys)
    finally:
        out.chmod(0o755)
    assert code == USER_ERROR_EXIT and "not writable" in err and "Traceback" not in err


def test_non_utf8_task_card_is_one_line(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(CARD.replace("Whiskers", "Schnurrhaare f\xfcr").encode("latin-1"))
    with pytest.raises(ConversionError, match=r"latin1.yaml: task card is not UTF-8 text \(byte 0xfc"):
        load_card(path)


# --- option styles against label names ------------------------------------------------------------------------------


def test_option_style_colliding_with_label_names_is_refused(tmp_path):
    card = load_card(_card(tmp_path, CARD.replace("name: cat", "name: '2'").replace("name: dog", "name: '1'")))
    samples = [folder.Sample(image=p, label=i % 2) for i, p in enumerate(_images(tmp_path / "i", 6))]
    with pytest.raises(ConversionError, match=r"--option_style number collides with label name\(s\) \['2', '1'\]"):
        folder.convert(samples, card, tmp_path / "o", option_style="number", progress=False)
    assert no_outputs(tmp_path / "o")


def test_retinamnist_with_numbered_options_grades_the_option_number(tmp_path):
    """The issue's example end to end: the official names are '0'..'4', the prompt lists '1. no DR' ...; the row's
    own option number scores, the official number of the same label does not (it is another option)."""
    npz = write_fake_medmnist_npz(tmp_path / "r.npz", n_classes=5, counts=(10, 5, 5))
    written = mm.convert(
        "retinamnist",
        tmp_path / "o",
        npz=npz,
        image_size=28,
        option_style="number",
        template="classlist",
        progress=False,
    )
    for row in read_rows(written["train.parquet"]):
        info, truth = row["extra_info"], row["reward_model"]["ground_truth"]
        index = list(info["labels"]).index(truth)
        assert f"{index + 1}. {truth}" in row["prompt"][-1]["content"]
        answer = f"<think>The grading.</think><answer>{index + 1}</answer>"
        assert compute_score(row["data_source"], answer, truth, info)["acc"] == 1.0
        if index > 0:  # "index" is the official name of this label and option index+1's... another label
            official = f"<think>The grading.</think><answer>{index}</answer>"
            assert compute_score(row["data_source"], official, truth, info)["acc"] == 0.0


# --- interrupts and stale temporary files ---------------------------------------------------------------------------


def test_stale_temp_files_of_a_killed_run_are_removed(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    stale = out / f".train.parquet.{int(dead.stdout)}.tmp"
    stale.write_bytes(b"partial")
    alive = out / f".val.parquet.{os.getppid()}.tmp"  # a running process's file is not ours to delete
    alive.write_bytes(b"busy")
    mine = out / "notes.tmp"
    mine.write_text("keep")
    npz = write_fake_medmnist_npz(tmp_path / "b.npz", n_classes=2, channels=1)
    mm.convert("breastmnist", out, npz=npz, image_size=28, progress=False)
    assert not stale.exists() and alive.exists() and mine.exists()
    assert sorted(p.name for p in out.glob("*.parquet")) == ["test.parquet", "train.parquet", "val.parquet"]


def test_outputs_are_discarded_when_no_row_is_written(tmp_path):
    with pytest.raises(ConversionError, match="no rows to write"), atomic_outputs(tmp_path / "o"):
        pass
    assert no_outputs(tmp_path / "o")


@pytest.mark.parametrize(
    ("signum", "status", "word"), [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]
)
def test_interrupt_exits_cleanly_without_leftovers(tmp_path, signum, status, word):
    npz = write_fake_medmnist_npz(tmp_path / "big.npz", n_classes=2, channels=1, counts=(3000, 10, 10))
    out = tmp_path / "o"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "data_preprocess.medmnist",
            "--dataset",
            "breastmnist",
            "--npz",
            str(npz),
            "--image_size",
            "448",
            "--output_dir",
            str(out),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )
    deadline = time.monotonic() + 120
    while not list(out.glob(".*.tmp")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # wait until it is writing: the interrupt must find temporary files to remove
    assert proc.poll() is None, "the conversion finished before it could be interrupted"
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == status and word in err and "Traceback" not in err
    assert no_outputs(out)
