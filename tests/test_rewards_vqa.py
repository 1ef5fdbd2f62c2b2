"""Medical VQA rewards: multiple choice, yes/no and free-text answers, the shared token scorer
``reward_fns.vqa.open_scores``, their settings, rows read back from parquet, and cost on garbage."""

from __future__ import annotations

import doctest
import os
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rewards_rows import MCQ_OPTIONS, ROWS, closed, mcq, open_row, respond

import reward_fns.accuracy
import reward_fns.parsing
import reward_fns.vqa
from data_preprocess.schema import arrow_schema, make_row
from reward_fns import compute_score, parse_answer, reference_response
from reward_fns.config import reward_config
from reward_fns.reference import option_reference_response
from reward_fns.vqa import (
    MAX_OPEN_TOKENS,
    NO_SPELLINGS,
    YES_SPELLINGS,
    OpenScores,
    normalize_open,
    open_reward_term,
    open_scores,
    open_tokens,
    read_yes_no,
)


def test_doctests_of_the_vqa_module_and_docs():
    for module, examples in ((reward_fns.vqa, 7), (reward_fns.accuracy, 3), (reward_fns.parsing, 2)):
        result = doctest.testmod(module)
        assert result.attempted >= examples and result.failed == 0, module.__name__
    docs = doctest.testfile(str(Path(__file__).parents[1] / "docs" / "rewards.md"), module_relative=False)
    assert docs.attempted >= 2 and docs.failed == 0


@pytest.mark.parametrize(
    ("answer", "acc", "token_f1", "score"),
    [
        ("Right lower lobe.", 1, 1, 1.1),
        ("The answer is the right lower lobe", 1, 1, 1.1),
        ("lower lobe", 0, 0.8, 0.1 + 2 / 3),
        ("right lower lobe of lung", 0, 0.75, 0.7),
        ("right or left lower lobe", 0, 0.75, 0.1),
        ("liver", 0, 0, 0.1),
        ("left upper lobe", 0, 1 / 3, 0.1),  # the other side: no task term, whatever the shared words
    ],
)
def test_the_open_examples_of_docs_rewards_md(answer, acc, token_f1, score):
    source, truth, info = ROWS["open"]
    result = compute_score(source, respond(answer), truth, info)
    assert (result["acc"], result["token_f1"], result["score"]) == pytest.approx((acc, token_f1, score))


# --- yes / no ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", sorted(YES_SPELLINGS))
def test_every_yes_spelling_reads_yes(spelling):
    assert read_yes_no(spelling.upper() + ".") == "yes"
    assert read_yes_no(f"The answer is {spelling}") == "yes"


@pytest.mark.parametrize("spelling", sorted(NO_SPELLINGS))
def test_every_no_spelling_reads_no(spelling):
    assert read_yes_no(f"**{spelling.title()}**") == "no"


@pytest.mark.parametrize(
    "answer",
    [
        "not yes",
        "not true",
        "not positive",
        "not absent",
        "no, it is present",
        "yes, it is absent",
        "yes and no",
        "yes or no",
        "yes/no",
        "no yes",
        "yes yes",
        "maybe",
        "probably yes",
        "yes?no",
        "y",
        "n",
        "",
        "   ",
        "Yes, there is a mass",
        "absent or present",
        "it is not present",
        "isn't present",
        "yes" + " " * 100,
    ],
)
def test_hedged_negated_or_sentence_answers_read_as_neither(answer):
    assert read_yes_no(answer) is None


def test_closed_scores_and_parse_contract():
    source, truth, info = ROWS["closed"]
    parsed = parse_answer(respond("Positive"), info)
    assert (parsed.pred, parsed.label_index) == ("yes", 0)
    assert parse_answer(respond("Absent"), info).label_index == 1
    assert compute_score(source, respond("Positive"), truth, info)["score"] == pytest.approx(1.1)
    assert compute_score(source, respond("Positive"), "No", info)["score"] == pytest.approx(0.1)  # truth case-folded


# --- multiple choice -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "pred"),
    [
        ("B", "MRI"),
        ("b)", "MRI"),
        ("Option B", "MRI"),
        ("B: MRI", "MRI"),
        ("mri", "MRI"),
        ("x-ray", "X-Ray"),
        ("X ray", "X-Ray"),
        ("D. Ultrasound", "Ultrasound"),
        ("A", "CT"),
        ("B. CT", ""),
        ("A, B", ""),
        ("A and B", ""),
        ("MRI/CT", ""),
        ("E", ""),
        ("all of the above", ""),
    ],
)
def test_mcq_reads_one_option_by_letter_or_text(answer, pred):
    parsed = parse_answer(respond(answer), mcq())
    assert parsed.pred == pred
    assert parsed.label_index == (MCQ_OPTIONS.index(pred) if pred else None)


