"""``python -m verl_med_plugin.evaluate`` / ``verl-med-eval``: metrics, plots and run comparisons from verl dumps.

Answers are parsed by ``reward_fns.parse_answer``, the parser the training reward uses, with the run's reward
kwargs, so offline numbers and in-training rewards cannot disagree through parsing. Inputs: verl's
``trainer.validation_data_dir`` / ``trainer.rollout_data_dir`` dumps or any JSONL of the same fields (see
``evaluation.dumps``), plus the prepared parquet (``--data``) when the records carry no ``extra_info``.

    verl-med-eval sft=gen/sft.jsonl vrft=ckpt/vrft/val mfrs=ckpt/mfrs/val \\
        --rollouts vrft=ckpt/vrft/rollout --rollouts mfrs=ckpt/mfrs/rollout \\
        --data ~/data/verl_med/retinamnist/test.parquet --reward_kwargs mfrs=outputs/mfrs/.hydra/config.yaml \\
        --out reports/retina
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

import numpy as np

import reward_fns
from data_preprocess.schema import TASK_TYPES
from reward_fns.accuracy import UngradableRow, truth_boxes, truth_label, truth_label_set
from reward_fns.labels import label_space, names_every_label, normalize
from reward_fns.task_info import TaskInfo
from reward_fns.task_type import TaskType
from reward_fns.vqa import open_scores, open_tokens
from reward_fns.zoom import final_turn
from verl_med_plugin.evaluation.dumps import (
    KEPT_KINDS,
    EvalDataError,
    PreparedData,
    Problems,
    Record,
    dump_files,
    read_file,
    read_records,
)
from verl_med_plugin.evaluation.judge import judge_answers, judge_figures, vllm_generate
from verl_med_plugin.evaluation.metrics import (
    INVALID,
    VQA_METRICS,
    classification_metrics,
    grounding_metrics,
    multilabel_metrics,
    positive_class_metrics,
    sampling_metrics,
    think_answer_consistency,
    vqa_answer_values,
    vqa_metrics,
    zero_advantage_stats,
)
from verl_med_plugin.evaluation.protocols import PROTOCOLS, protocol_figures
from verl_med_plugin.evaluation.statistics import (
    N_RESAMPLES,
    Outcomes,
    confidence_intervals,
    holm_adjust,
    paired_comparison,
)
from verl_med_plugin.evaluation.tools import tool_metrics

CLASSIFICATION_TASKS = tuple(t.value for t in TaskType.single_label())
# A VQA dataset mixes its question kinds (mcq, closed, open); its metrics are reported together under this kind.
VQA_KIND = "vqa"
UNNAMED = "(none)"  # the group of VQA rows whose benchmark names no modality / question type
# Dump keys that are not reward components: "reward" repeats "score" in verl's dumps.
NON_COMPONENT_KEYS = {"reward", "sample_id"}
# Rewards whose zero-advantage share is reported: the run's reward and the binary accuracy reward (V-RFT).
ZERO_ADVANTAGE_KEYS = ("score", "acc")


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


def _numeric_keys(records: Sequence[Record]) -> list[str]:
    """Reward keys verl dumped with a number for every record (score, acc, format, ...)."""
    keys = set.intersection(*(set(r.rewards) for r in records)) - NON_COMPONENT_KEYS
    return sorted(k for k in keys if all(isinstance(r.rewards[k], (int, float)) for r in records))


def dataset_metrics(
    samples: Sequence[Scored], positive: Sequence[str] = (), n_resamples: int = N_RESAMPLES, seed: int = 0
) -> dict[str, Any]:
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
    components = _numeric_keys([s.record for s in samples])
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


def vqa_dataset_metrics(samples: Sequence[Scored], n_resamples: int = N_RESAMPLES, seed: int = 0) -> dict[str, Any]:
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
            for name, items in sorted(_by(samples, lambda s, f=field: getattr(s, f)).items())
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


def _by(items, key):
    groups = defaultdict(list)
    for item in items:
        groups[key(item)].append(item)
    return groups


def _step_order(step: int | None) -> tuple[bool, int]:
    return (step is not None, step or 0)


def step_curves(samples: Sequence[Scored]) -> dict[str, dict[str, list]]:
    """Per dataset, over steps: accuracy and format compliance (parser) and the mean of each dumped reward key."""
    curves = {}
    for dataset, items in sorted(_by(samples, lambda s: s.dataset).items()):
        by_step = _by(items, lambda s: s.record.step)
        steps = sorted(by_step, key=_step_order)
        components = _numeric_keys([s.record for s in items])
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


def rollout_sparsity(path: Path, problems: Problems) -> dict[str, Any]:
    """Zero-advantage GRPO groups per step and overall, for ``score`` (and ``acc`` when dumped).

    Read one step file at a time, keeping only group ids and rewards: rollout dumps hold every training response.
    """
    groups: list[tuple[int | None, str | None]] = []  # (step, GRPO group uid)
    rewards: dict[str, list[float]] = defaultdict(list)
    by_step: dict[str, list] = defaultdict(list)
    for file in dump_files(path):
        records = read_file(file, problems)
        for r in records:
            if r.prompt_id is None:
                problems.add("missing_field", f"{r.origin}: no 'uid' (GRPO group)")
        records = [r for r in records if r.prompt_id is not None]
        if not records:
            continue
        keys = [k for k in _numeric_keys(records) if k in ZERO_ADVANTAGE_KEYS]
        if "score" not in keys:
            raise EvalDataError(f"{file}: not every record has a numeric 'score' (verl writes one per response)")
        step_groups = [(r.step, r.prompt_id) for r in records]  # prompt ids repeat across steps only by chance
        by_step["step"].append(records[0].step)
        by_step["mean_score"].append(float(np.mean([r.rewards["score"] for r in records])))
        for key in keys:
            values = [float(r.rewards[key]) for r in records]
            by_step[key].append(zero_advantage_stats(step_groups, values)["fraction_zero_advantage"])
            rewards[key] += values
        groups += step_groups
    if not groups:
        raise EvalDataError(
            f"{path}: no record with a 'uid' field, so GRPO groups are unknown (verl's legacy trainer "
            "does not write it; use the v1 trainer, trainer.use_v1=true)"
        )
    keys = [k for k in ZERO_ADVANTAGE_KEYS if len(rewards[k]) == len(groups)]
    return {
        "n_records": len(groups),
        "overall": {k: zero_advantage_stats(groups, rewards[k]) for k in keys},
        "by_step": {k: v for k, v in by_step.items() if k in ("step", "mean_score", *keys)},
    }


def _chosen_step(steps: list, step: str) -> int | None:
    if step == "last":
        return steps[-1]
    if not step.isdigit() or int(step) not in steps:
        raise EvalDataError(f"--step {step}: the dump has steps {steps}")
    return int(step)


def _attach_extra_info(records: list[Record], prepared: PreparedData | None, problems: Problems) -> list[Record]:
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
) -> dict[str, Any]:
    """Metrics of one run: its generations (validation dump or offline JSONL) and/or its rollout dump.
    ``protocol``: also a published harness's figure on each VQA dataset (``protocols.PROTOCOLS``); ``judge``:
    (model, generate function, cache file) of the local LLM judge of open answers (``judge.py``).

    ``positive``: per dataset, the clinically positive class(es) (default: the ``positive:`` key of the dataset's
    knowledge card); ``n_resamples``: bootstrap resamples for the CIs (0: none).
    """
    problems = Problems(strict)
    result: dict[str, Any] = {
        "name": name,
        "sources": [str(p) for p in (generations, rollouts) if p],
        "reward_kwargs": reward_kwargs,
    }
    if generations is not None:
        records = read_records(generations, problems)
        if not records:
            raise EvalDataError(f"{generations}: no usable record ({problems.as_dict()})")
        scored = score_records(_attach_extra_info(records, prepared, problems), reward_kwargs, problems)
        if not scored:
            raise EvalDataError(f"{generations}: no record could be scored ({problems.as_dict()})")
        controls = sorted({str((s.record.extra_info or {}).get("image_control") or "") for s in scored})
        if controls != [""]:  # verl-med-generate --no_image: the run is the no-image control (or mixes one in)
            if "" in controls:
                raise EvalDataError(f"{generations}: mixes answers with and without images; evaluate them as two runs")
            result["image_control"] = controls[0]
        steps = sorted({s.record.step for s in scored}, key=_step_order)
        chosen = _chosen_step(steps, step)
        at_step = [s for s in scored if s.record.step == chosen]
        result["step"], result["steps"] = chosen, steps
        by_dataset = sorted(_by(at_step, lambda s: s.dataset).items())
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


def check_comparable(runs: Sequence[dict[str, Any]]) -> None:
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


def comparisons(runs: Sequence[dict[str, Any]], baseline: str | None, n_resamples: int, seed: int) -> list[dict]:
    """Every run against the baseline run (default: the first), per dataset both evaluated: paired bootstrap of
    each metric's difference and McNemar's exact test (see ``statistics.paired_comparison``)."""
    scored = [r for r in runs if r.get("datasets")]
    if len(scored) < 2:
        return []
    names = [r["name"] for r in scored]
    if baseline is not None and baseline not in names:
        raise EvalDataError(f"--baseline {baseline!r} is not a run with generations: {names}")
    base = next(r for r in scored if r["name"] == (baseline or names[0]))
    out = []
    for run in scored:
        if run is base:
            continue
        for ds in sorted(run["datasets"].keys() & base["datasets"].keys()):
            a = Outcomes.from_dict(run["datasets"][ds]["outcomes"])
            b = Outcomes.from_dict(base["datasets"][ds]["outcomes"])
            out.append(
                {
                    "dataset": ds,
                    "run": run["name"],
                    "baseline": base["name"],
                    **paired_comparison(a, b, n_resamples=n_resamples, seed=seed),
                }
            )
    holm_adjust(out)  # McNemar p-values Holm-adjusted over every comparison of the report (p_holm)
    return out


def load_reward_kwargs(value: str | None) -> dict[str, Any]:
    """Reward kwargs from JSON text, a YAML/JSON mapping file, or a run's Hydra config (``.hydra/config.yaml``)."""
    if not value:
        return {}
    path = Path(value)
    if not path.is_file():
        try:
            data = json.loads(value)
        except json.JSONDecodeError as err:
            raise EvalDataError(f"--reward_kwargs: neither a file nor JSON ({err.msg})") from err
    else:
        import yaml
        from omegaconf import OmegaConf
        from omegaconf.errors import OmegaConfBaseException

        try:
            config = OmegaConf.load(path)
            node = OmegaConf.select(config, "reward.custom_reward_function.reward_kwargs", default=None)
            data = OmegaConf.to_container(config if node is None else node, resolve=True)
        except (OSError, UnicodeDecodeError, yaml.YAMLError, OmegaConfBaseException) as err:
            raise EvalDataError(
                f"--reward_kwargs {path}: not a readable YAML/JSON mapping ({type(err).__name__}: {err})"
            ) from err
    if not isinstance(data, dict):
        raise EvalDataError(f"--reward_kwargs: expected a mapping, got {type(data).__name__}")
    return data


