"""The end-to-end tests' reward: verl-med's ``compute_score`` on an answer read from the response by a fixed rule,
plus a small shaping term that varies within a group.

A random-weight model never writes ``<answer>...</answer>``, so the real reward is 0 for every response: the
sampler would only ever see accuracy 0 and GRPO advantages would be 0. Here the response picks a grade by a fixed
rule (the sum of its character codes modulo the number of labels, so about one response in five names the right
grade, differently per prompt and per step), and verl-med's own ``compute_score`` grades
``<think>...</think><answer>{grade}</answer>``: ``acc``, ``format``, ``mfrs`` and ``score`` are the real reward's
values for that answer, so the sampler, the logger and the dumps see a realistic mix of right and wrong answers.
The shaping term (share of ASCII letters in the response, times 0.5) keeps rewards varying within a group even when
every grade in it is wrong. ``picked_grade`` is returned so a test can recompute accuracy on its own.
"""

from __future__ import annotations

from reward_fns import compute_score as med_compute_score

SHAPING_WEIGHT = 0.5


def letter_share(text: str) -> float:
    return sum(ch.isascii() and ch.isalpha() for ch in text) / max(len(text), 1)


def picked_grade(text: str, n_labels: int) -> int:
    """The label index a response names under the fixture's rule: its character codes summed, modulo the labels."""
    return sum(map(ord, text)) % max(n_labels, 1)


def compute_score(data_source, solution_str, ground_truth, extra_info=None, **reward_kwargs):
    labels = list((extra_info or {}).get("labels") or [])
    grade = picked_grade(solution_str, len(labels))
    answer = f"<think>{len(solution_str)} characters</think><answer>{grade}</answer>"
    result = med_compute_score(data_source, answer, ground_truth, extra_info, **reward_kwargs)
    result["picked_grade"] = grade
    result["shaping"] = SHAPING_WEIGHT * letter_share(solution_str)
    result["score"] = float(result["score"]) + result["shaping"]
    return result
