"""``compute_zoom_score``: the reward of a multi-turn response that may call the zoom tool (docs/tools.md).

A response of verl's tool agent loop, as the reward loop decodes it, holds every assistant turn and every tool
response between them::

    <think>...</think><tool_call>{"name": "zoom_in", "arguments": {"bbox_2d": [...]}}</tool_call>
    user <tool_response></tool_response> assistant <think>...</think><answer>...</answer>

    score = compute_score(final turn) with format = final format AND every tool call well formed
            + zoom_iou_weight * IoU(first zoom box, lesion box)

* the answer is graded exactly as everywhere (``compute_score`` on the final turn, after the last tool response);
* no penalty for answering without the tool: with no call the score is ``compute_score``'s on the same text;
* no gain from calling it many times: the grounding term reads the FIRST call only and a malformed extra call can
  only void the format term, so adding calls never raises the score;
* the grounding term needs a lesion box: the ground truth of a grounding row, or ``extra_info.lesion_boxes``
  (a JSON list of ``[x1, y1, x2, y2]`` in the row's ``box_format``) on any other row.

Pure Python (no verl import); never raises on data; the keys are ``ZOOM_SCORE_KEYS`` for every response.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from reward_fns.boxes import MAX_COORD, Box, convert_boxes, iou, parse_truth_boxes
from reward_fns.composite import SCORE_KEYS, compute_score, strict_mode
from reward_fns.config import BOX_FORMATS, reward_config
from reward_fns.parsing import as_text, prediction_frame
from reward_fns.task_info import TaskInfo
from reward_fns.task_type import TaskType

TOOL_NAME = "zoom_in"
BOX_KEY = "bbox_2d"
ZOOM_SCORE_KEYS = (*SCORE_KEYS, "tool_calls", "tool_format", "zoom_iou")
MAX_CALLS_READ = 16  # more tool-call blocks than this is garbage: tool format 0, the rest is not read
MAX_CALL_CHARS = 1024  # a zoom call is ~80 characters; longer payloads are not parsed
LESION_KEY = "lesion_boxes"

_TOOL_CALL = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)
_TOOL_RESPONSE_END = "</tool_response>"
# What precedes the final turn once the chat markers are decoded (with or without special tokens).
_ROLE_HEADER = re.compile(r"\s*(?:<\|im_end\|>)?\s*(?:<\|im_start\|>)?\s*assistant[ \t]*\n")


def read_zoom_box(arguments: Any) -> Box | None:
    """The box of a zoom call's arguments (``{"bbox_2d": [x1, y1, x2, y2]}`` with x1 < x2, y1 < y2), else None.
    The tool reads its arguments with the same function, so what the reward counts as a call is what zooms.

    >>> read_zoom_box({"bbox_2d": [1, 2, 30, 40]}), read_zoom_box({"bbox_2d": [5, 5, 5, 9]})
    ([1.0, 2.0, 30.0, 40.0], None)
    """
    if not isinstance(arguments, Mapping):
        return None
    box = arguments.get(BOX_KEY)
    if not isinstance(box, (list, tuple)) or len(box) != 4:
        return None
    if not all(_finite(v) for v in box):
        return None
    x1, y1, x2, y2 = (float(v) for v in box)
    return [x1, y1, x2, y2] if x1 < x2 and y1 < y2 else None


def _finite(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and abs(value) <= MAX_COORD
    )


def tool_call_payloads(text: str) -> list[str]:
    """The texts inside ``<tool_call>`` blocks, at most ``MAX_CALLS_READ + 1`` (enough to tell "too many")."""
    out = []
    for match in _TOOL_CALL.finditer(text):
        out.append(match.group(1))
        if len(out) > MAX_CALLS_READ:
            break
    return out


def zoom_call_box(payload: str) -> Box | None:
    """The box of one well-formed zoom call (``{"name": "zoom_in", "arguments": {...}}``), else None."""
    if len(payload) > MAX_CALL_CHARS:
        return None
    try:
        call = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(call, dict) or call.get("name") != TOOL_NAME:
        return None
    arguments = call.get("arguments")
    if isinstance(arguments, str):  # some parsers keep the arguments as a JSON string
        try:
            arguments = json.loads(arguments[:MAX_CALL_CHARS])
        except ValueError:
            return None
    return read_zoom_box(arguments)


def final_turn(text: str) -> str:
    """The last assistant turn: after the last tool response, without its role header (the whole text when the
    tool was never answered)."""
    cut = text.rfind(_TOOL_RESPONSE_END)
    if cut == -1:
        return text
    rest = text[cut + len(_TOOL_RESPONSE_END) :]
    header = _ROLE_HEADER.match(rest)
    return rest[header.end() :] if header else rest.lstrip()


def lesion_boxes(ground_truth: Any, info: TaskInfo, extra_info: Any) -> list[Box]:
    """The row's lesion boxes in its ``box_format``: a grounding row's ground truth, else ``extra_info.lesion_boxes``
    ([] when there is none or it is unreadable)."""
    if info.task_type == TaskType.GROUNDING:
        source = ground_truth
    elif isinstance(extra_info, Mapping):
        source = extra_info.get(LESION_KEY)
    else:
        source = None
    boxes = parse_truth_boxes(source) if source is not None else None
    return boxes or []


def zoom_iou(box: Box, lesions: list[Box], info: TaskInfo, kwargs: Mapping[str, Any]) -> float:
    """IoU of a zoom box (the model's convention) with the best-matching lesion box, in the row's frame."""
    if not lesions or info.box_format not in BOX_FORMATS:
        return 0.0
    converted = convert_boxes([box], *prediction_frame(info, reward_config(kwargs)), info.box_format, info.image_size)
    if converted is None:
        return 0.0
    return max(iou(converted[0], lesion) for lesion in lesions)


def compute_zoom_score(
    data_source: Any, solution_str: Any, ground_truth: Any, extra_info: Any = None, **kwargs: Any
) -> dict[str, float | str]:
    """verl's ``reward.custom_reward_function`` (``name: compute_zoom_score``) for the zoom preset.

    Same arguments as ``compute_score``; returns its keys plus ``tool_calls`` (tool-call blocks read),
    ``tool_format`` (1 when every block is a well-formed zoom call, also when there is none) and ``zoom_iou``.

    >>> info = {"task_type": "binary", "labels": ["benign", "malignant"], "lesion_boxes": "[[10, 10, 50, 50]]",
    ...         "box_format": "rel1000"}
    >>> call = '<think>look</think><tool_call>{"name": "zoom_in", "arguments": {"bbox_2d": [10, 10, 50, 50]}}'
    >>> answer = "<think>round</think><answer>benign</answer>"
    >>> r = compute_zoom_score("verl_med/busi", call + "</tool_call>user\\n<tool_response>\\n</tool_response>"
    ...                        "assistant\\n" + answer, "benign", info, box_format="rel1000", zoom_iou_weight=0.5)
    >>> r["score"], r["acc"], r["format"], r["tool_calls"], r["zoom_iou"]
    (1.6, 1.0, 1.0, 1.0, 1.0)
    >>> compute_zoom_score("verl_med/busi", answer, "benign", info)["score"]  # no call: compute_score's score
    1.1
    """
    text = as_text(solution_str)
    base = compute_score(data_source, final_turn(text), ground_truth, extra_info, **kwargs)
    try:
        return _with_tool_terms(base, text, ground_truth, extra_info, kwargs)
    except Exception:  # a bug must not kill a training run (compute_score has logged nothing for it)
        if strict_mode():
            raise
        return {**base, "tool_calls": 0.0, "tool_format": 0.0, "zoom_iou": 0.0}


def _with_tool_terms(
    base: dict[str, float | str], text: str, ground_truth: Any, extra_info: Any, kwargs: Mapping[str, Any]
) -> dict[str, float | str]:
    cfg = reward_config(kwargs)
    payloads = tool_call_payloads(text)
    boxes = [zoom_call_box(p) for p in payloads]
    tool_format = float(len(payloads) <= MAX_CALLS_READ and all(b is not None for b in boxes))
    info = TaskInfo.from_extra_info(extra_info)
    first = boxes[0] if boxes else None
    overlap = zoom_iou(first, lesion_boxes(ground_truth, info, extra_info), info, kwargs) if first else 0.0
    final_format = float(base["format"])
    fmt = final_format * tool_format
    score = float(base["score"]) + cfg.format_weight * (fmt - final_format) + cfg.zoom_iou_weight * overlap
    return {
        **base,
        "score": score,
        "format": fmt,
        "tool_calls": float(len(payloads)),
        "tool_format": tool_format,
        "zoom_iou": overlap,
    }
