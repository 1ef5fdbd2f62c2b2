"""Specification of ``reward_fns.config.reward_kwargs_problems``, the one validator of training's preflight and of
the evaluation's ``--reward_kwargs``: fast, direct, in the reward tests.

Before these, only the preflight and evaluation tests (tests/test_main_config.py, test_hostile_evaluation.py)
reached it: a mutation run over reward_fns against the reward tests found no test for any of its mutants. Each
test names the mutants it kills.
"""

from __future__ import annotations

from dataclasses import fields

import pytest

from reward_fns.config import VERL_CALL_KWARGS, RewardConfig, reward_config, reward_kwargs_problems

KNOWN = sorted(f.name for f in fields(RewardConfig))


def test_valid_settings_and_verls_own_call_kwargs_have_no_problem():
    """Kills: the mapping check inverted, the unknown-key guard forced true, verl's call kwargs added to instead
    of taken from the unknown keys, the valid settings not passed to the validator (None: a TypeError)."""
    assert reward_kwargs_problems({"format_weight": 0.5, **dict.fromkeys(VERL_CALL_KWARGS)}) == []
    assert reward_kwargs_problems({}) == []


@pytest.mark.parametrize("kwargs", [["format_weight", 0.5], "format_weight=0.5", None], ids=["list", "str", "none"])
def test_anything_but_a_mapping_is_one_problem_naming_it(kwargs):
    """Kills: the mapping check inverted (a list would then be iterated as keys)."""
    assert reward_kwargs_problems(kwargs) == [f"expected a mapping, got {kwargs!r}"]


def test_unknown_keys_are_named_sorted_beside_the_known_ones():
    """Kills: the known set or the unknown list dropped (None) or built from None, each unknown key spelt
    ``None``, the known list in the message replaced, the unknown-key guard forced false, the key sets added
    instead of subtracted (a TypeError on sets)."""
    problems = reward_kwargs_problems({"zeta_weight": 1, "answer_tags": "final", 7: "x", "format_weight": 0.5})
    assert problems == [f"unknown key(s) ['7', 'answer_tags', 'zeta_weight']; known (reward_fns/config.py): {KNOWN}"]


def test_a_value_out_of_range_is_the_message_the_reward_would_raise():
    """Kills: the validator's message dropped or replaced (``str(None)``)."""
    with pytest.raises(ValueError) as raised:
        reward_config({"acc_weight": -1.0})
    assert reward_kwargs_problems({"acc_weight": -1.0}) == [str(raised.value)]
    assert "acc_weight=-1.0" in str(raised.value)


def test_unknown_keys_are_left_out_of_the_validation_of_the_known_ones():
    """Both problems, in order: the unknown key and the invalid known value. Kills: only the unknown keys
    validated (``k in unknown``), which would pass the invalid value silently."""
    with pytest.raises(ValueError) as raised:
        reward_config({"acc_weight": -1.0})
    problems = reward_kwargs_problems({"answer_tags": "final", "acc_weight": -1.0})
    assert problems == [
        f"unknown key(s) ['answer_tags']; known (reward_fns/config.py): {KNOWN}",
        str(raised.value),
    ]


@pytest.mark.parametrize(
    ("kwargs", "ok"),
    [
        ({"acc_weight": 0.0}, True),  # closed low bound
        ({"acc_weight": 100.0}, True),  # closed high bound
        ({"acc_weight": 100.5}, False),
        ({"format_weight": -100.0}, True),
        ({"min_pixels": 1}, True),
        ({"iou_threshold": 1.0}, True),
        ({"iou_threshold": 0.0}, False),  # open low bound: 0 credits non-overlapping boxes
        ({"mfrs_gamma": 100.0}, True),
        ({"mfrs_gamma": 0.0}, False),
        ({"think": "forbidden"}, True),
        ({"think": "required"}, True),
        ({"think": "sometimes"}, False),
        ({"ordinal_reward": "exact"}, True),
    ],
    ids=lambda v: str(v),
)
def test_each_setting_is_accepted_exactly_within_its_documented_range(kwargs, ok):
    """The ranges ``SETTING_BOUNDS`` tells the user, at their ends. Its checks are built at import, where mutmut's
    trampolines cannot switch them: these were confirmed by mutating the source (scripts/mutation.sh's report).
    Kills: ``_number_in``'s closed low bound made open (``low_open=True`` by default, forced true, or ``low < v``),
    its high bound made open (``v < high``), ``_one_of`` returning None or ``not in``."""
    assert (reward_kwargs_problems(kwargs) == []) is ok


def _refusal(*reasons: str) -> list[str]:
    """The one problem a refused setting gives: the reward's prefix, then each reason, ``; ``-joined."""
    return ["reward_fns: invalid reward kwarg " + "; ".join(reasons)]


