"""Property tests: for arbitrary text, structured near-miss answers, arbitrary extra_info and any valid settings,
compute_score never raises, keeps its keys, stays in bounds, and never credits a hedge."""

from __future__ import annotations

import contextlib
import logging
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rewards_rows import CHEST_LABELS, DERMA_LABELS, KNOWLEDGE, MCQ_OPTIONS, RETINA_LABELS, ROWS, respond

from data_preprocess.schema import EXTRA_INFO_DEFAULTS
from reward_fns import SCORE_KEYS, compute_score, parse_answer
from reward_fns.config import reward_config
from reward_fns.task_type import TaskType
from reward_fns.vqa import HEDGE_WORDS, NO_SPELLINGS, YES_SPELLINGS, normalize_open, open_tokens

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

FRAGMENTS = [
    "<think>",
    "</think>",
    "<answer>",
    "</answer>",
    "<think",
    "answer>",
    "</",
    "<",
    ">",
    " ",
    "\n",
    "\t",
    *DERMA_LABELS,
    *RETINA_LABELS,
    *CHEST_LABELS,
    "nevus",
    "Melanoma",
    "MELANOMA.",
    "A",
    "(B)",
    "E.",
    "1",
    "2",
    "grade",
    "II",
    "or",
    "either",
    "and",
    ",",
    ";",
    "/",
    "[",
    "]",
    "(",
    ")",
    '"',
    "[40, 40, 120, 120]",
    '{"bbox_2d": [1, 2, 3, 4]}',
    "(40,40),(120,120)",
    "none",
    "[]",
    "NaN",
    "1e999",
    "-5",
    "é",
    "\u200b",
    "\ufeff",
    "ｍｅｌａｎｏｍａ",
    "```json",
    "```",
    "The answer is",
    KNOWLEDGE,
    *MCQ_OPTIONS,
    "B",
    "C.",
    "(D)",
    "yes",
    "No",
    "not",
    "present",
    "absent",
    "negative",
    "right lower lobe",
    "lobe",
    "Two",
    "2.0",
    "the",
    "either",
]

any_response = st.one_of(
    st.text(max_size=400),
    st.binary(max_size=200),
    st.none(),
    st.integers(),
    st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=4), max_size=16).map("".join),
)
near_miss = st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=8).map("".join)
valid_kwargs = st.fixed_dictionaries(
    {},
    optional={
        "format_weight": st.floats(-1, 1),
        "acc_weight": st.floats(0, 2),
        "recite_delta": st.floats(-1, 1),
        "ordinal_reward": st.sampled_from(["mfrs", "exact"]),
        "mfrs_shape": st.sampled_from(["table", "exp", "gaussian", "linear"]),
        "iou_type": st.sampled_from(["iou", "giou"]),
        "multilabel_reward": st.sampled_from(["balanced", "f1", "jaccard", "exact"]),
        "acc_requires_format": st.booleans(),
        "think_prefilled": st.booleans(),
        "recite_requires_correct": st.booleans(),
        "recite_span": st.sampled_from(["think", "response"]),
        # The rows' own convention (abs) or none: another one is a config error (test_rewards_box_format.py).
        "box_format": st.sampled_from([None, "abs"]),
        "abs_frame": st.sampled_from(["qwen", "stored"]),
        "open_reward": st.sampled_from(["recall", "f1", "exact"]),
        "open_max_length_ratio": st.floats(1, 100),
    },
)


