"""Per-task correctness of a parsed answer against the row's ground truth.

``acc`` is 1.0 only for a fully correct answer (exact label, exact grade, exact label set, every box matched);
the task term the composite weights is the graded version where one exists (MFRS, set F1, box IoU).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from reward_fns.boxes import match_boxes, parse_truth_boxes
from reward_fns.config import BOX_FORMATS, RewardConfig
from reward_fns.labels import label_space, names_every_label
from reward_fns.mfrs import mfrs_reward
from reward_fns.multilabel import balanced_accuracy, jaccard, set_f1
from reward_fns.parsing import LABEL_TASKS, ParsedAnswer
from reward_fns.task_info import TaskInfo


class UngradableRow(ValueError):
    """The row itself (not the response) cannot be scored: unknown task type, no labels, bad ground truth."""


@dataclass(frozen=True)
class TaskScores:
    acc: float
    task_term: float  # the value acc_weight multiplies
    mfrs: float = 0.0
    iou: float = 0.0
    set_f1: float = 0.0


def score_task(parsed: ParsedAnswer, ground_truth: Any, info: TaskInfo, cfg: RewardConfig) -> TaskScores:
    task = info.task_type
    if task in LABEL_TASKS:
        truth = truth_label(ground_truth, info)
        acc = float(parsed.label_index == truth)
        if task != "ordinal":
            return TaskScores(acc=acc, task_term=acc)
        mfrs = 0.0
        if parsed.label_index is not None:
            mfrs = mfrs_reward(parsed.label_index - truth, len(info.labels), cfg.mfrs_shape, cfg.mfrs_table,
                               cfg.mfrs_gamma)
        return TaskScores(acc=acc, task_term=mfrs if cfg.ordinal_reward == "mfrs" else acc, mfrs=mfrs)

    if task == "multilabel":
        truth_set = truth_label_set(ground_truth, info)
        if parsed.label_set is None or (names_every_label(parsed.label_set, len(info.labels))
                                        and parsed.label_set != truth_set):
            return TaskScores(acc=0.0, task_term=0.0)
        f1 = set_f1(parsed.label_set, truth_set)
        acc = float(parsed.label_set == truth_set)
        if cfg.multilabel_reward == "balanced":
            term = balanced_accuracy(parsed.label_set, truth_set, len(info.labels))
        else:
            term = {"f1": f1, "jaccard": jaccard(parsed.label_set, truth_set), "exact": acc}[cfg.multilabel_reward]
        return TaskScores(acc=acc, task_term=term, set_f1=f1)

    if task == "grounding":
        boxes = truth_boxes(ground_truth, info)
        if cfg.box_format is not None and cfg.box_format != info.box_format:
            # The row's convention is what its prompt asked for; a model preset reading another one would score
            # every obedient answer IoU 0 (issue 12). The preflight refuses this before Ray starts.
            raise UngradableRow(f"reward box_format={cfg.box_format} contradicts the row's extra_info.box_format="
                                f"{info.box_format}: prepare the data in the model's convention")
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
    """A non-negative integer from an int, numpy integer, integral float or digit string; else None."""
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
    names = ground_truth
    if isinstance(names, str):
        try:
            names = json.loads(names)
        except (ValueError, RecursionError):
            names = None
    if hasattr(names, "tolist"):
        names = names.tolist()
    space = label_space(info.labels, info.aliases)
    indices = [space.index_of(n) if isinstance(n, str) else None for n in names] if isinstance(names, list) else [None]
    if None in indices:
        raise UngradableRow("multilabel ground truth is not a JSON list of label names")
    return tuple(sorted(set(indices)))


def truth_boxes(ground_truth: Any, info: TaskInfo) -> list[list[float]]:
    """Boxes of a grounding ground truth (a JSON list of ``[x1, y1, x2, y2]``; ``[]`` for a box-free image)."""
    boxes = parse_truth_boxes(ground_truth)
    if boxes is None or info.box_format not in BOX_FORMATS:
        raise UngradableRow("grounding ground truth is not a JSON list of [x1, y1, x2, y2] boxes")
    return boxes
