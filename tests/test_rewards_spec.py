"""Specifications a mutation run showed no test enforced (mutmut 3.8.1 over reward_fns/).

Each test names, in its docstring, the mutant of the reward code it was checked to fail under (applied by hand,
test run, reverted). Expected values come from independent computations: transformers' Qwen2-VL ``smart_resize``,
torchvision's box IoU/GIoU, scikit-learn's balanced accuracy, sacrebleu's sentence BLEU, verl's own scorers.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
import torch
from rewards_rows import CHEST_LABELS, RETINA_LABELS, chest, grounding, respond, retina
from sacrebleu.metrics import BLEU
from sklearn.metrics import balanced_accuracy_score
from torchvision.ops import box_iou, generalized_box_iou
from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize as hf_smart_resize

import reward_fns.composite
from data_preprocess.schema import make_extra_info
from reward_fns import compute_score
from reward_fns.boxes import giou, iou
from reward_fns.format import split_blocks
from reward_fns.mfrs import mfrs_reward
from reward_fns.multilabel import balanced_accuracy
from reward_fns.recitation import MIN_REFERENCE_TOKENS, reference_lines, tokenize

# --- grounding: non-square images and boxes -------------------------------------------------------------------


@pytest.mark.parametrize("size", [(640, 320), (300, 900), (1000, 200)])
def test_a_correct_absolute_box_on_a_non_square_image_scores_full_marks(size):
    """The model's "abs" boxes are pixels of the image after Qwen2.5-VL's resize, whose width and height are
    rounded separately. Mutant killed: ``smart_resize(round(size[0]), round(size[1]), ...)`` with ``size[1]`` for
    the width (640x320: score 0.27 instead of 1.1); every other grounding test image is square."""
    width, height = size
    # transformers' own resize (what the processor feeds the model): (height, width) in, (height, width) out.
    model_h, model_w = hf_smart_resize(height, width, factor=28, min_pixels=4 * 28 * 28, max_pixels=16384 * 28 * 28)
    truth = [0.1 * width, 0.2 * height, 0.6 * width, 0.7 * height]
    sx, sy = model_w / width, model_h / height
    answer = [round(truth[0] * sx), round(truth[1] * sy), round(truth[2] * sx), round(truth[3] * sy)]
    result = compute_score("verl_med/organ_loc", respond(str(answer)), str([truth]), grounding("abs", size))
    assert result["acc"] == 1.0
    assert result["iou"] == pytest.approx(1.0, abs=0.02)
    assert result["score"] == pytest.approx(1.1, abs=0.02)


BOX_PAIRS = [
    ([0, 0, 40, 10], [20, 0, 60, 10]),  # wide boxes side by side: IoU 1/3
    ([0, 0, 10, 40], [0, 20, 10, 60]),  # tall boxes stacked
    ([0, 0, 40, 10], [0, 0, 10, 40]),  # a cross
    ([5, 0, 45, 10], [0, 30, 10, 90]),  # disjoint, non-square hull
    ([10, 20, 70, 30], [15, 5, 35, 95]),
]


@pytest.mark.parametrize(("a", "b"), BOX_PAIRS)
def test_iou_and_giou_of_non_square_boxes_equal_torchvisions(a, b):
    """Mutants killed: ``_overlap(a[0], a[2], ...)`` -> ``a[3]`` and the other swaps of x and y coordinates in
    ``iou``/``giou``/``_area`` (12 survived: with square boxes x and y are interchangeable)."""
    ta, tb = torch.tensor([a], dtype=torch.float64), torch.tensor([b], dtype=torch.float64)
    assert iou(a, b) == pytest.approx(box_iou(ta, tb).item(), abs=1e-12)
    assert giou(a, b) == pytest.approx(generalized_box_iou(ta, tb).item(), abs=1e-12)
    assert giou(b, a) == pytest.approx(giou(a, b), abs=1e-12)


def test_giou_reward_of_a_non_square_box_pair():
    """compute_score maps GIoU to [0, 1] as (GIoU + 1) / 2. Mutant killed: ``giou``'s x overlap read from
    ``a[3]`` (0.67 instead of 0.33 GIoU on these wide boxes)."""
    a, b = [0, 0, 400, 100], [200, 0, 600, 100]
    expected = (
        generalized_box_iou(torch.tensor([a], dtype=torch.float64), torch.tensor([b], dtype=torch.float64)).item() + 1
    ) / 2
    result = compute_score(
        "verl_med/organ_loc",
        respond(str(a)),
        str([b]),
        grounding("abs", (1000, 1000)),
        iou_type="giou",
        abs_frame="stored",
    )
    assert result["iou"] == pytest.approx(expected) == pytest.approx((1 / 3 + 1) / 2)


@pytest.mark.parametrize(("threshold", "acc"), [(0.5, 1.0), (0.6, 1.0), (0.7, 0.0), (1.0, 0.0)])
def test_iou_threshold_decides_grounding_accuracy(threshold, acc):
    """A box of IoU 0.64 is correct under thresholds up to 0.64 and wrong above. Mutant killed: ``match_boxes``
    called without ``cfg.iou_threshold`` (the setting silently ignored, 0.5 always)."""
    truth, pred = [0, 0, 100, 100], [0, 0, 100, 64]
    assert box_iou(torch.tensor([truth], dtype=torch.float64), torch.tensor([pred], dtype=torch.float64)).item() == (
        pytest.approx(0.64)
    )
    result = compute_score(
        "verl_med/organ_loc", respond(str(pred)), str([truth]), grounding("rel1000"), iou_threshold=threshold
    )
    assert result["acc"] == acc
    assert result["iou"] == pytest.approx(0.64)


# --- multilabel: the anti-hedging bound, specificity, lettered answers -------------------------------------------

THREE = ["atelectasis", "effusion", "mass"]


def three_labels() -> dict:
    return make_extra_info(dataset="chestmnist", task_type="multilabel", labels=list(THREE), image_size=[28, 28])


def test_naming_all_three_labels_of_a_three_label_row_pays_nothing():
    """Documented bound (``names_every_label``: three or more labels): naming every label scores no task term
    unless every label is present. Mutant killed: ``n_labels >= 3`` -> ``>= 4`` (0.6 instead of 0.1)."""
    hedge = compute_score("verl_med/chestmnist", respond(", ".join(THREE)), '["effusion", "mass"]', three_labels())
    assert (hedge["acc"], hedge["score"], hedge["pred"]) == (0.0, pytest.approx(0.1), json_list(THREE))
    right = compute_score("verl_med/chestmnist", respond(", ".join(THREE)), json_list(THREE), three_labels())
    assert (right["acc"], right["score"]) == (1.0, pytest.approx(1.1))


def test_naming_both_labels_of_a_two_label_row_is_an_ordinary_answer():
    """Below the bound both labels may be named and are graded by balanced accuracy (sensitivity 1, specificity
    0). Mutant killed: ``n_labels >= 3`` -> ``>= 2``."""
    info = make_extra_info(dataset="x", task_type="multilabel", labels=["effusion", "mass"], image_size=[28, 28])
    result = compute_score("verl_med/x", respond("effusion, mass"), '["mass"]', info)
    assert result["acc"] == 0.0
    assert result["score"] == pytest.approx(0.1 + balanced_accuracy_score([0, 1], [1, 1]))


def json_list(names: list[str]) -> str:
    import json

    return json.dumps(names)


def indicator(indices: tuple[int, ...], n: int) -> list[int]:
    return [int(i in indices) for i in range(n)]


@pytest.mark.parametrize(
    ("pred", "truth"),
    [
        ((0, 1, 2, 4), (0, 1, 2, 3)),  # one absent label, named: specificity 0
        ((0, 1, 2), (0, 1, 2, 3)),  # one absent label, not named
        ((3,), (0, 1, 2, 3)),
        ((0,), (1,)),
        ((0, 1), ()),  # no finding present: specificity only
        ((), (0, 2)),
        ((0, 1, 2, 3, 4), (0, 1, 2, 3, 4)),  # every label present: sensitivity only
    ],
)
def test_balanced_multilabel_reward_equals_sklearns_balanced_accuracy(pred, truth):
    """Per-label indicators, then scikit-learn's balanced accuracy (mean recall of the present and the absent
    class; a class that does not occur is left out). Mutant killed: ``absent > 0`` -> ``absent > 1`` (one absent
    label: specificity ignored, 0.75 instead of 0.375)."""
    n = len(CHEST_LABELS)
    y_true, y_pred = indicator(truth, n), indicator(pred, n)
    with pytest.warns(UserWarning) if len(set(y_true)) == 1 else _no_warning():
        expected = balanced_accuracy_score(y_true, y_pred)
    assert balanced_accuracy(pred, truth, n) == pytest.approx(expected)


def _no_warning():
    import contextlib

    return contextlib.nullcontext()


def test_one_absent_label_named_costs_half_the_reward():
    """Through compute_score: ChestMNIST-like row, four findings present, the answer names three of them and the
    absent one. Mutant killed: ``absent > 0`` -> ``> 1`` (score 0.85 instead of 0.475)."""
    truth = json_list(CHEST_LABELS[:4])
    answer = ", ".join([*CHEST_LABELS[:3], CHEST_LABELS[4]])
    result = compute_score("verl_med/chestmnist", respond(answer), truth, chest())
    assert result["score"] == pytest.approx(0.1 + (3 / 4 + 0 / 1) / 2)


@pytest.mark.parametrize(
    ("answer", "expected"), [("A, C", [0, 2]), ("(B); E", [1, 4]), ("D", [3]), ("B and C", [1, 2])]
)
def test_lettered_multilabel_answers_are_read(answer, expected):
    """A multilabel prompt that lists the labels as options A-E accepts their letters. Mutant killed:
    ``match_label_set(answer, space, info.option_style)`` without the option style (letters never read)."""
    info = chest()
    info["option_style"] = "letter"
    truth = json_list([CHEST_LABELS[i] for i in expected])
    result = compute_score("verl_med/chestmnist", respond(answer), truth, info)
    assert (result["acc"], result["pred"]) == (1.0, truth)


def test_letters_are_not_labels_without_lettered_options():
    """The converse: with no options shown, "A, C" names no label (a letter is not a finding)."""
    result = compute_score("verl_med/chestmnist", respond("A, C"), '["atelectasis", "effusion"]', chest())
    assert (result["acc"], result["pred"]) == (0.0, "")


# --- numeric ground truths: zero is a label index ----------------------------------------------------------------


@pytest.mark.parametrize("zero", [0, 0.0, "0", np.int64(0), np.array(0)])
def test_a_numeric_ground_truth_of_zero_is_the_first_label(zero):
    """Rows from other pipelines store labels as indices; 0 is the first label ("no retinopathy"), not an
    ungradable row. Mutants killed: ``0 <= number`` -> ``0 < number`` in ``truth_label`` and ``value >= 0`` ->
    ``> 0`` / ``0 <= value`` -> ``0 < value`` in ``_as_index`` (the row scored all zeros)."""
    right = compute_score("verl_med/retinamnist", respond("no retinopathy"), zero, retina())
    assert (right["acc"], right["mfrs"], right["score"]) == (1.0, 1.0, pytest.approx(1.1))
    off_by_one = compute_score("verl_med/retinamnist", respond("mild"), zero, retina())
    assert (off_by_one["acc"], off_by_one["mfrs"]) == (0.0, 0.25)


@pytest.mark.parametrize("last", [4, 4.0, "4"])
def test_a_numeric_ground_truth_of_the_last_index_is_the_last_label(last):
    """The upper bound: index n - 1 is the last label, index n none. Mutant killed: ``number < len(labels)`` ->
    ``<= len(labels)`` would read 5 as a label (and crash on the lookup)."""
    assert compute_score("verl_med/retinamnist", respond(RETINA_LABELS[-1]), last, retina())["acc"] == 1.0
    assert compute_score("verl_med/retinamnist", respond(RETINA_LABELS[-1]), 5, retina())["score"] == 0.0


# --- every setting changes a score ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "gamma", "distance", "expected"),
    [
        ("exp", 1.0, 1, math.exp(-1.0)),
        ("exp", 0.5, 2, math.exp(-1.0)),
        ("gaussian", 0.3, 2, math.exp(-1.2)),
        ("linear", 0.4, 2, 0.2),
        ("exp", None, 1, 0.25),  # the defaults: ln 4, ln 2, 1 / (grades - 1)
        ("gaussian", None, 1, 0.5),
        ("linear", None, 2, 0.5),
    ],
)
def test_mfrs_gamma_sets_the_decay(shape, gamma, distance, expected):
    """Mutant killed: ``mfrs_reward(..., cfg.mfrs_gamma)`` -> ``None`` (the setting silently ignored)."""
    result = compute_score(
        "verl_med/retinamnist",
        respond(RETINA_LABELS[distance]),
        "no retinopathy",
        retina(),
        mfrs_shape=shape,
        mfrs_gamma=gamma,
    )
    assert result["mfrs"] == pytest.approx(expected)
    assert result["score"] == pytest.approx(0.1 + expected)


def test_ordinal_reward_exact_pays_only_the_exact_grade():
    """``ordinal_reward="exact"``: the task term is acc, MFRS is still reported."""
    result = compute_score("verl_med/retinamnist", respond("mild"), "no retinopathy", retina(), ordinal_reward="exact")
    assert (result["score"], result["mfrs"]) == (pytest.approx(0.1), 0.25)


# Knowledge of three lines of at least MIN_REFERENCE_TOKENS tokens: each line is one reference, plus the whole text.
LINES = [
    "Melanoma shows asymmetry, irregular borders, several colours, an atypical pigment network and a blue-white veil.",
    "Melanocytic nevi are symmetric with regular borders, uniform colour and a regular pigment network at the edge.",
    "Basal cell carcinoma shows pearly papules, arborizing vessels, blue-grey ovoid nests and no pigment network.",
]
THINK = (
    "The lesion shows asymmetry and irregular borders with several colours and a blue veil, no arborizing vessels "
    "and no pearly papules, unlike basal cell carcinoma or nevi with regular borders."
)


def sacrebleu_recite(think: str, order: int = 4, smooth: str = "exp", max_tokens: int = 1024) -> float:
    """sacrebleu's sentence BLEU of the (cut) think against each knowledge line and the whole knowledge."""
    words = [tokenize(line) for line in LINES]
    refs = [" ".join(w) for w in words] + [" ".join(t for w in words for t in w)]
    bleu = BLEU(tokenize="none", smooth_method=smooth, max_ngram_order=order, effective_order=True)
    return bleu.sentence_score(" ".join(tokenize(think)[:max_tokens]), refs).score / 100


