"""The scorers one by one: MFRS, recitation BLEU, set overlap, IoU/GIoU matching and the kwargs config."""

from __future__ import annotations

import logging
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf
from rewards_rows import KNOWLEDGE

from reward_fns.boxes import giou, iou, match_boxes
from reward_fns.config import RewardConfig, reward_config
from reward_fns.mfrs import mfrs_reward
from reward_fns.multilabel import jaccard, set_f1
from reward_fns.recitation import recitation_bleu, tokenize

# --- MFRS ---

SHAPES = [
    dict(shape="table"),
    dict(shape="table", table=(1.0, 0.1, 0.0)),
    dict(shape="exp"),
    dict(shape="exp", gamma=0.5),
    dict(shape="gaussian"),
    dict(shape="linear"),
    dict(shape="linear", gamma=0.4),
]


@pytest.mark.parametrize("kernel", SHAPES, ids=lambda k: "-".join(map(str, k.values())))
@pytest.mark.parametrize("n_grades", [2, 5, 10])
def test_mfrs_is_one_at_truth_and_strictly_decreasing_to_its_floor(kernel, n_grades):
    values = [mfrs_reward(d, n_grades, **kernel) for d in range(n_grades)]
    assert values[0] == 1.0
    floor = min(values)
    assert 0.0 <= floor
    for near, far in zip(values, values[1:], strict=False):
        assert near > far or near == far == floor
    assert mfrs_reward(-1, n_grades, **kernel) == values[1]  # symmetric in the sign of the error


def test_mfrs_default_table_and_paper_forms():
    assert [mfrs_reward(d, 5) for d in range(5)] == [1.0, 0.25, 0.0625, 0.0, 0.0]
    assert mfrs_reward(2, 5, "exp") == pytest.approx(0.0625)  # 4^-d
    assert mfrs_reward(2, 5, "gaussian") == pytest.approx(0.0625)  # 2^-d^2
    assert mfrs_reward(1, 5, "gaussian") == pytest.approx(0.5)
    assert mfrs_reward(3, 5, "linear") == pytest.approx(0.25)  # 1 - d / (K - 1)


# --- recitation ---


def test_recitation_of_the_knowledge_itself_is_one():
    assert recitation_bleu(KNOWLEDGE, KNOWLEDGE) == pytest.approx(1.0)


def test_recitation_is_zero_without_text_or_knowledge():
    assert recitation_bleu("", KNOWLEDGE) == 0.0
    assert recitation_bleu("Melanoma shows asymmetry.", "") == 0.0
    assert recitation_bleu("  ", "  ") == 0.0


def test_recitation_orders_paraphrase_below_copy():
    copy = KNOWLEDGE.splitlines()[0]  # one class line, verbatim
    paraphrase = "The spot is lopsided; its edge looks ragged, it has many shades and a bluish white veil."
    assert recitation_bleu(copy, KNOWLEDGE) > 0.5 > recitation_bleu(paraphrase, KNOWLEDGE) > 0.0


# Equality with sacrebleu's multi-reference sentence BLEU: tests/test_rewards_recitation.py.


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet=st.sampled_from("ab Z.,é\u200b😀 \n-"), max_size=200), n=st.integers(1, 12))
def test_tokenize_cap_keeps_the_first_tokens(text, n):
    """Within the 32 * max_tokens character window the cap is exact, through either the findall or the
    finditer path."""
    assert tokenize(text[: 32 * n], n) == tokenize(text[: 32 * n])[:n]
    assert len(tokenize(text, n)) <= n


def test_recitation_cuts_long_reasoning():
    first_line = KNOWLEDGE.splitlines()[0]
    long_text = first_line + " filler" * 5000
    cap = len(tokenize(first_line))
    assert recitation_bleu(long_text, KNOWLEDGE, max_tokens=cap) == pytest.approx(1.0)  # only the copied start
    assert recitation_bleu(long_text, KNOWLEDGE) < 0.5


def test_recitation_brevity_penalty_only_lowers():
    text = "Melanoma shows asymmetry."
    assert recitation_bleu(text, KNOWLEDGE) < recitation_bleu(text, KNOWLEDGE, brevity_penalty=False)


# --- set overlap ---


def test_set_metrics():
    assert set_f1((1, 2), (2, 3)) == pytest.approx(0.5)
    assert jaccard((1, 2), (2, 3)) == pytest.approx(1 / 3)
    assert set_f1((), ()) == jaccard((), ()) == 1.0
    assert set_f1((1,), ()) == jaccard((), (1,)) == 0.0


# --- boxes ---


