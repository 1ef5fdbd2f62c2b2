"""A correct, well-formatted response built from a row's ground truth.

Used to check that data and reward agree before training (the dry run scores it and expects ``acc == 1``)
and in tests of converters. It is the inverse of the answer parser for the default tags.
"""

from __future__ import annotations

import json
from typing import Any, Mapping


def reference_response(ground_truth: Any, extra_info: Mapping[str, Any] | None = None) -> str:
    """``<think>…</think><answer>…</answer>`` whose answer is the ground truth in the expected answer form."""
    task_type = str((extra_info or {}).get("task_type", ""))
    answer = str(ground_truth)
    if task_type == "multilabel":
        names = json.loads(answer) if isinstance(ground_truth, str) else list(ground_truth)
        answer = json.dumps(names) if names else "none"  # a JSON list survives label names with commas
    return f"<think>The reference answer.</think><answer>{answer}</answer>"
