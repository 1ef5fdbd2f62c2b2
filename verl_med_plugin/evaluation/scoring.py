"""Scoring: each record of a run parsed by the training reward's parser with the run's reward kwargs, into a
``Scored`` sample (prediction and truth as label indices, option indices or texts), the form aggregation reads."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import reward_fns
from data_preprocess.schema import TASK_TYPES
from reward_fns.accuracy import UngradableRow, truth_boxes, truth_label, truth_label_set
from reward_fns.labels import label_space, names_every_label, normalize
from reward_fns.task_info import TaskInfo
from reward_fns.task_type import TaskType
from reward_fns.vqa import open_scores, open_tokens
from reward_fns.zoom import final_turn
from verl_med_plugin.evaluation.dumps import (
    EvalDataError,
    PreparedData,
    Problems,
    Record,
)
from verl_med_plugin.evaluation.metrics import (
    INVALID,
    vqa_answer_values,
)

CLASSIFICATION_TASKS = tuple(t.value for t in TaskType.single_label())


@dataclass
class Scored:
    """One record after parsing: prediction and truth as label indices (tuples for multilabel)."""

    record: Record
    task_type: str
    labels: tuple[str, ...]
    format_ok: bool
    pred: str
    # by task type: a label index (single-label), sorted label indices (multilabel), an option index / "yes"-"no" /
    # text (VQA), None (grounding); ``predicted`` is INVALID, None or "" for no answer
    truth: int | tuple[int, ...] | str | None
    predicted: int | tuple[int, ...] | str | None
    correct: bool
    iou: float | None = None  # grounding: the reward's matched (G)IoU
    think_class: int | None = None  # classification: the last class the think names (None: it names none)
    has_lesion: bool = False  # grounding: the truth has at least one box
    modality: str = ""  # VQA: extra_info.modality as the benchmark released it
    question_type: str = ""  # VQA: the benchmark's own question category
    values: dict[str, float] | None = None  # VQA: the metrics this answer counts in (metrics.vqa_answer_values)

    @property
    def is_vqa(self) -> bool:
        return self.values is not None

    @property
    def dataset(self) -> str:
        return self.record.dataset


def _graded_truth(record: Record, info: TaskInfo) -> Any:
    """The ground truth as the reward reads it (``reward_fns.accuracy``): a label index, a sorted tuple of label
    indices (multilabel) or a list of boxes (grounding). A row the reward cannot grade (in training it scores 0
    with a logged warning) raises ``EvalDataError``, counted as ``bad_ground_truth``, so no metric includes it."""
    try:
        if info.task_type in CLASSIFICATION_TASKS:
            return truth_label(record.ground_truth, info)
        if info.task_type == TaskType.MULTILABEL:
            return truth_label_set(record.ground_truth, info)
        if info.task_type == TaskType.GROUNDING:
            return truth_boxes(record.ground_truth, info)
        if TaskType.parse(info.task_type) in TaskType.vqa():
            return vqa_truth(record.ground_truth, info)
        raise UngradableRow(f"unknown extra_info.task_type {info.task_type!r}")
    except UngradableRow as err:
        context = (
            f"box_format {info.box_format!r}"
            if info.task_type == TaskType.GROUNDING
            else f"extra_info.options {list(info.options)}"
            if info.task_type == TaskType.MCQ
            else f"extra_info.labels {list(info.labels)}"
        )
        raise EvalDataError(
            f"{record.origin}: {err} (ground truth {str(record.ground_truth)[:200]!r}, {context})"
        ) from err


def _spaced(text: Any) -> str:
    return " ".join(str(text).split())


def vqa_truth(ground_truth: Any, info: TaskInfo) -> Any:
    """A VQA ground truth as the contract states it (docs/vqa.md): MCQ, the index of the option whose text it is;
    closed, "yes" or "no"; open, the reference text (with at least one word). Anything else is ungradable.

    Args:
        ground_truth: ``reward_model.ground_truth``.
        info: the row's ``TaskInfo``.

    Returns:
        The option index (mcq) or the text (closed, open).

    >>> vqa_truth("effusion", TaskInfo.from_extra_info({"task_type": "mcq", "options": ["nodule", "effusion"]}))
    1
    >>> vqa_truth("Yes", TaskInfo.from_extra_info({"task_type": "closed"}))
    'yes'
    """
    truth = _spaced(ground_truth)
    if info.task_type == TaskType.MCQ:
        options = [_spaced(o) for o in info.options]
        if truth not in options:
            raise UngradableRow("the MCQ ground truth is not one of the options")
        return options.index(truth)
    if info.task_type == TaskType.CLOSED:
        if truth.casefold() not in ("yes", "no"):
            raise UngradableRow("a closed question's ground truth is yes or no")
        return truth.casefold()
    if not open_tokens(truth):
        raise UngradableRow("an open question's reference answer has no word")
    return truth


def _score_vqa(record: Record, info: TaskInfo, pred: str, truth: Any) -> tuple[Any, bool, dict[str, float]]:
    """Predicted answer, correctness and metric values of a VQA answer read by the reward's parser (``pred``: the
    option text, "yes"/"no", or the answer text; "" = no answer)."""
    if info.task_type == TaskType.MCQ:
        options = [_spaced(o) for o in info.options]
        predicted = options.index(_spaced(pred)) if _spaced(pred) in options else INVALID
        correct = predicted == truth
        return predicted, correct, vqa_answer_values("mcq", correct)
    if info.task_type == TaskType.CLOSED:
        answer = pred.strip().casefold() if pred else ""
        correct = answer == truth
        return answer, correct, vqa_answer_values("closed", correct)
    scores = open_scores(pred, truth) if pred else open_scores("", "x")  # no answer agrees with nothing
    return pred, scores.exact == 1.0, vqa_answer_values("open", scores.exact == 1.0, scores)


def score_record(record: Record, reward_kwargs: dict[str, Any]) -> Scored:
    """Parse the response with the reward's parser and compare it with the ground truth."""
    extra_info = record.extra_info or {}
    info = TaskInfo.from_extra_info(extra_info)  # the reward's reading of extra_info
    response = final_turn(record.response)  # a multi-turn (tool) response is graded on its last turn, as trained
    parsed = reward_fns.parse_answer(response, extra_info, **reward_kwargs)
    pred = parsed.pred or ""
    iou = None
    truth: Any = _graded_truth(record, info)
    think_class, has_lesion = None, False
    vqa_fields: dict[str, Any] = {}
    if info.task_type in CLASSIFICATION_TASKS:
        predicted: Any = INVALID if parsed.label_index is None else int(parsed.label_index)
        correct = predicted == truth
        think_class = last_named_class(parsed.think, info)
    elif info.task_type == TaskType.MULTILABEL:
        predicted = None if parsed.label_set is None else tuple(sorted(set(parsed.label_set)))
        if predicted is not None and names_every_label(predicted, len(info.labels)) and predicted != truth:
            predicted = None  # the reward's hedge guard (reward_fns.accuracy): no answer unless every label is true
        correct = predicted == truth
    elif TaskType.parse(info.task_type) in TaskType.vqa():
        predicted, correct, values = _score_vqa(record, info, pred, truth)
        vqa_fields = {
            "modality": _spaced(extra_info.get("modality") or ""),
            "question_type": _spaced(extra_info.get("question_type") or ""),
            "values": values,
        }
    else:  # grounding: a hit is what the reward counts as one (box count and IoU threshold), read from its "acc"
        score = reward_fns.compute_score(
            data_source=record.data_source or "",
            solution_str=response,
            ground_truth=record.ground_truth,
            extra_info=extra_info,
            **reward_kwargs,
        )
        has_lesion = len(truth) > 0
        truth, predicted, correct, iou = None, None, float(score["acc"]) == 1.0, float(score["iou"])
    return Scored(
        record,
        info.task_type,
        info.labels,
        bool(parsed.format_ok),
        pred,
        truth,
        predicted,
        correct,
        iou,
        think_class,
        has_lesion,
        **vqa_fields,
    )


