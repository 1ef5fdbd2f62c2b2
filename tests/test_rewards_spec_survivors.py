"""Specifications for the survivors of the second mutation run (mutmut 3.8.1 over reward_fns accuracy, boxes,
labels, parsing, vqa, recitation and the small modules; benchmarks/results/mutation.md).

Each test names, in its docstring, the mutant it kills (confirmed by re-running that mutant with
``MUTATION_RESUME=1 bash scripts/mutation.sh rewards <mutant>``) and the behaviour it specifies. Expected values
come from the documents that define them (the row contract in data_preprocess.schema, the docstrings' bounds) or
from independent computations, never from the code under test.
"""

from __future__ import annotations

import json
import logging
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from rewards_rows import (
    CHEST_LABELS,
    KNOWLEDGE,
    RETINA_LABELS,
    closed,
    derma,
    grounding,
    mcq,
    open_row,
    respond,
    retina,
)
from sacrebleu.metrics import BLEU
from torchvision.ops import box_iou, generalized_box_iou
from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize as hf_smart_resize

from data_preprocess.schema import make_extra_info
from reward_fns import compute_score
from reward_fns.accuracy import UngradableRow, truth_label, truth_label_set, truth_open_tokens
from reward_fns.boxes import (
    MAX_BOXES,
    MAX_COORD,
    convert_boxes,
    giou,
    iou,
    match_boxes,
    parse_boxes,
    parse_truth_boxes,
    smart_resize,
)
from reward_fns.config import RewardConfig
from reward_fns.labels import label_space, match_label, normalize
from reward_fns.recitation import MIN_REFERENCE_TOKENS, recitation_bleu, reference_lines, tokenize
from reward_fns.reference import option_reference_response, reference_answer, reference_response
from reward_fns.task_info import TaskInfo
from reward_fns.task_type import TaskType
from reward_fns.vqa import MAX_OPEN_CHARS

# --- task types -----------------------------------------------------------------------------------------------


def test_task_type_groups_are_the_documented_ones():
    """The groups callers branch on (the dataset's labelled tasks, the evaluation's VQA tasks): labelled = the
    single-label tasks and multilabel; VQA = mcq, closed, open, in declaration order. Mutants killed:
    ``labelled`` and ``vqa`` returning ``tuple(None)`` (a TypeError; no reward test called them at test time)."""
    assert TaskType.single_label() == (TaskType.MULTICLASS, TaskType.BINARY, TaskType.ORDINAL)
    assert TaskType.labelled() == (*TaskType.single_label(), TaskType.MULTILABEL)
    assert TaskType.vqa() == (TaskType.MCQ, TaskType.CLOSED, TaskType.OPEN)


# --- boxes: the 0-1 convention, degenerate and sub-unit boxes -------------------------------------------------


def test_boxes_convert_to_and_from_the_unit_frame():
    """ "rel1" boxes are fractions of the image: pixels = fraction x (width, height) of a non-square image, and
    0-1000 = fraction x 1000. Mutants killed: ``_scale``'s ``fmt == "rel1"`` test misspelt (rel1 read as pixels
    of a missing image size: None) and its (1.0, 1.0) scale changed to (2.0, 1.0) or (1.0, 2.0)."""
    unit = [[0.1, 0.25, 0.5, 0.75]]
    assert convert_boxes(unit, "rel1", None, "abs", (200, 400)) == [pytest.approx([20.0, 100.0, 100.0, 300.0])]
    assert convert_boxes(unit, "rel1", None, "rel1000", None) == [pytest.approx([100.0, 250.0, 500.0, 750.0])]
    assert convert_boxes([[20.0, 100.0, 100.0, 300.0]], "abs", (200, 400), "rel1", None) == [pytest.approx(unit[0])]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ([0.0, 0.0, 0.5, 0.25], [0.25, 0.0, 0.75, 0.25]),  # unit-frame boxes: union and hull below 1
        ([0.1, 0.1, 0.2, 0.9], [0.15, 0.5, 0.6, 0.6]),
        ([0.0, 0.0, 0.4, 0.4], [0.5, 0.5, 0.9, 0.9]),  # disjoint
    ],
)
def test_giou_of_unit_frame_boxes_equals_torchvisions(a, b):
    """GIoU does not depend on the unit of the coordinates: boxes in the 0-1 frame (areas below 1) score as
    torchvision's ``generalized_box_iou``. Mutants killed: the degenerate-box guard ``union <= 0`` -> ``union <= 1``
    and ``hull <= 0`` -> ``hull <= 1`` (every unit-frame pair scored -1)."""
    ta, tb = torch.tensor([a], dtype=torch.float64), torch.tensor([b], dtype=torch.float64)
    assert giou(a, b) == pytest.approx(generalized_box_iou(ta, tb).item(), abs=1e-12)
    assert iou(a, b) == pytest.approx(box_iou(ta, tb).item(), abs=1e-12)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ([0, 0, 0, 10], [5, 0, 5, 10]),  # two zero-width boxes: union 0, hull 50
        ([3, 3, 3, 3], [3, 3, 3, 3]),  # two points
        ([10, 10, 0, 0], [20, 20, 10, 10]),  # inverted boxes
    ],
)
def test_giou_of_boxes_without_area_is_the_minimum(a, b):
    """Degenerate (zero-area or inverted) boxes overlap nothing: GIoU -1 (the documented minimum), reward
    (GIoU + 1) / 2 = 0, never a ZeroDivisionError. Mutants killed: ``union <= 0 or hull <= 0`` -> ``and`` and
    ``union <= 0`` -> ``union < 0`` (division by a zero union); in ``iou`` the ``union > 0`` guard made always
    true or ``>= 0`` (the same division)."""
    assert giou(a, b) == -1.0
    assert iou(a, b) == 0.0
    assert match_boxes([a], [b], "giou") == (0.0, False)
    assert match_boxes([a], [b], "iou") == (0.0, False)


