"""Hostile settings and answers, rewards: settings bounded to their meaningful range (no value zeroes or inflates a
task), negative grades, option tokens against bare-number aliases, and a multilabel truth naming every label."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
from fixtures_data import RETINA_LABELS
from hypothesis import given, settings
from hypothesis import strategies as st
from qwen_vl_utils import smart_resize
from rewards_rows import CHEST_LABELS, ROWS, chest, respond

from data_preprocess.schema import make_extra_info
from reward_fns import compute_score
from reward_fns.config import SETTING_BOUNDS, RewardConfig, reward_config
from reward_fns.labels import label_space, match_label

# --- settings ---------------------------------------------------------------------------------------------------

# Per setting: values that must be refused (absurd or meaningless) and boundary values that must be accepted.
BOUNDS_TABLE = {
    "think_tag": (["", "th ink", "a>b", "x" * 40, "1think"], ["t", "reasoning", "think_1"]),
    "answer_tag": (["", "ans wer", "<", "\n"], ["a", "final_answer"]),
    "think_prefilled": (["maybe", 0.5, [True]], [True, False]),
    "think": (["none", "", "optional", True], ["required", "forbidden"]),
    "format_weight": ([math.nan, math.inf, 1e9, -101, True, "high"], [-100, 0, 100]),
    "acc_weight": ([-0.5, math.nan, 1e9], [0, 1.0, 100]),
    "acc_requires_format": (["nope", None], [False]),
    "ordinal_reward": (["soft", "", ["mfrs"]], ["mfrs", "exact"]),
    "mfrs_shape": (["cosine"], ["linear"]),
    "mfrs_table": ([[], [0.5], [1], [1, 1], [1, 2], [1, math.nan]], [[1, 0.5], [1, 0]]),
    "mfrs_gamma": ([0, -1, math.inf, math.nan, 1e6], [None, 1e-3, 100]),
    "multilabel_reward": (["dice"], ["jaccard"]),
    "open_reward": (["bleu", "F1", ""], ["recall", "f1", "exact"]),
    "open_max_length_ratio": ([0.5, 0, -1, math.nan, math.inf, 1e3], [1, 3.0, 100]),
    "box_format": (["xywh", ""], [None, "rel1"]),
    "abs_frame": (["model"], ["stored"]),
    "min_pixels": ([0, -1, 1e400, 1 << 40], [1, 3136]),
    "max_pixels": ([0, 1e400, 1 << 40], [3136, 1 << 31]),
    "image_factor": ([0, -28, 4096], [1, 28, 32]),
    "iou_type": (["diou"], ["giou"]),
    "iou_threshold": ([0, -0.1, 1.01, math.nan], [1e-6, 0.5, 1]),
    "recite_delta": ([math.nan, -1e3, 1e3], [-1, 0, 1]),
    "recite_ngram": ([0, 9, 2.5, False, "abc"], [1, 8]),
    "recite_smooth": (["laplace"], ["none"]),
    "recite_span": (["answer"], ["response"]),
    "recite_brevity_penalty": (["maybe"], [True]),
    "recite_requires_correct": ([None], [True]),
    "recite_max_tokens": ([0, -5, 10**9], [1, 1_000_000]),
    "recite_mode": (["lines", "", "whole"], ["per_line", "whole_card"]),
    "zoom_iou_weight": ([-0.1, math.nan, math.inf, 101, True], [0, 0.5, 100]),
}


def test_every_setting_has_bounds_and_a_table_row():
    """A new RewardConfig field must come with its meaningful range (SETTING_BOUNDS) and a row here."""
    names = {f.name for f in dataclasses.fields(RewardConfig)}
    assert names - set(SETTING_BOUNDS) == set(), "settings without bounds in reward_fns/config.py"
    assert names - set(BOUNDS_TABLE) <= names - set(SETTING_BOUNDS), "bounded settings without a test row"


@pytest.mark.parametrize(
    ("name", "value"), [(n, v) for n, (bad, _) in BOUNDS_TABLE.items() for v in bad], ids=lambda x: repr(x)[:20]
)
def test_out_of_range_settings_are_refused_naming_the_setting(name, value):
    with pytest.raises(ValueError, match=f"reward kwarg {name}"):
        reward_config({name: value})


@pytest.mark.parametrize(
    ("name", "value"), [(n, v) for n, (_, good) in BOUNDS_TABLE.items() for v in good], ids=lambda x: repr(x)[:20]
)
def test_boundary_settings_are_accepted(name, value):
    assert getattr(reward_config({name: value}), name) == (tuple(value) if isinstance(value, list) else value)


# Values OmegaConf converts for a typed field, as it does for Hydra overrides (reward_fns.settings): accepted.
@pytest.mark.parametrize(
    ("name", "value", "converted"),
    [
        ("think_prefilled", "yes", True),
        ("acc_requires_format", "no", False),
        ("recite_brevity_penalty", "on", True),
        ("think_prefilled", 2, True),
        ("recite_ngram", "3", 3),
        ("format_weight", "0.5", 0.5),
        ("acc_weight", 2, 2.0),
    ],
)
def test_omegaconf_conversions_are_accepted(name, value, converted):
    assert getattr(reward_config({name: value}), name) == converted


def test_min_above_max_pixels_and_equal_tags_are_refused():
    with pytest.raises(ValueError, match="min_pixels=5000 > max_pixels=4000"):
        reward_config({"min_pixels": 5000, "max_pixels": 4000})
    with pytest.raises(ValueError, match="think_tag/answer_tag='x'"):
        reward_config({"think_tag": "x", "answer_tag": "x"})


def test_iou_threshold_zero_no_longer_credits_a_disjoint_box():
    """The issue's example: iou_threshold=0 made a non-overlapping box 'correct'."""
    source, truth, info = ROWS["grounding"]
    with pytest.raises(ValueError, match="iou_threshold=0.0"):
        compute_score(source, respond("[150, 150, 200, 200]"), truth, info, iou_threshold=0)
    assert compute_score(source, respond("[150, 150, 200, 200]"), truth, info, iou_threshold=1e-6)["acc"] == 0.0