def check_reward_kwargs(kwargs: dict[str, Any], where: str) -> None:
    """Refuse what training refuses (``reward_fns.config.reward_kwargs_problems``, the validator training's preflight
    runs): unknown keys and values outside a setting's range; the first problem is raised naming ``where``."""
    from reward_fns.config import reward_kwargs_problems

    problems = reward_kwargs_problems(kwargs)
    if problems:
        raise EvalDataError(f"{where}: {problems[0]}")


def reward_kwargs_by_run(specs: Sequence[str]) -> dict[str | None, dict[str, Any]]:
    """``--reward_kwargs`` values: ``JSON|FILE`` applies to every run (key None), ``NAME=JSON|FILE`` to one run
    (``main`` validates each with ``check_reward_kwargs``)."""
    by_run: dict[str | None, dict[str, Any]] = {}
    name: str | None
    for spec in specs:
        name, sep, value = spec.partition("=")
        if not sep or spec.lstrip().startswith("{") or Path(spec).is_file():
            name, value = None, spec
        by_run[name] = load_reward_kwargs(value)
    return by_run


def _named_path(spec: str) -> tuple[str, Path]:
    name, sep, path = spec.partition("=")
    if not sep:
        path = spec
        name = Path(spec).stem if Path(spec).is_file() else Path(spec).name
    return name, Path(path).expanduser()