def recite(think: str = THINK, knowledge: str = "\n".join(LINES), **kwargs) -> dict:
    info = retina()
    info["knowledge"] = knowledge
    return compute_score("verl_med/retinamnist", respond("mild", think=think), "mild", info, recite_delta=0.5, **kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"recite_ngram": 2},
        {"recite_ngram": 1},
        {"recite_smooth": "floor"},
        {"recite_smooth": "none"},
        {"recite_smooth": "add-k"},
        {"recite_max_tokens": 6},
        {"recite_max_tokens": 6, "recite_ngram": 2, "recite_smooth": "floor"},
    ],
)
def test_each_recitation_setting_reaches_the_score(kwargs):
    """Mutants killed: ``recitation_bleu`` called without ``order=cfg.recite_ngram``, ``smooth=cfg.recite_smooth``
    or ``max_tokens=cfg.recite_max_tokens`` (no recitation setting reached a tested score)."""
    expected = sacrebleu_recite(
        THINK, kwargs.get("recite_ngram", 4), kwargs.get("recite_smooth", "exp"), kwargs.get("recite_max_tokens", 1024)
    )
    result = recite(**kwargs)
    assert result["recite"] == pytest.approx(expected, abs=1e-9)
    assert result["score"] == pytest.approx(1.1 + 0.5 * expected)
    if kwargs:
        assert expected != pytest.approx(sacrebleu_recite(THINK), abs=1e-3)  # the setting matters on this think