# --- numeric ground truths: the cut-offs of a number -----------------------------------------------------------


def test_an_integral_float_is_a_number_below_1e9_only():
    """Documented in ``_as_index``: an integral float below 1e9 is graded like the number it spells (here a
    label spelt "999999999"), from 1e9 on it is no number (the row is ungradable). Mutants killed: ``value < 1e9``
    -> ``<= 1e9`` and -> ``< 1000000001.0`` (1e9 read as the label "1000000000")."""
    info = TaskInfo.from_extra_info({"task_type": "multiclass", "labels": ["999999999", "1000000000"]})
    assert truth_label(999999999.0, info) == 0
    with pytest.raises(UngradableRow):
        truth_label(1e9, info)


def test_a_digit_string_is_a_number_up_to_nine_characters():
    """Documented in ``_as_index``: a digit string of at most 9 characters that names no label is the label at
    that index ("000000001" = 1); a longer one is no number. Mutants killed: ``len(...) < 10`` -> ``<= 10`` and
    -> ``< 11`` ("0000000001" read as index 1)."""
    info = TaskInfo.from_extra_info({"task_type": "multiclass", "labels": ["benign", "malignant", "normal"]})
    assert truth_label("000000001", info) == 1
    with pytest.raises(UngradableRow):
        truth_label("0000000001", info)


# --- option letters: A to Z ----------------------------------------------------------------------------------


def test_the_last_letter_names_the_twenty_sixth_option():
    """Lettered options run from A to Z (``reference.option_reference_response`` letters up to 26 options): "Z"
    is the 26th label, "(z)" too, and a 27th label has no letter. Mutant killed: ``"a" <= token <= "z"`` ->
    ``token < "z"`` in ``_token_index`` (Z read as no option)."""
    labels = [f"finding {i}" for i in range(27)]
    info = make_extra_info(dataset="x", task_type="multiclass", labels=labels, option_style="letter")
    assert compute_score("verl_med/x", respond("Z"), labels[25], info)["acc"] == 1.0
    assert compute_score("verl_med/x", respond("(z)"), labels[25], info)["acc"] == 1.0
    space = label_space(tuple(labels))
    assert match_label("Z", space, "letter") == 25
    assert match_label("Y", space, "letter") == 24


def test_match_label_defaults_are_no_options_and_not_ordinal():
    """Called without options or task (its documented defaults: ``option_style="none"``, ``ordinal=False``), a
    bare number names no label and "grade 2" names a grade only for an ordinal space. Mutants killed: the default
    option style misspelt (``"XXnoneXX"``/``"NONE"``: "grade 2" refused as if options were shown) and
    ``ordinal=True`` by default ("2" read as a grade)."""
    space = label_space(tuple(RETINA_LABELS))
    assert match_label("grade 2", space, ordinal=True) == 2
    assert match_label("2", space) is None
    assert match_label("2", space, ordinal=True) == 2


@pytest.mark.parametrize("answer", ["The answer is", "answer", "Final answer:"])
def test_an_answer_that_is_only_a_lead_in_names_nothing(answer):
    """A lead-in alone ("the answer is" with nothing after it) names no label, without raising. Mutant killed:
    ``norm in space.names or not tokens`` -> ``and`` (the empty token list then reached ``tokens[0]``:
    IndexError)."""
    assert match_label(answer, label_space(tuple(RETINA_LABELS)), ordinal=True) is None
    assert compute_score("verl_med/retinamnist", respond(answer), "mild", retina())["acc"] == 0.0


def test_a_lone_z_is_the_twenty_sixth_option_even_when_an_option_reads_z():
    """Multiple choice reads a lone option token as the option it letters first (MedXpertQA-MM has option texts
    that are letters); "Z" too. Mutant killed: ``_option_shaped``'s ``"a" <= token <= "z"`` -> ``token < "z"``
    ("Z" then read as the text of option A)."""
    options = ["Z", *(f"finding {i}" for i in range(1, 26))]
    info = make_extra_info(dataset="x", task_type="mcq", labels=options, options=options, option_style="letter")
    assert compute_score("verl_med/x", respond("Z"), options[25], info)["acc"] == 1.0
    assert compute_score("verl_med/x", respond("Z"), options[0], info)["acc"] == 0.0


