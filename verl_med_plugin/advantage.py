"""Which GRPO groups carry no gradient: one definition, verl's, for the sampler's metric and the evaluation.

verl's GRPO advantage (``verl/trainer/ppo/core_algos.py::compute_grpo_outcome_advantage``, 0.9.1) normalises each
score by its group's mean and std; a group of one sample gets mean 0 and std 1, so its advantage is its own score.
A group is therefore zero-advantage when its scores are all equal (two or more samples) or its one score is 0.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np


def zero_advantage_groups(
    group_ids: Sequence[Hashable] | np.ndarray, scores: Sequence[float] | np.ndarray, atol: float = 1e-6
) -> dict[Hashable, bool]:
    """Per group id, whether verl's GRPO gives all of its samples a zero advantage.

    Args:
        group_ids: the GRPO group (verl's ``uid``) of each sample.
        scores: each sample's total reward, in the same order.
        atol: scores closer than this count as equal (verl adds ``epsilon=1e-6`` to the std).

    Returns:
        ``{group_id: True if the group teaches nothing}``, in first-seen order.

    >>> zero_advantage_groups(["a", "a", "b", "b", "c", "d"], [1, 1, 0, 1, 0.0, 0.5])
    {'a': True, 'b': False, 'c': True, 'd': False}
    >>> zero_advantage_groups([(1, "p"), (1, "p"), (2, "p")], [0.5, 0.5, 1.0])  # (step, prompt) ids
    {(1, 'p'): True, (2, 'p'): False}
    """
    low: dict[Hashable, float] = {}
    high: dict[Hashable, float] = {}
    count: dict[Hashable, int] = {}
    ids = group_ids.tolist() if isinstance(group_ids, np.ndarray) else list(group_ids)  # keeps tuple ids whole
    for gid, score in zip(ids, np.asarray(scores, dtype=float).tolist(), strict=True):
        low[gid] = min(low.get(gid, score), score)
        high[gid] = max(high.get(gid, score), score)
        count[gid] = count.get(gid, 0) + 1
    return {gid: (abs(low[gid]) <= atol if count[gid] == 1 else high[gid] - low[gid] <= atol) for gid in count}


def zero_advantage_fraction(
    group_ids: Sequence[Hashable] | np.ndarray, scores: Sequence[float] | np.ndarray, atol: float = 1e-6
) -> float:
    """Share of groups with zero advantage (0.0 for an empty batch).

    >>> zero_advantage_fraction([0, 0, 1, 1, 2, 2], [1.0, 1.0, 0.0, 1.0, 0.5, 0.5])
    0.6666666666666666
    """
    zero = zero_advantage_groups(group_ids, scores, atol)
    return float(np.mean(list(zero.values()))) if zero else 0.0