def test_knowledge_ending_in_a_short_line_is_recited():
    """A last line shorter than ``MIN_REFERENCE_TOKENS`` joins the previous reference; reciting the knowledge
    verbatim earns 1. Mutant killed: ``refs[-1] = refs[-1] + pending`` -> ``refs[-1] = None`` (the scorer crashed
    and the catch-all turned the reward into 0: 1.35 -> 0)."""
    knowledge = LINES[0] + "\nSee a dermatologist."
    assert len(tokenize("See a dermatologist.")) < MIN_REFERENCE_TOKENS
    assert reference_lines(knowledge) == [tokenize(knowledge)]
    result = recite(think=knowledge, knowledge=knowledge)
    assert (result["recite"], result["score"]) == (pytest.approx(1.0), pytest.approx(1.1 + 0.5))


def test_recitation_requires_correct_pays_only_correct_answers():
    """``recite_requires_correct``: a wrong answer earns no recitation term."""
    info = retina()
    info["knowledge"] = "\n".join(LINES)
    wrong = compute_score(
        "verl_med/retinamnist",
        respond("severe", think=THINK),
        "mild",
        info,
        recite_delta=0.5,
        recite_requires_correct=True,
    )
    assert wrong["recite"] == 0.0
    assert recite(recite_requires_correct=True)["recite"] == pytest.approx(sacrebleu_recite(THINK))


