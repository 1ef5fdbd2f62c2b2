"""The end-to-end tests' reward: verl-med's ``compute_score`` plus a small shaping term that varies within a group.

A random-weight model never answers correctly, so every real reward is 0, GRPO advantages are 0 and the policy
loss is 0: nothing would show that an update happened. The shaping term (share of ASCII letters in the response,
times 0.5) differs between the samples of a group, so advantages and the loss are non-zero and the actor's
weights move. Every key of the real reward (``acc``, ``format``, ``mfrs``, ...) is returned unchanged, so the
sampler, the logger and the evaluation see exactly what training with ``pkg://reward_fns`` produces.
"""

from __future__ import annotations

from reward_fns import compute_score as med_compute_score

SHAPING_WEIGHT = 0.5


def letter_share(text: str) -> float:
    return sum(ch.isascii() and ch.isalpha() for ch in text) / max(len(text), 1)


def compute_score(data_source, solution_str, ground_truth, extra_info=None, **reward_kwargs):
    result = med_compute_score(data_source, solution_str, ground_truth, extra_info, **reward_kwargs)
    result["shaping"] = SHAPING_WEIGHT * letter_share(solution_str)
    result["score"] = float(result["score"]) + result["shaping"]
    return result
