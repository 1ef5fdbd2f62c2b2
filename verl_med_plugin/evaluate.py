"""``python -m verl_med_plugin.evaluate`` / ``verl-med-eval``: metrics, plots and run comparisons from verl dumps.

Answers are parsed by ``reward_fns.parse_answer``, the parser the training reward uses, with the run's reward
kwargs, so offline numbers and in-training rewards cannot disagree through parsing. Inputs: verl's
``trainer.validation_data_dir`` / ``trainer.rollout_data_dir`` dumps or any JSONL of the same fields (see
``eval_dumps``), plus the prepared parquet (``--data``) when the records carry no ``extra_info``.

    verl-med-eval sft=gen/sft.jsonl vrft=ckpt/vrft/val mfrs=ckpt/mfrs/val \\
        --rollouts vrft=ckpt/vrft/rollout --rollouts mfrs=ckpt/mfrs/rollout \\
        --data ~/data/verl_med/retinamnist/test.parquet --reward-kwargs mfrs=outputs/mfrs/.hydra/config.yaml \\
        --out reports/retina
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

import reward_fns
from data_preprocess.schema import TASK_TYPES
from reward_fns.accuracy import UngradableRow, truth_boxes, truth_label, truth_label_set
from reward_fns.task_info import TaskInfo
from verl_med_plugin.eval_dumps import (
    EvalDataError,
    PreparedData,
    Problems,
    Record,
    dump_files,
    read_file,
    read_records,
)
from verl_med_plugin.eval_metrics import (
    INVALID,
    classification_metrics,
    multilabel_metrics,
    sampling_metrics,
    zero_advantage_stats,
)

CLASSIFICATION_TASKS = ("multiclass", "binary", "ordinal")
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
    truth: int | tuple[int, ...] | None
    predicted: int | tuple[int, ...] | None
    correct: bool
    iou: float | None = None  # grounding: the reward's matched (G)IoU

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
        if info.task_type == "multilabel":
            return truth_label_set(record.ground_truth, info)
        if info.task_type == "grounding":
            return truth_boxes(record.ground_truth, info)
        raise UngradableRow(f"unknown extra_info.task_type {info.task_type!r}")
    except UngradableRow as err:
        context = (f"box_format {info.box_format!r}" if info.task_type == "grounding"
                   else f"extra_info.labels {list(info.labels)}")
        raise EvalDataError(f"{record.origin}: {err} (ground truth {str(record.ground_truth)[:200]!r}, {context})"
                            ) from err


def score_record(record: Record, reward_kwargs: dict[str, Any]) -> Scored:
    """Parse the response with the reward's parser and compare it with the ground truth."""
    extra_info = record.extra_info or {}
    info = TaskInfo.from_extra_info(extra_info)  # the reward's reading of extra_info
    parsed = reward_fns.parse_answer(record.response, extra_info, **reward_kwargs)
    pred = parsed.pred or ""
    iou = None
    truth: Any = _graded_truth(record, info)
    if info.task_type in CLASSIFICATION_TASKS:
        predicted: Any = INVALID if parsed.label_index is None else int(parsed.label_index)
        correct = predicted == truth
    elif info.task_type == "multilabel":
        predicted = None if parsed.label_set is None else tuple(sorted(parsed.label_set))
        correct = predicted == truth
    else:  # grounding: a hit is what the reward counts as one (box count and IoU threshold), read from its "acc"
        score = reward_fns.compute_score(
            data_source=record.data_source or "", solution_str=record.response,
            ground_truth=record.ground_truth, extra_info=extra_info, **reward_kwargs,
        )
        truth, predicted, correct, iou = None, None, float(score["acc"]) == 1.0, float(score["iou"])
    return Scored(record, info.task_type, info.labels, bool(parsed.format_ok), pred, truth,
                  predicted, correct, iou)


def score_records(records: list[Record], reward_kwargs: dict[str, Any], problems: Problems) -> list[Scored]:
    """Score every record that names a known dataset and task; the others are counted in ``problems``."""
    scored = []
    for record in records:
        if not record.dataset:
            problems.add("unknown_dataset", f"{record.origin}: extra_info.dataset and data_source are empty")
            continue
        task_type = (record.extra_info or {}).get("task_type")
        if task_type not in TASK_TYPES:
            problems.add("unknown_task_type", f"{record.origin}: extra_info.task_type={task_type!r}, "
                                              f"expected one of {TASK_TYPES}")
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


