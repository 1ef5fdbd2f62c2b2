"""Tool-use metrics of a zoom run, per dataset: how often the policy zooms, where, and whether it helps.

Read from the responses alone, with the zoom reward's own readers (``reward_fns.zoom``), so evaluation counts a
call exactly when training did:

* ``tool_call_rate``: share of responses with at least one ``<tool_call>`` block;
* ``calls_per_response`` and ``turns_per_response`` (assistant turns: answered tool calls + 1);
* ``zoom_iou``: mean IoU of the first zoom box with the lesion box, over responses with a call on rows with a
  lesion box (None when there is none);
* ``accuracy_with_call`` / ``accuracy_without_call``: the answer's correctness (as the rest of the report grades
  it) split by whether the response called the tool (None for an empty group), with the group sizes.

A run whose responses never hold a tool call gets no ``tools`` block: single-turn reports are unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from reward_fns.task_info import TaskInfo
from reward_fns.zoom import lesion_boxes, tool_call_payloads, zoom_call_box, zoom_iou

TOOL_RESPONSE_END = "</tool_response>"


class ScoredLike(Protocol):
    """What the metrics read of ``evaluate.Scored``: the record (response, ground truth, extra_info) and whether
    the answer was right."""

    record: Any
    correct: bool


def response_tool_use(response: str, ground_truth: Any, extra_info: Any, reward_kwargs: Mapping[str, Any]) -> dict:
    """One response's tool use: ``calls``, ``turns``, and ``zoom_iou`` (None without a call or a lesion box)."""
    payloads = tool_call_payloads(response)
    info = TaskInfo.from_extra_info(extra_info)
    lesions = lesion_boxes(ground_truth, info, extra_info)
    first = zoom_call_box(payloads[0]) if payloads else None
    overlap = zoom_iou(first, lesions, info, reward_kwargs) if first is not None and lesions else None
    if payloads and lesions and first is None:
        overlap = 0.0  # a malformed first call looked nowhere
    return {"calls": len(payloads), "turns": response.count(TOOL_RESPONSE_END) + 1, "zoom_iou": overlap}


def tool_metrics(samples: Sequence[ScoredLike], reward_kwargs: Mapping[str, Any]) -> dict[str, Any] | None:
    """The tool-use block of one dataset's samples, or None when no response calls a tool."""
    uses = [
        response_tool_use(s.record.response, s.record.ground_truth, s.record.extra_info, reward_kwargs) for s in samples
    ]
    if not samples or not any(u["calls"] for u in uses):
        return None
    called = [s.correct for s, u in zip(samples, uses, strict=True) if u["calls"]]
    uncalled = [s.correct for s, u in zip(samples, uses, strict=True) if not u["calls"]]
    ious = [u["zoom_iou"] for u in uses if u["zoom_iou"] is not None]
    return {
        "n_samples": len(samples),
        "tool_call_rate": len(called) / len(samples),
        "calls_per_response": _mean([u["calls"] for u in uses]),
        "turns_per_response": _mean([u["turns"] for u in uses]),
        "zoom_iou": _mean(ious),
        "n_zoom_iou": len(ious),
        "accuracy_with_call": _mean(called),
        "n_with_call": len(called),
        "accuracy_without_call": _mean(uncalled),
        "n_without_call": len(uncalled),
    }


def _mean(values: Sequence[float]) -> float | None:
    return float(sum(values) / len(values)) if values else None


TOOL_COLUMNS = (
    ("tool_call_rate", "tool-call rate"),
    ("turns_per_response", "turns"),
    ("zoom_iou", "zoom IoU"),
    ("accuracy_with_call", "acc with call"),
    ("accuracy_without_call", "acc without call"),
)


def tool_use_lines(present: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]]) -> list[str]:
    """The report's markdown table of the runs' ``tools`` blocks on one dataset ((run, metrics) pairs); [] when no
    run called a tool."""
    rows = [(run["name"], m["tools"]) for run, m in present if m.get("tools")]
    if not rows:
        return []
    header = ["run", *(title for _, title in TOOL_COLUMNS)]
    lines = [
        "",
        "Tool use (zoom): share of responses with a call, assistant turns per response, IoU of the first "
        "zoom box with the lesion box, accuracy with and without a call:",
        "",
    ]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, tools in rows:
        cells = [_cell(key, tools.get(key)) for key, _ in TOOL_COLUMNS]
        lines.append("| " + " | ".join([str(name), *cells]) + " |")
    return lines


def _cell(key: str, value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.2f}" if key in ("turns_per_response", "zoom_iou") else f"{100 * value:.1f}%"