# --- truncated answer blocks ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "response",
    [
        "<think>round</think><answer>mild</answer><answer>severe",  # a second block cut off
        "<think>round</think><answer>mild</answer></answer>",  # a stray closing tag
        "<think>round</think><answer>mild",  # the only block cut off
        "<think>round</think>mild</answer>",
    ],
)
def test_a_response_with_a_cut_off_answer_block_earns_nothing(response):
    """Exactly one ``<answer>`` and one ``</answer>``. Mutant killed: ``n_a_open == 1 and n_a_close == 1`` ->
    ``or`` (a second block cut off earned acc 1)."""
    assert split_blocks(response).answer is None
    result = compute_score("verl_med/retinamnist", response, "mild", retina())
    assert (result["acc"], result["format"], result["pred"], result["score"]) == (0.0, 0.0, "", 0.0)


@pytest.mark.parametrize(
    "response",
    [
        "<think>a</think><think>b</think><answer>mild</answer>",  # two think blocks
        "<think>round<answer>mild</answer>",  # the think block never closed
        "</think>round<think><answer>mild</answer>",
        "<think>a<think>b</think><answer>mild</answer>",  # two openings, one closing
        "<think>a</think>b</think><answer>mild</answer>",  # one opening, two closings
    ],
)
def test_a_broken_think_layout_earns_no_format(response):
    """Exactly one think block, closed, before the answer: format 0 otherwise. Mutant killed:
    ``n_t_open == 1 and n_t_close == 1`` -> ``or`` (a think block holding a second opening tag passed)."""
    assert split_blocks(response).format_ok is False
    assert compute_score("verl_med/retinamnist", response, "mild", retina())["format"] == 0.0


