"""Specifications for the survivors of the fresh mutation run of ``reward_fns/parsing.py`` and
``reward_fns/accuracy.py`` (``MUTATION_ONLY="reward_fns/parsing.py reward_fns/accuracy.py" bash scripts/mutation.sh
rewards``, narrowed tests; benchmarks/results/mutation.md).

Each test names, in its docstring, the mutants it kills (confirmed on the run's own mutants/ folder with
``MUTANT_UNDER_TEST=<name>``: the test fails; unmutated it passes).
"""

from __future__ import annotations

import json
import logging

import pytest
from rewards_rows import grounding, respond
from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize as hf_smart_resize

from data_preprocess.schema import make_extra_info
from reward_fns import compute_score, parse_answer
from reward_fns.parsing import MAX_ANSWER_CHARS, as_text


@pytest.mark.parametrize("value", [None, 12, 1.5, ["<answer>A</answer>"], {"text": "x"}])
def test_a_response_that_is_not_text_is_an_empty_response(value):
    """verl hands the scorer whatever the rollout decoded; anything that is not text or bytes is an empty
    response, not a placeholder that a later step could read. Mutant killed: ``return ""`` -> ``"XXXX"``
    (x_as_text__mutmut_10)."""
    assert as_text(value) == ""
    assert as_text(b"<answer>A\xff</answer>") == "<answer>A\ufffd</answer>"  # bytes: decoded leniently


def _box_answer(length: int) -> str:
    """Qwen's JSON box answer padded with whitespace inside the JSON to exactly ``length`` characters."""
    head, tail = '[{"bbox_2d": [10, 20, 30, 40]', "}]"
    return head + " " * (length - len(head) - len(tail)) + tail


def test_an_answer_of_max_answer_chars_is_read_and_one_more_is_not():
    """The answer block is read up to ``MAX_ANSWER_CHARS`` characters (the bound that keeps a megabyte of
    garbage cheap); from one more on it is no answer. Mutants killed: ``len(answer) > MAX_ANSWER_CHARS`` ->
    ``>=`` (an answer of exactly the bound refused, x_parse_with__mutmut_27) and ``not answer or ...`` ->
    ``and`` (an over-long answer read, x_parse_with__mutmut_25)."""
    at_bound = parse_answer(respond(_box_answer(MAX_ANSWER_CHARS)), grounding())
    assert at_bound.boxes == [[10.0, 20.0, 30.0, 40.0]] and at_bound.pred == "[[10.0, 20.0, 30.0, 40.0]]"
    past = parse_answer(respond(_box_answer(MAX_ANSWER_CHARS + 1)), grounding())
    assert len(past.answer) == MAX_ANSWER_CHARS + 1 and past.pred == "" and past.boxes is None


def test_a_multilabel_answer_is_logged_with_its_label_names_as_written():
    """``pred`` (logged by verl, read by the offline evaluation) spells label names as the card writes them, not
    as ASCII escapes. Mutants killed: ``json.dumps(..., ensure_ascii=False)`` -> default or ``True``
    (x_parse_with__mutmut_53/54)."""
    info = make_extra_info(dataset="x", task_type="multilabel", labels=["Ödem", "Öl", "mass"], image_size=[224, 224])
    result = compute_score("verl_med/x", respond("Ödem, Öl"), '["Ödem"]', info)
    assert result["pred"] == '["Ödem", "Öl"]'
    assert json.loads(result["pred"]) == ["Ödem", "Öl"]


def test_a_box_answer_is_logged_in_image_pixels_to_three_decimals():
    """A box answer in the model's frame (Qwen2.5-VL: pixels of the resized image) is logged as boxes on the
    original image, each coordinate rounded to 3 decimals (what the evaluation dumps show). Mutant killed:
    ``round(v, 3)`` -> ``round(v, 4)`` (x_parse_with__mutmut_150)."""
    result = compute_score(
        "verl_med/x", respond('[{"bbox_2d": [101, 53, 301, 203]}]'), "[[100,50,300,200]]", grounding("abs", (650, 331))
    )
    model_h, model_w = hf_smart_resize(331, 650, factor=28, min_pixels=56 * 56, max_pixels=28 * 28 * 16384)
    x_scale, y_scale = 650 / model_w, 331 / model_h
    expected = [round(101 * x_scale, 3), round(53 * y_scale, 3), round(301 * x_scale, 3), round(203 * y_scale, 3)]
    assert json.loads(result["pred"]) == [expected]
    assert expected != [round(v, 4) for v in (101 * x_scale, 53 * y_scale, 301 * x_scale, 203 * y_scale)]


def test_a_reward_box_format_contradicting_the_row_is_warned_with_both_conventions(caplog):
    """A reward preset reading boxes in another convention than the row's prompt asked for would score every
    obedient answer IoU 0: the row scores 0 and the warning names both conventions and the fix (the preflight
    refuses this before Ray starts; this is the scorer's own guard). Mutant killed: the message set to None
    (x_score_task__mutmut_155)."""
    source = "verl_med/spec_box_format"
    with caplog.at_level(logging.WARNING, logger="reward_fns.composite"):
        result = compute_score(
            source, respond("[[10, 20, 30, 40]]"), "[[10,20,30,40]]", grounding(), box_format="rel1000"
        )
    assert result["score"] == 0.0
    reason = (
        "reward box_format=rel1000 contradicts the row's extra_info.box_format=abs: "
        "prepare the data in the model's convention"
    )
    assert f"reward_fns: {source} scores 0: {reason}" in caplog.messages


def test_a_row_of_an_unknown_task_type_reads_no_answer():
    """A row whose task type the reward does not know (a converter's typo, a newer schema) reads no answer, even
    one that looks like boxes (every row has a box_format, "abs" by default): the scorer warns that the row is
    ungradable instead of grading it as something else. Mutant killed: ``task == GROUNDING and box_format in
    BOX_FORMATS`` -> ``or`` (x_parse_with__mutmut_125)."""
    info = {**grounding(), "task_type": "report"}  # as read from a parquet file, past the converters' schema
    parsed = parse_answer(respond('[{"bbox_2d": [10, 20, 30, 40]}]'), info)
    assert parsed.answer and parsed.pred == "" and parsed.boxes is None
