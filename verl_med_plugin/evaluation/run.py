"""One run's evaluation: its generations scored (``scoring``), aggregated per dataset (``aggregation``), with
tools, harness figures and the judge where asked, plus its rollout sparsity (``rollouts``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from reward_fns.task_type import TaskType
from verl_med_plugin.evaluation.aggregation import (
    chosen_step,
    dataset_metrics,
    group_by,
    positive_classes,
    step_curves,
    step_order,
    vqa_dataset_metrics,
)
from verl_med_plugin.evaluation.dumps import (
    EvalDataError,
    PreparedData,
    Problems,
    read_records,
)
from verl_med_plugin.evaluation.judge import judge_answers, judge_figures
from verl_med_plugin.evaluation.protocols import protocol_figures
from verl_med_plugin.evaluation.records import RunReport
from verl_med_plugin.evaluation.rollouts import rollout_sparsity
from verl_med_plugin.evaluation.scoring import Scored, attach_extra_info, score_records
from verl_med_plugin.evaluation.statistics import (
    N_RESAMPLES,
)
from verl_med_plugin.evaluation.tools import tool_metrics


def evaluate_run(
    name: str,
    generations: Path | None,
    rollouts: Path | None,
    prepared: PreparedData | None,
    reward_kwargs: dict[str, Any],
    step: str = "last",
    strict: bool = False,
    positive: Mapping[str, Sequence[str]] | None = None,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
    protocol: str | None = None,
    judge: tuple[str, Callable[[list[str]], list[str]], Path | None] | None = None,
) -> RunReport:
    """Metrics of one run: its generations (validation dump or offline JSONL) and/or its rollout dump.
    ``protocol``: also a published harness's figure on each VQA dataset (``protocols.PROTOCOLS``); ``judge``:
    (model, generate function, cache file) of the local LLM judge of open answers (``judge.py``).

    ``positive``: per dataset, the clinically positive class(es) (default: the ``positive:`` key of the dataset's
    knowledge card); ``n_resamples``: bootstrap resamples for the CIs (0: none).
    """
    problems = Problems(strict)
    result: RunReport = {
        "name": name,
        "sources": [str(p) for p in (generations, rollouts) if p],
        "reward_kwargs": reward_kwargs,
    }
    if generations is not None:
        records = read_records(generations, problems)
        if not records:
            raise EvalDataError(f"{generations}: no usable record ({problems.as_dict()})")
        scored = score_records(attach_extra_info(records, prepared, problems), reward_kwargs, problems)
        if not scored:
            raise EvalDataError(f"{generations}: no record could be scored ({problems.as_dict()})")
        controls = sorted({str((s.record.extra_info or {}).get("image_control") or "") for s in scored})
        if controls != [""]:  # verl-med-generate --no_image: the run is the no-image control (or mixes one in)
            if "" in controls:
                raise EvalDataError(f"{generations}: mixes answers with and without images; evaluate them as two runs")
            result["image_control"] = controls[0]
        steps = sorted({s.record.step for s in scored}, key=step_order)
        chosen = chosen_step(steps, step)
        at_step = [s for s in scored if s.record.step == chosen]
        result["step"], result["steps"] = chosen, steps
        by_dataset = sorted(group_by(at_step, lambda s: s.dataset).items())
        result["datasets"] = {
            ds: vqa_dataset_metrics(items, n_resamples, seed)
            if any(s.is_vqa for s in items)
            else dataset_metrics(items, positive_classes(ds, items[0].labels, positive), n_resamples, seed)
            for ds, items in by_dataset
        }
        for ds, items in by_dataset:
            tools = tool_metrics(items, reward_kwargs)
            if tools is not None:
                result["datasets"][ds]["tools"] = tools
        if protocol is not None:
            for ds, items in by_dataset:
                if any(s.is_vqa for s in items):
                    result["datasets"][ds]["protocol"] = protocol_figures(protocol, [_protocol_row(s) for s in items])
        if judge is not None:
            for ds, items in by_dataset:
                opened = [s for s in items if s.task_type == TaskType.OPEN]
                if opened:
                    verdicts = judge_open(opened, *judge)
                    result["datasets"][ds]["open_judge"] = judge_figures(verdicts, judge[0])
        if len(steps) > 1:
            result["curves"] = step_curves(scored)
    if rollouts is not None:
        result["rollout_sparsity"] = rollout_sparsity(rollouts, problems)
    result["problems"] = problems.as_dict()
    return result


def judge_open(
    samples: Sequence[Scored], model: str, generate: Callable[[list[str]], list[str]], cache: Path | None
) -> list[bool | None]:
    """The judge's verdicts on open answers; an answer the parser found none in is incorrect without asking."""
    asked = [s for s in samples if s.pred]
    items = [
        (str((s.record.extra_info or {}).get("question") or ""), str(s.record.ground_truth), s.pred) for s in asked
    ]
    verdicts = iter(judge_answers(items, model, generate, cache))
    return [next(verdicts) if s.pred else False for s in samples]


def _protocol_row(sample: Scored) -> tuple[str, str, str, str, bool]:
    """What a harness's scorer reads of one answer: split, task type, response, released answer, our verdict."""
    info = sample.record.extra_info or {}
    answer = info.get("answer") or sample.record.ground_truth
    return (str(info.get("split") or ""), sample.task_type, sample.record.response, str(answer), bool(sample.correct))