def test_mcq_options_field_is_the_fallback_label_list():
    info = mcq()
    info["labels"] = []
    assert parse_answer(respond("B"), info).pred == "MRI"
    assert compute_score("verl_med/pmc_vqa", respond("B"), "MRI", info)["acc"] == 1.0


def test_mcq_duplicate_option_texts_are_ungradable_not_credited():
    info = mcq(["CT", "ct", "MRI"])
    result = compute_score("verl_med/pmc_vqa", respond("A"), "CT", info)
    assert result["score"] == 0.0 and result["acc"] == 0.0


@pytest.mark.parametrize("row", ["mcq", "mcq_numbers"])
def test_mcq_reference_and_option_token_responses_score(row):
    """What the preflight checks before training: the text answer and the letter answer both score acc 1."""
    source, truth, info = ROWS[row]
    letter = option_reference_response(truth, info)
    assert letter is not None and letter.endswith(f"<answer>{'ABCD'[info['labels'].index(truth)]}</answer>")
    for response in (reference_response(truth, info), letter):
        assert compute_score(source, response, truth, info)["acc"] == 1.0


def test_no_option_token_response_for_closed_or_open_rows():
    assert option_reference_response("yes", closed()) is None
    assert option_reference_response("right lower lobe", open_row()) is None


# --- open: the token scorer ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("The Right-Lower Lobe.", ("right", "lower", "lobe")),
        ("an ovoid mass", ("ovoid", "mass")),
        ("patient's", ("patients",)),
        ("1,000 cells", ("1000", "cells")),
        ("Two 2.50 cm 007 3.0", ("2", "2.5", "cm", "7", "3")),
        ("ｔ２-weighted", ("t2", "weighted")),
        ("¿¡...!?", ()),
        (None, ()),
    ],
)
def test_open_tokens_normalise_case_punctuation_articles_and_numbers(text, tokens):
    assert open_tokens(text) == tokens


def test_open_tokens_are_bounded():
    assert len(open_tokens("lobe " * MAX_OPEN_TOKENS)) == MAX_OPEN_TOKENS
    assert open_tokens("lobe " * (MAX_OPEN_TOKENS + 1)) is None
    assert open_tokens("the " * 5000 + "lobe") == ()  # only the first 8192 characters are read


def test_open_scores_known_values():
    assert open_scores("right lower lobe", "Right lower lobe!") == OpenScores(1.0, 1.0, 1.0, 1.0)
    assert open_scores("lower lobe", "right lower lobe") == OpenScores(0.0, 1.0, 2 / 3, 0.8)
    assert open_scores("", "lobe") == OpenScores(0.0, 0.0, 0.0, 0.0)
    assert open_scores("the", "a") == OpenScores(1.0, 1.0, 1.0, 1.0)  # both empty once normalised
    assert open_scores("lobe lobe", "lobe").precision == 0.5  # multiset overlap: a repeat counts once
    assert open_scores(3, b"x") == OpenScores(1.0, 1.0, 1.0, 1.0)  # not text: empty on both sides, never raises


_WORDS = st.lists(
    st.sampled_from(["the", "a", "left", "Right", "lobe", "LOBE", "2", "two", "2.0", "mass", ",", "."]), max_size=12
).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(pred=st.one_of(_WORDS, st.text(max_size=60)), ref=st.one_of(_WORDS, st.text(max_size=60)))
def test_open_scores_are_bounded_symmetric_and_normalisation_is_idempotent(pred, ref):
    scores, swapped = open_scores(pred, ref), open_scores(ref, pred)
    for value in (scores.exact, scores.precision, scores.recall, scores.f1, scores.penalised_recall):
        assert 0.0 <= value <= 1.0
    assert (scores.precision, scores.recall) == pytest.approx((swapped.recall, swapped.precision))
    assert scores.f1 == pytest.approx(swapped.f1)
    assert scores.exact == float(normalize_open(pred) == normalize_open(ref))
    assert scores.penalised_recall <= scores.f1 + 1e-12 <= max(scores.precision, scores.recall) + 2e-12
    assert normalize_open(normalize_open(pred)) == normalize_open(pred)
    assert open_scores(normalize_open(pred), ref) == scores  # the evaluation may pass parse_answer's pred