# --- rows of other data sources: verl's own scorers --------------------------------------------------------------

DAPO_RIGHT = "Adding the two angles gives 60 degrees.\nAnswer: 60"
DAPO_WRONG = "Adding the two angles gives 61 degrees.\nAnswer: 61"


@pytest.mark.parametrize(("response", "truth"), [(DAPO_RIGHT, "60"), (DAPO_WRONG, "60")])
def test_a_math_dapo_row_scores_what_verls_scorer_says(response, truth):
    """verl's math_dapo scorer returns a dict (score 1 / -1, acc, pred); every field maps onto our keys, format
    stays 0 (verl reports none). Mutants killed: ``score = float(result["score"])`` -> ``None`` and the other
    mutants of the dict branch of ``_verl_default`` (47 survived: no test fed it a dict-returning source)."""
    from verl.utils.reward_score import default_compute_score

    expected = default_compute_score("math_dapo", response, truth)
    result = compute_score("math_dapo", response, truth, {"split": "train"})
    assert result["score"] == float(expected["score"])
    assert result["acc"] == float(expected["acc"])
    assert result["pred"] == expected["pred"]
    assert (result["format"], result["parsed"], result["iou"]) == (0.0, 1.0, 0.0)


def test_our_reward_kwargs_do_not_reach_verls_scorers():
    """A mixed run passes our reward kwargs on every call; verl's scorer must not see them, the score is the
    same as without them."""
    with_kwargs = compute_score("math_dapo", DAPO_RIGHT, "60", None, format_weight=0.5, recite_delta=0.2)
    assert with_kwargs == compute_score("math_dapo", DAPO_RIGHT, "60", None)
    assert with_kwargs["score"] == 1.0