def named_paths(specs: Sequence[str], what: str) -> dict[str, Path]:
    """``[NAME=]PATH`` arguments by name; a name given twice is an error (the second would silently replace the
    first, and seeds of one row must be named ``row@seed``)."""
    out: dict[str, Path] = {}
    for spec in specs:
        name, path = _named_path(spec)
        if name in out:
            raise EvalDataError(
                f"{what}: run name {name!r} given twice ({out[name]} and {path}); name runs "
                "NAME=PATH, seeds of one row ROW@SEED=PATH"
            )
        out[name] = path
    return out


def parse_positive(specs: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """``--positive DATASET=LABEL[,LABEL...]`` values."""
    out = {}
    for spec in specs:
        dataset, sep, labels = spec.partition("=")
        if not sep or not dataset or not labels.strip():
            raise EvalDataError(f"--positive {spec!r}: expected DATASET=LABEL[,LABEL...]")
        out[dataset] = tuple(label.strip() for label in labels.split(",") if label.strip())
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="verl-med-eval",
        description="Evaluate verl-med runs from verl dumps with the reward's own answer parser.",
    )
    parser.add_argument(
        "runs",
        nargs="*",
        metavar="[NAME=]PATH",
        help="generations of a run: trainer.validation_data_dir, one of its <step>.jsonl, or a JSONL "
        "from verl_med_plugin.evaluation.generate; several runs are compared side by side",
    )
    parser.add_argument(
        "--rollouts",
        action="append",
        default=[],
        metavar="[NAME=]DIR",
        help="trainer.rollout_data_dir of a run (reward sparsity); NAME matches a run",
    )
    parser.add_argument(
        "--data",
        action="append",
        default=[],
        type=Path,
        metavar="PARQUET",
        help="prepared parquet(s) the dumps were generated from: extra_info for records without it",
    )
    parser.add_argument(
        "--reward_kwargs",
        "--reward-kwargs",
        action="append",
        default=[],
        metavar="[NAME=]JSON|FILE",
        help="reward kwargs the parser is called with, as in training: JSON, a YAML mapping or the "
        "run's .hydra/config.yaml; NAME= for one run, else every run",
    )
    parser.add_argument("--step", default="last", help="validation step to evaluate (default: the last one)")
    parser.add_argument("--out", type=Path, default=Path("reports/eval"), help="report directory")
    parser.add_argument("--strict", action="store_true", help="stop at the first bad record instead of counting it")
    parser.add_argument(
        "--positive",
        action="append",
        default=[],
        metavar="DATASET=LABEL[,LABEL]",
        help="clinically positive class(es) for sensitivity/specificity/PPV/NPV (default: the "
        "'positive:' key of the dataset's knowledge card)",
    )
    parser.add_argument(
        "--bootstrap",
        type=int,
        default=N_RESAMPLES,
        metavar="N",
        help=f"bootstrap resamples of prompts for 95%% CIs and paired tests (default {N_RESAMPLES}; 0: none)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed of the bootstrap")
    parser.add_argument(
        "--judge",
        metavar="MODEL",
        help="also judge open VQA answers with this local HF model through vLLM (fixed, versioned prompt, "
        "temperature 0), reported beside exact match and recall",
    )
    parser.add_argument(
        "--judge_cache",
        type=Path,
        default=None,
        metavar="JSON",
        help="the judge's verdict cache (default: <out>/judge_cache.json)",
    )
    parser.add_argument(
        "--protocol",
        choices=sorted(PROTOCOLS),
        default=None,
        help="also report each VQA dataset's figure under a published harness's split and scorer "
        "(docs/vqa.md: source repository and commit of each)",
    )
    parser.add_argument(
        "--baseline", help="run the others are compared with (paired bootstrap, McNemar); default: the first run"
    )
    parser.add_argument(
        "--table",
        nargs="+",
        metavar="METRICS_JSON",
        help="instead of evaluating: the paper's table (Markdown, LaTeX, PNG) and training curves from "
        "the metrics.json of earlier evaluations (rows x datasets x seeds; runs named ROW@SEED)",
    )
    return parser


