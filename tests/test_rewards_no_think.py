"""The no-think control row's reward (``think="forbidden"``): exactly one non-blank answer block and no think tag
anywhere scores format 1 and the task term as usual; a think tag anywhere voids format and answer, so GRPO is never
paid for thinking in that row. The default (``think="required"``) is every other row's rule, unchanged.

Mutations checked (each fails this file): ``split_blocks`` ignoring ``think`` (the think layout for the control
row: answer-only scores format 0); ``_answer_only`` without the think-tag check (a think block keeps its answer and
acc); ``_answer_only`` returning the answer despite text around it being allowed into the format (format_ok without
the ``_blank`` checks: padding scores format 1); ``format_ok`` without ``bool(answer)`` (an empty answer scores
format 1); ``parse_with`` not passing ``cfg.think`` (answer-only scores format 0); ``reference_response`` ignoring
``think`` (the reference answer of the control row scores 0).
"""

from __future__ import annotations

import pytest
from rewards_rows import ROWS, respond

from reward_fns import compute_score, reference_response
from reward_fns.config import reward_config
from reward_fns.format import split_blocks

# The no-think preset's reward kwargs (configs/med/experiment/no_think.yaml over vrft_baseline.yaml).
NO_THINK = dict(format_weight=1.0, acc_weight=1.0, ordinal_reward="exact", recite_delta=0.0, think="forbidden")
BASELINE = {k: v for k, v in NO_THINK.items() if k != "think"}

# (name, response to the melanoma row, expected format, expected acc, why)
SCORED = [
    ("answer_only", "<answer>melanoma</answer>", 1.0, 1.0, "the asked-for layout: format and accuracy"),
    ("answer_only_spaced", "\n  <answer> melanoma </answer>\n", 1.0, 1.0, "whitespace around the block is layout"),
    ("answer_only_wrong", "<answer>nevus</answer>", 1.0, 0.0, "format credit does not need the right answer"),
    ("plain_reasoning", "It is asymmetric. <answer>melanoma</answer>", 0.0, 1.0, "untidy: format lost, answer kept"),
    ("trailing_text", "<answer>melanoma</answer> done", 0.0, 1.0, "text after the block is untidy too"),
]
# (name, response, why): responses that earn nothing, neither format nor accuracy
VOIDED = {
    "think_block": (respond("melanoma"), "thinking in tags earns nothing in the control row"),
    "empty_think_block": ("<think></think><answer>melanoma</answer>", "even an empty think block"),
    "think_inside_answer": ("<answer><think>asymmetric</think>melanoma</answer>", "no think hidden inside"),
    "think_after_answer": ("<answer>melanoma</answer><think>asymmetric</think>", "nor after the answer"),
    "lone_think_close": ("asymmetric</think><answer>melanoma</answer>", "a stray closing tag counts"),
    "lone_think_open": ("<answer>melanoma</answer><think>", "a stray opening tag counts"),
    "empty_answer": ("<answer></answer>", "an empty block is no answer"),
    "blank_answer": ("<answer>  \n </answer>", "a blank block is no answer"),
    "two_answers": ("<answer>melanoma</answer><answer>melanoma</answer>", "one block, not a vote"),
    "reversed_tags": ("</answer>melanoma<answer>", "tags in the wrong order are no block"),
    "truncated": ("<answer>melanoma", "an unclosed block is no answer"),
    "no_tags": ("melanoma", "a bare answer is not read"),
}
CASES = SCORED + [(name, response, 0.0, 0.0, why) for name, (response, why) in VOIDED.items()]


@pytest.mark.parametrize(("name", "response", "fmt", "acc", "why"), CASES, ids=[c[0] for c in CASES])
def test_control_row_format_rule(name, response, fmt, acc, why):
    data_source, truth, info = ROWS["multiclass"]
    result = compute_score(data_source, response, truth, info, **NO_THINK)
    assert (result["format"], result["acc"]) == (fmt, acc), why
    assert result["score"] == pytest.approx(fmt + acc), why  # weights 1/1, no recitation
    assert result["think_len"] == 0.0 and result["recite"] == 0.0


def test_default_keeps_the_think_layout():
    """Without the setting a response must think: the answer-only response loses its format (today's rule)."""
    data_source, truth, info = ROWS["multiclass"]
    assert compute_score(data_source, "<answer>melanoma</answer>", truth, info, **BASELINE)["format"] == 0.0
    assert compute_score(data_source, respond("melanoma"), truth, info, **BASELINE)["score"] == pytest.approx(2.0)
    assert split_blocks(respond("x")) == split_blocks(respond("x"), think="required")


@pytest.mark.parametrize("row", sorted(ROWS))
def test_reference_answer_of_every_task_scores_in_the_control_row(row):
    """The dry run scores ``reference_response(..., think)`` before training; in the control row it is answer-only
    and must be correct and well formatted for every task type."""
    data_source, truth, info = ROWS[row]
    response = reference_response(truth, info, think="forbidden")
    assert "<think>" not in response
    result = compute_score(data_source, response, truth, info, **NO_THINK)
    assert (result["acc"], result["format"]) == (1.0, 1.0), result
    assert compute_score(data_source, reference_response(truth, info), truth, info, **NO_THINK)["acc"] == 0.0


def test_forbidden_think_contradicts_a_prefilled_think_block():
    with pytest.raises(ValueError, match="think=forbidden with think_prefilled=true"):
        reward_config({"think": "forbidden", "think_prefilled": True})


def test_adversarial_input_stays_linear():
    """1 MB of tags scores 0 without raising (str.count / str.find only)."""
    data_source, truth, info = ROWS["multiclass"]
    for junk in ("<answer>" * 100_000, "</think>" * 100_000, "<answer></answer>" * 60_000):
        result = compute_score(data_source, junk, truth, info, **NO_THINK)
        assert (result["score"], result["acc"]) == (0.0, 0.0)


def test_blocks_of_the_answer_only_layout():
    """``answer`` is None (not "") when there is no valid block, as in the think layout. Mutation checked: dropping
    the tag-order check reads the reversed tags as an empty block."""
    assert split_blocks("</answer>melanoma<answer>", think="forbidden").answer is None
    blocks = split_blocks(" <answer>melanoma</answer> ", think="forbidden")
    assert (blocks.format_ok, blocks.think, blocks.answer) == (True, "", "melanoma")