@contextlib.contextmanager
def no_warnings():
    """Valid rows must never reach the ungradable / internal-error path (which only logs)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logger = logging.getLogger("reward_fns")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
    assert not records, [r.getMessage() for r in records]


def check_result(result: dict, kwargs: dict) -> None:
    assert tuple(result) == SCORE_KEYS
    assert isinstance(result["pred"], str)
    for key in SCORE_KEYS:
        if key != "pred":
            assert type(result[key]) is float and math.isfinite(result[key]), key
    for key in ("acc", "format", "parsed"):
        assert result[key] in (0.0, 1.0), key
    for key in ("mfrs", "recite", "iou", "set_f1", "token_f1"):
        assert 0.0 <= result[key] <= 1.0, key
    low, high = reward_config(kwargs).score_bounds()
    assert low - 1e-9 <= result["score"] <= high + 1e-9
    assert result["parsed"] == float(bool(result["pred"]))
    if result["acc"]:
        assert result["parsed"] == 1.0


@SETTINGS
@given(row=st.sampled_from(sorted(ROWS)), response=any_response, kwargs=valid_kwargs)
def test_arbitrary_responses_keep_keys_and_bounds(row, response, kwargs):
    data_source, truth, info = ROWS[row]
    with no_warnings():
        check_result(compute_score(data_source, response, truth, info, **kwargs), kwargs)


@SETTINGS
@given(row=st.sampled_from(sorted(ROWS)), answer=near_miss, think=near_miss)
def test_structured_near_misses_keep_keys_and_bounds(row, answer, think):
    data_source, truth, info = ROWS[row]
    with no_warnings():
        for response in (respond(answer, think), f"<answer>{answer}</answer>", f"<think>{think}{answer}</think>"):
            check_result(compute_score(data_source, response, truth, info), {})


@SETTINGS
@given(
    row=st.sampled_from(["multiclass", "letter", "number", "binary", "ordinal", "mcq", "mcq_numbers"]),
    picks=st.lists(st.integers(0, 6), min_size=2, max_size=4, unique=True),
    connector=st.sampled_from([" or ", " and ", ", ", "; ", "/", " vs ", " either ", " ", " | ", "\n"]),
    spell=st.sampled_from(["name", "upper", "letter", "number"]),
)
def test_naming_several_labels_never_earns_accuracy(row, picks, connector, spell):
    data_source, truth, info = ROWS[row]
    labels = info["labels"]
    picks = [p % len(labels) for p in picks]
    if len(set(picks)) < 2:
        return
    words = {
        "name": [labels[p] for p in picks],
        "upper": [labels[p].upper() for p in picks],
        "letter": ["ABCDEFG"[p] for p in picks],
        "number": [str(p + 1) for p in picks],
    }[spell]
    result = compute_score(data_source, respond(connector.join(words)), truth, info)
    assert result["acc"] == 0.0 and result["mfrs"] == 0.0 and result["score"] <= 0.1 + 1e-9


@SETTINGS
@given(row=st.sampled_from(sorted(ROWS)), text=st.text(max_size=200), kwargs=valid_kwargs)
def test_answers_that_sit_only_in_the_think_block_never_count(row, text, kwargs):
    data_source, truth, info = ROWS[row]  # every row's ground truth is also a correct answer
    assert compute_score(data_source, respond(truth), truth, info)["acc"] == 1.0
    response = f"<think>{text} {truth} <answer>{truth}</answer></think>"
    assert compute_score(data_source, response, truth, info, **kwargs)["acc"] == 0.0


@SETTINGS
@given(grade=st.integers(0, 4), truth=st.integers(0, 4))
def test_mfrs_orders_grades_by_distance(grade, truth):
    data_source, _, info = ROWS["ordinal"]
    near = compute_score(data_source, respond(str(grade)), RETINA_LABELS[truth], info)
    exact = compute_score(data_source, respond(str(truth)), RETINA_LABELS[truth], info)
    assert exact["score"] == 1.1 and exact["mfrs"] == 1.0
    if grade != truth:
        farther = min(4, max(grade, truth) + 1) if grade > truth else max(0, grade - 1)
        far = compute_score(data_source, respond(str(farther)), RETINA_LABELS[truth], info)
        assert near["score"] < exact["score"]
        assert far["mfrs"] <= near["mfrs"]


extra_info_values = st.one_of(
    st.none(),
    st.text(max_size=20),
    st.integers(),
    st.floats(),
    st.booleans(),
    st.lists(st.one_of(st.text(max_size=10), st.integers(), st.none(), st.lists(st.text(max_size=5))), max_size=5),
    st.sampled_from([*(t.value for t in TaskType), "letter", "number", "abs"]),
)
any_extra_info = st.one_of(
    st.none(),
    st.text(max_size=10),
    st.integers(),
    st.dictionaries(st.sampled_from(sorted(EXTRA_INFO_DEFAULTS)), extra_info_values, max_size=8),
)


@SETTINGS
@given(
    data_source=st.sampled_from(["verl_med/x", "other", None, 3]),
    response=any_response,
    ground_truth=st.one_of(st.none(), st.text(max_size=30), st.integers(), st.sampled_from(["[]", "[[1,2,3,4]]"])),
    extra_info=any_extra_info,
)
def test_arbitrary_rows_never_raise(data_source, response, ground_truth, extra_info):
    result = compute_score(data_source, response, ground_truth, extra_info)
    assert tuple(result) == SCORE_KEYS and isinstance(result["pred"], str)
    parsed = parse_answer(response, extra_info)
    if isinstance(extra_info, dict) and extra_info.get("task_type") == "open":  # free text: no index, set or box
        assert parsed.pred == "" or normalize_open(parsed.pred) == parsed.pred
    else:
        assert (parsed.pred == "") == (parsed.label_index is None and parsed.label_set is None and parsed.boxes is None)


# --- medical VQA ---------------------------------------------------------------------------------------------

CONNECTORS = [" or ", " and ", ", ", "; ", "/", " vs ", " ", " | ", "\n", " but ", ", it is "]


@SETTINGS
@given(
    yes=st.sampled_from(sorted(YES_SPELLINGS)),
    no=st.sampled_from(sorted(NO_SPELLINGS)),
    connector=st.sampled_from(CONNECTORS),
    yes_first=st.booleans(),
)
def test_closed_answers_naming_both_polarities_never_earn_accuracy(yes, no, connector, yes_first):
    answer = connector.join([yes, no] if yes_first else [no, yes])
    for row in ("closed", "closed_no"):
        data_source, truth, info = ROWS[row]
        result = compute_score(data_source, respond(answer), truth, info)
        assert result["acc"] == 0.0 and result["pred"] == "" and result["score"] <= 0.1 + 1e-9


@SETTINGS
@given(
    spelling=st.sampled_from(sorted(YES_SPELLINGS | NO_SPELLINGS)),
    negation=st.sampled_from(["not ", "not a ", "no ", "isn't ", "never ", "hardly ", "not\n"]),
)
def test_a_negated_polarity_word_never_scores_as_that_polarity(spelling, negation):
    """Negation-safe: "not yes", "no positive", "not absent"... never read as the word they negate."""
    polarity = "yes" if spelling in YES_SPELLINGS else "no"
    data_source, truth, info = ROWS["closed" if polarity == "yes" else "closed_no"]
    result = compute_score(data_source, respond(negation + spelling), truth, info)
    assert result["acc"] == 0.0


@SETTINGS
@given(
    extra=st.lists(
        st.sampled_from(
            ["left", "upper", "middle", "lung", "liver", "kidney", "mass", "cyst", "2", "lobe", "right", "nodule"]
        ),
        min_size=1,
        max_size=20,
    ),
    kwargs=st.fixed_dictionaries(
        {},
        optional={"open_reward": st.sampled_from(["recall", "f1", "exact"]), "open_max_length_ratio": st.floats(1, 10)},
    ),
)
def test_padding_an_open_answer_never_pays(extra, kwargs):
    """Property: appending candidate words to the correct answer never raises its score, and an answer longer
    than open_max_length_ratio x the reference earns the format term only."""
    data_source, truth, info = ROWS["open"]
    correct = compute_score(data_source, respond(truth), truth, info, **kwargs)
    padded = compute_score(data_source, respond(truth + " " + " ".join(extra)), truth, info, **kwargs)
    assert padded["score"] <= correct["score"] + 1e-9 and padded["acc"] == 0.0
    ratio = reward_config(kwargs).open_max_length_ratio
    if len(open_tokens(truth)) + len(extra) > ratio * len(open_tokens(truth)):
        assert padded["score"] == 0.1


@SETTINGS
@given(
    candidates=st.lists(
        st.sampled_from(
            ["pneumonia", "edema", "effusion", "mass", "nodule", "fracture", "cardiomegaly", "atelectasis"]
        ),
        min_size=2,
        max_size=6,
        unique=True,
    ),
    truth=st.sampled_from(["pneumonia", "edema", "effusion"]),
)
def test_listing_open_candidates_never_beats_committing_to_one(candidates, truth):
    """Length-penalised recall (the default): k candidates holding the reference earn at most 1/k, so listing never
    beats the single best guess in expectation; a hedge word earns nothing."""
    data_source, _, info = ROWS["open"]
    listed = compute_score(data_source, respond(" ".join(candidates)), truth, info)
    assert listed["score"] - 0.1 <= 1 / len(candidates) + 1e-9
    hedged = compute_score(data_source, respond(" or ".join(candidates)), truth, info)
    assert hedged["score"] == 0.1 and not HEDGE_WORDS.isdisjoint(hedged["pred"].split())


ADVERSARIAL = [
    "<think>" * 20_000,
    "<answer>" * 10_000 + "</answer>" * 10_000,
    "<think>" + "a" * 100_000 + "</think><answer>melanoma</answer>",
    "<think>x</think><answer>" + "melanoma or " * 8_000 + "</answer>",
    "<think>x</think><answer>" + "[" * 50_000 + "]" * 50_000 + "</answer>",
    "<think>x</think><answer>" + "9" * 100_000 + "</answer>",
    "<think>x</think><answer>" + "1," * 50_000 + "</answer>",
    "<think>" + KNOWLEDGE * 400 + "</think><answer>melanoma</answer>",
    "\x00\ud800" * 30_000,
    "<think>x</think><answer>" + "yes no " * 600 + "</answer>",
    "<think>x</think><answer>" + "the " * 2_000 + "</answer>",
    "<think>x</think><answer>" + "right lower lobe or " * 400 + "</answer>",
    "<think>x</think><answer>" + "A B C D " * 1_000 + "</answer>",
]


def test_adversarial_100kb_inputs_keep_keys_and_bounds():
    kwargs = dict(recite_delta=-0.5)
    with no_warnings():
        for text in ADVERSARIAL:
            for row in ROWS:
                data_source, truth, info = ROWS[row]
                check_result(compute_score(data_source, text, truth, info, **kwargs), kwargs)