def dataset_metrics(samples: Sequence[Scored]) -> dict[str, Any]:
    """Every metric of one dataset's samples; raises on mixed label sets, which would make the metrics meaningless."""
    first = samples[0]
    kinds = {(s.task_type, s.labels) for s in samples}
    if len(kinds) > 1:
        raise EvalDataError(f"dataset {first.dataset!r} mixes label sets / task types: "
                            + "; ".join(f"{t}: {list(lab)}" for t, lab in sorted(kinds)))
    result: dict[str, Any] = {
        "task_type": first.task_type,
        "labels": list(first.labels),
        "n_samples": len(samples),
        "format_compliance": float(np.mean([s.format_ok for s in samples])),
        "invalid_rate": float(np.mean([not s.pred for s in samples])),
    }
    if first.task_type in CLASSIFICATION_TASKS:
        result.update(classification_metrics([s.truth for s in samples], [s.predicted for s in samples],
                                             first.labels, ordinal=first.task_type == "ordinal"))
    elif first.task_type == "multilabel":
        result.update(multilabel_metrics([s.truth for s in samples], [s.predicted for s in samples], first.labels))
    else:
        result.update({"n": len(samples), "accuracy": float(np.mean([s.correct for s in samples])),
                       "mean_iou": float(np.mean([s.iou for s in samples]))})
    components = _numeric_keys([s.record for s in samples])
    result["n_prompts"] = None  # unknown without prompt ids (verl's legacy dumps): no per-prompt metrics
    if all(s.record.prompt_id is not None for s in samples):
        sampling = sampling_metrics([s.record.prompt_id for s in samples], [s.pred for s in samples],
                                    [s.correct for s in samples])
        result["n_prompts"] = sampling["n_prompts"]
        if sampling["k"] > 1:
            result["sampling"] = sampling
            result["zero_advantage"] = {
                key: zero_advantage_stats([s.record.prompt_id for s in samples],
                                          [float(s.record.rewards[key]) for s in samples])
                for key in components if key in ZERO_ADVANTAGE_KEYS
            }
    dumped_preds = [(str(s.record.rewards["pred"]), s.pred) for s in samples if "pred" in s.record.rewards]
    if dumped_preds:
        result["parser_agreement"] = {
            "n": len(dumped_preds),
            "agree": float(np.mean([a == b for a, b in dumped_preds])),
        }
    result["reward_means"] = {k: float(np.mean([s.record.rewards[k] for s in samples])) for k in components}
    return result


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
    groups: list[tuple[Any, str]] = []
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
            by_step[key].append(zero_advantage_stats(step_groups, values)["fraction_all_equal"])
            rewards[key] += values
        groups += step_groups
    if not groups:
        raise EvalDataError(f"{path}: no record with a 'uid' field, so GRPO groups are unknown (verl's legacy trainer "
                            "does not write it; use the v1 trainer, trainer.use_v1=true)")
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
                raise EvalDataError(f"{record.origin}: no 'extra_info' (labels, task_type); verl's dumps do not "
                                    "carry it: pass the prepared parquet with --data path/to/test.parquet")
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
) -> dict[str, Any]:
    """Metrics of one run: its generations (validation dump or offline JSONL) and/or its rollout dump."""
    problems = Problems(strict)
    result: dict[str, Any] = {"name": name, "sources": [str(p) for p in (generations, rollouts) if p],
                              "reward_kwargs": reward_kwargs}
    if generations is not None:
        records = read_records(generations, problems)
        if not records:
            raise EvalDataError(f"{generations}: no usable record ({problems.as_dict()})")
        scored = score_records(_attach_extra_info(records, prepared, problems), reward_kwargs, problems)
        if not scored:
            raise EvalDataError(f"{generations}: no record could be scored ({problems.as_dict()})")
        steps = sorted({s.record.step for s in scored}, key=_step_order)
        chosen = _chosen_step(steps, step)
        at_step = [s for s in scored if s.record.step == chosen]
        result["step"], result["steps"] = chosen, steps
        by_dataset = sorted(_by(at_step, lambda s: s.dataset).items())
        result["datasets"] = {ds: dataset_metrics(items) for ds, items in by_dataset}
        if len(steps) > 1:
            result["curves"] = step_curves(scored)
    if rollouts is not None:
        result["rollout_sparsity"] = rollout_sparsity(rollouts, problems)
    result["problems"] = problems.as_dict()
    return result


