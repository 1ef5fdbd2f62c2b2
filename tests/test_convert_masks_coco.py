"""Masks to boxes with a threshold (JPEG noise must not grow boxes) and COCO crowd regions skipped."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from convert_checks import read_rows
from PIL import Image

from data_preprocess import grounding as loc


def jpeg_round_trip(mask: np.ndarray, quality: int = 75) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(mask).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L"))


def test_jpeg_mask_noise_does_not_grow_the_box():
    """A real JPEG round trip of a 0/255 mask leaves faint non-zero ringing around the lesion: '> 0' grew the box."""
    mask = np.zeros((96, 128), np.uint8)
    mask[30:60, 40:90] = 255
    noisy = jpeg_round_trip(mask)
    assert loc.boxes_from_mask(noisy, threshold=1) != [[40, 30, 90, 60]]  # the old '> 0' rule: a grown box
    assert loc.boxes_from_mask(noisy) == [[40, 30, 90, 60]]


def test_label_masks_of_zeros_and_ones_still_work():
    mask = np.zeros((20, 40), np.uint8)
    mask[2:5, 3:8] = 1
    assert loc.boxes_from_mask(mask) == [[3, 2, 8, 5]]


def test_coco_crowd_annotations_are_skipped(tmp_path: Path):
    (tmp_path / "img").mkdir()
    Image.new("RGB", (100, 50), (90, 80, 120)).save(tmp_path / "img" / "1.png")
    anns = [
        {"image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "iscrowd": 0},
        {"image_id": 1, "category_id": 1, "bbox": [0, 0, 100, 50], "iscrowd": 1},
    ]
    path = tmp_path / "ann.json"
    path.write_text(
        json.dumps(
            {
                "images": [{"id": 1, "file_name": "1.png", "width": 100, "height": 50}],
                "annotations": anns,
                "categories": [{"id": 1, "name": "lesion"}],
            }
        )
    )
    samples = loc.read_coco(path, tmp_path / "img", "train")
    assert samples[0].boxes == [[10.0, 10.0, 30.0, 30.0]]
    written = loc.convert(samples, tmp_path / "out", name="lesions", max_side=0, progress=False)
    assert json.loads(read_rows(written["train.parquet"])[0]["reward_model"]["ground_truth"]) == [[10, 10, 30, 30]]