# Files the report writes (report.py, table.py); their hidden temporaries left by a killed run are removed.
REPORT_SUFFIXES = (".json", ".md", ".png", ".tex")


def prepare_out(out: Path) -> None:
    """Create the report folder, or refuse it in one line (a file, under a file, not writable), before any
    evaluation work; stale temporaries of a killed earlier run are removed (``data_preprocess.validate``)."""
    from data_preprocess.common import ConversionError
    from data_preprocess.validate import prepare_output_dir, remove_stale_temp_files

    try:
        prepare_output_dir(out, "--out")
    except ConversionError as err:
        raise EvalDataError(str(err)) from None
    remove_stale_temp_files(out, REPORT_SUFFIXES)


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; Ctrl-C / SIGTERM end it with one line and exit 130 / 143, no traceback, and no temporary
    file left (``data_preprocess.validate.run_guarded``)."""
    from data_preprocess.validate import run_guarded

    return run_guarded(_main, argv)


def _main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.table:
        from verl_med_plugin.evaluation.table import table_main

        prepare_out(args.out)  # an EvalDataError ends the command in run_guarded
        return table_main(args.table, args.out, args.bootstrap, args.seed)
    if not args.runs and not args.rollouts:
        build_parser().error("give at least one run or --rollouts directory")
    # An EvalDataError (a UserError) ends the command in run_guarded: one "verl-med: error:" line, exit 2.
    prepare_out(args.out)
    generations = named_paths(args.runs, "runs")
    rollouts = named_paths(args.rollouts, "--rollouts")
    positive = parse_positive(args.positive)
    kwargs_by_run = reward_kwargs_by_run(args.reward_kwargs)
    for name, kwargs in kwargs_by_run.items():
        check_reward_kwargs(kwargs, "--reward_kwargs" if name is None else f"--reward_kwargs {name}=")
    unknown = {n for n in kwargs_by_run if n is not None} - {*generations, *rollouts}
    if unknown:
        raise EvalDataError(f"--reward_kwargs names no run: {sorted(unknown)}")
    prepared = PreparedData.from_parquet(args.data) if args.data else None
    judge = None
    if args.judge:
        judge = (args.judge, vllm_generate(args.judge, args.seed), args.judge_cache or args.out / "judge_cache.json")
    names = list(generations) + [n for n in rollouts if n not in generations]
    runs = [
        evaluate_run(
            n,
            generations.get(n),
            rollouts.get(n),
            prepared,
            kwargs_by_run.get(n, kwargs_by_run.get(None, {})),
            args.step,
            args.strict,
            positive,
            args.bootstrap,
            args.seed,
            args.protocol,
            judge,
        )
        for n in names
    ]
    check_comparable(runs)
    compared = comparisons(runs, args.baseline, args.bootstrap, args.seed)
    from verl_med_plugin.evaluation.report import write_report

    report = {
        "parser": "reward_fns.parse_answer",
        "runs": runs,
        "comparisons": compared,
        "bootstrap": {"n_resamples": args.bootstrap, "seed": args.seed, "unit": "prompt"},
    }
    try:
        written = write_report(report, args.out)
    except OSError as err:  # disk full, read-only: one line, no new report file
        raise EvalDataError(f"--out {args.out}: cannot write the report ({err.strerror or err})") from None
    for path in written:
        print(path)
    for run in runs:
        for kind, info in run["problems"].items():
            what = "kept with" if kind in KEPT_KINDS else "skipped:"
            print(
                f"verl-med-eval: warning: {run['name']}: {info['count']} record(s) {what} {kind}, "
                f"e.g. {info['examples'][0]}",
                file=sys.stderr,
            )
    if report.get("non_finite_values"):
        print(
            f"verl-med-eval: warning: {report['non_finite_values']} NaN/infinite value(s) written as null in "
            "metrics.json",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