def test_a_short_alias_is_read_as_its_label_with_numbered_options():
    """With numbered options only digit tokens are option-shaped: a three-letter alias ("bcc") still names its
    label. Mutants killed: ``_option_shaped``'s ``isascii() and isdigit() and len <= 3`` with either ``and``
    turned into ``or`` (every short ASCII word read as an option number: none)."""
    info = derma("number")
    assert compute_score("verl_med/dermamnist", respond("bcc"), "basal cell carcinoma", info)["acc"] == 1.0
    assert compute_score("verl_med/dermamnist", respond("2"), "basal cell carcinoma", info)["acc"] == 1.0


def test_option_numbers_have_up_to_three_digits():
    """Documented in ``match_label``: numbered options go up to 999; "100" is option 100, a four-digit token is
    no option ("0001" is not option 1). Mutants killed: ``_token_index``'s ``len(token) <= 3`` -> ``< 3`` (option
    100 unreadable) and -> ``<= 4`` ("0001" read as option 1); ``_option_shaped``'s the same two (an alias "100"
    read before option 100; the alias "1000" taken for an out-of-range option)."""
    labels = tuple(f"finding {i}" for i in range(120))
    space = label_space(labels)
    assert match_label("100", space, "number") == 99
    assert match_label("(100)", space, "number") == 99
    assert match_label("0001", space, "number") is None
    assert match_label("001", space, "number") == 0
    # Precedence at the bound: an option-shaped token is only ever its option, even if an alias spells it; a
    # four-digit token is not option-shaped, so the alias that spells it names its label.
    aliases = tuple(("100", "1000") if i == 5 else () for i in range(len(labels)))
    space = label_space(labels, aliases)
    assert match_label("100", space, "number") == 99
    assert match_label("1000", space, "number") == 5


# --- Qwen2.5-VL's resize: its own defaults and both pixel bounds -----------------------------------------------


@pytest.mark.parametrize(
    "size",
    [(10, 10), (60, 50), (28, 28), (1000, 20), (4000, 3000), (3570, 3580), (3590, 3590), (640, 320)],
)
def test_smart_resize_defaults_equal_transformers_qwen2_vl(size):
    """Called with its defaults (factor 28, min_pixels 56 * 56, max_pixels 28 * 28 * 16384: qwen_vl_utils'), the
    resize equals transformers' Qwen2-VL ``smart_resize``, including at both bounds: (60, 50) rounds to exactly
    min_pixels and (3570, 3580) to exactly max_pixels, each kept as is. Mutants killed: the factor default 29, the
    min_pixels default 3137, ``h_bar * w_bar > max_pixels`` -> ``>=`` and ``< min_pixels`` -> ``<=``."""
    width, height = size
    expected_h, expected_w = hf_smart_resize(height, width, factor=28, min_pixels=56 * 56, max_pixels=28 * 28 * 16384)
    assert smart_resize(width, height) == (expected_w, expected_h)


def test_an_alias_that_starts_with_a_lead_in_word_is_read_whole():
    """The whole answer is looked up before one lead-in ("answer", "option", ...) is stripped: an alias such as
    "answer unclear" names its label. Mutants killed: that first lookup (``space.lookup.get(norm)``) replaced by
    None."""
    space = label_space(("indeterminate", "normal"), (("answer unclear",), ()))
    assert match_label("Answer unclear", space) == 0
    assert match_label("The answer is: normal", space) == 1


@pytest.mark.parametrize(("pred", "threshold"), [([0, 0, 100, 100], 1.0), ([0, 0, 100, 50], 0.5)])
def test_a_box_whose_iou_equals_the_threshold_is_correct(pred, threshold):
    """Documented (``match_boxes``): every matched pair has IoU >= threshold. A perfect box is correct at
    iou_threshold=1, a box of IoU exactly 0.5 at the default 0.5. Mutant killed: ``>= threshold`` -> ``>``."""
    truth = [0, 0, 100, 100]
    result = compute_score(
        "verl_med/organ_loc", respond(str(pred)), str([truth]), grounding("rel1000"), iou_threshold=threshold
    )
    assert result["acc"] == 1.0
    assert result["iou"] == pytest.approx(threshold)


