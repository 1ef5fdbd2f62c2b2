"""The shared answer parser: block splitting, label matching, box reading and the ParsedAnswer contract."""

from __future__ import annotations

import dataclasses
import inspect
import json

import numpy as np
import pytest
from rewards_rows import DERMA_ALIASES, DERMA_LABELS, ROWS, derma, grounding, respond, retina

from reward_fns import ParsedAnswer, parse_answer
from reward_fns.boxes import convert_boxes, parse_boxes, parse_truth_boxes, smart_resize
from reward_fns.format import split_blocks
from reward_fns.labels import label_space, match_label, match_label_set, normalize

SPACE = label_space(tuple(DERMA_LABELS), tuple(tuple(a) for a in DERMA_ALIASES))


# --- blocks and format ---


@pytest.mark.parametrize(
    "text, format_ok, think, answer",
    [
        ("<think>a</think><answer>b</answer>", True, "a", "b"),
        ("  <think> a </think>\n\n<answer> b </answer>\n", True, "a", "b"),
        ("<think>a</think>x<answer>b</answer>", False, "a", "b"),  # text between the blocks
        ("<think></think><answer>b</answer>", False, "", "b"),
        ("<think>a</think><answer></answer>", False, "a", ""),
        ("<think>a</think>", False, "a", None),
        ("<answer>b</answer>", False, "", "b"),
        ("<think>a</think><answer>b", False, "a", None),
        ("<think>a</think></answer>b<answer>", False, "a", None),  # closing before opening
        ("<think>a<answer>b</answer></think>", False, "a<answer>b</answer>", None),
        ("<think>a</think><answer>b</answer><think>c</think>", False, "", None),
        ("<think>a</think><answer>b<think>c</think></answer>", False, "", None),
    ],
)
def test_split_blocks(text, format_ok, think, answer):
    blocks = split_blocks(text)
    assert (blocks.format_ok, blocks.think, blocks.answer) == (format_ok, think, answer)


def test_split_blocks_on_tag_floods():
    """100k unbalanced tags: no block, no format (latency on such input: benchmarks/bench_rewards.py)."""
    flood = "<think><answer></think>" * 100_000
    blocks = split_blocks(flood)
    assert not blocks.format_ok and blocks.answer is None and blocks.think == ""


# --- labels ---


def test_normalize_folds_case_width_and_punctuation():
    assert normalize("  **Melanocytic-Nevi.** ") == "melanocytic nevi"
    assert normalize("ＢＣＣ") == "bcc"
    assert normalize("...") == ""


@pytest.mark.parametrize(
    "answer, style, expected",
    [
        ("melanoma", "none", 4),
        ("Melanocytic nevi", "none", 5),
        ("mole", "none", 5),  # alias
        ("Final answer: BCC", "none", 1),
        ("E", "none", None),
        ("E", "letter", 4),
        ("e)", "letter", 4),
        ("Option (e)", "letter", 4),
        ("E: melanoma", "letter", 4),
        ("E: nevus", "letter", None),
        ("5", "number", 4),
        ("5. melanoma", "number", 4),
        ("8", "number", None),
        ("melanoma or nevus", "letter", None),
        ("", "none", None),
    ],
)
def test_match_label(answer, style, expected):
    assert match_label(answer, SPACE, style) == expected


def test_alias_shared_by_two_labels_names_neither():
    space = label_space(("cat", "dog"), (("pet",), ("pet", "hound")))
    assert match_label("pet", space) is None
    assert match_label("hound", space) == 1


def test_label_names_win_over_option_numbers():
    space = label_space(("0", "1", "2"))
    assert match_label("1", space, "number") == 1


@pytest.mark.parametrize(
    "answer, expected",
    [
        ("0", 0),
        ("grade 3", 3),
        ("Stage IV", 4),
        ("level two", 2),
        ("iv", None),
        ("5", None),
        ("moderate", 2),
        ("grade 2: moderate", 2),
        ("grade 2: mild", None),
        ("3 or 4", None),
    ],
)
def test_match_grade(answer, expected):
    space = label_space(("no retinopathy", "mild", "moderate", "severe", "proliferative"))
    assert match_label(answer, space, "none", ordinal=True) == expected