def test_several_bad_settings_are_one_message_listing_each():
    """Kills: the message's prefix or separator changed."""
    assert reward_kwargs_problems({"acc_weight": -1, "recite_ngram": 9}) == _refusal(
        "acc_weight=-1.0 (expected a finite number in [0, 100])", "recite_ngram=9 (expected an integer in [1, 8])"
    )


def test_the_cross_field_rules_are_refused_with_their_reason():
    """Kills: each cross-field reason replaced by None (then a TypeError's text) or its text changed, the
    pixel-order rule read only when another setting is bad (``if bad and ...``)."""
    assert reward_kwargs_problems({"think_tag": "answer"}) == _refusal(
        "think_tag/answer_tag='answer' (expected two different tags)"
    )
    assert reward_kwargs_problems({"think": "forbidden", "think_prefilled": True}) == _refusal(
        "think=forbidden with think_prefilled=true (expected no think block the template opens)"
    )
    assert reward_kwargs_problems({"min_pixels": 2000, "max_pixels": 1000}) == _refusal(
        "min_pixels=2000 > max_pixels=1000 (expected min <= max)"
    )


def test_equal_pixel_bounds_are_accepted():
    """Kills: ``min_pixels >= max_pixels`` refused (the documented rule is min <= max)."""
    assert reward_kwargs_problems({"min_pixels": 1000, "max_pixels": 1000}) == []


def test_a_value_whose_check_raises_is_refused():
    """An integer too large for a float makes ``math.isfinite`` raise OverflowError inside the range check.
    Kills: ``_safe`` answering True on an exception (the value would pass unchecked)."""
    assert reward_kwargs_problems({"max_pixels": 10**400})[0].startswith("reward_fns: invalid reward kwarg max_pix")


def test_a_tag_must_be_a_tag_name_not_any_text():
    """Kills: ``isinstance(value, str) or ...`` (any text would be a tag)."""
    assert reward_kwargs_problems({"think_tag": "bad tag"}) == _refusal(
        "think_tag='bad tag' (expected a tag name: a letter, then up to 31 letters, digits, _ . : -)"
    )


def test_an_mfrs_table_of_two_entries_is_enough():
    """Kills: the table's length bound raised (``> 2``, ``>= 3``); [1, 0] is exact-match credit as a table."""
    assert reward_kwargs_problems({"mfrs_table": [1.0, 0.0]}) == []
    assert reward_kwargs_problems({"mfrs_table": [1.0]}) != []


def test_verls_call_kwargs_are_skipped_not_an_end_of_the_settings():
    """verl adds its own call kwargs to ours (``VERL_CALL_KWARGS``); a setting after one must still be read.
    Kills: ``continue`` -> ``break`` in the settings loop."""
    assert reward_config({"reward_router_address": None, "acc_weight": 2.0}).acc_weight == 2.0


def test_an_unknown_setting_is_skipped_and_warned_once_by_name(caplog):
    """Kills: ``continue`` -> ``break`` after an unknown key (the settings after it unread), the warning's text
    changed or its name dropped, the warned-once set recording None (the warning would repeat)."""
    name = "zz_unknown_setting_of_this_test"
    with caplog.at_level("WARNING", logger="reward_fns.config"):
        assert reward_config({name: 1, "acc_weight": 2.0}).acc_weight == 2.0
        assert reward_config({name: 1, "acc_weight": 3.0}).acc_weight == 3.0
    assert [r.getMessage() for r in caplog.records] == [f"reward_fns: ignoring unknown reward kwarg {name!r}"]


def test_only_tag_settings_are_trimmed():
    """A tag may be written as ``<think>``; other text settings are read as given. Kills: the trim applied to
    every text setting (``or``) or trimming X too."""
    assert reward_config({"think_tag": "<Xthink/>", "answer_tag": " answerX "}).think_tag == "Xthink"
    assert reward_config({"answer_tag": " answerX "}).answer_tag == "answerX"
    assert reward_kwargs_problems({"box_format": "abs/"}) != []


def test_list_settings_that_differ_give_different_configs():
    """Validated configs are cached by value: two lists must not share a key. Kills: a list's items left out of
    its cache key (``_freeze(None)``: the second table would get the first one's config)."""
    assert reward_config({"mfrs_table": [1.0, 0.123, 0.0]}).mfrs_table == (1.0, 0.123, 0.0)
    assert reward_config({"mfrs_table": [1.0, 0.456, 0.0]}).mfrs_table == (1.0, 0.456, 0.0)


def test_verls_omegaconf_lists_that_differ_give_different_configs():
    """verl passes nested settings as OmegaConf ``ListConfig``s, cached by identity. Kills: the identity left out
    of the key (``id(None)``: every ListConfig would share the first one's config)."""
    from omegaconf import ListConfig

    assert reward_config({"mfrs_table": ListConfig([1.0, 0.111, 0.0])}).mfrs_table == (1.0, 0.111, 0.0)
    assert reward_config({"mfrs_table": ListConfig([1.0, 0.222, 0.0])}).mfrs_table == (1.0, 0.222, 0.0)