def test_max_pixels_reaches_the_frame_of_absolute_boxes():
    """A Qwen2.5-VL run with a smaller ``max_pixels`` sees a smaller image: an obedient "abs" answer is in pixels
    of that resize (transformers' own), and scores full marks only if the reward resizes with the same bound.
    Mutant killed: ``smart_resize(..., cfg.min_pixels, cfg.max_pixels)`` without ``max_pixels`` (the default
    16384 patches used)."""
    width, height, max_pixels = 640, 320, 100 * 28 * 28
    model_h, model_w = hf_smart_resize(height, width, factor=28, min_pixels=4 * 28 * 28, max_pixels=max_pixels)
    assert model_w * model_h < width * height  # the bound does resize this image
    truth = [0.1 * width, 0.2 * height, 0.6 * width, 0.7 * height]
    sx, sy = model_w / width, model_h / height
    answer = [round(truth[0] * sx), round(truth[1] * sy), round(truth[2] * sx), round(truth[3] * sy)]
    row = grounding("abs", (width, height))
    result = compute_score("verl_med/organ_loc", respond(str(answer)), str([truth]), row, max_pixels=max_pixels)
    assert result["acc"] == 1.0
    assert result["iou"] == pytest.approx(1.0, abs=0.05)


# --- box answers in JSON: exponents, the box-count and coordinate bounds, malformed items ----------------------


def test_a_bare_json_box_may_use_exponent_notation():
    """A bare JSON list of four numbers is one box, as JSON reads it ("1e2" = 100): the text fallback, which
    reads digit runs, would split "1e2" into 1 and 2 and refuse the five numbers. Mutants killed: the bare-box
    test ``len(value) == 4`` -> ``== 5`` and ``_is_number(v)`` -> ``_is_number(None)``."""
    assert parse_boxes("[1e2, 20, 30.5e1, 40]") == [[100.0, 20.0, 305.0, 40.0]]


def test_exactly_max_boxes_json_boxes_are_read():
    """``MAX_BOXES`` boxes are read, one more is garbage, in Qwen's JSON (which the number fallback cannot read).
    Mutant killed: ``len(value) > MAX_BOXES`` -> ``>=``."""
    boxes = [[i, i, i + 1, i + 1] for i in range(MAX_BOXES)]
    qwen = [{"bbox_2d": box, "label": "lesion"} for box in boxes]
    assert parse_boxes(json.dumps(qwen)) == [[float(v) for v in box] for box in boxes]
    assert parse_boxes(json.dumps([*qwen, qwen[0]])) is None
    assert parse_boxes(json.dumps(boxes)) == [[float(v) for v in box] for box in boxes]


@pytest.mark.parametrize("answer", ["[[1, 2, 3, 4, 5]]", '[[1, 2, 3, "4"]]', '[{"bbox_2d": [1, 2, 3, 4, 5]}]'])
def test_a_json_box_needs_exactly_four_numbers(answer):
    """An item of five numbers, or four values one of which is text, is no box (and never raises). Mutant killed:
    ``len(item) != 4 or not all(numbers)`` -> ``len(item) != 4 and not all(numbers)`` (a five-number box
    accepted; a text coordinate passed to float)."""
    assert parse_boxes(answer) is None


def test_a_coordinate_of_exactly_max_coord_is_a_number():
    """``MAX_COORD`` itself is a coordinate (garbage begins above it), in Qwen's JSON and in the ground truth.
    Mutant killed: ``abs(value) <= MAX_COORD`` -> ``<`` in ``_is_number``."""
    assert parse_boxes(json.dumps([{"bbox_2d": [0, 0, MAX_COORD, 10]}])) == [[0.0, 0.0, MAX_COORD, 10.0]]
    assert parse_truth_boxes([[0, 0, MAX_COORD, 10]]) == [[0.0, 0.0, MAX_COORD, 10.0]]
    assert parse_truth_boxes([[0, 0, MAX_COORD * 1.5, 10]]) is None


# --- ungradable VQA rows: warned with the reason that names the field ----------------------------------------


@pytest.mark.parametrize(
    ("case", "row", "truth", "reason"),
    [
        ("no_options", {"task_type": "mcq"}, "CT", "mcq row without extra_info.labels / extra_info.options"),
        ("not_an_option", None, "PET", "mcq ground truth is not exactly one of the option texts (extra_info.labels)"),
        ("number", None, 1, "mcq ground truth is not exactly one of the option texts (extra_info.labels)"),
        ("maybe", {"task_type": "closed", "labels": ["yes", "no"]}, "maybe", "closed ground truth is not yes or no"),
        ("closed_number", {"task_type": "closed", "labels": ["yes", "no"]}, 1, "closed ground truth is not yes or no"),
    ],
)
def test_an_ungradable_vqa_row_is_warned_with_the_field_at_fault(caplog, case, row, truth, reason):
    """A row the reward cannot grade scores 0 and is warned once, naming the ``extra_info`` field or ground truth
    at fault (what a user fixes in the converter). A number is never an option's text. Mutants killed: each of
    these messages set to None or changed, and ``isinstance(ground_truth, str)`` made always true in
    ``truth_option`` (a number then reached the option lookup: TypeError)."""
    info = mcq() if row is None else row
    source = f"verl_med/spec_{case}"
    with caplog.at_level(logging.WARNING, logger="reward_fns.composite"):
        result = compute_score(source, respond("B"), truth, info)
    assert result["score"] == 0.0
    assert f"reward_fns: {source} scores 0: {reason}" in caplog.messages


