"""Grounding converter (``data_preprocess.grounding``, once ``localization``): masks and COCO boxes -> grounding rows
verl loads and the IoU reward accepts."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from convert_checks import check_rl_rows, no_outputs, read_rows
from fixtures_data import write_busi_like_folder
from PIL import Image

import reward_fns
from data_preprocess import grounding as loc
from data_preprocess.common import ConversionError


def test_mask_folder_rows_load_in_verl_and_reference_boxes_score(tmp_path, qwen_tokenizer, qwen_processor):
    samples = loc.read_mask_folder(write_busi_like_folder(tmp_path / "busi"))
    assert len(samples) == 10 and all(s.masks for s in samples)
    written = loc.convert(
        samples, tmp_path / "out", name="busi", max_side=56, val_fraction=0.25, test_fraction=0.25, progress=False
    )
    check_rl_rows(written.values(), qwen_tokenizer, qwen_processor, tmp_path)
    rows = [r for f in written.values() for r in read_rows(f)]
    assert len(rows) == 10 and {r["extra_info"]["task_type"] for r in rows} == {"grounding"}
    assert all(r["extra_info"]["labels"] == [] and r["extra_info"]["box_format"] == "abs" for r in rows)
    # 80x60 stored at max side 56, sides rounded to multiples of 28: 56x56 (x scale 0.7, y scale 56/60).
    first = next(r for r in rows if r["extra_info"]["index"] == 0)  # "benign (1)": mask rows 10-29, cols 20-49
    assert first["extra_info"]["image_size"] == [56, 56]
    assert json.loads(first["reward_model"]["ground_truth"]) == [[14, 9, 35, 28]]
    assert Image.open(io.BytesIO(first["images"][0]["bytes"])).size == (56, 56)
    by_index = {r["extra_info"]["index"]: json.loads(r["reward_model"]["ground_truth"]) for r in rows}
    assert len(by_index[4]) == 2  # malignant (1) has two mask files
    assert by_index[8] == by_index[9] == []  # normal images: negatives
    splits = [r["extra_info"]["split"] for r in rows]  # per class folder: 4 -> 2/1/1, 2 -> 0/1/1
    assert (splits.count("train"), splits.count("val"), splits.count("test")) == (4, 3, 3)


def test_boxes_from_masks_components_and_formats():
    mask = np.zeros((20, 40), np.uint8)
    mask[2:5, 3:8] = 1
    mask[10:18, 30:39] = 1
    assert loc.boxes_from_mask(mask) == [[3, 2, 39, 18]]
    assert loc.boxes_from_mask(mask, per_component=True) == [[3, 2, 8, 5], [30, 10, 39, 18]]
    assert loc.boxes_from_mask(np.zeros((4, 4))) == []
    assert loc.scale_boxes([[10, 5, 30, 15]], (40, 20), (80, 40), "abs") == [[20, 10, 60, 30]]
    assert loc.scale_boxes([[10, 5, 30, 15]], (40, 20), (80, 40), "rel1000") == [[250, 250, 750, 750]]
    assert loc.scale_boxes([[10, 5, 30, 15]], (40, 20), (80, 40), "rel1") == [[0.25, 0.25, 0.75, 0.75]]


def _coco(tmp_path: Path, annotations: list[dict], size=(100, 50)) -> Path:
    (tmp_path / "img").mkdir(exist_ok=True)
    for i in (1, 2):
        Image.new("RGB", size, (i * 40, 80, 120)).save(tmp_path / "img" / f"{i}.jpg")
    data = {
        "images": [{"id": i, "file_name": f"{i}.jpg", "width": 100, "height": 50} for i in (1, 2)],
        "annotations": annotations,
        "categories": [{"id": 1, "name": "lesion"}, {"id": 2, "name": "organ"}],
    }
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(data))
    return path


def test_coco_boxes_in_rel1000_with_category_filter(tmp_path, qwen_tokenizer, qwen_processor):
    ann = _coco(
        tmp_path,
        [
            {"image_id": 1, "bbox": [10, 5, 20, 10], "category_id": 1},
            {"image_id": 1, "bbox": [0, 0, 5, 5], "category_id": 2},
        ],
    )
    samples = loc.read_coco(ann, tmp_path / "img", "val", categories=["lesion"])
    written = loc.convert(samples, tmp_path / "out", name="coco", box_format="rel1000", max_side=0, progress=False)
    assert list(written) == ["val.parquet"]
    check_rl_rows(written.values(), qwen_tokenizer, qwen_processor, tmp_path)
    rows = read_rows(written["val.parquet"])
    assert [json.loads(r["reward_model"]["ground_truth"]) for r in rows] == [[[100, 100, 300, 300]], []]
    assert rows[0]["extra_info"]["image_size"] == [100, 50] and "0-1000" in rows[0]["prompt"][0]["content"]


@pytest.mark.parametrize(
    "annotation, message",
    [
        ({"image_id": 7, "bbox": [1, 1, 2, 2]}, r"ann.json: field 'annotations\[0\].image_id': no image with id 7"),
        ({"image_id": 1, "bbox": [1, 1, -2, 2]}, r"ann.json: field 'annotations\[0\].bbox': expected"),
        ({"image_id": 1, "bbox": [90, 1, 30, 2]}, r"ann.json: field 'annotations\[0\].bbox': .* outside"),
    ],
)
def test_bad_coco_annotations_name_the_field(tmp_path, annotation, message):
    with pytest.raises(ConversionError, match=message):
        loc.read_coco(_coco(tmp_path, [annotation]), tmp_path / "img", "train")


def test_unreadable_or_mismatched_images_fail_without_partial_output(tmp_path):
    root = write_busi_like_folder(tmp_path / "busi")
    (root / "normal" / "normal (2).png").write_bytes(b"\x89PNG broken")
    out = tmp_path / "out"
    with pytest.raises(ConversionError, match=r"normal \(2\).png: image: unreadable"):
        loc.convert(loc.read_mask_folder(root), out, name="busi", progress=False)
    assert no_outputs(out)
    Image.new("L", (10, 10)).save(root / "normal" / "normal (2)_mask.png")
    Image.new("L", (80, 60)).save(root / "normal" / "normal (2).png")
    with pytest.raises(ConversionError, match=r"normal \(2\)_mask.png: mask size \(10, 10\) differs"):
        loc.convert(loc.read_mask_folder(root), out, name="busi", progress=False)
    (root / "normal" / "normal (2)_mask.png").unlink()
    with pytest.raises(ConversionError, match=r"normal \(2\).png: no mask file"):
        loc.read_mask_folder(root)
    assert no_outputs(out)


def test_decompression_bomb_is_refused(tmp_path):
    ann = _coco(tmp_path, [], size=(100, 50))
    with pytest.raises(ConversionError, match="1.jpg: image: refused as a decompression bomb"):
        loc.convert(
            loc.read_coco(ann, tmp_path / "img", "train"),
            tmp_path / "out",
            name="x",
            max_image_pixels=1000,
            progress=False,
        )


@pytest.mark.parametrize(
    "annotation, message",
    [
        ({"image_id": [1], "bbox": [1, 1, 2, 2]}, r"ann.json: field 'annotations\[0\].image_id': expected a number"),
        (
            {"image_id": 1, "bbox": [1, 1, 2, 2], "category_id": {"id": 1}},
            r"ann.json: field 'annotations\[0\].category_id': expected a number",
        ),
        ({"image_id": 1, "bbox": [1, 1, True, 2]}, r"ann.json: field 'annotations\[0\].bbox': expected"),
        ({"image_id": 1, "bbox": [1, 1, float("nan"), 2]}, r"ann.json: field 'annotations\[0\].bbox': expected"),
    ],
)
def test_malformed_coco_field_types_name_the_file_and_field(tmp_path, annotation, message):
    with pytest.raises(ConversionError, match=message):
        loc.read_coco(_coco(tmp_path, [annotation]), tmp_path / "img", "train")


def test_malformed_coco_categories_name_the_field(tmp_path):
    ann = _coco(tmp_path, [])
    data = json.loads(ann.read_text())
    data["categories"] = [{"id": [1], "name": "lesion"}]
    ann.write_text(json.dumps(data))
    with pytest.raises(ConversionError, match=r"ann.json: field 'categories': expected a list"):
        loc.read_coco(ann, tmp_path / "img", "train", categories=["lesion"])


def test_coco_split_names_are_train_val_test(tmp_path):
    ann = _coco(tmp_path, [{"image_id": 1, "bbox": [10, 5, 20, 10]}])
    out = tmp_path / "out"
    base = ["--image_root", str(tmp_path / "img"), "--name", "x", "--output_dir", str(out), "--max_side", "56"]
    with pytest.raises(
        ConversionError,
        match=r"--coco validation=.*ann.json: split 'validation': expected one of "
        r"train, val, test",
    ):
        loc.main(["--coco", f"validation={ann}", *base])
    assert no_outputs(out)
    loc.main(["--coco", f"val={ann}", "--coco", str(ann), *base])
    assert sorted(p.name for p in out.glob("*.parquet")) == ["train.parquet", "val.parquet"]


def test_max_side_0_pixel_boxes_need_the_stored_abs_frame(tmp_path, capsys):
    # 100x50 kept as is (not multiples of 28): Qwen's processor would see 112x56, the prompt and truth say 100x50.
    ann = _coco(tmp_path, [{"image_id": 1, "bbox": [10, 5, 20, 10]}])
    written = loc.convert(
        loc.read_coco(ann, tmp_path / "img", "train"),
        tmp_path / "out",
        name="x",
        box_format="abs",
        max_side=0,
        progress=False,
    )
    row = read_rows(written["train.parquet"])[0]
    assert row["extra_info"]["image_size"] == [100, 50] and "100x50 image" in row["prompt"][0]["content"]
    truth = row["reward_model"]["ground_truth"]
    answer = reward_fns.reference_response(truth, row["extra_info"])  # boxes in pixels of the stored image
    stored = reward_fns.compute_score(row["data_source"], answer, truth, row["extra_info"], abs_frame="stored")
    default = reward_fns.compute_score(row["data_source"], answer, truth, row["extra_info"])
    assert stored["iou"] == 1.0 and default["iou"] < 0.9  # the default reads them in the 112x56 frame
    with pytest.raises(SystemExit):
        loc.main(["--help"])
    assert "med.reward.abs_frame=stored" in " ".join(capsys.readouterr().out.split())


def test_the_old_module_name_warns_and_runs_the_grounding_converter(tmp_path):
    import importlib
    import subprocess
    import sys

    from fixtures_data import REPO

    from data_preprocess.common import USER_ERROR_EXIT

    sys.modules.pop("data_preprocess.localization", None)
    with pytest.warns(DeprecationWarning, match=r"use data_preprocess\.grounding"):
        assert importlib.import_module("data_preprocess.localization") is loc
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "data_preprocess.localization",
            "--masks",
            str(tmp_path / "none"),
            "--name",
            "x",
            "--output_dir",
            str(tmp_path / "out"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert "deprecated" in proc.stderr and "python -m data_preprocess.grounding" in proc.stderr
    assert proc.returncode == USER_ERROR_EXIT and "not a folder of images" in proc.stderr, proc.stderr