def test_min_pixels_overflow_is_refused():
    """The issue's example: min_pixels=1e400 (inf) zeroed every grounding score."""
    with pytest.raises(ValueError, match="min_pixels"):
        reward_config({"min_pixels": 1e400})
    with pytest.raises(ValueError, match="min_pixels"):
        reward_config({"min_pixels": float("1e400")})


_ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.lists(st.floats(allow_nan=True), max_size=4),
)


# Per row of rewards_rows.ROWS: an answer the row counts correct under the default settings, and a wrong one.
RIGHT_WRONG = {
    "multiclass": ("melanoma", "basal cell carcinoma"),
    "letter": ("melanoma", "basal cell carcinoma"),
    "number": ("melanoma", "basal cell carcinoma"),
    "binary": ("malignant", "benign"),
    "ordinal": ("moderate", "no retinopathy"),
    "multilabel": ("effusion, mass", "cardiomegaly"),
    "multilabel_empty": ("none", "effusion"),
    "grounding": ("[40, 40, 120, 120]", "[150, 150, 200, 200]"),
    "grounding_empty": ("[]", "[10, 10, 60, 60]"),
    "mcq": ("MRI", "CT"),
    "mcq_numbers": ("3", "1"),
    "closed": ("yes", "no"),
    "closed_no": ("no", "yes"),
    "open": ("right lower lobe", "the spleen"),
    "open_number": ("2", "7"),
}


def _box_answers(box: list[float], cfg: RewardConfig) -> list[str]:
    """The truth box (stored 224 x 224 pixels) written in every frame a setting may ask for: stored pixels, the
    Qwen-resized pixels (computed by qwen_vl_utils, not by reward_fns), 0-1000 and 0-1."""
    height, width = smart_resize(224, 224, cfg.image_factor, cfg.min_pixels, cfg.max_pixels)
    frames = [(224, 224), (width, height), (1000, 1000), (1, 1)]
    return [
        json.dumps([round(v * (fx if i % 2 == 0 else fy) / 224, 4) for i, v in enumerate(box)]) for fx, fy in frames
    ]


