"""A correct, well-formatted response built from a row's ground truth.

Used to check that data and reward agree before training (the dry run scores it and expects ``acc == 1``)
and in tests of converters. It is the inverse of the answer parser for the default tags.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def reference_response(ground_truth: Any, extra_info: Mapping[str, Any] | None = None) -> str:
    """``<think>…</think><answer>…</answer>`` whose answer is the ground truth in the expected answer form."""
    task_type = str((extra_info or {}).get("task_type", ""))
    answer = str(ground_truth)
    if task_type in ("multiclass", "binary", "ordinal") and not isinstance(ground_truth, str):
        from reward_fns.accuracy import UngradableRow, truth_label
        from reward_fns.task_info import TaskInfo

        info = TaskInfo.from_extra_info(extra_info)
        try:  # a numeric ground truth (label index): answer with the label it stands for
            answer = info.labels[truth_label(ground_truth, info)]
        except UngradableRow:
            pass
    if task_type == "multilabel":
        names = json.loads(answer) if isinstance(ground_truth, str) else list(ground_truth)
        answer = json.dumps(names) if names else "none"  # a JSON list survives label names with commas
    return f"<think>The reference answer.</think><answer>{answer}</answer>"


def option_reference_response(ground_truth: Any, extra_info: Mapping[str, Any] | None = None) -> str | None:
    """The correct response by option token ("3" or "C") for a single-label row whose prompt listed numbered or
    lettered options; None for other rows. Checked before training beside ``reference_response``: an alias that
    spells another option's token must not steal the option's meaning (issue 13)."""
    from reward_fns.accuracy import UngradableRow, truth_label
    from reward_fns.task_info import TaskInfo

    info = TaskInfo.from_extra_info(extra_info)
    if info.task_type not in ("multiclass", "binary", "ordinal") or info.option_style not in ("letter", "number"):
        return None
    try:
        index = truth_label(ground_truth, info)
    except UngradableRow:
        return None
    token = str(index + 1) if info.option_style == "number" else chr(ord("A") + index)
    return f"<think>The reference answer.</think><answer>{token}</answer>"