def test_open_reward_term_modes_and_guards():
    ref = ("right", "lower", "lobe")
    assert open_reward_term(("lower", "lobe"), ref, "recall", 3.0)[1] == pytest.approx(2 / 3)
    assert open_reward_term(("lower", "lobe"), ref, "f1", 3.0)[1] == pytest.approx(0.8)
    assert open_reward_term(("lower", "lobe"), ref, "exact", 3.0)[1] == 0.0
    assert open_reward_term(ref + ("x",) * 6, ref, "recall", 3.0)[1] == pytest.approx(1 / 3)  # 9 words: shared
    assert open_reward_term(ref + ("x",) * 7, ref, "recall", 3.0)[1] == 0.0  # 10 > 3 x 3: padding
    assert open_reward_term(("lobe", "or", "lung"), ("lobe",), "f1", 3.0)[1] == 0.0  # hedge
    assert open_reward_term(("a", "or", "b"), ("a", "or", "b"), "exact", 3.0)[1] == 1.0  # "or" in the reference


def test_open_parse_contract_and_acc_is_normalised_exact_match():
    source, truth, info = ROWS["open"]
    parsed = parse_answer(respond("Final answer: the right lower lobe."), info)
    assert parsed.pred == "right lower lobe" and parsed.label_index is None
    result = compute_score(source, respond("Right lower lobe."), truth, info)
    assert result["acc"] == 1.0 and result["token_f1"] == 1.0
    partial = compute_score(source, respond("right lobe"), truth, info, open_reward="f1")
    assert partial["acc"] == 0.0 and partial["score"] == pytest.approx(0.1 + 0.8) == 0.1 + partial["token_f1"]


def test_open_settings_are_validated():
    assert reward_config({}).open_reward == "recall" and reward_config({}).open_max_length_ratio == 3.0
    with pytest.raises(ValueError, match="open_reward='bleu'"):
        reward_config({"open_reward": "bleu"})
    with pytest.raises(ValueError, match="open_max_length_ratio"):
        reward_config({"open_max_length_ratio": 0.5})


# --- rows as stored in parquet ---------------------------------------------------------------------------------------


def test_vqa_rows_read_back_from_parquet_score(tmp_path):
    """Rows built with data_preprocess.schema, written with its arrow schema and read back (lists come back as
    lists via pyarrow and as numpy arrays via pandas): both readings score like the in-memory rows."""
    rows = []
    for name in ("mcq", "closed", "open", "mcq_numbers"):
        _, truth, info = ROWS[name]
        rows.append(
            make_row(
                dataset=info["dataset"],
                prompt_text="<image>Question?",
                image_bytes=[b"x"],
                ground_truth=truth,
                extra_info=info,
            )
        )
    path = tmp_path / "vqa.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=arrow_schema()), path)
    table = pq.read_table(path)
    answers = {"mcq": "B", "closed": "Yes", "open": "the right lower lobe", "mcq_numbers": "C"}
    for record, frame_row, answer in zip(
        table.to_pylist(), table.to_pandas().itertuples(), answers.values(), strict=True
    ):
        for extra_info in (record["extra_info"], frame_row.extra_info):
            result = compute_score(
                record["data_source"], respond(answer), record["reward_model"]["ground_truth"], extra_info
            )
            assert result["acc"] == 1.0 and result["score"] == pytest.approx(1.1), (record["data_source"], result)


# --- cost ------------------------------------------------------------------------------------------------------------

# About 1 MB each (UTF-8), but one: an answer just under the 8,192-character cap, the most the parsers read.
GARBAGE = [
    "<think>x</think><answer>" + "yes no not " * 90_000 + "</answer>",
    "<think>x</think><answer>" + ("lobe " * 1_600) + "</answer>",
    "<think>x</think><answer>" + "é\u200b😀, " * 90_000 + "</answer>",
    "<think>" + "right lower lobe " * 60_000 + "</think><answer>" + "A or B " * 1_100 + "</answer>",
    "<answer>" * 60_000 + "</answer>" * 60_000,
]


# scripts/mutation.sh scales the bounds (VERL_MED_TEST_TIME_SCALE=20): there every call of a mutated module goes
# through mutmut's trampoline on a loaded machine, and a bound missed by milliseconds would count as a kill.
TIME_SCALE = float(os.environ.get("VERL_MED_TEST_TIME_SCALE", "1"))


def _best_seconds(call, repeats: int = 3) -> float:
    """Least disturbed of a few runs: the machine is shared, a single timing measures the neighbours."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


@pytest.mark.parametrize("row", ["mcq", "closed", "open", "open_number"])
def test_a_megabyte_of_garbage_is_cheap_and_scores_nothing(row):
    source, truth, info = ROWS[row]
    for text in GARBAGE:
        result = compute_score(source, text, truth, info)
        assert result["acc"] == 0.0 and result["score"] <= 0.1 + 1e-9
        assert _best_seconds(lambda text=text: compute_score(source, text, truth, info)) < 0.05 * TIME_SCALE
        assert _best_seconds(lambda text=text: open_scores(text, text)) < 0.02 * TIME_SCALE