# --- box answers as text: the box-count and coordinate bounds, a fence closed on the answer's line ----------


def test_exactly_max_boxes_text_boxes_are_read():
    """The text form ("(x1,y1),(x2,y2)", Visual-RFT's) reads up to ``MAX_BOXES`` boxes, and a coordinate of
    ``MAX_COORD`` itself. Mutants killed: ``len(numbers) > 4 * MAX_BOXES`` -> ``>=`` and ``abs(v) <= MAX_COORD``
    -> ``<`` in ``parse_boxes``."""
    text = ", ".join(f"({i},{i}),({i + 1},{i + 1})" for i in range(MAX_BOXES))
    assert len(parse_boxes(text) or []) == MAX_BOXES
    assert parse_boxes(text + ", (0,0),(1,1)") is None
    assert parse_boxes(f"(0,0),({MAX_COORD:.0f},10)") == [[0.0, 0.0, MAX_COORD, 10.0]]


def test_a_fence_closed_right_after_the_json_is_read():
    """A fenced answer whose closing fence follows the JSON on the same line ("```json\\n[...]```") is read: the
    fence's three backticks are removed, nothing more. Mutant killed: ``text.rstrip()[:-3]`` -> ``[:-4]`` (the
    JSON's last bracket cut: Qwen's JSON unreadable)."""
    answer = '```json\n[{"bbox_2d": [10, 20, 30, 40], "label": "lesion"}]```'
    assert parse_boxes(answer) == [[10.0, 20.0, 30.0, 40.0]]


# --- the third round: ground truths as other pipelines store them, the rows' own messages ----------------------

_SET_REASON = "multilabel ground truth is not a JSON list of label names"


@pytest.mark.parametrize(
    ("case", "task_type", "labels", "truth", "reason"),
    [
        ("label_none", "multiclass", [], "benign", "extra_info.labels is empty"),
        ("set_none", "multilabel", [], '["mass"]', "extra_info.labels is empty"),
        ("label_out", "multiclass", ["benign", "malignant"], "normal", "ground truth is not one of extra_info.labels"),
        (
            "set_out",
            "multilabel",
            CHEST_LABELS,
            '["pneumonia"]',
            _SET_REASON,
        ),
        ("set_number", "multilabel", CHEST_LABELS, "[2]", _SET_REASON),
        (
            "boxes",
            "grounding",
            [],
            "[[1, 2, 3]]",
            "grounding ground truth is not a JSON list of [x1, y1, x2, y2] boxes",
        ),
        ("open_empty", "open", [], "...", "open ground truth is empty, not text or longer than 256 tokens"),
    ],
)
def test_an_ungradable_row_is_warned_with_the_field_at_fault(caplog, case, task_type, labels, truth, reason):
    """Every ground-truth reader names what is wrong with the row, exactly (the warning is what a user fixes the
    converter from; the offline evaluation reports the same text). A number inside a multilabel ground truth is
    no label name: the row is ungradable, never a crash. Mutants killed: the messages of ``truth_label``,
    ``truth_label_set``, ``truth_boxes`` and ``truth_open_tokens`` changed (``XX...XX``, case) or set to None,
    and ``isinstance(n, str)`` made always true in ``truth_label_set`` (the number reached ``normalize``:
    TypeError, raised by the strict mode)."""
    info = make_extra_info(dataset="x", task_type=task_type, labels=list(labels))
    source = f"verl_med/spec3_{case}"
    with caplog.at_level(logging.WARNING, logger="reward_fns.composite"):
        result = compute_score(source, respond("mass"), truth, info)
    assert result["score"] == 0.0
    assert f"reward_fns: {source} scores 0: {reason}" in caplog.messages


@pytest.mark.parametrize("truth", [1, np.int64(1), 1.0, "1"])
def test_a_numeric_ground_truth_is_the_label_it_spells_before_its_index(truth):
    """Documented in ``truth_label``: a number names the label it spells ("2" of labels "1", "2", "3" is the
    second label), and only a number that spells no label is an index. Mutants killed: the spelt-label lookup
    ``space.index_of(str(number))`` replaced by None or by ``index_of(str(None))`` (1 then read as the index of
    label "2")."""
    info = TaskInfo.from_extra_info({"task_type": "multiclass", "labels": ["1", "2", "3"]})
    assert truth_label(truth, info) == 0  # "1" is the first label, not the label at index 1
    info = TaskInfo.from_extra_info({"task_type": "multiclass", "labels": ["benign", "malignant"]})
    assert truth_label(truth, info) == 1  # spells no label: the index


def test_a_multilabel_ground_truth_may_name_aliases():
    """Documented in ``truth_label_set``: a JSON list of label names or aliases. Mutant killed: ``label_space``
    built without the row's aliases (an alias in the ground truth then made the row ungradable)."""
    aliases = [["collapse"], [], ["pleural effusion"], [], []]
    info = make_extra_info(dataset="x", task_type="multilabel", labels=CHEST_LABELS, label_aliases=aliases)
    assert truth_label_set('["pleural effusion", "collapse"]', TaskInfo.from_extra_info(info)) == (0, 2)
    assert compute_score("verl_med/x", respond("atelectasis, effusion"), '["collapse", "effusion"]', info)["acc"] == 1