def test_ordinal_with_numbered_options_reads_option_numbers():
    """The prompt's numbering wins: with option_style number, "1" is the first listed grade (grade 0)."""
    space = label_space(("no retinopathy", "mild", "moderate"))
    assert match_label("1", space, "number", ordinal=True) == 0


@pytest.mark.parametrize(
    "answer, expected",
    [
        ('["effusion", "mass"]', (2, 4)),
        ("mass, effusion", (2, 4)),
        ("effusion and mass", (2, 4)),
        ("[]", ()),
        ("None", ()),
        ("effusion\nmass\n", (2, 4)),
        ("effusion, effusion", (2,)),
        ('["effusion", 3]', None),
        ("[effusion", None),
        ("effusion, pleura", None),
        ("", None),
    ],
)
def test_match_label_set(answer, expected):
    space = label_space(("atelectasis", "cardiomegaly", "effusion", "infiltration", "mass"))
    assert match_label_set(answer, space) == expected


# --- boxes ---


@pytest.mark.parametrize(
    "answer, expected",
    [
        ("[1, 2, 3, 4]", [[1, 2, 3, 4]]),
        ("[[1,2,3,4],[5,6,7,8]]", [[1, 2, 3, 4], [5, 6, 7, 8]]),
        ("(1,2),(3,4)", [[1, 2, 3, 4]]),
        ("[1.5, 2, 3, 4] [5, 6, 7, 8]", [[1.5, 2, 3, 4], [5, 6, 7, 8]]),
        ('{"bbox_2d": [1, 2, 3, 4], "label": "x"}', [[1, 2, 3, 4]]),
        ('```json\n[{"bbox_2d": [1, 2, 3, 4]}]\n```', [[1, 2, 3, 4]]),
        ("[]", []),
        ("No box.", []),
        ("[1, 2, 3]", None),
        ("box: [1, 2, 3, 4]", None),
        ('[{"label": "x"}]', None),
        ("[1e999, 2, 3, 4]", None),
        ("[" * 5000 + "]" * 5000, None),  # nesting deeper than the JSON decoder's recursion limit
        (str([[0, 0, 1, 1]] * 101), None),  # more than MAX_BOXES
    ],
)
def test_parse_boxes(answer, expected):
    assert parse_boxes(answer) == expected


def test_parse_truth_boxes_accepts_json_and_arrays():
    assert parse_truth_boxes("[[1,2,3,4]]") == [[1, 2, 3, 4]]
    assert parse_truth_boxes(np.array([[1, 2, 3, 4]])) == [[1, 2, 3, 4]]
    assert parse_truth_boxes("[]") == []
    assert parse_truth_boxes("[[1,2,3]]") is None
    assert parse_truth_boxes(None) is None


@pytest.mark.parametrize("size", [(28, 28), (64, 64), (224, 224), (500, 375), (1000, 40), (4000, 3000)])
@pytest.mark.parametrize("pixels", [(3136, 12845056), (3136, 12544), (256 * 28 * 28, 1280 * 28 * 28)])
def test_smart_resize_matches_qwen_vl_utils(size, pixels):
    qwen = pytest.importorskip("qwen_vl_utils.vision_process")
    h, w = qwen.smart_resize(size[1], size[0], factor=28, min_pixels=pixels[0], max_pixels=pixels[1])
    ours = smart_resize(size[0], size[1], 28, *pixels)
    if min(h, w) == 0:  # qwen_vl_utils returns an empty side here (the processor then fails); we keep one patch
        assert ours == (max(w, 28), max(h, 28))
    else:
        assert ours == (w, h)


def test_convert_boxes_between_conventions():
    box = [[50.0, 100.0, 150.0, 200.0]]
    rel = convert_boxes(box, "abs", (200, 400), "rel1000", None)
    assert rel == [[250.0, 250.0, 750.0, 500.0]]
    assert convert_boxes(rel, "rel1000", None, "abs", (200, 400)) == box
    assert convert_boxes(box, "abs", None, "rel1", None) is None  # pixels without an image size
    assert convert_boxes(box, "abs", None, "abs", None) == box  # same frame: nothing to convert


