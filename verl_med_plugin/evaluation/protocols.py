"""The split and scorer of the harnesses whose VQA tables we compare with (``verl-med-eval --protocol NAME``), so a
figure can stand beside theirs. Each rule is read from the harness's source at a named commit (docs/vqa.md,
"Evaluation protocols of the published tables"):

- ``medevalkit``: alibaba-damo-academy/MedEvalKit @ 9b12e3b34232a8779cc1275417bf4f72f03d28e0 (``utils/utils.py``
  ``parse_response``, ``judge_judgement``, ``judge_open_end_vqa``; ``utils/VQA_RAD/VQA_RAD.py``,
  ``utils/SLAKE/SLAKE.py``, ``utils/PATH_VQA/PATH_VQA.py`` ``cal_metrics``): the test split, every closed and
  open question; a yes/no question is right when the response holds exactly one of the substrings "yes" / "no"
  and the answer, an open one when the lower-cased response equals the answer; the figure is right / all.
- ``medvlthinker``: UCSC-VLAA/MedVLThinker @ a3163b1663b21cb300e93850c397917c3a4be612
  (``data_process/prepare_vlm_eval_data.py``): the test split, closed questions only, accuracy. (It asks them as
  multiple choice with extracted options; ours keep yes/no: the split and the question set are theirs, the
  question form is not.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reward_fns.task_type import TaskType

# MedEvalKit's parse_response: the text after the last of these markers (in this order) is the answer.
_MEDEVALKIT_MARKERS = (
    "**answer**:",
    "**answer**",
    "*answer*:",
    "**answer:**",
    "answer is",
    "answer:",
    "答案:",
    "final answer",
    "final answer is",
)
_MAX_CHARS = 65_536  # responses are read up to this length (bounded cost on garbage)


@dataclass(frozen=True)
class Protocol:
    name: str
    source: str  # repository @ commit and files the rule is read from
    split: str  # the split the harness evaluates
    task_types: tuple[str, ...]  # the question kinds it counts


PROTOCOLS = {
    "medevalkit": Protocol(
        "medevalkit",
        "alibaba-damo-academy/MedEvalKit@9b12e3b34232a8779cc1275417bf4f72f03d28e0 utils/utils.py, "
        "utils/{VQA_RAD,SLAKE,PATH_VQA}/*.py",
        "test",
        (TaskType.CLOSED, TaskType.OPEN),
    ),
    "medvlthinker": Protocol(
        "medvlthinker",
        "UCSC-VLAA/MedVLThinker@a3163b1663b21cb300e93850c397917c3a4be612 data_process/prepare_vlm_eval_data.py",
        "test",
        ("closed",),
    ),
}


def medevalkit_answer(response: str) -> str:
    """MedEvalKit's reading of a response: lower case, the ``<answer>`` block when there is one, the text after
    its answer markers, without line breaks and full stops.

    >>> medevalkit_answer("<think>x</think><answer>The answer is Yes.</answer>")
    ' yes'
    """
    text = response[:_MAX_CHARS].lower() if isinstance(response, str) else ""
    if "<answer>" in text and "</answer>" in text.split("<answer>", 1)[1]:
        text = text.split("<answer>", 1)[1].split("</answer>", 1)[0]
    for marker in _MEDEVALKIT_MARKERS:
        if marker in text:
            text = text.split(marker)[-1]
    return text.replace("\n", "").replace(".", "")


def medevalkit_correct(response: str, answer: str, task_type: str) -> bool:
    """MedEvalKit's verdict on one closed (yes/no) or open answer.

    >>> medevalkit_correct("<answer>yes</answer>", "Yes", "closed"), medevalkit_correct("yes, no", "yes", "closed")
    (True, False)
    >>> medevalkit_correct("<answer>Liver</answer>", "liver", "open")
    True
    """
    said, truth = medevalkit_answer(response), answer.lower().strip()
    if task_type == TaskType.CLOSED:
        return (("yes" in said) != ("no" in said)) and truth in said
    return said.strip() == truth


def protocol_figures(name: str, rows: Sequence[tuple[str, str, str, str, bool]]) -> dict[str, Any]:
    """The protocol's figure on one VQA dataset's answers.

    Args:
        name: a ``PROTOCOLS`` key.
        rows: per answer (split, task type, response, the benchmark's answer as released, our verdict).

    Returns:
        ``protocol``, ``source``, ``split`` (the harness's), ``splits_seen`` (the rows'), ``n`` (questions counted),
        ``accuracy`` (None when no question counts).
    """
    protocol = PROTOCOLS[name]
    counted = [r for r in rows if r[1] in protocol.task_types]
    if name == "medevalkit":
        verdicts = [medevalkit_correct(response, answer, task) for _, task, response, answer, _ in counted]
    else:
        verdicts = [ours for *_, ours in counted]
    return {
        "protocol": protocol.name,
        "source": protocol.source,
        "split": protocol.split,
        "splits_seen": sorted({r[0] for r in rows}),
        "task_types": list(protocol.task_types),
        "n": len(counted),
        "accuracy": sum(verdicts) / len(verdicts) if verdicts else None,
    }