@pytest.mark.parametrize(("truth", "answer"), [("absent", "No"), ("present", "Yes"), ("Yes.", "yes")])
def test_a_closed_ground_truth_is_read_like_an_answer(truth, answer):
    """Documented in ``truth_yes_no``: a closed ground truth is any spelling of yes or no ("absent" is no, as
    SLAKE writes it), not one of the row's two labels. Mutant killed: ``truth_option(...) if task == MCQ`` made
    always true (the closed truth then looked up among the labels "yes"/"no": "absent" ungradable)."""
    assert compute_score("verl_med/slake", respond(answer), truth, closed())["acc"] == 1.0


def test_an_open_reference_longer_than_the_cached_bound_is_still_graded():
    """A reference is ungradable only for no word, not text, or over 256 words (``truth_open_tokens``): one of
    more than ``MAX_OPEN_CHARS`` characters with few words (padding) is read, uncached. Mutants killed: that
    uncached ``open_tokens(ground_truth)`` replaced by None or by ``open_tokens(None)`` (such a row scored 0)."""
    reference = "right lower lobe" + " " * MAX_OPEN_CHARS
    assert truth_open_tokens(reference) == ("right", "lower", "lobe")
    assert compute_score("verl_med/vqa_rad", respond("Right lower lobe"), reference, open_row())["acc"] == 1.0


def test_exactly_max_boxes_ground_truth_boxes_are_read():
    """A ground truth holds up to ``MAX_BOXES`` boxes (the bound of an answer, so that a full answer can match
    it); one more is garbage. Mutant killed: ``len(ground_truth) > MAX_BOXES`` -> ``>=``."""
    boxes = [[i, i, i + 1, i + 1] for i in range(MAX_BOXES)]
    assert parse_truth_boxes(json.dumps(boxes)) == [[float(v) for v in box] for box in boxes]
    assert parse_truth_boxes(json.dumps([*boxes, boxes[0]])) is None


def test_ground_truth_boxes_survive_a_pandas_round_trip(tmp_path):
    """A ground truth stored as a parquet list of boxes (another pipeline's row) comes back from pandas as an
    array of arrays (pyarrow's ``to_pandas``); each box is read as the list it was. Mutants killed: the per-box
    ``item.tolist()`` skipped (``hasattr`` made false, its attribute misspelt, or asked of None: every such row
    ungradable)."""
    boxes = [[10.0, 20.0, 30.0, 40.0], [50.5, 60.0, 70.0, 80.0]]
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"ground_truth": pa.array([boxes], type=pa.list_(pa.list_(pa.float64())))}), path)
    stored = pd.read_parquet(path)["ground_truth"].iloc[0]
    assert isinstance(stored, np.ndarray) and isinstance(stored[0], np.ndarray)  # what the reward is given
    assert parse_truth_boxes(stored) == boxes
    result = compute_score("verl_med/organ_loc", respond(str(boxes)), stored, grounding("abs", (224, 224)))
    assert result["acc"] == 1.0


def test_a_negative_number_is_spelt_minus():
    """Documented in ``normalize``: a number's sign is kept as the word "minus" ("grade -2" -> "grade minus 2"),
    so a label "-1" is named by "minus 1" and by "−1" (U+2212), and never by "1". Mutant killed: the
    substitute text " minus " -> "XX minus XX" (the label then normalised to "xx minus xx1")."""
    assert normalize("grade -2") == "grade minus 2"
    space = label_space(("-1", "0", "1"))
    assert [match_label(a, space) for a in ("minus 1", "\u22121", "-1", "1")] == [0, 0, 0, 2]


def test_a_numbered_multiple_choice_row_reads_option_numbers():
    """A multiple-choice row whose prompt numbered its options (``option_style="number"``) reads "2" as the
    second option and a letter as no option. Mutants killed: ``mcq_options``'s accepted style "number"
    misspelt (``XXnumberXX``/``NUMBER``: the row then read as lettered)."""
    options = ["CT", "MRI", "PET"]
    info = make_extra_info(dataset="x", task_type="mcq", labels=options, options=options, option_style="number")
    assert compute_score("verl_med/x", respond("2"), "MRI", info)["acc"] == 1.0
    assert compute_score("verl_med/x", respond("B"), "MRI", info)["acc"] == 0.0


# --- the pre-flight's option reference: the token each listed option is answered by ---------------------------


def _options_row(task_type: str, n: int, style: str) -> dict:
    labels = [f"finding {i}" for i in range(n)]
    options = labels if task_type == "mcq" else []
    return make_extra_info(dataset="x", task_type=task_type, labels=labels, options=options, option_style=style)