def check_comparable(runs: Sequence[dict[str, Any]]) -> None:
    """Runs compared side by side must score each dataset on the same task and label list."""
    seen: dict[str, tuple[str, dict]] = {}
    for run in runs:
        for ds, m in run.get("datasets", {}).items():
            first = seen.setdefault(ds, (run["name"], m))
            if (m["task_type"], m["labels"]) != (first[1]["task_type"], first[1]["labels"]):
                raise EvalDataError(f"runs {first[0]!r} and {run['name']!r} disagree on dataset {ds!r}: "
                                    f"{first[1]['task_type']} {first[1]['labels']} vs {m['task_type']} {m['labels']}")


def load_reward_kwargs(value: str | None) -> dict[str, Any]:
    """Reward kwargs from JSON text, a YAML/JSON mapping file, or a run's Hydra config (``.hydra/config.yaml``)."""
    if not value:
        return {}
    path = Path(value)
    if not path.is_file():
        try:
            data = json.loads(value)
        except json.JSONDecodeError as err:
            raise EvalDataError(f"--reward-kwargs: neither a file nor JSON ({err.msg})") from err
    else:
        import yaml
        from omegaconf import OmegaConf
        from omegaconf.errors import OmegaConfBaseException

        try:
            config = OmegaConf.load(path)
            node = OmegaConf.select(config, "reward.custom_reward_function.reward_kwargs", default=None)
            data = OmegaConf.to_container(config if node is None else node, resolve=True)
        except (OSError, UnicodeDecodeError, yaml.YAMLError, OmegaConfBaseException) as err:
            raise EvalDataError(f"--reward-kwargs {path}: not a readable YAML/JSON mapping "
                                f"({type(err).__name__}: {err})") from err
    if not isinstance(data, dict):
        raise EvalDataError(f"--reward-kwargs: expected a mapping, got {type(data).__name__}")
    return data


def reward_kwargs_by_run(specs: Sequence[str]) -> dict[str | None, dict[str, Any]]:
    """``--reward-kwargs`` values: ``JSON|FILE`` applies to every run (key None), ``NAME=JSON|FILE`` to one run."""
    by_run: dict[str | None, dict[str, Any]] = {}
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="verl-med-eval",
        description="Evaluate verl-med runs from verl dumps with the reward's own answer parser.",
    )
    parser.add_argument("runs", nargs="*", metavar="[NAME=]PATH",
                        help="generations of a run: trainer.validation_data_dir, one of its <step>.jsonl, or a JSONL "
                             "from verl_med_plugin.generate_offline; several runs are compared side by side")
    parser.add_argument("--rollouts", action="append", default=[], metavar="[NAME=]DIR",
                        help="trainer.rollout_data_dir of a run (reward sparsity); NAME matches a run")
    parser.add_argument("--data", action="append", default=[], type=Path, metavar="PARQUET",
                        help="prepared parquet(s) the dumps were generated from: extra_info for records without it")
    parser.add_argument("--reward-kwargs", action="append", default=[], metavar="[NAME=]JSON|FILE",
                        help="reward kwargs the parser is called with, as in training: JSON, a YAML mapping or the "
                             "run's .hydra/config.yaml; NAME= for one run, else every run")
    parser.add_argument("--step", default="last", help="validation step to evaluate (default: the last one)")
    parser.add_argument("--out", type=Path, default=Path("reports/eval"), help="report directory")
    parser.add_argument("--strict", action="store_true", help="stop at the first bad record instead of counting it")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.runs and not args.rollouts:
        build_parser().error("give at least one run or --rollouts directory")
    try:
        generations = dict(_named_path(s) for s in args.runs)
        rollouts = dict(_named_path(s) for s in args.rollouts)
        kwargs_by_run = reward_kwargs_by_run(args.reward_kwargs)
        unknown = set(kwargs_by_run) - {None, *generations, *rollouts}
        if unknown:
            raise EvalDataError(f"--reward-kwargs names no run: {sorted(unknown)}")
        prepared = PreparedData.from_parquet(args.data) if args.data else None
        names = list(generations) + [n for n in rollouts if n not in generations]
        runs = [evaluate_run(n, generations.get(n), rollouts.get(n), prepared,
                             kwargs_by_run.get(n, kwargs_by_run.get(None, {})), args.step, args.strict)
                for n in names]
        check_comparable(runs)
    except EvalDataError as err:
        print(f"verl-med-eval: error: {err}", file=sys.stderr)
        return 2
    from verl_med_plugin.eval_report import write_report

    report = {"parser": "reward_fns.parse_answer", "runs": runs}
    for path in write_report(report, args.out):
        print(path)
    for run in runs:
        for kind, info in run["problems"].items():
            print(f"verl-med-eval: warning: {run['name']}: {info['count']} record(s) skipped: {kind}, "
                  f"e.g. {info['examples'][0]}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
