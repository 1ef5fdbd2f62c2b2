"""The shapes that flow between evaluation's jobs and into ``metrics.json``: one run's evaluation (``RunReport``,
made by ``run.evaluate_run``), a paired comparison of two runs (``Comparison``, ``aggregation.comparisons``) and the
whole report (``Report``, made by ``cli``, written by ``writer``, read by ``summary`` and ``plots``). A dataset's
metrics differ by task type (docs/evaluation.md lists them), so they stay a mapping read by key."""

from __future__ import annotations

from typing import Any, TypedDict

DatasetMetrics = dict[str, Any]  # metrics.dataset_metrics / vqa_dataset_metrics: keys by task type


class ProblemSummary(TypedDict):
    """Records of one kind of problem: how many, and the first few (``dumps.Problems.as_dict``)."""

    count: int
    examples: list[str]


class _Named(TypedDict):
    name: str


class RunReport(_Named, total=False):
    """One run's evaluation; ``datasets``, ``step(s)`` and ``curves`` come from its generations, ``rollout_sparsity``
    from its rollout dump (a run may have either or both)."""

    sources: list[str]
    reward_kwargs: dict[str, Any]
    image_control: str  # the no-image control's kind (verl-med-generate --no_image)
    step: int | None  # the step evaluated (``--step``)
    steps: list[int | None]  # every step the generations hold
    datasets: dict[str, DatasetMetrics]
    curves: dict[str, dict[str, list]]  # metric -> dataset -> values per step
    rollout_sparsity: dict[str, Any]
    problems: dict[str, ProblemSummary]


class _Compared(TypedDict):
    dataset: str
    run: str
    baseline: str


class Comparison(_Compared, total=False):
    """A run against the baseline on one dataset (``statistics.paired_comparison`` plus who and where)."""

    n_prompts: int
    differences: dict[str, Any]  # metric -> difference and its paired bootstrap CI
    mcnemar: dict[str, Any]  # McNemar's exact test (``p_holm`` added over the report)
    error: str  # why there is no comparison (too few common prompts)


class Bootstrap(TypedDict):
    n_resamples: int
    seed: int
    unit: str  # what is resampled: prompts


class _Runs(TypedDict):
    runs: list[RunReport]


class Report(_Runs, total=False):
    """``metrics.json``: the runs, their comparisons and, with two runs or more, the table across rows."""

    parser: str
    comparisons: list[Comparison]
    bootstrap: Bootstrap
    table: dict[str, Any]  # table.write_table's cells
    table_markdown: str  # the table for summary.md (not in metrics.json)
    non_finite_values: int  # NaN/infinite values written as null


def report_datasets(report: Report) -> list[str]:
    """Every dataset some run of the report evaluated, sorted."""
    return sorted({ds for run in report["runs"] for ds in run.get("datasets", {})})