@pytest.mark.parametrize(
    ("task_type", "n", "style", "index", "token"),
    [
        ("multiclass", 5, "letter", 2, "C"),
        ("ordinal", 5, "number", 2, "3"),
        ("multiclass", 27, "letter", 25, "Z"),
        ("multiclass", 27, "letter", 26, None),  # no 27th letter
        ("binary", 30, "number", 29, "30"),  # numbers do not stop at 26
        ("mcq", 4, "letter", 1, "B"),
        ("mcq", 4, "number", 1, "2"),
        ("mcq", 4, "none", 3, "D"),  # a multiple-choice row's options are lettered unless numbered
        ("multiclass", 5, "none", 2, None),  # no options listed
        ("multilabel", 5, "letter", 2, None),  # not a single-label row
    ],
)
def test_the_option_reference_response_answers_by_the_options_token(task_type, n, style, index, token):
    """``option_reference_response`` answers a row whose prompt listed its options by the token that lists the
    correct one (A-Z, or 1, 2, ...), and the reward grades that answer correct; None for a row without listed
    options, a 27th lettered option, or a multilabel row. Mutants killed: the single-label/option-style test
    with ``and`` -> ``or``, ``not in`` or a misspelt style; the mcq style dropped or always read from missing
    options; ``index >= 26`` -> ``> 26`` / ``>= 27`` or its ``style == "letter"`` test negated or misspelt; the
    number token ``index + 1`` -> ``index - 1`` / ``index + 2`` / ``None`` or its style test misspelt or made
    false."""
    info = _options_row(task_type, n, style)
    truth = info["labels"][index]
    response = option_reference_response(truth, info)
    if token is None:
        assert response is None
        return
    assert response == f"<think>The reference answer.</think><answer>{token}</answer>"
    assert compute_score("verl_med/x", response, truth, info)["acc"] == 1.0


def test_the_option_reference_response_follows_the_think_setting():
    """The no-think control row (``think="forbidden"``) is answered by the answer block alone; any other setting
    keeps the think block, word for word. Mutants killed: ``_respond(token, think)`` -> ``_respond(token, None)``,
    and the think block's text changed ("the reference answer.")."""
    info = _options_row("multiclass", 5, "letter")
    assert option_reference_response("finding 1", info, think="forbidden") == "<answer>B</answer>"
    assert option_reference_response("finding 1", info) == "<think>The reference answer.</think><answer>B</answer>"


@pytest.mark.parametrize("row", [{"task_type": "mcq"}, {"task_type": "mcq", "labels": ["CT", "MRI"]}])
def test_the_option_reference_response_of_an_ungradable_row_is_none(row):
    """A multiple-choice row without options, or whose ground truth is no option, has no reference (the
    pre-flight reports it through the reward's warning), and never raises. Mutant killed: the mcq style read
    from ``options[1]`` even without options (``options or True``: TypeError)."""
    assert option_reference_response("PET", row) is None


# --- recitation references: one per line of at least MIN_REFERENCE_TOKENS words, then the whole card -----------