def last_named_class(think: str, info: TaskInfo) -> int | None:
    """The class the think concludes with: the last label name or alias it contains (whole words, spelled as the
    reward's label matcher normalises; the longest spelling wins where two overlap), None if it names none."""
    space = label_space(tuple(info.labels), tuple(tuple(a) for a in info.aliases))
    if not think or not space.lookup:
        return None
    found = _spelling_pattern(tuple(space.lookup)).findall(normalize(think))
    return space.lookup[found[-1]] if found else None


@lru_cache(maxsize=256)
def _spelling_pattern(spellings: tuple[str, ...]) -> re.Pattern[str]:
    """Any of the spellings as whole words, longest first (so "severe npdr" is not read as a shorter name)."""
    ordered = sorted(spellings, key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(re.escape(s) for s in ordered) + r")\b")


def score_records(records: list[Record], reward_kwargs: dict[str, Any], problems: Problems) -> list[Scored]:
    """Score every record that names a known dataset and task; the others are counted in ``problems``."""
    scored = []
    for record in records:
        if not record.dataset:
            problems.add("unknown_dataset", f"{record.origin}: extra_info.dataset and data_source are empty")
            continue
        task_type = (record.extra_info or {}).get("task_type")
        if task_type not in TASK_TYPES:
            problems.add(
                "unknown_task_type",
                f"{record.origin}: extra_info.task_type={task_type!r}, expected one of {TASK_TYPES}",
            )
            continue
        try:
            scored.append(score_record(record, reward_kwargs))
        except EvalDataError as err:
            problems.add("bad_ground_truth", str(err))
    return scored


def attach_extra_info(records: list[Record], prepared: PreparedData | None, problems: Problems) -> list[Record]:
    kept = []
    for record in records:
        if record.extra_info is None:
            if prepared is None:
                raise EvalDataError(
                    f"{record.origin}: no 'extra_info' (labels, task_type); verl's dumps do not "
                    "carry it: pass the prepared parquet with --data path/to/test.parquet"
                )
            if not prepared.attach(record, problems):
                continue
        kept.append(record)
    return kept
