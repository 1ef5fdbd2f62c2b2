"""Aggregation: scored samples -> per-dataset metrics (classification, multilabel, grounding, VQA, with bootstrap
CIs), prompt outcomes, step curves, and the paired comparisons of runs against a baseline."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np

from reward_fns.task_type import TaskType
from verl_med_plugin.evaluation.dumps import (
    EvalDataError,
    Record,
)
from verl_med_plugin.evaluation.metrics import (
    INVALID,
    VQA_METRICS,
    classification_metrics,
    grounding_metrics,
    multilabel_metrics,
    positive_class_metrics,
    sampling_metrics,
    think_answer_consistency,
    vqa_metrics,
    zero_advantage_stats,
)
from verl_med_plugin.evaluation.records import Comparison, DatasetMetrics, RunReport
from verl_med_plugin.evaluation.scoring import CLASSIFICATION_TASKS, Scored
from verl_med_plugin.evaluation.statistics import (
    N_RESAMPLES,
    Outcomes,
    confidence_intervals,
    holm_adjust,
    paired_comparison,
)

# A VQA dataset mixes its question kinds (mcq, closed, open); its metrics are reported together under this kind.
VQA_KIND = "vqa"
UNNAMED = "(none)"  # the group of VQA rows whose benchmark names no modality / question type
# Dump keys that are not reward components: "reward" repeats "score" in verl's dumps.
NON_COMPONENT_KEYS = {"reward", "sample_id"}
# Rewards whose zero-advantage share is reported: the run's reward and the binary accuracy reward (V-RFT).
ZERO_ADVANTAGE_KEYS = ("score", "acc")


def numeric_keys(records: Sequence[Record]) -> list[str]:
    """Reward keys verl dumped with a number for every record (score, acc, format, ...)."""
    keys = set.intersection(*(set(r.rewards) for r in records)) - NON_COMPONENT_KEYS
    return sorted(k for k in keys if all(isinstance(r.rewards[k], (int, float)) for r in records))


def dataset_metrics(
    samples: Sequence[Scored], positive: Sequence[str] = (), n_resamples: int = N_RESAMPLES, seed: int = 0
) -> DatasetMetrics:
    """Every metric of one dataset's samples, with bootstrap CIs over prompts; raises on mixed label sets, which
    would make the metrics meaningless. ``positive``: the clinically positive class name(s) of this dataset."""
    first = samples[0]
    kinds = {(s.task_type, s.labels) for s in samples}
    if len(kinds) > 1:
        raise EvalDataError(
            f"dataset {first.dataset!r} mixes label sets / task types: "
            + "; ".join(f"{t}: {list(lab)}" for t, lab in sorted(kinds))
        )
    result: dict[str, Any] = {
        "task_type": first.task_type,
        "labels": list(first.labels),
        "n_samples": len(samples),
        "format_compliance": float(np.mean([s.format_ok for s in samples])),
        "invalid_rate": float(np.mean([not s.pred for s in samples])),
    }
    n_classes = len(first.labels) if first.task_type != TaskType.GROUNDING else 0
    if first.task_type in CLASSIFICATION_TASKS:
        # cast: single-label samples hold label indices (Scored.truth/predicted are typed for every task type)
        y_true, y_pred = cast(list[int], [s.truth for s in samples]), cast(list[int], [s.predicted for s in samples])
        result.update(classification_metrics(y_true, y_pred, first.labels, ordinal=first.task_type == TaskType.ORDINAL))
        unknown = [p for p in positive if p not in first.labels]
        if unknown:
            raise EvalDataError(
                f"dataset {first.dataset!r}: positive class {unknown} is not one of {list(first.labels)}"
            )
        if positive:
            result["positive_class"] = {
                "labels": list(positive),
                **positive_class_metrics(y_true, y_pred, [first.labels.index(p) for p in positive]),
            }
        result["think_answer"] = think_answer_consistency([s.think_class for s in samples], y_pred)
    elif first.task_type == TaskType.MULTILABEL:
        # cast: multilabel samples hold sorted label-index tuples (None: no answer)
        result.update(
            multilabel_metrics(
                cast(list[tuple[int, ...]], [s.truth for s in samples]),
                cast(list[tuple[int, ...] | None], [s.predicted for s in samples]),
                first.labels,
            )
        )
    else:
        result.update(
            grounding_metrics(
                [s.has_lesion for s in samples],
                [s.correct for s in samples],
                cast(list[float], [s.iou for s in samples]),
            )
        )  # set for every grounding row
    return _sample_metrics(samples, result, n_classes, n_resamples, seed)


def _sample_metrics(
    samples: Sequence[Scored], result: dict[str, Any], n_classes: int, n_resamples: int, seed: int
) -> dict[str, Any]:
    """What every dataset reports whatever its task: per-prompt sampling metrics and zero-advantage groups, the
    per-prompt outcomes with their bootstrap CIs and AUROC, parser agreement and reward means (into ``result``)."""
    first = samples[0]
    components = numeric_keys([s.record for s in samples])
    result["n_prompts"] = None  # unknown without prompt ids (verl's legacy dumps): no per-prompt metrics
    if all(s.record.prompt_id is not None for s in samples):
        sampling = sampling_metrics(
            [s.record.prompt_id for s in samples],
            [vote_key(s) for s in samples],  # the keys McNemar's per-prompt vote uses too (prompt_outcomes)
            [s.correct for s in samples],
            n_classes if first.task_type != TaskType.MULTILABEL else None,
        )
        result["n_prompts"] = sampling["n_prompts"]
        if sampling["k"] > 1:
            result["sampling"] = sampling
            result["zero_advantage"] = {
                key: zero_advantage_stats(
                    [s.record.prompt_id for s in samples], [float(s.record.rewards[key]) for s in samples]
                )
                for key in components
                if key in ZERO_ADVANTAGE_KEYS
            }
    outcomes = prompt_outcomes(samples, n_classes)
    auroc = outcomes.auroc()
    if auroc is not None:
        result["auroc"] = auroc["macro"]
        source = "vote share of the k samples per prompt"
        if first.task_type == TaskType.BINARY:
            source += "; label 1's share against label 1, as MedMNIST's Evaluator (getAUC, binary-class)"
        result["auroc_detail"] = {"from": source, **auroc}
    if n_resamples:
        result["ci"] = confidence_intervals(outcomes, n_resamples=n_resamples, seed=seed)
        result["ci_unit"] = "prompt" if result["n_prompts"] is not None else "sample (no prompt ids)"
    result["outcomes"] = outcomes.as_dict()
    dumped_preds = [(str(s.record.rewards["pred"]), s.pred) for s in samples if "pred" in s.record.rewards]
    if dumped_preds:
        result["parser_agreement"] = {
            "n": len(dumped_preds),
            "agree": float(np.mean([a == b for a, b in dumped_preds])),
        }
    # fsum: an exact sum, so the mean does not depend on the order of the dump's lines
    result["reward_means"] = {
        k: math.fsum(float(s.record.rewards[k]) for s in samples) / len(samples) for k in components
    }
    return result


def prompt_outcomes(samples: Sequence[Scored], n_classes: int) -> Outcomes:
    """Samples grouped by prompt (each sample its own prompt when the dump has no prompt ids); VQA samples carry
    their metric values per prompt (``Outcomes.values``)."""
    groups: dict[str, list[Scored]] = defaultdict(list)
    for s in samples:
        groups[s.record.prompt_id if s.record.prompt_id is not None else s.record.origin].append(s)
    # One order everywhere, whatever the order of the dump's lines: prompts by id, samples by their index (then
    # by answer), so the bootstrap's resamples, and every CI, are the same for a shuffled file.
    ids = sorted(groups)
    for p in ids:
        groups[p].sort(key=_sample_order)

    def plain(value: Any) -> Any:
        return list(value) if isinstance(value, tuple) else value

    values = None
    if samples[0].is_vqa:  # then every sample is (a dataset never mixes VQA and other rows)
        answers = {p: [s.values for s in groups[p] if s.values is not None] for p in ids}
        values = {
            name: [[v[name] for v in answers[p]] if name in answers[p][0] else None for p in ids]
            for name in VQA_METRICS
        }
    return Outcomes(
        VQA_KIND if samples[0].is_vqa else samples[0].task_type,
        n_classes,
        ids,
        [plain(groups[p][0].truth) for p in ids],
        [[plain(s.predicted) for s in groups[p]] for p in ids],
        [[bool(s.correct) for s in groups[p]] for p in ids],
        values,
        [[vote_key(s) for s in groups[p]] for p in ids],
    )


def _sample_order(s: Scored) -> tuple[int, str, str]:
    index = s.record.sample_index
    return (index if index is not None else -1, s.pred, s.record.response)


def vote_key(s: Scored) -> str:
    """What one sample votes for in maj@k and McNemar's per-prompt majority: the label index (single-label) or
    label set (multilabel) or VQA answer (option index, yes/no, text) the parser read, so spellings of one answer
    count as one; the answer text for grounding; "" for no answer."""
    if s.task_type == TaskType.MULTILABEL:
        return "" if s.predicted is None else ",".join(map(str, cast(tuple, s.predicted))) or "none"
    if s.task_type in CLASSIFICATION_TASKS or s.is_vqa:
        return "" if s.predicted in (INVALID, None, "") else str(s.predicted)
    return s.pred


def vqa_dataset_metrics(samples: Sequence[Scored], n_resamples: int = N_RESAMPLES, seed: int = 0) -> DatasetMetrics:
    """A VQA benchmark's own figures (``metrics.VQA_METRICS``: overall accuracy, MCQ and closed accuracy, open exact
    match and token precision / recall / F1), overall and per ``modality`` and ``question_type`` as the benchmark
    names them, each with bootstrap CIs over prompts, plus what every dataset reports (``_sample_metrics``).

    Args:
        samples: the scored answers of one VQA dataset (all of a VQA task type).
        n_resamples: bootstrap resamples (0: no CIs).
        seed: bootstrap seed.

    Returns:
        The metrics; ``task_type`` is "vqa" and ``task_types`` lists the question kinds present.
    """
    mixed = sorted({s.task_type for s in samples if not s.is_vqa})
    if mixed:
        raise EvalDataError(f"dataset {samples[0].dataset!r} mixes VQA questions with {mixed} rows")
    result: dict[str, Any] = {
        "task_type": VQA_KIND,
        "labels": [],
        "task_types": [t.value for t in TaskType.vqa() if any(s.task_type == t.value for s in samples)],
        "n_samples": len(samples),
        "format_compliance": float(np.mean([s.format_ok for s in samples])),
        "invalid_rate": float(np.mean([not s.pred for s in samples])),
        **vqa_metrics([s.values for s in samples if s.values is not None]),  # all: no mixed rows (above)
    }
    result = _sample_metrics(samples, result, 0, n_resamples, seed)
    for field, key in (("modality", "by_modality"), ("question_type", "by_question_type")):
        result[key] = {
            name or UNNAMED: _vqa_group(items, n_resamples, seed)
            for name, items in sorted(group_by(samples, lambda s, f=field: getattr(s, f)).items())
        }
    return result


def _vqa_group(samples: Sequence[Scored], n_resamples: int, seed: int) -> dict[str, Any]:
    """The VQA figures of one modality or question type, with their CIs over its prompts."""
    group: dict[str, Any] = {
        "n_samples": len(samples),
        **vqa_metrics([s.values for s in samples if s.values is not None]),
    }
    if n_resamples:
        group["ci"] = confidence_intervals(prompt_outcomes(samples, 0), n_resamples=n_resamples, seed=seed)
    return group


def group_by(items, key):
    groups = defaultdict(list)
    for item in items:
        groups[key(item)].append(item)
    return groups


def step_order(step: int | None) -> tuple[bool, int]:
    return (step is not None, step or 0)


def step_curves(samples: Sequence[Scored]) -> dict[str, dict[str, list]]:
    """Per dataset, over steps: accuracy and format compliance (parser) and the mean of each dumped reward key."""
    curves = {}
    for dataset, items in sorted(group_by(samples, lambda s: s.dataset).items()):
        by_step = group_by(items, lambda s: s.record.step)
        steps = sorted(by_step, key=step_order)
        components = numeric_keys([s.record for s in items])
        curve: dict[str, list] = {"step": steps, "accuracy": [], "format_compliance": []}
        curve.update({k: [] for k in components})
        for step in steps:
            chunk = by_step[step]
            curve["accuracy"].append(float(np.mean([s.correct for s in chunk])))
            curve["format_compliance"].append(float(np.mean([s.format_ok for s in chunk])))
            for k in components:
                curve[k].append(float(np.mean([s.record.rewards[k] for s in chunk])))
        curves[dataset] = curve
    return curves


def chosen_step(steps: list, step: str) -> int | None:
    if step == "last":
        return steps[-1]
    if not step.isdigit() or int(step) not in steps:
        raise EvalDataError(f"--step {step}: the dump has steps {steps}")
    return int(step)


def check_comparable(runs: Sequence[RunReport]) -> None:
    """Runs compared side by side must score each dataset on the same task and label list."""
    seen: dict[str, tuple[str, dict]] = {}
    for run in runs:
        for ds, m in run.get("datasets", {}).items():
            first = seen.setdefault(ds, (run["name"], m))
            if (m["task_type"], m["labels"]) != (first[1]["task_type"], first[1]["labels"]):
                raise EvalDataError(
                    f"runs {first[0]!r} and {run['name']!r} disagree on dataset {ds!r}: "
                    f"{first[1]['task_type']} {first[1]['labels']} vs {m['task_type']} {m['labels']}"
                )


def positive_classes(
    dataset: str, labels: Sequence[str], overrides: Mapping[str, Sequence[str]] | None = None
) -> tuple[str, ...]:
    """The clinically positive class(es) of a dataset: ``--positive``, else its knowledge card's ``positive:`` key
    when the card lists the same labels; none otherwise (no sensitivity/specificity rather than a guessed label 1)."""
    if overrides and dataset in overrides:
        return tuple(overrides[dataset])
    from data_preprocess.cards import available_cards, load_card
    from data_preprocess.common import ConversionError

    if dataset not in available_cards():
        return ()
    try:
        card = load_card(dataset)
    except ConversionError:
        return ()
    return card.positive if card.label_names == list(labels) else ()


def comparisons(runs: Sequence[RunReport], baseline: str | None, n_resamples: int, seed: int) -> list[Comparison]:
    """Every run against the baseline run (default: the first), per dataset both evaluated: paired bootstrap of
    each metric's difference and McNemar's exact test (see ``statistics.paired_comparison``)."""
    scored = [r for r in runs if r.get("datasets")]
    if len(scored) < 2:
        return []
    names = [r["name"] for r in scored]
    if baseline is not None and baseline not in names:
        raise EvalDataError(f"--baseline {baseline!r} is not a run with generations: {names}")
    base = next(r for r in scored if r["name"] == (baseline or names[0]))
    out: list[Comparison] = []
    for run in scored:
        if run is base:
            continue
        for ds in sorted(run["datasets"].keys() & base["datasets"].keys()):
            a = Outcomes.from_dict(run["datasets"][ds]["outcomes"])
            b = Outcomes.from_dict(base["datasets"][ds]["outcomes"])
            out.append(
                cast(
                    Comparison,
                    {
                        "dataset": ds,
                        "run": run["name"],
                        "baseline": base["name"],
                        **paired_comparison(a, b, n_resamples=n_resamples, seed=seed),
                    },
                )
            )
    holm_adjust(out)  # McNemar p-values Holm-adjusted over every comparison of the report (p_holm)
    return out