def _words(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def test_knowledge_lines_become_references_of_at_least_the_minimum_length():
    """Documented in ``reference_lines``: each line is a reference; a line shorter than ``MIN_REFERENCE_TOKENS``
    is joined to the next (the last one to the previous); a line of exactly the minimum stands alone; with more
    than one reference the whole text is one more. Expected lists are built here from that rule. Mutants
    killed: ``pending += tokenize(line)`` -> ``=`` (a short line lost), ``len(pending) >= MIN`` -> ``>`` (a line
    of exactly the minimum joined to the next), ``len(refs) > 1`` -> ``> 2`` (two lines without the whole)."""
    short, exact, other, tail = _words("s", 5), _words("e", MIN_REFERENCE_TOKENS), _words("o", 14), _words("t", 3)
    text = "\n".join(" ".join(line) for line in (short, exact, other, tail))
    joined = [short + exact, other + tail]
    assert reference_lines(text) == [*joined, joined[0] + joined[1]]
    two = "\n".join(" ".join(line) for line in (exact, other))
    assert reference_lines(two) == [exact, other, exact + other]
    assert reference_lines(" ".join(exact)) == [exact]  # one line: no whole-text copy of it


def test_a_knowledge_card_without_words_has_no_reference():
    """A card of punctuation alone gives no reference in either mode (nothing to recite; the score is 0, not a
    BLEU against an empty reference). Mutant killed: ``whole_card``'s ``[whole] if whole else []`` made always
    ``[whole]`` (one empty reference)."""
    assert reference_lines("-- ; --", mode="whole_card") == []
    assert reference_lines("-- ; --") == []
    assert reference_lines("Melanoma: asymmetry.", mode="whole_card") == [["melanoma", "asymmetry"]]


def test_a_mapping_given_for_a_list_setting_is_named():
    """A reward kwarg of the wrong shape is refused at the first call with one line naming it, even when OmegaConf
    names no key (a mapping given for the list ``mfrs_table`` merges at the root) and valid settings come first.
    Mutants killed: in ``settings._culprit``, the trial merge against None or with the value dropped, and the
    name returned as None or misspelt (the error then named another setting, or ``None``)."""
    message = "reward_fns: invalid reward kwarg mfrs_table={'a': 1}: expected a list"
    with pytest.raises(ValueError, match=re.escape(message)):
        compute_score("verl_med/retinamnist", respond("mild"), "mild", retina(), acc_weight=2.0, mfrs_table={"a": 1})


# --- the pre-flight's reference answer: what the model should say, by task -------------------------------------


@pytest.mark.parametrize(
    ("truth", "answer"),
    [
        ('["mass","nodule"]', "mass, nodule"),  # the prompt's comma list
        ('["Effusion, pleural"]', '["Effusion, pleural"]'),  # a name holding a separator: JSON, as is
        ('["Épanchement, pleural"]', '["Épanchement, pleural"]'),  # JSON keeps non-ASCII text readable
        ("[]", "none"),
        ("not json", "none"),  # nothing readable: no label
        (["mass", "nodule"], "mass, nodule"),  # an already decoded list (another pipeline's row)
    ],
)
def test_the_reference_answer_of_a_multilabel_row(truth, answer):
    """Documented in ``reference_answer``: a multilabel row is answered by its comma list, "none" when empty, a
    JSON list when a name holds a list separator, inside ``reference_response``'s blocks.
    Mutants killed: the separator test asked of None, the JSON of None or of nothing, ``ensure_ascii`` dropped
    or True ("\\u00c9..."), "none" misspelt, an unreadable ground truth read as a list of its characters, and
    ``reference_response`` passing no extra_info (the JSON text itself then answered)."""
    info = {"task_type": "multilabel"}
    assert reference_answer(truth, info) == answer
    assert reference_response(truth, info) == f"<think>The reference answer.</think><answer>{answer}</answer>"


def test_a_numeric_ground_truth_is_answered_as_a_label_only_for_single_label_rows():
    """Documented in ``reference_answer``: a number is a label index only for a single-label row; any other row
    is answered with its ground truth as text. Mutant killed: ``single_label() and not isinstance(truth, str)``
    -> ``or`` (an mcq row's number answered as the option at that index)."""
    options = ["CT", "MRI", "PET"]
    assert reference_answer(1, {"task_type": "multiclass", "labels": options}) == "MRI"
    assert reference_answer(1, {"task_type": "mcq", "labels": options, "options": options}) == "1"


def test_recitation_by_default_is_sacrebleus_default_sentence_bleu():
    """Called without settings, ``recitation_bleu`` is sacrebleu's BLEU with its own defaults (4-gram, exp
    smoothing; each reference line one reference string, effective order at sentence level), on a think that
    copies four words of a line in a row but no five. Mutant killed: the ``order`` default 4 -> 5."""
    think = "Melanoma shows asymmetry, irregular; several colours then a blue white veil"
    refs = [" ".join(ref) for ref in reference_lines(KNOWLEDGE)]
    hypothesis = " ".join(tokenize(think))
    expected = BLEU(tokenize="none", effective_order=True).sentence_score(hypothesis, refs).score / 100
    five = BLEU(tokenize="none", effective_order=True, max_ngram_order=5).sentence_score(hypothesis, refs).score
    assert abs(expected - five / 100) > 0.01  # the think tells the two orders apart
    assert recitation_bleu(think, KNOWLEDGE) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("aliases", [[None, "bcc"], ["bcc", 3], [["bcc"]]])
def test_an_alias_list_holding_no_text_keeps_its_texts(aliases):
    """A row's alias list may hold nulls or numbers (another pipeline's parquet); the text aliases are kept, the
    rest ignored, and the row scores. Mutants killed: in ``task_info._aliases`` the all-text test made always
    true (a null reached ``normalize``: TypeError) or the filtered branch replaced by ``tuple(None)``."""
    info = derma()
    info["label_aliases"] = [[], aliases, [], [], [], [], []]
    assert TaskInfo.from_extra_info(info).aliases[1] == tuple(a for a in aliases if isinstance(a, str))
    assert compute_score("verl_med/dermamnist", respond("bcc"), "basal cell carcinoma", info)["acc"] == (
        1.0 if "bcc" in aliases else 0.0
    )


def test_recitation_by_default_reads_as_many_tokens_as_the_reward():
    """Called directly, ``recitation_bleu`` reads as many think tokens as the reward does by default
    (``RewardConfig.recite_max_tokens``), on a think longer than that, where one more token changes the score.
    Mutant killed: the ``max_tokens`` default 1024 -> 1025."""
    cap = RewardConfig().recite_max_tokens
    words = tokenize(KNOWLEDGE)
    think = " ".join(words[i % len(words)] for i in range(cap + 50))
    capped = recitation_bleu(think, KNOWLEDGE, max_tokens=cap)
    assert recitation_bleu(think, KNOWLEDGE, max_tokens=cap + 1) != capped  # the cap matters for this think
    assert recitation_bleu(think, KNOWLEDGE) == capped
