"""Lesion boxes on classification rows (``extra_info.lesion_boxes``): a BUSI-like folder converted as a
classification task with ``--mask_suffix _mask`` carries each image's mask boxes, in the model's box convention,
so the zoom reward's grounding term applies to classification rows too (reward_fns/zoom.py, docs/tools.md).

The expected boxes are computed here from the mask files with numpy alone (foreground >= 128, as BUSI's 8-bit masks
are read; edges x2 = last column + 1), scaled to the stored image size read back with Pillow."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from convert_checks import no_outputs, read_rows
from fixtures_data import write_busi_like_folder
from PIL import Image

from data_preprocess import folder, validate
from data_preprocess.schema import EXTRA_INFO_DEFAULTS
from reward_fns import compute_zoom_score
from reward_fns.zoom import LESION_KEY

CARD = """
name: busi_cls
task_type: multiclass
question: What does this breast ultrasound image show?
labels:
  - name: benign
  - name: malignant
  - name: normal
"""


SPLIT = ["--val_fraction", "0.3", "--test_fraction", "0.3"]  # every split gets rows from 10 images


def _card(tmp_path: Path) -> Path:
    path = tmp_path / "card.yaml"
    path.write_text(CARD)
    return path


def _mask_box(mask_path: Path) -> list[int] | None:
    """The mask's bounding box in its pixels, [x1, y1, x2, y2] with exclusive x2/y2; None when empty."""
    ys, xs = np.nonzero(np.asarray(Image.open(mask_path).convert("L")) >= 128)
    return None if xs.size == 0 else [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


def _expected_boxes(image: Path, stored: tuple[int, int], box_format: str) -> list[list[int]]:
    width, height = Image.open(image).size
    out_w, out_h = stored if box_format == "abs" else (1000, 1000)
    boxes = []
    for mask in sorted(image.parent.glob(f"{image.stem}_mask*.png")):
        box = _mask_box(mask)
        if box is not None:
            scale = np.array([out_w / width, out_h / height] * 2)
            boxes.append([int(v) for v in np.rint(np.array(box) * scale)])
    return boxes


def _source_of(row: dict, sources: list[Path]) -> Path:
    """The source image a row was made from: the closest one once resized to the stored size (the fixture's images
    are random noise, so the match is unambiguous)."""
    import io

    stored = np.asarray(Image.open(io.BytesIO(row["images"][0]["bytes"])).convert("L"), dtype=float)
    size = (stored.shape[1], stored.shape[0])
    distances = [
        np.abs(np.asarray(Image.open(s).convert("L").resize(size), dtype=float) - stored).mean() for s in sources
    ]
    return sources[int(np.argmin(distances))]


def _convert(tmp_path: Path, box_format: str) -> tuple[Path, list[dict]]:
    busi = write_busi_like_folder(tmp_path / "busi")
    out = tmp_path / f"out_{box_format}"
    argv = ["--card", str(_card(tmp_path)), "--image_dir", str(busi), "--mask_suffix", "_mask"]
    folder.main([*argv, "--box_format", box_format, "--output_dir", str(out), "--num_proc", "1", *SPLIT])
    rows = [row for split in ("train", "val", "test") for row in read_rows(out / f"{split}.parquet")]
    return busi, rows


@pytest.mark.parametrize("box_format", ["abs", "rel1000"])
def test_busi_like_folder_rows_carry_their_mask_boxes(tmp_path, box_format):
    """Every row's lesion_boxes are its mask files' bounding boxes scaled to the stored image in the row's
    box_format (malignant (1) has two masks, normal images none: "[]"). Mutations checked: boxes left in source
    pixels (no scaling; the 80x60 images are stored at 84x56) fails the abs case; the masks read as images
    (no --mask_suffix filtering) fails the row count; lesions not passed to the row builder fails every row."""
    busi, rows = _convert(tmp_path, box_format)
    sources = sorted(p for p in busi.rglob("*.png") if "_mask" not in p.stem)
    assert len(rows) == len(sources) == 10
    seen = set()
    for row in rows:
        info = row["extra_info"]
        assert set(info) == set(EXTRA_INFO_DEFAULTS) and info["box_format"] == box_format
        source = _source_of(row, sources)
        seen.add(source)
        assert (
            info["labels"][["benign", "malignant", "normal"].index(source.parent.name)]
            == row["reward_model"]["ground_truth"]
        )
        assert json.loads(info[LESION_KEY]) == _expected_boxes(source, tuple(info["image_size"]), box_format)
    assert seen == set(sources)
    assert sum(len(json.loads(r["extra_info"][LESION_KEY])) for r in rows) == 9  # 8 lesion images, one with two


@pytest.mark.parametrize("box_format", ["abs", "rel1000"])
def test_zoom_reward_on_a_classification_row_rewards_looking_at_the_lesion(tmp_path, box_format):
    """A zoom call on the row's lesion box scores ``zoom_iou_weight`` more than the same call on a far corner,
    for the same correct answer. Mutation checked: the reward reading lesion boxes from grounding rows only
    (``lesion_boxes`` returning [] for other task types) makes both calls score the same."""
    _, rows = _convert(tmp_path, box_format)
    lesion_rows = [r for r in rows if json.loads(r["extra_info"][LESION_KEY])]
    assert lesion_rows
    for row in lesion_rows:
        info, truth = row["extra_info"], row["reward_model"]["ground_truth"]
        lesion = json.loads(info[LESION_KEY])[0]
        width, height = info["image_size"] if box_format == "abs" else (1000, 1000)
        corner = [round(width * 0.8), round(height * 0.75), width, height]  # bottom right: no lesion there

        def score(box, info=info, truth=truth, source=row["data_source"]):
            call = json.dumps({"name": "zoom_in", "arguments": {"bbox_2d": box}})
            text = (
                f"<think>look</think><tool_call>{call}</tool_call>user\n<tool_response>\n</tool_response>"
                f"assistant\n<think>seen</think><answer>{truth}</answer>"
            )
            return compute_zoom_score(source, text, truth, info, box_format=box_format, zoom_iou_weight=0.5)

        on, off = score(lesion), score(corner)
        assert on["acc"] == off["acc"] == 1.0 and on["tool_format"] == off["tool_format"] == 1.0
        assert on["zoom_iou"] == 1.0 and off["zoom_iou"] == 0.0
        assert on["score"] == pytest.approx(off["score"] + 0.5)


def _run(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as stop:
        validate.run_guarded(folder.main, argv)
    assert stop.value.code == 2
    lines = capsys.readouterr().err.strip().replace("\r", "\n").splitlines()  # tqdm bars come before it
    errors = [line for line in lines if "error" in line]
    assert len(errors) == 1 and errors[0] == lines[-1] and errors[0].startswith("verl-med: error: "), lines
    return errors[0]


def test_a_mask_of_another_size_is_one_error_naming_the_file(tmp_path, capsys):
    """Mutation checked: the size check of grounding.prepare_sample removed (numpy then reads a box in the wrong
    frame, silently) fails here."""
    busi = write_busi_like_folder(tmp_path / "busi")
    bad = busi / "benign" / "benign (2)_mask.png"
    Image.new("L", (40, 30)).save(bad)
    out = tmp_path / "out"
    err = _run(
        ["--card", str(_card(tmp_path)), "--image_dir", str(busi), "--mask_suffix", "_mask", "--output_dir", str(out)],
        capsys,
    )
    assert str(bad) in err and "mask size" in err
    assert no_outputs(out)


@pytest.mark.parametrize(
    ("cell", "says"),
    [
        ("[[1, 2, 3]]", "expected [x1, y1, x2, y2]"),
        ("[[10, 10, 5, 20]]", "expected [x1, y1, x2, y2]"),
        ("not json", "is not JSON"),
        ("[[10, 10, 500, 20]]", "lies outside its 80x60 image"),
    ],
)
def test_a_bad_lesion_cell_is_one_error_naming_the_row_and_field(tmp_path, capsys, cell, says):
    """CSV lesion boxes (``--lesion_column``): a malformed, inverted or out-of-image box names the CSV line and
    column. Mutation checked: without the out-of-image check the last case converts (scale_boxes clips it)."""
    busi = write_busi_like_folder(tmp_path / "busi")
    csv_path = tmp_path / "labels.csv"
    lines = ["image,label,lesion"]
    for i, image in enumerate(sorted(p for p in busi.rglob("*.png") if "_mask" not in p.stem)):
        value = cell if i == 3 else "[[20, 10, 50, 30]]"
        lines.append(f'{image.relative_to(busi)},{image.parent.name},"{value.replace(chr(34), chr(34) * 2)}"')
    csv_path.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    argv = ["--card", str(_card(tmp_path)), "--csv", str(csv_path), "--image_root", str(busi)]
    err = _run([*argv, "--lesion_column", "lesion", "--output_dir", str(out)], capsys)
    assert f"{csv_path}:5: field 'lesion'" in err and says in err, err
    assert no_outputs(out)


def test_csv_lesion_boxes_are_scaled_to_the_stored_image(tmp_path):
    """``--lesion_column``: a cell's source-pixel boxes come out scaled to the stored image (80x60 stored at 84x56)
    in the row's box_format; an empty cell stays "" (not known), "[]" stays "[]" (no lesion). Mutation checked:
    empty cells written as "[]" (unknown read as "no lesion") fails here."""
    busi = write_busi_like_folder(tmp_path / "busi")
    images = sorted(p for p in busi.rglob("*.png") if "_mask" not in p.stem)
    cells = {
        image: ("" if i % 3 == 0 else "[]" if i % 3 == 1 else "[[20, 10, 50, 30]]") for i, image in enumerate(images)
    }
    csv_path = tmp_path / "labels.csv"
    rows = [f'{image.relative_to(busi)},{image.parent.name},"{cell}"' for image, cell in cells.items()]
    csv_path.write_text("\n".join(["image,label,lesion", *rows]) + "\n")
    out = tmp_path / "out"
    argv = ["--card", str(_card(tmp_path)), "--csv", str(csv_path), "--image_root", str(busi), *SPLIT]
    folder.main([*argv, "--lesion_column", "lesion", "--output_dir", str(out), "--num_proc", "1"])
    written = [row for split in ("train", "val", "test") for row in read_rows(out / f"{split}.parquet")]
    assert len(written) == len(images)
    for row in written:
        cell = cells[_source_of(row, images)]
        width, height = row["extra_info"]["image_size"]
        expected = (
            cell
            if cell in ("", "[]")
            else [[int(v) for v in np.rint(np.array([20, 10, 50, 30]) * np.array([width / 80, height / 60] * 2))]]
        )
        stored = row["extra_info"][LESION_KEY]
        assert (stored if cell in ("", "[]") else json.loads(stored)) == expected
