"""The one answer parser, shared by the training rewards and the offline evaluation.

``parse_answer(solution_str, extra_info, **reward_kwargs)`` takes the same kwargs as ``compute_score``, so an
evaluation run configured like the training run reads answers exactly as the reward did.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from reward_fns.boxes import Box, convert_boxes, parse_boxes, smart_resize
from reward_fns.config import BOX_FORMATS, RewardConfig, reward_config
from reward_fns.format import split_blocks
from reward_fns.labels import label_space, match_label, match_label_set
from reward_fns.task_info import TaskInfo

# No label list or box list needs more; longer answers are not parsed (bounds the cost of garbage answers).
MAX_ANSWER_CHARS = 8192
LABEL_TASKS = ("multiclass", "binary", "ordinal")


@dataclass(frozen=True)
class ParsedAnswer:
    """What a response says. ``pred`` is "" exactly when no valid answer was found.

    ``pred``: the label name (classification/ordinal), a JSON list of label names in label order (multilabel),
    or a JSON list of boxes (grounding). ``boxes`` are in the row's ``extra_info.box_format`` frame, i.e.
    directly comparable with the ground truth.
    """

    format_ok: bool
    think: str
    answer: str
    pred: str
    label_index: int | None = None
    label_set: tuple[int, ...] | None = None
    boxes: list[Box] | None = None


def parse_answer(solution_str: Any, extra_info: Any, **reward_kwargs: Any) -> ParsedAnswer:
    """Parse a ``<think>...</think><answer>...</answer>`` response for the task described by ``extra_info``.

    Never raises on any response or ``extra_info``; invalid ``reward_kwargs`` raise ``ValueError``.
    """
    return parse_with(as_text(solution_str), TaskInfo.from_extra_info(extra_info), reward_config(reward_kwargs))


def as_text(value: Any) -> str:
    """The response as text: bytes are decoded leniently, anything that is not text is an empty response."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    return ""


def parse_with(text: str, info: TaskInfo, cfg: RewardConfig) -> ParsedAnswer:
    """``parse_answer`` on already coerced inputs (``compute_score`` reuses them for scoring)."""
    if cfg.think_prefilled:
        text = f"<{cfg.think_tag}>{text}"
    blocks = split_blocks(text, cfg.think_tag, cfg.answer_tag)
    answer = blocks.answer or ""
    parsed = ParsedAnswer(format_ok=blocks.format_ok, think=blocks.think, answer=answer, pred="")
    if not answer or len(answer) > MAX_ANSWER_CHARS or (cfg.acc_requires_format and not blocks.format_ok):
        return parsed

    task = info.task_type
    if task in LABEL_TASKS or task == "multilabel":
        if not info.labels:
            return parsed
        space = label_space(info.labels, info.aliases)
        if task == "multilabel":
            label_set = match_label_set(answer, space, info.option_style)
            if label_set is None:
                return parsed
            pred = json.dumps([info.labels[i] for i in label_set], ensure_ascii=False)
            return replace(parsed, pred=pred, label_set=label_set)
        index = match_label(answer, space, info.option_style, ordinal=task == "ordinal")
        if index is None:
            return parsed
        return replace(parsed, pred=info.labels[index], label_index=index)

    if task == "grounding" and info.box_format in BOX_FORMATS:
        boxes = parse_boxes(answer)
        if boxes is not None:
            boxes = convert_boxes(boxes, *_prediction_frame(info, cfg), info.box_format, info.image_size)
        if boxes is None:
            return parsed
        pred = json.dumps([[round(v, 3) for v in box] for box in boxes])
        return replace(parsed, pred=pred, boxes=boxes)
    return parsed


def _prediction_frame(info: TaskInfo, cfg: RewardConfig) -> tuple[str, tuple[float, float] | None]:
    """Convention and image size the model's boxes refer to."""
    fmt = cfg.box_format or info.box_format
    size = info.image_size
    if fmt == "abs" and cfg.abs_frame == "qwen" and size is not None:
        size = smart_resize(round(size[0]), round(size[1]), cfg.image_factor, cfg.min_pixels, cfg.max_pixels)
    return fmt, size
