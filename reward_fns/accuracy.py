"""Per-task correctness of a parsed answer against the row's ground truth.

``acc`` is 1.0 only for a fully correct answer (exact label, exact grade, exact label set, every box matched, the
right option, the right yes/no, an open answer equal to the reference once normalised); the task term the
composite weights is the graded version where one exists (MFRS, set F1, box IoU, open token recall / F1).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from reward_fns.boxes import match_boxes, parse_truth_boxes
from reward_fns.config import BOX_FORMATS, RewardConfig
from reward_fns.labels import label_space, names_every_label
from reward_fns.mfrs import mfrs_reward
from reward_fns.multilabel import balanced_accuracy, jaccard, set_f1
from reward_fns.parsing import LABEL_TASKS, ParsedAnswer, mcq_options
from reward_fns.task_info import TaskInfo, json_or_list
from reward_fns.task_type import TaskType
from reward_fns.vqa import (
    CLOSED_ANSWERS,
    MAX_OPEN_CHARS,
    MAX_OPEN_TOKENS,
    offered_alternatives,
    open_reward_term,
    open_tokens,
    read_yes_no,
)


class UngradableRow(ValueError):
    """The row itself (not the response) cannot be scored: unknown task type, no labels, bad ground truth."""


@dataclass(frozen=True)
class TaskScores:
    acc: float
    task_term: float  # the value acc_weight multiplies
    mfrs: float = 0.0
    iou: float = 0.0
    set_f1: float = 0.0
    token_f1: float = 0.0  # open VQA: SQuAD token F1 against the reference, whatever open_reward weighs


def score_task(parsed: ParsedAnswer, ground_truth: Any, info: TaskInfo, cfg: RewardConfig) -> TaskScores:
    task = info.task_type
    if task in LABEL_TASKS:
        truth = truth_label(ground_truth, info)
        acc = float(parsed.label_index == truth)
        if task != TaskType.ORDINAL:
            return TaskScores(acc=acc, task_term=acc)
        mfrs = 0.0
        if parsed.label_index is not None:
            mfrs = mfrs_reward(
                parsed.label_index - truth, len(info.labels), cfg.mfrs_shape, cfg.mfrs_table, cfg.mfrs_gamma
            )
        return TaskScores(acc=acc, task_term=mfrs if cfg.ordinal_reward == "mfrs" else acc, mfrs=mfrs)

    if task == TaskType.MULTILABEL:
        truth_set = truth_label_set(ground_truth, info)
        if parsed.label_set is None or (
            names_every_label(parsed.label_set, len(info.labels)) and parsed.label_set != truth_set
        ):
            return TaskScores(acc=0.0, task_term=0.0)
        f1 = set_f1(parsed.label_set, truth_set)
        acc = float(parsed.label_set == truth_set)
        if cfg.multilabel_reward == "balanced":
            term = balanced_accuracy(parsed.label_set, truth_set, len(info.labels))
        else:
            term = {"f1": f1, "jaccard": jaccard(parsed.label_set, truth_set), "exact": acc}[cfg.multilabel_reward]
        return TaskScores(acc=acc, task_term=term, set_f1=f1)

    if task in (TaskType.MCQ, TaskType.CLOSED):
        truth = truth_option(ground_truth, info) if task == TaskType.MCQ else truth_yes_no(ground_truth)
        acc = float(parsed.label_index == truth)
        return TaskScores(acc=acc, task_term=acc)

    if task == TaskType.OPEN:
        reference = truth_open_tokens(ground_truth)
        if not parsed.pred:
            return TaskScores(acc=0.0, task_term=0.0)
        scores, term = open_reward_term(
            tuple(parsed.pred.split(" ")),
            reference,
            cfg.open_reward,
            cfg.open_max_length_ratio,
            _alternatives(info.question[:1024]),  # the cache keeps its keys: no megabyte of garbage in it
        )
        return TaskScores(acc=scores.exact, task_term=term, token_f1=scores.f1)

    if task == TaskType.GROUNDING:
        boxes = truth_boxes(ground_truth, info)
        if cfg.box_format is not None and cfg.box_format != info.box_format:
            # The row's convention is what its prompt asked for; a model preset reading another one would score
            # every obedient answer IoU 0. The preflight refuses this before Ray starts.
            raise UngradableRow(
                f"reward box_format={cfg.box_format} contradicts the row's extra_info.box_format="
                f"{info.box_format}: prepare the data in the model's convention"
            )
        if parsed.boxes is None:
            return TaskScores(acc=0.0, task_term=0.0)
        reward, all_matched = match_boxes(parsed.boxes, boxes, cfg.iou_type, cfg.iou_threshold)
        return TaskScores(acc=float(all_matched), task_term=reward, iou=reward)

    raise UngradableRow(f"unknown extra_info.task_type {task!r}")


# Ground truth -> what the answer is compared with; shared by the rewards and the offline evaluation
# (verl_med_plugin.evaluate), so both grade the same rows the same way. Each raises UngradableRow.


def truth_label(ground_truth: Any, info: TaskInfo) -> int:
    """Label index of a classification/ordinal ground truth: a label name or alias, or a number (an int, a numpy
    integer, an integral float or a digit string) graded like its text: the label it spells (a numeric official
    label such as RetinaMNIST's "2"), else the label at that index. Rows from other pipelines store labels as
    numbers; scoring them 0 would silently drop every group's gradient."""
    if not info.labels:
        raise UngradableRow("extra_info.labels is empty")
    space = label_space(info.labels, info.aliases)
    index = space.index_of(ground_truth) if isinstance(ground_truth, str) else None
    if index is None:
        number = _as_index(ground_truth)
        if number is not None:
            index = space.index_of(str(number))
            if index is None and 0 <= number < len(info.labels):
                index = number
    if index is None:
        raise UngradableRow("ground truth is not one of extra_info.labels")
    return index


def _as_index(value: Any) -> int | None:
    """A non-negative integer from an int, numpy integer, integral float below 1e9 or digit string of at most 9
    characters; else None (larger values name no label of any label list, and ``int`` of a huge digit string is
    slow or raises)."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()  # numpy scalar (a 0-d array too)
        except (TypeError, ValueError):
            return None
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer() and 0 <= value < 1e9:
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 10:
        value = int(value.strip())
    return value if isinstance(value, int) and value >= 0 else None


def truth_label_set(ground_truth: Any, info: TaskInfo) -> tuple[int, ...]:
    """Sorted label indices of a multilabel ground truth (a JSON list of label names or aliases)."""
    if not info.labels:
        raise UngradableRow("extra_info.labels is empty")
    names = json_or_list(ground_truth)
    space = label_space(info.labels, info.aliases)
    indices = [space.index_of(n) if isinstance(n, str) else None for n in names] if isinstance(names, list) else [None]
    if None in indices:
        raise UngradableRow("multilabel ground truth is not a JSON list of label names")
    return tuple(sorted({i for i in indices if i is not None}))


def truth_option(ground_truth: Any, info: TaskInfo) -> int:
    """Option index of a multiple-choice ground truth: the correct option's text (the row contract). A letter or
    a number is not accepted: it would silently grade against the wrong option if the converter wrote it.

    Args:
        ground_truth: ``reward_model.ground_truth`` of the row.
        info: the row's ``TaskInfo`` (its labels are the option texts).

    Returns:
        The option index; raises ``UngradableRow`` otherwise.

    >>> truth_option("X-ray", TaskInfo.from_extra_info({"task_type": "mcq", "labels": ["CT", "X-Ray"]}))
    1
    """
    options = mcq_options(info)
    if options is None:
        raise UngradableRow("mcq row without extra_info.labels / extra_info.options")
    index = options[0].index_of(ground_truth) if isinstance(ground_truth, str) else None
    if index is None:
        raise UngradableRow("mcq ground truth is not exactly one of the option texts (extra_info.labels)")
    return index


def truth_yes_no(ground_truth: Any) -> int:
    """0 (yes) or 1 (no) for a closed ground truth, read like an answer ("Yes", "absent", ...).

    Args:
        ground_truth: ``reward_model.ground_truth`` of the row.

    Returns:
        0 or 1 (the index in ``reward_fns.vqa.CLOSED_ANSWERS``); raises ``UngradableRow`` otherwise.

    >>> truth_yes_no("Yes"), truth_yes_no("absent")
    (0, 1)
    """
    polarity = read_yes_no(ground_truth) if isinstance(ground_truth, str) else None
    if polarity is None:
        raise UngradableRow("closed ground truth is not yes or no")
    return CLOSED_ANSWERS.index(polarity)


def truth_open_tokens(ground_truth: Any) -> tuple[str, ...]:
    """Normalised tokens of an open reference answer (``reward_fns.vqa.open_tokens``).

    Args:
        ground_truth: ``reward_model.ground_truth`` of the row (the reference answer text).

    Returns:
        The reference's tokens; raises ``UngradableRow`` for no word, not text, or over 256 words.

    >>> truth_open_tokens("The Right Lower-Lobe")
    ('right', 'lower', 'lobe')
    """
    if not isinstance(ground_truth, str):
        tokens = None
    elif len(ground_truth) <= MAX_OPEN_CHARS:  # the cache keeps its keys: no megabyte of garbage in it
        tokens = _reference_tokens(ground_truth)
    else:
        tokens = open_tokens(ground_truth)
    if not tokens:
        raise UngradableRow(f"open ground truth is empty, not text or longer than {MAX_OPEN_TOKENS} tokens")
    return tokens


@lru_cache(maxsize=4096)
def _alternatives(question: str) -> frozenset[str]:
    """Cached like the reference: a GRPO group shares its question."""
    return offered_alternatives(question)


@lru_cache(maxsize=4096)
def _reference_tokens(reference: str) -> tuple[str, ...] | None:
    """Cached: the rollouts of one prompt (a GRPO group) share their reference."""
    return open_tokens(reference)


def truth_boxes(ground_truth: Any, info: TaskInfo) -> list[list[float]]:
    """Boxes of a grounding ground truth (a JSON list of ``[x1, y1, x2, y2]``; ``[]`` for a box-free image)."""
    boxes = parse_truth_boxes(ground_truth)
    if boxes is None or info.box_format not in BOX_FORMATS:
        raise UngradableRow("grounding ground truth is not a JSON list of [x1, y1, x2, y2] boxes")
    return boxes