def test_iou_and_giou():
    a, b = [0, 0, 10, 10], [5, 0, 15, 10]
    assert iou(a, a) == 1.0 and giou(a, a) == 1.0
    assert iou(a, b) == pytest.approx(50 / 150)
    assert giou(a, b) == pytest.approx(50 / 150)  # the hull is the union
    far = [20, 0, 30, 10]
    assert iou(a, far) == 0.0 and giou(a, far) == pytest.approx(-1 / 3)
    assert iou([5, 5, 5, 5], a) == 0.0 and iou([10, 10, 0, 0], a) == 0.0  # degenerate and inverted
    assert giou([1, 1, 1, 1], [1, 1, 1, 1]) == -1.0


def test_match_boxes_is_one_to_one():
    truth = [[0, 0, 10, 10], [20, 20, 30, 30]]
    assert match_boxes(truth[::-1], truth) == (1.0, True)
    reward, ok = match_boxes([truth[0], truth[0]], truth)  # one box twice cannot cover both targets
    assert reward == pytest.approx(0.5) and not ok
    reward, ok = match_boxes([truth[0]], truth)
    assert reward == pytest.approx(0.5) and not ok
    assert match_boxes([], []) == (1.0, True)
    assert match_boxes([], truth) == (0.0, False)


def test_match_boxes_threshold_decides_acc():
    truth = [[0, 0, 10, 10]]
    assert match_boxes([[0, 0, 10, 6]], truth, threshold=0.5) == (pytest.approx(0.6), True)
    assert match_boxes([[0, 0, 10, 6]], truth, threshold=0.7)[1] is False
    reward, _ = match_boxes([[20, 0, 30, 10]], truth, kind="giou")
    assert 0.0 < reward < 0.5


# --- config ---


def test_config_defaults_and_bounds():
    cfg = reward_config({})
    assert cfg == RewardConfig()
    assert cfg.score_bounds() == (0.0, pytest.approx(1.1))
    assert RewardConfig(format_weight=1.0, recite_delta=-0.5).score_bounds() == (-0.5, 2.0)


def test_config_accepts_omegaconf_values_as_verl_passes_them():
    """verl passes dict(cfg.reward_kwargs): the top level is a dict, nested values stay ListConfig."""
    kwargs = dict(OmegaConf.create({"mfrs_table": [1, 0.5, 0], "format_weight": 1, "think_tag": "<think>"}))
    cfg = reward_config(kwargs)
    assert cfg.mfrs_table == (1.0, 0.5, 0.0) and cfg.format_weight == 1.0 and cfg.think_tag == "think"
    assert reward_config(kwargs) is cfg  # cached


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(mfrs_table=[1, 0.5, 0.5]),
        dict(mfrs_table=[0.9, 0.1]),
        dict(mfrs_table=[]),
        dict(mfrs_table="1,0"),
        dict(mfrs_shape="cosine"),
        dict(mfrs_gamma=0),
        dict(ordinal_reward="soft"),
        dict(iou_type="diou"),
        dict(box_format="xywh"),
        dict(think_tag="answer"),
        dict(format_weight=math.nan),
        dict(format_weight="high"),
        dict(acc_requires_format="maybe"),
        dict(recite_ngram=0),
        dict(recite_ngram=2.5),
        dict(recite_span="answer"),
    ],
)
def test_invalid_config_raises(kwargs):
    with pytest.raises(ValueError, match="reward kwarg"):
        reward_config(kwargs)


def test_unknown_kwarg_is_warned_not_fatal(caplog):
    with caplog.at_level(logging.WARNING, logger="reward_fns.config"):
        cfg = reward_config({"format_wieght": 0.5, "reward_router_address": "x:1"})
    assert cfg.format_weight == 0.1
    assert "format_wieght" in caplog.text and "reward_router_address" not in caplog.text


def test_balanced_multilabel_reward():
    """Mean of per-label sensitivity and specificity: with 14 labels, a false positive on a normal image
    costs 1/14 (set F1: everything) and 'no finding' on an abnormal one earns half."""
    from reward_fns.multilabel import balanced_accuracy

    assert balanced_accuracy((), (), 14) == 1.0
    assert balanced_accuracy((3,), (), 14) == pytest.approx(13 / 14) and set_f1((3,), ()) == 0.0
    assert balanced_accuracy((), (2, 5), 14) == pytest.approx(0.5)
    assert balanced_accuracy((2,), (2, 5), 14) == pytest.approx((1 / 2 + 1) / 2)
    assert balanced_accuracy(tuple(range(14)), (2, 5), 14) == pytest.approx(0.5)  # every label: specificity 0
    assert balanced_accuracy((0,), (0,), 1) == 1.0  # every label present: sensitivity alone
