"""Specifications of the zoom reward's readers at their bounds (``reward_fns.zoom``): what counts as a zoom box, a
zoom call and a lesion overlap. Each test names the mutants it kills (a mutation run of zoom.py found these
bounds untested).
"""

from __future__ import annotations

import json

import pytest

import reward_fns.composite
import reward_fns.zoom
from reward_fns.boxes import MAX_COORD
from reward_fns.composite import compute_score
from reward_fns.task_info import TaskInfo
from reward_fns.zoom import (
    MAX_CALL_CHARS,
    MAX_CALLS_READ,
    ZOOM_SCORE_KEYS,
    compute_zoom_score,
    final_turn,
    read_zoom_box,
    tool_call_payloads,
    zoom_call_box,
    zoom_iou,
)


@pytest.mark.parametrize(
    "box",
    [[True, 0, 5, 5], [0, 0, float("inf"), 5], [0, 0, float("nan"), 5], [0, 0, 5, MAX_COORD * 2]],
    ids=["bool", "inf", "nan", "beyond MAX_COORD"],
)
def test_a_coordinate_must_be_a_finite_number_within_max_coord(box):
    """Kills: the coordinate check's ``and`` chain turned into ``or`` at any link (a bool, inf or nan would
    then pass)."""
    assert read_zoom_box({"bbox_2d": box}) is None


def test_a_coordinate_of_exactly_max_coord_is_read():
    """Kills: ``abs(value) < MAX_COORD`` (the bound is inclusive)."""
    assert read_zoom_box({"bbox_2d": [0, 0, MAX_COORD, MAX_COORD]}) == [0.0, 0.0, MAX_COORD, MAX_COORD]


@pytest.mark.parametrize("box", [[5, 0, 5, 9], [0, 5, 9, 5]], ids=["no width", "no height"])
def test_a_box_without_area_zooms_nothing(box):
    """Kills: ``x1 <= x2`` or ``y1 <= y2`` (a zero-width or zero-height box would be a zoom)."""
    assert read_zoom_box({"bbox_2d": box}) is None


def _call(box: list[float]) -> str:
    return json.dumps({"name": "zoom_in", "arguments": {"bbox_2d": box}})


def test_one_call_more_than_max_calls_read_is_read_to_tell_too_many():
    """Kills: ``len(out) >= MAX_CALLS_READ`` (reading stops at the limit, so "too many" is never seen)."""
    text = "".join(f"<tool_call>{_call([0, 0, 9, 9])}</tool_call>" for _ in range(MAX_CALLS_READ + 3))
    assert len(tool_call_payloads(text)) == MAX_CALLS_READ + 1


@pytest.mark.parametrize(("calls", "tool_format"), [(MAX_CALLS_READ, 1.0), (MAX_CALLS_READ + 1, 0.0)])
def test_up_to_max_calls_read_well_formed_calls_keep_the_tool_format(calls, tool_format):
    """Kills: ``len(payloads) < MAX_CALLS_READ`` (the last allowed call would void the format)."""
    text = "".join(f"<tool_call>{_call([0, 0, 9, 9])}</tool_call>" for _ in range(calls))
    result = compute_zoom_score("math_dapo", text + "<tool_response></tool_response>Answer: 1", "1", None)
    assert (result["tool_calls"], result["tool_format"]) == (min(calls, MAX_CALLS_READ + 1), tool_format)


def test_a_call_of_exactly_max_call_chars_is_read():
    """Kills: ``len(payload) >= MAX_CALL_CHARS`` (the bound is inclusive)."""
    payload = _call([1, 2, 30, 40])
    payload += " " * (MAX_CALL_CHARS - len(payload))
    assert zoom_call_box(payload) == [1.0, 2.0, 30.0, 40.0]
    assert zoom_call_box(payload + " ") is None


def test_arguments_given_as_a_json_string_are_read():
    """Some tool parsers keep the arguments as a JSON string. Kills: the string's parse dropped (None)."""
    payload = json.dumps({"name": "zoom_in", "arguments": json.dumps({"bbox_2d": [1, 2, 30, 40]})})
    assert zoom_call_box(payload) == [1.0, 2.0, 30.0, 40.0]


INFO = TaskInfo.from_extra_info({"task_type": "binary", "labels": ["benign", "malignant"], "box_format": "rel1000"})


def test_no_lesion_box_means_no_overlap():
    """Kills: the guard's ``or`` made ``and`` (the max over no lesion raises) or its value 1 instead of 0."""
    assert zoom_iou([0.0, 0.0, 500.0, 500.0], [], INFO, {}) == 0.0


def test_a_zoom_box_that_cannot_be_converted_overlaps_nothing():
    """Pixel boxes (``box_format=abs``) on a row without an image size cannot be put in the row's frame.
    Kills: the unconvertible box scored 1 instead of 0."""
    assert zoom_iou([0.0, 0.0, 50.0, 50.0], [[0.0, 0.0, 500.0, 500.0]], INFO, {"box_format": "abs"}) == 0.0
    assert zoom_iou([0.0, 0.0, 500.0, 500.0], [[0.0, 0.0, 500.0, 500.0]], INFO, {}) == 1.0  # control


def test_a_foreign_row_is_scored_by_verls_own_scorer():
    """compute_zoom_score hands the final turn to compute_score with the row's data source, so rows of other data
    sources keep verl's scorers. Kills: the data source passed as None (verl knows no scorer for it)."""
    plain = compute_score("math_dapo", "Answer: 1", "1", None)
    zoom = compute_zoom_score("math_dapo", "Answer: 1", "1", None)
    assert plain["score"] == 1.0 and zoom["score"] == 1.0
    assert (zoom["tool_calls"], zoom["tool_format"], zoom["zoom_iou"]) == (0.0, 1.0, 0.0)


def test_a_bug_in_the_tool_terms_leaves_the_final_turns_score_with_every_key(monkeypatch):
    """Training never crashes on a reward bug: outside strict mode the tool terms are 0 and the keys complete
    (verl stacks every key of every row); in strict mode (the suite's) the bug is raised. Kills: a fallback key
    renamed (``XXtool_callsXX``, ``TOOL_CALLS``, ...) or its value 1 instead of 0."""

    def broken(text: str) -> list[str]:
        raise ZeroDivisionError("bug")

    monkeypatch.setattr(reward_fns.zoom, "tool_call_payloads", broken)
    with pytest.raises(ZeroDivisionError, match="bug"):
        compute_zoom_score("math_dapo", "Answer: 1", "1", None)
    monkeypatch.setenv(reward_fns.composite.STRICT_ENV, "0")
    result = compute_zoom_score("math_dapo", "Answer: 1", "1", None)
    assert set(result) == set(ZOOM_SCORE_KEYS)
    assert result["score"] == 1.0 and (result["tool_calls"], result["tool_format"], result["zoom_iou"]) == (0, 0, 0)


def test_the_final_turn_starts_at_its_first_character_when_no_role_header_follows():
    """Kills: ``rest.rstrip()`` for ``rest.lstrip()`` (the turn would keep the newline after the tool response)."""
    turn = "<think>a</think><answer>b</answer>"
    assert final_turn(f"<tool_call>x</tool_call><tool_response>r</tool_response>\n  {turn}") == turn