# --- parse_answer: the contract of docs/contracts.md ---


def test_parse_answer_signature_and_fields():
    params = list(inspect.signature(parse_answer).parameters.values())
    assert [p.name for p in params[:2]] == ["solution_str", "extra_info"]
    assert params[2].kind is inspect.Parameter.VAR_KEYWORD
    names = {f.name for f in dataclasses.fields(ParsedAnswer)}
    assert {"format_ok", "think", "answer", "pred", "label_index", "label_set", "boxes"} <= names


def test_parse_answer_classification():
    parsed = parse_answer(respond("Melanoma"), derma())
    assert parsed == ParsedAnswer(
        format_ok=True,
        think="The lesion is asymmetric with irregular borders.",
        answer="Melanoma",
        pred="melanoma",
        label_index=4,
    )


def test_parse_answer_ordinal_and_multilabel():
    assert parse_answer(respond("grade 3"), retina()).label_index == 3
    _, _, chest = ROWS["multilabel"]
    parsed = parse_answer(respond("mass, effusion"), chest)
    assert parsed.label_set == (2, 4) and json.loads(parsed.pred) == ["effusion", "mass"]


def test_parse_answer_boxes_in_ground_truth_frame():
    """Qwen2.5-VL saw a 28 px image upscaled to 56 px: its pixel boxes are halved back to the stored frame."""
    parsed = parse_answer(respond("[14, 14, 42, 42]"), grounding("abs", (28, 28)))
    assert parsed.boxes == [[7.0, 7.0, 21.0, 21.0]]
    stored = parse_answer(respond("[14, 14, 42, 42]"), grounding("abs", (28, 28)), abs_frame="stored")
    assert stored.boxes == [[14.0, 14.0, 42.0, 42.0]]
    qwen3 = parse_answer(respond("[500, 500, 1000, 1000]"), grounding("abs", (28, 28)), box_format="rel1000")
    assert qwen3.boxes == [[14.0, 14.0, 28.0, 28.0]]
    assert parse_answer(respond("[1, 2, 3, 4]"), grounding("rel1")).pred == "[[1.0, 2.0, 3.0, 4.0]]"


def test_parse_answer_tolerates_numpy_extra_info():
    """Rows read back from parquet through pandas carry numpy arrays instead of lists."""
    info = derma()
    info["labels"] = np.array(info["labels"], dtype=object)
    info["label_aliases"] = np.array([np.array(a, dtype=object) for a in info["label_aliases"]], dtype=object)
    assert parse_answer(respond("mole"), info).pred == "melanocytic nevi"


@pytest.mark.parametrize(
    "extra_info",
    [
        None,
        {},
        {"task_type": "multiclass"},
        {"task_type": "multiclass", "labels": "melanoma"},
        {"task_type": "grounding", "box_format": "px"},
        {"task_type": "multiclass", "labels": ["a", None]},
        "garbage",
    ],
)
def test_parse_answer_with_bad_extra_info_parses_nothing(extra_info):
    parsed = parse_answer(respond("melanoma"), extra_info)
    assert parsed.format_ok and parsed.pred == "" and parsed.label_index is None


def test_grade_prefix_is_never_read_as_an_option_number():
    """With numbered options "1" is grade 0, so "grade 2" read as option 2 would credit grade 1."""
    space = label_space(("no retinopathy", "mild", "moderate"))
    assert match_label("grade 2", space, "none", ordinal=True) == 2
    assert match_label("grade 2", space, "number", ordinal=True) is None
    assert match_label("grade b", space, "letter", ordinal=True) is None
    aliased = label_space(("no retinopathy", "mild", "moderate"), (("grade 0",), ("grade 1",), ("grade 2",)))
    assert match_label("Grade 2", aliased, "number", ordinal=True) == 2  # an alias still names its grade