def _respond_as(cfg: RewardConfig, answer: str) -> str:
    """A well-formed response under ``cfg``'s layout (tags, think block required / forbidden / prefilled)."""
    think = "" if cfg.think == "forbidden" else f"<{cfg.think_tag}>The borders are irregular.</{cfg.think_tag}>\n"
    if cfg.think_prefilled:
        think = think.removeprefix(f"<{cfg.think_tag}>")
    return f"{think}<{cfg.answer_tag}>{answer}</{cfg.answer_tag}>"


def _refused_by_name_or_separates_answers(name: str, value: object) -> None:
    """A setting is refused with a message naming it, or every row type still scores within ``score_bounds`` and
    still separates a right answer (accuracy 1) from a wrong one (accuracy below 1)."""
    try:
        cfg = reward_config({name: value})
    except ValueError as err:
        assert name in str(err)
        return
    low, high = cfg.score_bounds()
    for row, (source, truth, info) in ROWS.items():
        right, wrong = RIGHT_WRONG[row]
        if cfg.box_format and info["task_type"] == "grounding":
            # a row stored in another convention scores 0 with a warning (the data must be re-prepared)
            info = {**info, "box_format": cfg.box_format}
        rights = _box_answers([40, 40, 120, 120], cfg) if row == "grounding" else [right]
        results = [compute_score(source, _respond_as(cfg, a), truth, info, **{name: value}) for a in [*rights, wrong]]
        assert all(low - 1e-9 <= r["score"] <= high + 1e-9 for r in results), row
        best = max(results[:-1], key=lambda r: r["acc"])
        assert best["acc"] == 1.0 > results[-1]["acc"], (row, [r["acc"] for r in results])
        # the score still rewards the right answer over the wrong one, in the sign of acc_weight (a weight below
        # float resolution next to the format term moves nothing)
        gain = best["score"] - results[-1]["score"]
        if abs(cfg.acc_weight) > 1e-9:
            assert gain * cfg.acc_weight > 0, (row, gain)


@pytest.mark.parametrize(
    ("name", "value"),
    [(name, v) for name, (refused, accepted) in BOUNDS_TABLE.items() for v in [*refused, *accepted]],
)
def test_no_table_value_zeroes_or_inflates_a_task(name, value):
    """No setting value can silently zero or inflate a whole task: each value of the table above is refused by name
    or keeps every row type's right answer at accuracy 1 and its wrong answer below.

    Mutations checked: accepting ``iou_threshold=0`` (a disjoint box counts) and accepting
    ``open_max_length_ratio=0.5`` (every open answer is padding, task term 0) both fail here; a check of the score
    bounds alone passed both."""
    _refused_by_name_or_separates_answers(name, value)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(SETTING_BOUNDS)), _ANY_VALUE)
def test_any_setting_value_is_refused_by_name_or_keeps_scores_in_bounds(name, value):
    """The same promise over any value hypothesis draws (the table above pins the values known to have broken it)."""
    _refused_by_name_or_separates_answers(name, value)


# --- negative grades ---------------------------------------------------------------------------------------------

RETINA = tuple(RETINA_LABELS)
RETINA_OFFICIAL = (("0", "grade 0"), ("1", "grade 1"), ("2", "grade 2"), ("3", "grade 3"), ("4", "grade 4"))


@pytest.mark.parametrize(
    "answer", ["-1", "grade -2", "\u22121", "- 2", "grade \u20133", "Answer: -4", "(-1)", "stage -1", "-0"]
)
@pytest.mark.parametrize("option_style", ["none", "number"])
def test_negative_grades_name_no_grade(answer, option_style):
    for aliases in ((), RETINA_OFFICIAL):
        assert match_label(answer, label_space(RETINA, aliases), option_style, ordinal=True) is None


@pytest.mark.parametrize(("answer", "expected"), [("2", 2), ("grade 2", 2), ("type-2", None), ("1-2", None)])
def test_hyphens_that_are_not_signs_keep_their_meaning(answer, expected):
    assert match_label(answer, label_space(RETINA), "none", ordinal=True) == expected