@pytest.mark.parametrize(("answer", "score"), [("60", 1.0), ("61", 0.1)])
def test_a_geo3k_row_scores_verls_scalar_as_score_and_acc(answer, score):
    """A scalar from verl is both score and acc (verl's convention), pred stays empty; geo3k pays 0.1 for the
    format of a wrong answer."""
    from verl.utils.reward_score import default_compute_score

    response = f"<think>The angles are supplementary.</think> The answer is \\boxed{{{answer}}}"
    assert default_compute_score("hiyouga/geometry3k", response, "60") == pytest.approx(score)
    result = compute_score("hiyouga/geometry3k", response, "60", None)
    assert (result["score"], result["acc"], result["format"], result["pred"]) == (score, score, 0.0, "")


@pytest.mark.parametrize(("n_grades", "distance", "expected"), [(2, 1, 0.0), (3, 1, 0.5), (5, 2, 0.5), (5, 4, 0.0)])
def test_linear_mfrs_default_decay_reaches_zero_at_the_farthest_grade(n_grades, distance, expected):
    """Default linear decay g = 1 / (grades - 1): the farthest grade scores 0, even on a two-grade scale.
    Mutant killed: ``max(1, n_grades - 1)`` -> ``max(2, n_grades - 1)`` (a two-grade miss paid 0.5)."""
    assert mfrs_reward(distance, n_grades, "linear") == pytest.approx(expected)


def test_an_answer_after_a_reopened_think_block_is_inside_the_reasoning():
    """The answer counts only if the last think block opened before it is closed before it. Mutant killed:
    ``text.rfind(t_open, 0, ai)`` -> ``text.find`` (the first, closed, block would vouch for the second)."""
    response = "<think>a</think><think>b <answer>mild</answer>"
    assert split_blocks(response).answer is None
    assert compute_score("verl_med/retinamnist", response, "mild", retina())["acc"] == 0.0


# --- compute_score's dispatch and its warnings ------------------------------------------------------------------


def test_a_verl_med_source_without_task_type_is_ours_and_ungradable(caplog):
    """``verl_med/`` rows are ours even without a task type: graded as an unknown task type, never sent to verl.
    Mutant killed: ``DATA_SOURCE_PREFIX = "verl_med/"`` changed (the row went to verl: NotImplementedError)."""
    with caplog.at_level(logging.WARNING, logger="reward_fns.composite"):
        result = compute_score("verl_med/no_type", respond("mild"), "mild", {"labels": ["mild"]})
    assert result["score"] == 0.0
    assert "reward_fns: verl_med/no_type scores 0: unknown extra_info.task_type ''" in caplog.messages
    assert "NotImplementedError" not in caplog.text


