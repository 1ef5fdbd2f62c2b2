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
from reward_fns.labels import LabelSpace, label_space, match_label, match_label_set, strip_lead_in
from reward_fns.task_info import TaskInfo
from reward_fns.task_type import TaskType
from reward_fns.vqa import CLOSED_ANSWERS, open_tokens, read_yes_no

# No label list or box list needs more; longer answers are not parsed (bounds the cost of garbage answers).
MAX_ANSWER_CHARS = 8192
LABEL_TASKS = tuple(t.value for t in TaskType.single_label())


@dataclass(frozen=True)
class ParsedAnswer:
    """What a response says. ``pred`` is "" exactly when no valid answer was found.

    ``pred``: the label name (classification/ordinal), a JSON list of label names in label order (multilabel),
    a JSON list of boxes (grounding), the option text (mcq), "yes"/"no" (closed) or the normalised answer text
    (open, ``reward_fns.vqa.normalize_open``). ``boxes`` are in the row's ``extra_info.box_format`` frame, i.e.
    directly comparable with the ground truth. ``label_index``: the label (classification), the option (mcq) or
    0 = yes / 1 = no (closed).
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

    The one answer reader: the rewards and ``verl-med-eval`` both call it, so evaluation grades what training
    rewarded.

    Args:
        solution_str: the decoded response.
        extra_info: the row's ``extra_info`` (``task_type``, ``labels``, ...).
        **reward_kwargs: ``RewardConfig`` fields (tags, ``think_prefilled``, ``acc_requires_format``...).

    Returns:
        A ``ParsedAnswer``: ``format_ok``, the ``think`` and ``answer`` blocks, and ``pred``, the canonical
        prediction ("" when the answer names no label, or several).

    Example:
        >>> info = {"task_type": "ordinal", "labels": ["grade 0", "grade 1", "grade 2"]}
        >>> parse_answer("<think>mild</think><answer>Grade 1.</answer>", info).pred
        'grade 1'
        >>> parse_answer("<think>mild</think><answer>grade 1 or grade 2</answer>", info).pred
        ''

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
    blocks = split_blocks(text, cfg.think_tag, cfg.answer_tag, cfg.think)
    answer = blocks.answer or ""
    parsed = ParsedAnswer(format_ok=blocks.format_ok, think=blocks.think, answer=answer, pred="")
    if not answer or len(answer) > MAX_ANSWER_CHARS or (cfg.acc_requires_format and not blocks.format_ok):
        return parsed

    task = info.task_type
    if task in LABEL_TASKS or task == TaskType.MULTILABEL:
        if not info.labels:
            return parsed
        space = label_space(info.labels, info.aliases)
        if task == TaskType.MULTILABEL:
            label_set = match_label_set(answer, space, info.option_style)
            if label_set is None:
                return parsed
            pred = json.dumps([info.labels[i] for i in label_set], ensure_ascii=False)
            return replace(parsed, pred=pred, label_set=label_set)
        index = match_label(answer, space, info.option_style, ordinal=task == TaskType.ORDINAL)
        if index is None:
            return parsed
        return replace(parsed, pred=info.labels[index], label_index=index)

    if task == TaskType.MCQ:
        options = mcq_options(info)
        if options is None:
            return parsed
        index = match_label(answer, *options, letter_first=True)  # the prompt asks for the letter
        return parsed if index is None else replace(parsed, pred=options[0].labels[index], label_index=index)

    if task == TaskType.CLOSED:
        polarity = read_yes_no(answer)
        if polarity is None:
            return parsed
        return replace(parsed, pred=polarity, label_index=CLOSED_ANSWERS.index(polarity))

    if task == TaskType.OPEN:
        tokens = strip_lead_in(list(open_tokens(answer) or ()))  # "The answer is X" answers X
        return replace(parsed, pred=" ".join(tokens)) if tokens else parsed

    if task == TaskType.GROUNDING and info.box_format in BOX_FORMATS:
        boxes = parse_boxes(answer)
        if boxes is not None:
            boxes = convert_boxes(boxes, *prediction_frame(info, cfg), info.box_format, info.image_size)
        if boxes is None:
            return parsed
        pred = json.dumps([[round(v, 3) for v in box] for box in boxes])
        return replace(parsed, pred=pred, boxes=boxes)
    return parsed


def mcq_options(info: TaskInfo) -> tuple[LabelSpace, str] | None:
    """The option space of a multiple-choice row and how the prompt listed its options (lettered unless the row
    says numbered); None without options. ``extra_info.labels`` holds the option texts (``options`` is the
    fallback), so an option is read exactly as a lettered MedMNIST label: its letter, its text, or both agreeing.

    Args:
        info: the row's ``TaskInfo``.

    Returns:
        (option space, option style) for ``labels.match_label``, or None.

    >>> space, style = mcq_options(TaskInfo.from_extra_info({"task_type": "mcq", "options": ["CT", "MRI"]}))
    >>> space.labels, style
    (('CT', 'MRI'), 'letter')
    """
    options = info.labels or info.options
    if not options:
        return None
    return label_space(options), info.option_style if info.option_style in ("letter", "number") else "letter"


def prediction_frame(info: TaskInfo, cfg: RewardConfig) -> tuple[str, tuple[float, float] | None]:
    """Convention and image size the model's boxes refer to."""
    fmt = cfg.box_format or info.box_format
    size = info.image_size
    if fmt == "abs" and cfg.abs_frame == "qwen" and size is not None:
        size = smart_resize(round(size[0]), round(size[1]), cfg.image_factor, cfg.min_pixels, cfg.max_pixels)
    return fmt, size