def test_a_label_that_spells_a_negative_number_still_matches():
    space = label_space(("-1", "0", "1"))
    assert [match_label(a, space) for a in ("-1", "0", "1")] == [0, 1, 2]


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 9),
    st.sampled_from(["", "grade ", "stage ", "level ", "answer: ", "class "]),
    st.sampled_from(["-", "\u2212", "\u2013", "- "]),
    st.sampled_from(["none", "number", "letter"]),
)
def test_no_negative_number_ever_names_a_grade(grade, prefix, sign, option_style):
    """Property: '<prefix><sign><digit>' is never read as a grade, option or alias."""
    space = label_space(RETINA, RETINA_OFFICIAL)
    assert match_label(f"{prefix}{sign}{grade}", space, option_style, ordinal=True) is None


# --- option tokens against bare-number aliases -------------------------------------------------------------------


def retina_row(option_style: str) -> dict:
    """A RetinaMNIST row as the converter writes it: aliases are the official names '0'..'4'."""
    return make_extra_info(
        dataset="retinamnist",
        task_type="ordinal",
        labels=list(RETINA),
        label_aliases=[list(a) for a in RETINA_OFFICIAL],
        option_style=option_style,
        image_size=[224, 224],
    )


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("1", "no DR"),
        ("5", "proliferative DR"),
        ("option 1", "no DR"),
        ("1. no DR", "no DR"),
        ("(2)", "mild NPDR"),
        ("0", ""),
        ("6", ""),
        ("1. mild NPDR", ""),
        ("mild NPDR", "mild NPDR"),
        ("grade 1", "mild NPDR"),
    ],
)
def test_numbered_options_win_over_official_number_names(answer, expected):
    """The issue's example: the prompt lists '1. no DR ... 5. proliferative DR'; '1' is option 1 (no DR), not the
    official name '1' (mild NPDR)."""
    result = compute_score("verl_med/retinamnist", respond(answer), "no DR", retina_row("number"))
    assert result["pred"] == expected
    assert result["acc"] == float(expected == "no DR")


def test_without_options_the_official_numbers_are_grades():
    result = compute_score("verl_med/retinamnist", respond("1"), "mild NPDR", retina_row("none"))
    assert result["pred"] == "mild NPDR" and result["acc"] == 1.0


@settings(max_examples=100, deadline=None)
@given(st.integers(2, 12), st.sampled_from(["number", "letter"]), st.integers(0, 11))
def test_an_option_token_always_reads_as_its_option(n_labels, style, pick):
    """Property: whatever bare-number or single-letter aliases the labels carry, the option token shown in the
    prompt names the option's label."""
    pick %= n_labels
    labels = tuple(f"class {chr(97 + i)}{i}" for i in range(n_labels))
    aliases = tuple((str(i), str(n_labels - 1 - i), chr(97 + (i + 1) % n_labels)) for i in range(n_labels))
    token = str(pick + 1) if style == "number" else "ABCDEFGHIJKL"[pick]
    assert match_label(token, label_space(labels, aliases), style) == pick


# --- multilabel: a truth naming every label ------------------------------------------------------------------------


def test_every_label_scores_when_the_truth_is_every_label():
    """The issue's example: the 'names every label' guard fired on a correct answer."""
    truth = '["atelectasis", "cardiomegaly", "effusion", "infiltration", "mass"]'
    result = compute_score("verl_med/chestmnist", respond(", ".join(CHEST_LABELS)), truth, chest())
    assert result["acc"] == 1.0 and result["set_f1"] == 1.0


@settings(max_examples=100, deadline=None)
@given(st.sets(st.sampled_from(CHEST_LABELS)), st.permutations(CHEST_LABELS))
def test_naming_every_label_pays_only_when_it_is_the_truth(truth_names, answer_order):
    """Property: the all-labels answer scores 1 on an all-labels truth and nothing on any other truth; the exact
    answer always scores 1."""
    truth = sorted(truth_names)
    import json

    every = compute_score("verl_med/chestmnist", respond(", ".join(answer_order)), json.dumps(truth), chest())
    if len(truth) == len(CHEST_LABELS):
        assert every["acc"] == 1.0
    else:
        assert every["acc"] == 0.0 and every["set_f1"] == 0.0
    exact = compute_score("verl_med/chestmnist", respond(json.dumps(truth)), json.dumps(truth), chest())
    assert exact["acc"] == 1.0
