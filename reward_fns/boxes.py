"""Bounding boxes: parsing, coordinate conventions, IoU/GIoU and many-to-many matching.

Conventions (``box_format``): "abs" = pixels, "rel1000" = 0-1000 of the image (Qwen3-VL, Visual-RFT), "rel1" =
0-1. An "abs" prediction of Qwen2.5-VL is in pixels of the image *after* the processor's ``smart_resize``, not of
the stored image (VLM-R1 #198, #320), so predictions and ground truth are compared in a common 0-1 frame.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from reward_fns.labels import normalize
from reward_fns.task_info import json_or_list

MAX_BOXES = 100  # more predicted boxes than this is garbage; it also bounds the matching cost
MAX_COORD = 1e7  # larger coordinates are garbage in every convention (and would overflow when rescaled)

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_BOX_PUNCTUATION = str.maketrans("", "", " \t\r\n,;()[]")
_NO_BOX_WORDS = frozenset({"none", "no box", "no boxes", "no object", "no objects"})
_BOX_KEYS = ("bbox_2d", "bbox", "box")

Box = list[float]


def parse_boxes(text: str) -> list[Box] | None:
    """Boxes ``[x1, y1, x2, y2]`` written in the answer, ``[]`` for an explicit "no box", None when unreadable.

    Accepted: "[x1,y1,x2,y2]", "(x1,y1),(x2,y2)" (Visual-RFT), a JSON list of such lists, Qwen's JSON
    ``[{"bbox_2d": [...], "label": ...}]`` (also inside a ```json fence), "[]" / "none". Free text around the
    numbers makes the answer unreadable rather than guessing which numbers are coordinates.
    """
    text = _strip_fence(text.strip())
    if not text:
        return None
    if normalize(text) in _NO_BOX_WORDS:
        return []
    if text[0] in "[{":
        boxes = _json_boxes(text)
        if boxes is not None:
            return boxes
    numbers = _NUMBER.findall(text)
    if not numbers or len(numbers) % 4 or len(numbers) > 4 * MAX_BOXES:
        return None
    if _NUMBER.sub("", text).translate(_BOX_PUNCTUATION):
        return None
    values = [float(n) for n in numbers]
    if not all(abs(v) <= MAX_COORD for v in values):
        return None
    return [values[i : i + 4] for i in range(0, len(values), 4)]


def _strip_fence(text: str) -> str:
    if text.startswith("```"):
        newline = text.find("\n")
        text = text[newline + 1 :] if newline != -1 else ""
        if text.rstrip().endswith("```"):
            text = text.rstrip()[:-3]
    return text.strip()


def _json_boxes(text: str) -> list[Box] | None:
    value = json_or_list(text)
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        return None
    if len(value) == 4 and all(_is_number(v) for v in value):
        value = [value]
    if len(value) > MAX_BOXES:
        return None
    boxes = []
    for item in value:
        if isinstance(item, dict):
            item = next((item[k] for k in _BOX_KEYS if k in item), None)
        if not isinstance(item, list) or len(item) != 4 or not all(_is_number(v) for v in item):
            return None
        boxes.append([float(v) for v in item])
    return boxes


def parse_truth_boxes(ground_truth: object) -> list[Box] | None:
    """Ground-truth boxes: the JSON string the converters write (or an already decoded list)."""
    ground_truth = json_or_list(ground_truth)
    if not isinstance(ground_truth, list) or len(ground_truth) > MAX_BOXES:
        return None
    boxes = []
    for item in ground_truth:
        item = item.tolist() if hasattr(item, "tolist") else item
        if not isinstance(item, (list, tuple)) or len(item) != 4 or not all(_is_number(v) for v in item):
            return None
        boxes.append([float(v) for v in item])
    return boxes


def _is_number(value: object) -> bool:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    return abs(value) <= MAX_COORD  # also False for NaN


def smart_resize(
    width: int,
    height: int,
    factor: int = 28,
    min_pixels: int = 3136,
    max_pixels: int = 12845056,
) -> tuple[int, int]:
    """(width, height) Qwen2.5-VL feeds the model: ``qwen_vl_utils.smart_resize`` without its aspect-ratio error."""
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return w_bar, h_bar


def convert_boxes(
    boxes: list[Box], src: str, src_size: Sequence[float] | None, dst: str, dst_size: Sequence[float] | None
) -> list[Box] | None:
    """Boxes from convention ``src`` (pixels of ``src_size`` for "abs") to ``dst``; None when a size is missing."""
    if src == dst and (src != "abs" or src_size == dst_size):
        return boxes
    src_scale = _scale(src, src_size)
    dst_scale = _scale(dst, dst_size)
    if src_scale is None or dst_scale is None:
        return None
    sx, sy = dst_scale[0] / src_scale[0], dst_scale[1] / src_scale[1]
    return [[b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy] for b in boxes]


def _scale(fmt: str, size: Sequence[float] | None) -> tuple[float, float] | None:
    if fmt == "rel1000":
        return 1000.0, 1000.0
    if fmt == "rel1":
        return 1.0, 1.0
    return (float(size[0]), float(size[1])) if size else None


def iou(a: Box, b: Box) -> float:
    """Intersection over union; degenerate (zero-area or inverted) boxes overlap nothing."""
    inter = _overlap(a[0], a[2], b[0], b[2]) * _overlap(a[1], a[3], b[1], b[3])
    union = _area(a) + _area(b) - inter
    return inter / union if union > 0 else 0.0


def giou(a: Box, b: Box) -> float:
    """Generalised IoU in [-1, 1]: IoU minus the share of the enclosing box covered by neither box."""
    inter = _overlap(a[0], a[2], b[0], b[2]) * _overlap(a[1], a[3], b[1], b[3])
    union = _area(a) + _area(b) - inter
    hull = (max(a[2], b[2]) - min(a[0], b[0])) * (max(a[3], b[3]) - min(a[1], b[1]))
    if union <= 0 or hull <= 0:
        return -1.0
    return inter / union - (hull - union) / hull


def _overlap(lo1: float, hi1: float, lo2: float, hi2: float) -> float:
    return max(0.0, min(hi1, hi2) - max(lo1, lo2))


def _area(b: Box) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def match_boxes(pred: list[Box], truth: list[Box], kind: str = "iou", threshold: float = 0.5) -> tuple[float, bool]:
    """Many-to-many (IoU reward in [0, 1], all-matched flag).

    One-to-one Hungarian matching on the similarity (IoU, or (GIoU + 1) / 2 for "giou"); the matched similarities
    are summed and divided by max(#pred, #truth), so every missing or extra box costs as much as a miss. The
    flag is true when the counts agree and every matched pair has IoU >= ``threshold``. Both lists empty (a
    box-free image answered with "no box") is a perfect match.
    """
    if not pred or not truth:
        return (1.0, True) if not pred and not truth else (0.0, False)
    sim = [[_similarity(p, t, kind) for t in truth] for p in pred]
    if len(pred) == 1 or len(truth) == 1:
        flat = [(s, i, j) for i, row in enumerate(sim) for j, s in enumerate(row)]
        best = max(flat)
        pairs = [(best[1], best[2])]
    else:
        from scipy.optimize import linear_sum_assignment

        rows, cols = linear_sum_assignment(sim, maximize=True)
        pairs = list(zip(rows.tolist(), cols.tolist(), strict=True))
    reward = sum(sim[i][j] for i, j in pairs) / max(len(pred), len(truth))
    all_matched = len(pred) == len(truth) and all(iou(pred[i], truth[j]) >= threshold for i, j in pairs)
    return min(1.0, max(0.0, reward)), all_matched


def _similarity(p: Box, t: Box, kind: str) -> float:
    return (giou(p, t) + 1.0) / 2.0 if kind == "giou" else iou(p, t)
