"""A correct, well-formatted response built from a row's ground truth.

Used to check that data and reward agree before training (the dry run scores it and expects ``acc == 1``)
and in tests of converters. It is the inverse of the answer parser for the default tags.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from reward_fns.labels import LIST_SEPARATORS
from reward_fns.task_info import json_or_list
from reward_fns.task_type import TaskType


def reference_answer(ground_truth: Any, extra_info: Mapping[str, Any] | None = None) -> str:
    """The ground truth written as the model should answer it (the text inside ``<answer>``).

    Args:
        ground_truth: the row's ``reward_model.ground_truth`` (a label name, a label index, a JSON list of names or
            boxes, a VQA answer).
        extra_info: the row's ``extra_info`` (``task_type``, ``labels``).

    Returns:
        A label name; for multilabel the prompt's comma list ("none" when empty, a JSON list when a name holds a
        list separator such as a comma); the ground truth as text for the other task types. The SFT baseline's
        replies and the pre-flight reference check both use it, so both say the same thing.

    >>> reference_answer('["mass","nodule"]', {"task_type": "multilabel"})
    'mass, nodule'
    >>> reference_answer('["Effusion, pleural"]', {"task_type": "multilabel"})
    '["Effusion, pleural"]'
    >>> reference_answer(2, {"task_type": "ordinal", "labels": ["no DR", "mild", "moderate"]})
    'moderate'
    """
    task_type = TaskType.parse(str((extra_info or {}).get("task_type", "")))
    if task_type in TaskType.single_label() and not isinstance(ground_truth, str):
        from reward_fns.accuracy import UngradableRow, truth_label
        from reward_fns.task_info import TaskInfo

        info = TaskInfo.from_extra_info(extra_info)
        try:  # a numeric ground truth (label index): answer with the label it stands for
            return info.labels[truth_label(ground_truth, info)]
        except UngradableRow:
            pass
    if task_type is TaskType.MULTILABEL:
        names = json_or_list(ground_truth)
        names = list(names) if isinstance(names, (list, tuple)) else []
        if any(LIST_SEPARATORS.search(str(name)) for name in names):  # "Effusion, pleural": a list would split it
            return json.dumps(names, ensure_ascii=False)
        return ", ".join(map(str, names)) if names else "none"
    return str(ground_truth)


def reference_response(ground_truth: Any, extra_info: Mapping[str, Any] | None = None, think: str = "required") -> str:
    """``<think>…</think><answer>…</answer>`` whose answer is ``reference_answer``; scored acc = 1 by
    ``compute_score`` for every gradable row (the dry run checks this before training). ``think`` is the reward's
    setting: "forbidden" (the no-think control row) gives the answer block alone.

    >>> reference_response("yes", {"task_type": "closed"})
    '<think>The reference answer.</think><answer>yes</answer>'
    >>> reference_response("yes", {"task_type": "closed"}, think="forbidden")
    '<answer>yes</answer>'
    """
    return _respond(reference_answer(ground_truth, extra_info), think)


def _respond(answer: str, think: str) -> str:
    """A response in the layout ``think`` asks for."""
    prefix = "" if think == "forbidden" else "<think>The reference answer.</think>"
    return f"{prefix}<answer>{answer}</answer>"


def option_reference_response(
    ground_truth: Any, extra_info: Mapping[str, Any] | None = None, think: str = "required"
) -> str | None:
    """The correct response by option token ("3" or "C") for a single-label row whose prompt listed numbered or
    lettered options, or a multiple-choice VQA row; None for other rows. Checked before training beside
    ``reference_response``: an alias that spells another option's token must not steal the option's meaning
    (else the reward would grade an option token as the alias's label)."""
    from reward_fns.accuracy import UngradableRow, truth_label, truth_option
    from reward_fns.parsing import mcq_options
    from reward_fns.task_info import TaskInfo

    info = TaskInfo.from_extra_info(extra_info)
    if info.task_type == TaskType.MCQ:  # a multiple-choice row's options are always listed (lettered by default)
        options = mcq_options(info)
        style, read_truth = (options[1] if options else "letter"), truth_option
    elif TaskType.parse(info.task_type) in TaskType.single_label() and info.option_style in ("letter", "number"):
        style, read_truth = info.option_style, truth_label
    else:
        return None
    try:
        index = read_truth(ground_truth, info)
    except UngradableRow:
        return None
    if style == "letter" and index >= 26:
        return None
    token = str(index + 1) if style == "number" else chr(ord("A") + index)
    return _respond(token, think)