def test_an_unknown_source_is_warned_with_verls_reason(caplog):
    """The exact warning line (operators grep for it). Mutants killed: the message strings of ``_warn_once`` and
    of ``_verl_default``'s failure."""
    with caplog.at_level(logging.WARNING, logger="reward_fns.composite"):
        compute_score("someone/spec_unknown", "text", "x", None)
    assert caplog.messages == [
        "reward_fns: someone/spec_unknown scores 0: verl default_compute_score failed: NotImplementedError: "
        "Reward function is not implemented for data_source='someone/spec_unknown'"
    ]


def test_warnings_are_cut_to_200_characters_and_capped_at_1000(caplog, monkeypatch):
    """Garbage data sources or reasons cannot flood the log: each part is cut to 200 characters, and at most 1,000
    distinct warnings are kept per process. Mutants killed: ``[:200]`` -> ``[:201]``, ``< 1000`` -> ``<= 1000``."""
    monkeypatch.setattr(reward_fns.composite, "_WARNED", set())
    with caplog.at_level(logging.WARNING, logger="reward_fns.composite"):
        reward_fns.composite._warn_once("s" * 300, "r" * 300)
        assert caplog.messages == [f"reward_fns: {'s' * 200} scores 0: {'r' * 200}"]
        for i in range(1200):
            reward_fns.composite._warn_once("src", f"reason {i}")
    assert len(caplog.records) == 1000


def test_verl_receives_the_row_and_only_its_own_call_kwargs(monkeypatch):
    """verl's scorer gets the row as given and, of the reward kwargs, only the ones verl itself passes
    (``VERL_CALL_KWARGS``). The real scorer runs, wrapped to record its arguments. Mutants killed: each argument
    of the ``default_compute_score`` call replaced by None, and the kwargs filter inverted."""
    import verl.utils.reward_score

    real = verl.utils.reward_score.default_compute_score
    calls = []

    def recording(*args, **kwargs):
        calls.append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(verl.utils.reward_score, "default_compute_score", recording)
    extra = {"split": "train", "index": 3}
    result = compute_score("math_dapo", DAPO_RIGHT, "60", extra, memory_limit_mb=512, format_weight=0.5)
    assert calls == [(("math_dapo", DAPO_RIGHT, "60", extra), {"memory_limit_mb": 512})]
    assert result["score"] == 1.0


def test_balanced_accuracy_of_an_empty_label_space_is_zero():
    """No label at all: neither sensitivity nor specificity exists, the reward is 0 (nothing can be earned).
    Mutants killed: the ``if parts else 0.0`` guard removed (ZeroDivisionError) or its value set to 1.0."""
    assert balanced_accuracy((), (), 0) == 0.0


@pytest.mark.parametrize("response", ["<answer>mild</answer>", "mild", "<think></think><answer>mild</answer>"])
def test_a_response_without_a_think_block_has_an_empty_think(response):
    """``Blocks.think`` is "" when there is no (non-blank) think block: recitation then scores nothing. Mutants
    killed: the initial ``think = ""`` set to None or "XXXX"."""
    assert split_blocks(response).think == ""
    info = retina()
    info["knowledge"] = "\n".join(LINES)
    assert compute_score("verl_med/retinamnist", response, "mild", info, recite_delta=0.5)["recite"] == 0.0


@pytest.mark.parametrize("prefix", ["", " ", "x"])
def test_an_answer_inside_an_unclosed_think_block_is_not_read(prefix):
    """Wherever the unclosed think block starts (at 0 too), an answer after it is reasoning, not an answer.
    Mutant killed: ``text.rfind(t_open, 0, ai)`` -> ``text.rfind(t_open, 1, ai)`` (a block opened at 0 was
    missed)."""
    response = prefix + "<think>round <answer>mild</answer>"
    assert split_blocks(response).answer is None
    assert compute_score("verl_med/retinamnist", response, "mild", retina())["acc"] == 0.0
