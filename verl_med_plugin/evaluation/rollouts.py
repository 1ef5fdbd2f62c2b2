"""Rollouts: the zero-advantage share (GRPO groups whose rewards are all equal) of a run's rollout dump."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from verl_med_plugin.evaluation.aggregation import ZERO_ADVANTAGE_KEYS, numeric_keys
from verl_med_plugin.evaluation.dumps import (
    EvalDataError,
    Problems,
    dump_files,
    read_file,
)
from verl_med_plugin.evaluation.metrics import (
    zero_advantage_stats,
)


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
        keys = [k for k in numeric_keys(records) if k in ZERO_ADVANTAGE_KEYS]
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
