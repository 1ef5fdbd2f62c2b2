"""benchmarks/results/mutation.md from a mutmut run (scripts/mutation.sh): the score per module and every survivor,
either with the reason it is equivalent (``EQUIVALENT``, kept by hand) or as not yet killed.

Score = killed / (mutants - equivalent survivors - not checked); a timeout counts as killed (the mutant looped),
"no tests" as a survivor (no test reaches the code); "not checked" (a run stopped early) is counted apart.
One section per target; a run replaces only its own section.
"""

from __future__ import annotations

import argparse
import re
import subprocess
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path

# mutmut mutant name -> why the mutant cannot change any observable behaviour. Names carry the function and a
# counter, so they stay valid while the function's code is unchanged; a stale entry is reported as such.
_ENV_DEFAULT = 'the default of an unset variable only has to differ from "1"; any default does'
_VERL_ACC = "verl 0.9.1's only dict-returning scorer (math_dapo) always reports acc, so the default is never read"
_VERL_FORMAT = "no verl 0.9.1 scorer reports a format key, so the lookup always returns its default 0.0"
_VERL_PRED = 'math_dapo\'s pred is always a str ("[INVALID]" when unread), so the non-str branch is never taken'
_INIT_INDEX = "initial index of a block that is absent: format_ok is already False (short-circuit) before it is read"
_ONE_TAG = "find and rfind agree: the tag occurs exactly once on this branch"
_DISTINCT_TAGS = "two different tags never start at the same index, so < and <= agree"
_ABSENT_AFTER = "the same -1 test: a tag is absent after ai for find and rfind alike"
_CLOSE_BEFORE = "no closing think tag follows ai (checked just before), so searching to the end equals searching to ai"
_START_NONE = "str.rfind with start None searches from 0, as start 0 does"
_FORMAT = "reward_fns.format.x_split_blocks__mutmut_"
_NOT_STRICT = (
    "zip's strict=None (or left out) is non-strict, as strict=False: the shifted slices are meant to differ in length"
)
_NOT_AN_OPTION_STYLE = (
    'the default option style only has to be neither "letter" nor "number" (match_label_set passes ordinal=False, '
    'so the grade rule that reads "none" is never reached): any other text reads no option token'
)
_CASEFOLDED = (
    "tokens reach _token_index normalised (casefolded word characters, no underscore): no token lies between the "
    'mutated bound and "a" (uppercase letters, brackets, caret, underscore and backquote never survive normalize)'
)


def _each(function: str, numbers: Iterable[int], reason: str) -> dict[str, str]:
    """One reason for several mutants of one function."""
    return {f"{function}__mutmut_{i}": reason for i in numbers}


EQUIVALENT: dict[str, str] = {
    **{f"{_FORMAT}{i}": _INIT_INDEX for i in (15, 16, 17, 32, 33, 34)},
    **{f"{_FORMAT}{i}": _ONE_TAG for i in (25, 27, 42, 44)},
    **{f"{_FORMAT}{i}": _DISTINCT_TAGS for i in (28, 57)},
    **{f"{_FORMAT}{i}": _ABSENT_AFTER for i in (62, 70)},
    **{f"{_FORMAT}{i}": _CLOSE_BEFORE for i in (80, 83)},
    f"{_FORMAT}84": "find and rfind agree on whether a closing tag lies in [last_think_open, ai)",
    f"{_FORMAT}47": _START_NONE,
    **{
        f"{_FORMAT}{i}": "an opening think tag after ai voids the answer anyway (checked next), so the search end "
        "does not matter"
        for i in (48, 51)
    },
    "reward_fns.boxes.x_giou__mutmut_63": "hull > 0 whenever union > 0 (a box of positive area lies inside the hull), "
    "so hull <= 0 and hull < 0 are only reached with union <= 0, already caught",
    **_each(
        "reward_fns.boxes.x__strip_fence",
        (9, 13, 14, 15),
        'a fence without a newline: the text kept instead of "" '
        '(or "XXXX") still starts with backticks or holds no number, so parse_boxes reads nothing either way',
    ),
    **_each(
        "reward_fns.boxes.x__strip_fence",
        (17, 20),
        "parse_boxes strips the answer first, so no trailing "
        "whitespace is left for rstrip, and the final strip() removes what lstrip would",
    ),
    "reward_fns.accuracy.x_truth_yes_no__mutmut_3": "read_yes_no reads anything but a str as no answer (None), as "
    "the guard does",
    "reward_fns.boxes.x_parse_boxes__mutmut_8": 'an answer starting with "X" is no JSON: json_or_list gives None and '
    "the number fallback runs as before",
    "reward_fns.boxes.x_smart_resize__mutmut_3": "with the default factor 28 every h_bar * w_bar is a multiple of "
    "784 and 12845056 = 784 x 16384: no product lies between the bound and the bound + 1",
    **_each(
        "reward_fns.boxes.x_match_boxes",
        (1, 2),
        'the default only has to differ from "giou": any other kind is IoU (_similarity)',
    ),
    **_each(
        "reward_fns.boxes.x_match_boxes",
        (46, 49, 50),
        "linear_sum_assignment returns row and column indices of equal length: zip's strict check never fires",
    ),
    "reward_fns.boxes.x_match_boxes__mutmut_71": "each similarity is at most 1 and at most min(#pred, #truth) are "
    "summed over max(#pred, #truth): the reward never exceeds 1, so the upper clamp is never reached",
    "reward_fns.boxes.x_match_boxes__mutmut_23": "one box against several: the Hungarian assignment and the max "
    "pick the same best similarity, and the all-matched flag is False either way (the counts differ)",
    **_each(
        "reward_fns.labels.x_match_label",
        (25, 26, 33, 44, 45, 52),
        "a lone option token means option_style is letter or number, "
        "whose branches of _token_index read neither ordinal nor roman_ok",
    ),
    "reward_fns.labels.x_match_label__mutmut_64": "roman_ok is only tested for truth: None and False agree",
    "reward_fns.labels.x_match_label_set__mutmut_1": _NOT_AN_OPTION_STYLE,
    "reward_fns.labels.x_match_label_set__mutmut_2": _NOT_AN_OPTION_STYLE,
    "reward_fns.labels.x__token_index__mutmut_8": _CASEFOLDED,
    "reward_fns.labels.x__option_shaped__mutmut_7": _CASEFOLDED,
    "reward_fns.labels.x__option_shaped__mutmut_8": _CASEFOLDED,
    "reward_fns.labels.x_match_label__mutmut_10": "normalize leaves single spaces between words and none at the "
    'ends, so split(" ") equals split()',
    "reward_fns.labels.x__token_index__mutmut_9": _CASEFOLDED,
    "reward_fns.accuracy.x_score_task__mutmut_140": "an open pred is open_tokens' tokens joined by single spaces "
    '(no token is empty or holds whitespace), so split(" ") equals split()',
    "reward_fns.accuracy.x_score_task__mutmut_143": "offered_alternatives reads only question[:1024] itself: the "
    "caller's slice bounds the cache key, not what is read",
    "reward_fns.accuracy.x_truth_open_tokens__mutmut_2": '"" and None are both empty: the same UngradableRow',
    "reward_fns.accuracy.x_truth_open_tokens__mutmut_3": "a reference of exactly MAX_OPEN_CHARS characters: both "
    "branches return open_tokens of the same text (cached or not), the same tokens",
    "reward_fns.labels.x_normalize__mutmut_7": 'casefold follows the substitution: " MINUS " becomes " minus "',
    **_each(
        "reward_fns.parsing.x_mcq_options",
        (8, 9),
        'the fallback style is "letter" too: a lettered row reads '
        '"letter" whether or not "letter" is in the accepted pair',
    ),
    **_each(
        "reward_fns.reference.x_reference_answer",
        (5, 7, 11),
        'a row without task_type: TaskType.parse of "", "None" or "XXXX" is None alike (no task type)',
    ),
    "reward_fns.reference.x_reference_answer__mutmut_32": "json.dumps(ensure_ascii=None) is falsy: non-ASCII kept, "
    "as with False",
    **_each(
        "reward_fns.reference.x_reference_response",
        (1, 2),
        'the default think only has to differ from "forbidden"; any other text keeps the think block',
    ),
    **_each(
        "reward_fns.reference.x_option_reference_response",
        (1, 2),
        'the default think only has to differ from "forbidden"; any other text keeps the think block',
    ),
    **_each(
        "reward_fns.reference.x_option_reference_response",
        (12, 13),
        "an mcq row without options: truth_option "
        "raises UngradableRow (None returned) before the fallback style is read",
    ),
    **{
        f"reward_fns.recitation.x_{fn}__mutmut_{i}": 'the default mode only has to differ from "whole_card" '
        "(reference_lines compares with nothing else): any other text is per_line"
        for fn, i in (("reference_lines", 1), ("reference_lines", 2), ("recitation_bleu", 6), ("recitation_bleu", 7))
    },
    **_each("reward_fns.recitation.x__ngrams", (6, 8), _NOT_STRICT),
    "reward_fns.recitation.x_recitation_bleu__mutmut_101": "sacrebleu's BLEU lies in [0, 100]: score / 100 never "
    "exceeds 1, so the upper clamp (1 or 2) is never reached",
    **_each(
        "reward_fns.recitation.x_recitation_bleu",
        (15, 22),
        "the guard only saves work: an empty think has every "
        "n-gram total 0 and sacrebleu's BLEU of it is 0; empty knowledge makes _reference return None (score 0)",
    ),
    "reward_fns.recitation.x_recitation_bleu__mutmut_43": "the early out only saves work: with no (n-1)-gram "
    "matched no n-gram can match, so counting bigrams too gives 0 as well",
    **_each("reward_fns.recitation.x_recitation_bleu", (55, 57), _NOT_STRICT),
    "reward_fns.recitation.x_recitation_bleu__mutmut_62": "the filter only saves work: a Counter returns 0 for an "
    "n-gram the references lack, so unfiltered n-grams clip to 0 (min(count, 0)) and the sum is unchanged",
    "reward_fns.task_info.x__aliases__mutmut_3": "when every alias is text, keeping the text ones keeps them all: "
    "both branches give the same tuple",
    "reward_fns.settings.x__culprit__mutmut_6": 'the "?" fallback needs a merge that fails as a whole while '
    "every one-key merge passes; OmegaConf merges key by key, so no input reaches it",
    "reward_fns.composite.x_strict_mode__mutmut_2": _ENV_DEFAULT,
    "reward_fns.composite.x_strict_mode__mutmut_4": _ENV_DEFAULT,
    "reward_fns.composite.x_strict_mode__mutmut_5": _ENV_DEFAULT,
    "reward_fns.composite.x__verl_result__mutmut_8": _VERL_ACC,
    "reward_fns.composite.x__verl_result__mutmut_10": _VERL_ACC,
    "reward_fns.composite.x__verl_result__mutmut_15": _VERL_FORMAT,
    "reward_fns.composite.x__verl_result__mutmut_19": _VERL_FORMAT,
    "reward_fns.composite.x__verl_result__mutmut_20": _VERL_FORMAT,
    "reward_fns.composite.x__verl_result__mutmut_35": _VERL_PRED,
    "reward_fns.composite.x__verl_result__mutmut_36": _VERL_PRED,
    "reward_fns.vqa.x_read_yes_no__mutmut_13": "normalize leaves single spaces between words and none at the ends, "
    'so split(" ") equals split()',
    "reward_fns.vqa.x_read_yes_no__mutmut_5": "the guard admits answers of at most 64 characters: [:65] of one is the "
    "whole answer, as [:64] is",
    "reward_fns.vqa.x_read_yes_no__mutmut_9": 'the text read instead of an over-long answer: "XXXX" is no yes/no '
    "spelling, so it reads None, as the empty text's early return does",
    "reward_fns.zoom.x_lesion_boxes__mutmut_5": 'a row without a mapping extra_info: parse_truth_boxes("") reads '
    "no boxes, as the None branch gives none: both are []",
    "reward_fns.zoom.x_lesion_boxes__mutmut_8": "parse_truth_boxes(None) reads no boxes (None), as the guard's None "
    "does",
    "reward_fns.config.x__freeze__mutmut_4": "a cache key that forgets a mapping's values: no setting takes a "
    "mapping (a config built from one raises and is not cached) and an unknown key's value is ignored, so two "
    "such keys always name the same config",
    **_each(
        "reward_fns.config.x__freeze",
        (5, 6),
        'the tag only marks a key made of an identity: "XXidXX" or "ID" marks it as "id" does',
    ),
    "reward_fns.vqa.x_fold_terms__mutmut_16": "a slice past the end is just shorter: every n above len(tokens) - i "
    "looks up the same tuple as n = len(tokens) - i (and jumps past the end the same way when it matches)",
    **_each(
        "reward_fns.vqa.x__fold_number",
        (14, 19),
        "tokens reach _fold_number casefolded (open_tokens): no token holds an uppercase X, so stripping X with "
        "the zeros strips the zeros alone",
    ),
    **_each(
        "reward_fns.recitation.x_tokenize",
        (12, 15, 16, 18, 19),
        "the windowed fast path only saves regex work: whenever it is taken (a wider window, the whole text, "
        "the exact-length or never-true whole-text test) its first max_tokens words are whole and equal the full "
        "scan's, and where it is not taken the full scan runs",
    ),
    "reward_fns.task_info.x__items__mutmut_1": "the list fast path only saves a copy: without it a list goes "
    "through list(value), the same items",
    "reward_fns.config.x__mfrs_table_ok__mutmut_13": "the first entry must be 1 and the entries strictly decrease, "
    "so no entry exceeds 1 whatever the upper bound",
    **_each(
        "verl_med_plugin.evaluation.metrics.x_grounding_metrics",
        (8, 10),
        "hit is read only through means (overall and under the has_lesion mask): a 0/1 array has the same means "
        "as its bool array",
    ),
    **_each(
        "verl_med_plugin.evaluation.metrics.x_grounding_metrics",
        (13, 15),
        "IoUs are numbers: np.asarray of them without dtype=float is a numeric array with the same means",
    ),
    **_each(
        "verl_med_plugin.evaluation.statistics.xǁOutcomesǁ_multilabel_counts",
        (3, 5),
        "the counts are sums of 0/1 booleans, exact in float64: multilabel_macro_f1_from_counts gives the same F1 "
        "from float counts",
    ),
    "verl_med_plugin.evaluation.statistics.xǁOutcomesǁ_multilabel_counts__mutmut_6": "a fourth column stays 0 "
    "and multilabel_macro_f1_from_counts reads columns 0-2 only",
}

# Survivors of the last run that a test added since kills: each confirmed on the run's own mutants/ folder (its
# trampolines, MUTANT_UNDER_TEST=<name>, the test failing; unmutated, it passes). Counted as killed and marked; the
# next run (or a MUTATION_RESUME=1 re-run of these names) confirms them.
_SPEC = "test_rewards_spec_survivors.py::"
_KILLS = {
    "test_boxes_convert_to_and_from_the_unit_frame": ["boxes.x__scale__mutmut_" + str(i) for i in (7, 8, 9, 10)],
    "test_giou_of_unit_frame_boxes_equals_torchvisions": [
        "boxes.x_giou__mutmut_62",
        "boxes.x_giou__mutmut_64",
        "boxes.x_iou__mutmut_36",
        "boxes.x__area__mutmut_6",
        "boxes.x__area__mutmut_14",
    ],
    "test_giou_of_boxes_without_area_is_the_minimum": [
        "boxes.x_giou__mutmut_60",
        "boxes.x_giou__mutmut_61",
        "boxes.x_iou__mutmut_33",
        "boxes.x_iou__mutmut_35",
        "boxes.x_iou__mutmut_37",
    ],
    "test_an_integral_float_is_a_number_below_1e9_only": [
        "accuracy.x__as_index__mutmut_14",
        "accuracy.x__as_index__mutmut_15",
    ],
    "test_a_digit_string_is_a_number_up_to_nine_characters": [
        "accuracy.x__as_index__mutmut_20",
        "accuracy.x__as_index__mutmut_21",
    ],
    "test_the_last_letter_names_the_twenty_sixth_option": ["labels.x__token_index__mutmut_11"],
    "test_match_label_defaults_are_no_options_and_not_ordinal": [
        "labels.x_match_label__mutmut_" + str(i) for i in (1, 2, 3)
    ],
    "test_an_answer_that_is_only_a_lead_in_names_nothing": ["labels.x_match_label__mutmut_34"],
    "test_a_lone_z_is_the_twenty_sixth_option_even_when_an_option_reads_z": ["labels.x__option_shaped__mutmut_10"],
    "test_a_short_alias_is_read_as_its_label_with_numbered_options": [
        "labels.x__option_shaped__mutmut_16",
        "labels.x__option_shaped__mutmut_17",
    ],
    "test_option_numbers_have_up_to_three_digits": [
        "labels.x__token_index__mutmut_25",
        "labels.x__token_index__mutmut_26",
        "labels.x__option_shaped__mutmut_18",
        "labels.x__option_shaped__mutmut_19",
    ],
    "test_smart_resize_defaults_equal_transformers_qwen2_vl": [
        "boxes.x_smart_resize__mutmut_" + str(i) for i in (1, 2, 21, 45)
    ],
    "test_an_alias_that_starts_with_a_lead_in_word_is_read_whole": [
        "labels.x_match_label__mutmut_53",
        "labels.x_match_label__mutmut_54",
    ],
    "test_a_box_whose_iou_equals_the_threshold_is_correct": ["boxes.x_match_boxes__mutmut_66"],
    "test_a_bare_json_box_may_use_exponent_notation": [
        "boxes.x__json_boxes__mutmut_7",
        "boxes.x__json_boxes__mutmut_9",
    ],
    "test_exactly_max_boxes_json_boxes_are_read": ["boxes.x__json_boxes__mutmut_11"],
    "test_a_json_box_needs_exactly_four_numbers": ["boxes.x__json_boxes__mutmut_18"],
    "test_a_coordinate_of_exactly_max_coord_is_a_number": ["boxes.x__is_number__mutmut_5"],
    "test_an_ungradable_vqa_row_is_warned_with_the_field_at_fault": [
        *("accuracy.x_truth_option__mutmut_" + str(i) for i in (4, 5, 6, 9, 13, 14, 15)),
        *("accuracy.x_truth_yes_no__mutmut_" + str(i) for i in (6, 7, 8)),
    ],
    "test_exactly_max_boxes_text_boxes_are_read": ["boxes.x_parse_boxes__mutmut_19", "boxes.x_parse_boxes__mutmut_33"],
    "test_a_fence_closed_right_after_the_json_is_read": ["boxes.x__strip_fence__mutmut_22"],
    "test_max_pixels_reaches_the_frame_of_absolute_boxes": ["parsing.x__prediction_frame__mutmut_23"],
    "test_an_ungradable_row_is_warned_with_the_field_at_fault": [
        *("accuracy.x_truth_label__mutmut_" + str(i) for i in (3, 29)),
        *("accuracy.x_truth_label_set__mutmut_" + str(i) for i in (2, 3, 4, 16, 20)),
        "accuracy.x_truth_boxes__mutmut_7",
        "accuracy.x_truth_boxes__mutmut_8",
        "accuracy.x_truth_open_tokens__mutmut_9",
    ],
    "test_a_numeric_ground_truth_is_the_label_it_spells_before_its_index": [
        "accuracy.x_truth_label__mutmut_18",
        "accuracy.x_truth_label__mutmut_20",
    ],
    "test_a_multilabel_ground_truth_may_name_aliases": ["accuracy.x_truth_label_set__mutmut_11"],
    "test_a_closed_ground_truth_is_read_like_an_answer": ["accuracy.x_score_task__mutmut_104"],
    "test_an_open_reference_longer_than_the_cached_bound_is_still_graded": [
        "accuracy.x_truth_open_tokens__mutmut_6",
        "accuracy.x_truth_open_tokens__mutmut_7",
    ],
    "test_exactly_max_boxes_ground_truth_boxes_are_read": ["boxes.x_parse_truth_boxes__mutmut_5"],
    "test_ground_truth_boxes_survive_a_pandas_round_trip": [
        "boxes.x_parse_truth_boxes__mutmut_" + str(i) for i in (8, 10, 14, 15)
    ],
    "test_a_negative_number_is_spelt_minus": ["labels.x_normalize__mutmut_6"],
    "test_a_numbered_multiple_choice_row_reads_option_numbers": [
        "parsing.x_mcq_options__mutmut_10",
        "parsing.x_mcq_options__mutmut_11",
    ],
    "test_the_option_reference_response_answers_by_the_options_token": [
        "reference.x_option_reference_response__mutmut_" + str(i)
        for i in (6, 9, 14, 15, 16, 17, 18, 19, 20, 21, 22, 29, 30, 31, 32, 33, 35, 37, 38, 39, 41, 42)
    ],
    "test_the_reference_answer_of_a_multilabel_row": [
        *("reference.x_reference_answer__mutmut_" + str(i) for i in (26, 30, 31, 33, 34, 35, 45)),
        "reference.x_reference_response__mutmut_8",
    ],
    "test_a_numeric_ground_truth_is_answered_as_a_label_only_for_single_label_rows": [
        "reference.x_reference_answer__mutmut_12"
    ],
    "test_recitation_by_default_is_sacrebleus_default_sentence_bleu": ["recitation.x_recitation_bleu__mutmut_1"],
    "test_recitation_by_default_reads_as_many_tokens_as_the_reward": ["recitation.x_recitation_bleu__mutmut_5"],
    "test_an_alias_list_holding_no_text_keeps_its_texts": [
        "task_info.x__aliases__mutmut_4",
        "task_info.x__aliases__mutmut_7",
    ],
    "test_the_option_reference_response_of_an_ungradable_row_is_none": [
        "reference.x_option_reference_response__mutmut_10"
    ],
    "test_the_option_reference_response_follows_the_think_setting": [
        "reference.x_option_reference_response__mutmut_49",
        "reference.x__respond__mutmut_9",
    ],
    "test_knowledge_lines_become_references_of_at_least_the_minimum_length": [
        "recitation.x_reference_lines__mutmut_" + str(i) for i in (12, 15, 26)
    ],
    "test_a_knowledge_card_without_words_has_no_reference": ["recitation.x_reference_lines__mutmut_9"],
    "test_a_mapping_given_for_a_list_setting_is_named": ["settings.x__culprit__mutmut_" + str(i) for i in range(1, 6)],
    "test_task_type_groups_are_the_documented_ones": [
        "task_type.xǁTaskTypeǁlabelled__mutmut_1",
        "task_type.xǁTaskTypeǁvqa__mutmut_1",
    ],
}
KILLED_BY_HAND: dict[str, str] = {f"reward_fns.{m}": f"{_SPEC}{test}" for test, ms in _KILLS.items() for m in ms}
KILLED_BY_HAND.update(
    {
        f"verl_med_plugin.sampler.x_sample_groups_from_dataframe__mutmut_{i}": "test_sampler_spec_survivors.py::"
        "test_rows_without_the_fields_that_name_a_class_are_refused_by_name"
        for i in (14, 22, 23, 24, 25)
    }
)
# Fourth session: tests in their own files, each kill confirmed on the run's mutants/ folder (trampolines,
# MUTANT_UNDER_TEST=<name>, the test failing; unmutated it passes) or, for checks built at import (mutmut's
# trampolines cannot switch those: they survive any test), by applying the mutant's change to a scratch copy of
# the worktree and running the test there.
_METRICS = "verl_med_plugin.evaluation."
_METRICS_SPEC = "test_eval_metrics_spec.py::"
_KILLS_4 = {
    f"{_METRICS_SPEC}test_grounding_metrics_equal_pandas_overall_and_on_lesion_images (and the no-lesion test)": [
        f"{_METRICS}metrics.x_grounding_metrics__mutmut_{i}" for i in range(1, 38) if i not in (8, 10, 13, 15)
    ],
    f"{_METRICS_SPEC}test_a_closed_or_mcq_answer_counts_in_accuracy_and_its_own_kind_only (and the open one)": [
        f"{_METRICS}metrics.x_vqa_answer_values__mutmut_{i}" for i in range(1, 27)
    ],
    f"{_METRICS_SPEC}test_vqa_metrics_are_means_over_the_answers_each_metric_applies_to": [
        f"{_METRICS}metrics.x_vqa_metrics__mutmut_{i}" for i in range(1, 11)
    ],
    f"{_METRICS_SPEC}test_a_resamples_metric_mean_pools_the_samples_of_the_applicable_prompts_it_drew": [
        f"{_METRICS}statistics.x__mean_over_applicable__mutmut_{i}" for i in range(1, 20)
    ],
    f"{_METRICS_SPEC}test_a_multilabel_report_whose_lists_differ_in_length_is_refused": [
        f"{_METRICS}statistics.xǁOutcomesǁ_multilabel_counts__mutmut_{i}" for i in (10, 13, 14)
    ],
    "test_rewards_config_spec.py::test_each_setting_is_accepted_exactly_within_its_documented_range (checks "
    "built at import: confirmed by mutating the source)": [
        *(f"reward_fns.config.x__number_in__mutmut_{i}" for i in (1, 10, 12, 13)),
        *(f"reward_fns.config.x__one_of__mutmut_{i}" for i in (1, 2)),
    ],
    f"{_METRICS_SPEC}test_multilabel_auroc_scores_each_prompt_by_the_share_of_its_samples_naming_the_label": [
        f"{_METRICS}statistics.xǁOutcomesǁ_multilabel_scores__mutmut_9"
    ],
    "test_rewards_config_spec.py (the reward_kwargs_problems tests)": [
        f"reward_fns.config.x_reward_kwargs_problems__mutmut_{i}" for i in range(1, 18)
    ],
    "test_rewards_config_spec.py::test_verls_call_kwargs_are_skipped_not_an_end_of_the_settings": [
        "reward_fns.config.x__build__mutmut_3"
    ],
    "test_rewards_config_spec.py::test_an_mfrs_table_of_two_entries_is_enough": [
        f"reward_fns.config.x__mfrs_table_ok__mutmut_{i}" for i in (4, 5)
    ],
    "test_rewards_config_spec.py::test_a_value_whose_check_raises_is_refused": ["reward_fns.config.x__safe__mutmut_3"],
    "test_rewards_config_spec.py::test_a_tag_must_be_a_tag_name_not_any_text": [
        "reward_fns.config.x__tag_ok__mutmut_1"
    ],
    "test_rewards_config_spec.py::test_the_cross_field_rules_are_refused_with_their_reason": [
        f"reward_fns.config.xǁRewardConfigǁ__post_init____mutmut_{i}" for i in (30, 38, 41, 43)
    ],
    "test_rewards_config_spec.py::test_equal_pixel_bounds_are_accepted": [
        "reward_fns.config.xǁRewardConfigǁ__post_init____mutmut_42"
    ],
    "test_rewards_config_spec.py::test_several_bad_settings_are_one_message_listing_each": [
        f"reward_fns.config.xǁRewardConfigǁ__post_init____mutmut_{i}" for i in (46, 49)
    ],
    "test_rewards_config_spec.py::test_an_unknown_setting_is_skipped_and_warned_once_by_name": [
        f"reward_fns.config.x__build__mutmut_{i}" for i in (6, 9, 11, 13)
    ],
    "test_rewards_config_spec.py::test_only_tag_settings_are_trimmed": [
        f"reward_fns.config.x__build__mutmut_{i}" for i in (18, 19)
    ],
    "test_rewards_zoom_spec.py::test_a_coordinate_must_be_a_finite_number_within_max_coord": [
        f"reward_fns.zoom.x__finite__mutmut_{i}" for i in (1, 2, 3)
    ],
    "test_rewards_zoom_spec.py::test_a_coordinate_of_exactly_max_coord_is_read": [
        "reward_fns.zoom.x__finite__mutmut_7"
    ],
    "test_rewards_zoom_spec.py::test_a_box_without_area_zooms_nothing": [
        f"reward_fns.zoom.x_read_zoom_box__mutmut_{i}" for i in (16, 17)
    ],
    "test_rewards_zoom_spec.py::test_one_call_more_than_max_calls_read_is_read_to_tell_too_many": [
        "reward_fns.zoom.x_tool_call_payloads__mutmut_6"
    ],
    "test_rewards_zoom_spec.py::test_a_call_of_exactly_max_call_chars_is_read": [
        "reward_fns.zoom.x_zoom_call_box__mutmut_1"
    ],
    "test_rewards_zoom_spec.py::test_arguments_given_as_a_json_string_are_read": [
        f"reward_fns.zoom.x_zoom_call_box__mutmut_{i}" for i in (14, 15)
    ],
    "test_rewards_zoom_spec.py::test_no_lesion_box_means_no_overlap": [
        f"reward_fns.zoom.x_zoom_iou__mutmut_{i}" for i in (1, 4)
    ],
    "test_rewards_zoom_spec.py::test_a_zoom_box_that_cannot_be_converted_overlaps_nothing": [
        "reward_fns.zoom.x_zoom_iou__mutmut_19"
    ],
    "test_rewards_zoom_spec.py::test_a_foreign_row_is_scored_by_verls_own_scorer": [
        "reward_fns.zoom.x_compute_zoom_score__mutmut_4"
    ],
    "test_rewards_zoom_spec.py::test_a_bug_in_the_tool_terms_leaves_the_final_turns_score_with_every_key": [
        f"reward_fns.zoom.x_compute_zoom_score__mutmut_{i}" for i in range(24, 33)
    ],
    "test_rewards_zoom_spec.py::test_up_to_max_calls_read_well_formed_calls_keep_the_tool_format": [
        "reward_fns.zoom.x__with_tool_terms__mutmut_10"
    ],
    "test_rewards_config_spec.py::test_verls_omegaconf_lists_that_differ_give_different_configs": [
        "reward_fns.config.x__freeze__mutmut_7"
    ],
    "test_rewards_config_spec.py::test_list_settings_that_differ_give_different_configs": [
        "reward_fns.config.x__freeze__mutmut_2"
    ],
    "test_rewards_zoom_spec.py::test_the_final_turn_starts_at_its_first_character_when_no_role_header_follows": [
        "reward_fns.zoom.x_final_turn__mutmut_13"
    ],
    "test_rewards_vqa_spec.py::test_a_number_with_non_ascii_digits_is_kept_as_written": [
        "reward_fns.vqa.x__fold_number__mutmut_2"
    ],
    "test_rewards_vqa_spec.py::test_an_answer_of_exactly_the_raw_token_bound_is_read_when_it_folds_within_the_cap": [
        "reward_fns.vqa.x_open_tokens__mutmut_26"
    ],
    "test_rewards_recitation_spec.py::test_only_the_first_32_times_max_tokens_characters_are_read": [
        "reward_fns.recitation.x_tokenize__mutmut_5"
    ],
    "test_rewards_recitation_spec.py::test_a_word_cut_by_the_fast_window_is_read_whole": [
        "reward_fns.recitation.x_tokenize__mutmut_17"
    ],
    "test_rewards_recitation_spec.py::test_words_past_the_fast_window_are_read": [
        "reward_fns.recitation.x_tokenize__mutmut_20"
    ],
    "test_rewards_task_info_spec.py::test_an_image_size_is_two_numbers_from_1_to_a_million": [
        f"reward_fns.task_info.x__size__mutmut_{i}" for i in (8, 9, 11, 12, 13, 14)
    ],
    "test_rewards_vqa_spec.py::test_an_or_between_the_first_two_words_offers_both": [
        "reward_fns.vqa.x_offered_alternatives__mutmut_13"
    ],
    "test_rewards_vqa_spec.py::test_an_or_without_a_word_on_each_side_offers_nothing": [
        f"reward_fns.vqa.x_offered_alternatives__mutmut_{i}" for i in (14, 15, 16)
    ],
    "test_rewards_vqa_spec.py::test_a_question_that_is_not_text_offers_nothing": [
        "reward_fns.vqa.x_offered_alternatives__mutmut_3"
    ],
    "test_rewards_vqa_spec.py::test_only_the_first_1024_characters_of_a_question_are_read": [
        "reward_fns.vqa.x_offered_alternatives__mutmut_5"
    ],
    "test_rewards_vqa_spec.py::test_a_closed_answer_is_read_up_to_64_characters": [
        f"reward_fns.vqa.x_read_yes_no__mutmut_{i}" for i in (7, 8)
    ],
}
KILLED_BY_HAND.update({m: test for test, ms in _KILLS_4.items() for m in ms})

# Fifth session (2026-12-07): a fresh run of parsing and accuracy (narrowed tests); its survivors killed by
# tests/test_rewards_parsing_spec.py (each confirmed on the run's mutants/ folder) or equivalent.
_P5, _A5 = "reward_fns.parsing.x_", "reward_fns.accuracy.x_"
EQUIVALENT.update(
    {
        f"{_P5}as_text__mutmut_3": 'bytes.decode() defaults to "utf-8": the same decoding',
        f"{_P5}as_text__mutmut_7": 'codec names are case-insensitive: "UTF-8" is the "utf-8" codec',
        f"{_P5}parse_with__mutmut_51": "json.dumps tests ensure_ascii for truth: None escapes nothing, as False does",
        f"{_P5}parse_with__mutmut_118": 'no tokens: replace(parsed, pred="") equals parsed (its pred is "" already)',
        f"{_A5}score_task__mutmut_136": "pred is ' '.join of open_tokens' tokens, each non-empty with no whitespace "
        "(the token pattern is digits or letters; TERMS_FILE targets are single words): split(' ') == split()",
        f"{_A5}score_task__mutmut_139": "offered_alternatives reads only question[:1024] itself: one more character "
        "changes the cache key, not the alternatives",
    }
)
_KILLS_5 = {
    "test_rewards_parsing_spec.py::test_a_response_that_is_not_text_is_an_empty_response": [f"{_P5}as_text__mutmut_10"],
    "test_rewards_parsing_spec.py::test_an_answer_of_max_answer_chars_is_read_and_one_more_is_not": [
        f"{_P5}parse_with__mutmut_{i}" for i in (25, 27)
    ],
    "test_rewards_parsing_spec.py::test_a_multilabel_answer_is_logged_with_its_label_names_as_written": [
        f"{_P5}parse_with__mutmut_{i}" for i in (53, 54)
    ],
    "test_rewards_parsing_spec.py::test_a_box_answer_is_logged_in_image_pixels_to_three_decimals": [
        f"{_P5}parse_with__mutmut_150"
    ],
    "test_rewards_parsing_spec.py::test_a_row_of_an_unknown_task_type_reads_no_answer": [
        f"{_P5}parse_with__mutmut_125"
    ],
    "test_rewards_parsing_spec.py::test_a_reward_box_format_contradicting_the_row_is_warned_with_both_conventions": [
        f"{_A5}score_task__mutmut_155"
    ],
}
KILLED_BY_HAND.update({m: test for test, ms in _KILLS_5.items() for m in ms})

# Fifth session: the sampler measured whole (a fresh run after the floor fix, with tests/test_sampler_state_spec.py
# and the new specifications in test_sampler_spec_survivors.py). The survivors of the first full run were read one
# by one, each equivalence checked by hand or numerically (numpy's integers(h) == integers(0, h) stream, case-blind
# sort kinds, pyarrow's and numpy's bint parameters reading None as False), then re-keyed by their diff.
EQUIVALENT.update(
    {
        "verl_med_plugin.sampler.x__check_state__mutmut_21": (
            "the checked dict's 'version' entry is never read: _check_state's only caller, load_state_dict, reads "
            "rng/updates/yielded/block_pos/block/acc/seen/class_acc/class_seen/weights only"
        ),
        "verl_med_plugin.sampler.x__check_state__mutmut_22": (
            "the checked dict's 'version' entry is never read: _check_state's only caller, load_state_dict, reads "
            "rng/updates/yielded/block_pos/block/acc/seen/class_acc/class_seen/weights only"
        ),
        "verl_med_plugin.sampler.x__first_copies__mutmut_10": (
            "new_group[0] False: np.where(new_group, arange, 0) at index 0 is 0 either way (arange[0] == 0), so "
            "group_start and keep are unchanged"
        ),
        "verl_med_plugin.sampler.x__first_copies__mutmut_7": (
            "numpy parses sort kinds case-insensitively: 'STABLE' selects the same stable sort (checked: identical "
            "argsort)"
        ),
        "verl_med_plugin.sampler.x__index_array__mutmut_29": (
            "ndarray.astype(None) converts to np.dtype(None), which is float64: the same conversion, the same "
            "exceptions"
        ),
        "verl_med_plugin.sampler.x__index_array__mutmut_57": (
            "integer arrays go through float64 before int64 instead of straight to int64: identical, since the values"
            " have already been checked to lie in [0, upper) with upper = a row count < 2**53, exact in float64"
        ),
        "verl_med_plugin.sampler.x__index_array__mutmut_60": (
            "np.issubdtype(None, np.integer) is issubdtype(float64, integer) = False, so every array takes the "
            "float64 -> int64 path: identical for integer arrays whose values are checked < upper (a row count < "
            "2**53, exact in float64)"
        ),
        "verl_med_plugin.sampler.x__index_array__mutmut_61": (
            "np.issubdtype(dtype, None) tests float64: float64 arrays are cast directly (array is as_float already, "
            "same int64 values), integer arrays go via float64 (exact, values checked < a row count < 2**53), others "
            "take the original path"
        ),
        "verl_med_plugin.sampler.x__number_array__mutmut_15": (
            "ndarray.astype(None) converts to np.dtype(None), which is float64: the same conversion, the same "
            "exceptions"
        ),
        "verl_med_plugin.sampler.x_describe_first_indices__mutmut_20": (
            "zip(strict=None) only drops the length check of np.unique(..., return_counts=True)'s two outputs, which "
            "always have equal length"
        ),
        "verl_med_plugin.sampler.x_describe_first_indices__mutmut_22": (
            "zip without strict only drops the length check of np.unique(..., return_counts=True)'s two outputs, "
            "which always have equal length"
        ),
        "verl_med_plugin.sampler.x_describe_first_indices__mutmut_28": (
            "zip(strict=False) only drops the length check of np.unique(..., return_counts=True)'s two outputs, which"
            " always have equal length"
        ),
        "verl_med_plugin.sampler.x_sample_groups_from_dataframe__mutmut_84": (
            "dead branch: keys are built from combine_chunks() Arrays, so pc.dictionary_encode returns an Array, "
            "never a ChunkedArray; the assignment never runs"
        ),
        "verl_med_plugin.sampler.x_sample_groups_from_dataframe__mutmut_88": (
            "pyarrow's to_numpy takes zero_copy_only as a C bool: None converts to False, the original argument"
        ),
        "verl_med_plugin.sampler.x_sample_groups_from_dataframe__mutmut_91": (
            "pyarrow's to_numpy takes zero_copy_only as a C bool: None converts to False (checked: a bool array, not "
            "zero-copyable, converts)"
        ),
        "verl_med_plugin.sampler.xǁMedCurriculumSamplerǁ_draw_capped__mutmut_65": (
            "Generator.choice declares replace as a Cython bint: None converts to False, sampling without replacement"
            " as before"
        ),
        "verl_med_plugin.sampler.xǁMedCurriculumSamplerǁ_draw_weighted__mutmut_15": (
            "searchsorted side left vs right: differs only when random()*cdf[-1] equals a cdf entry exactly "
            "(probability <= classes * 2**-53 per draw)"
        ),
        "verl_med_plugin.sampler.xǁMedCurriculumSamplerǁ_draw_weighted__mutmut_22": (
            "the clamp never fires: random() < 1 and the rounded product random()*cdf[-1] stays below cdf[-1] > 0, so"
            " side='right' returns <= len-1; cdf[-1] == 0 needs an all-zero-weight pool, now refused (floor >= 1e-6, "
            "state weights >= 1) and before that already an error in the original (integers(0, 0))"
        ),
        "verl_med_plugin.sampler.xǁMedCurriculumSamplerǁ_draw_weighted__mutmut_27": (
            "<= vs <: a tie needs random()*mass to equal the sample-term mass exactly (for class_weight 1: random() "
            "== 0.0), probability 2**-53 per draw"
        ),
        "verl_med_plugin.sampler.xǁMedCurriculumSamplerǁ_draw_weighted__mutmut_37": (
            "Generator.integers(high) draws from [0, high) like integers(0, high), the same code path and stream"
        ),
        "verl_med_plugin.sampler.xǁMedCurriculumSamplerǁ_draw_weighted__mutmut_44": (
            "Generator.integers(size) draws from [0, size) like integers(0, size), the same code path and stream"
        ),
        "verl_med_plugin.sampler.xǁMedCurriculumSamplerǁ_reset_state__mutmut_27": (
            "np.full with dtype=None takes the fill value's dtype, and _to_int returns an np.int64 scalar: the "
            "weights array is int64 as before"
        ),
        "verl_med_plugin.sampler.xǁMedCurriculumSamplerǁ_reset_state__mutmut_30": (
            "np.full without dtype takes the fill value's dtype, and _to_int returns an np.int64 scalar: the weights "
            "array is int64 as before"
        ),
        "verl_med_plugin.sampler.xǁMedCurriculumSamplerǁ_reset_state__mutmut_45": (
            "_resume True on a fresh sampler only makes the first __iter__ skip resetting yielded/block/block_pos to "
            "(0, empty int64, 0), the values _reset_state just set; nothing but load_state_dict (which sets _resume "
            "itself) changes them before that"
        ),
        "verl_med_plugin.sampler.xǁMedCurriculumSamplerǁ_to_int__mutmut_1": (
            "float64 instead of int64: the rint'ed integer values are always stored into int64 arrays (np.full "
            "dtype=int64, self._weights[positions] =, the tree's add casts deltas), exactly"
        ),
        "verl_med_plugin.sampler.xǁMedCurriculumSamplerǁclass_shares__mutmut_19": (
            "zip strict=None: the class-key generator and mass are built from the same classes array, always the same"
            " length"
        ),
        "verl_med_plugin.sampler.xǁMedCurriculumSamplerǁclass_shares__mutmut_22": (
            "zip without strict: the class-key generator and mass are built from the same classes array, always the "
            "same length"
        ),
        "verl_med_plugin.sampler.xǁMedCurriculumSamplerǁclass_shares__mutmut_25": (
            "zip strict=False: the class-key generator and mass are built from the same classes array, always the "
            "same length"
        ),
        "verl_med_plugin.sampler.xǁMedCurriculumSamplerǁdraw__mutmut_14": (
            "random() <= frac vs < frac: differs only when the 53-bit uniform equals the fraction exactly "
            "(probability 2**-53 per draw)"
        ),
        "verl_med_plugin.sampler.xǁ_FenwickTreeǁ__init____mutmut_34": (
            "top step 2**bit_length > n: search's first step has nxt = step > n so go is False everywhere; the "
            "remaining steps are the original ones"
        ),
        "verl_med_plugin.sampler.xǁ_FenwickTreeǁ__init____mutmut_35": (
            "top step 4 * 2**(bit_length-1) > n: search's first two steps have nxt > n so go is False; the remaining "
            "steps are the original ones"
        ),
        "verl_med_plugin.sampler.xǁ_FenwickTreeǁ__init____mutmut_37": (
            "top 1 instead of 0 only for an empty tree: search is never called on it (no draw on 0 rows), and if it "
            "were, nxt = 1 > n = 0 keeps every position at 0, the original result"
        ),
        "verl_med_plugin.sampler.xǁ_FenwickTreeǁ__init____mutmut_6": (
            "cumsum dtype=None: the tree is only built from int64 weights (_reset_state's int64 array, "
            "load_state_dict's astype(int64)), whose cumsum is int64 by default on 64-bit Linux: same prefix array"
        ),
        "verl_med_plugin.sampler.xǁ_FenwickTreeǁ__init____mutmut_8": (
            "cumsum without dtype: the tree is only built from int64 weights, whose cumsum is int64 by default on "
            "64-bit Linux: same prefix array"
        ),
        "verl_med_plugin.sampler.xǁ_FenwickTreeǁadd__mutmut_5": (
            "deltas as float64: np.add.at into the int64 tree casts them back; deltas are integer weight differences "
            "(|d| <= 2**20), exact in float64"
        ),
        "verl_med_plugin.sampler.xǁ_FenwickTreeǁprefix__mutmut_4": (
            "float64 prefix totals: exact for sums < 2**53 (n < 2**33 rows at 2**20 per row); Generator.integers with"
            " float high gives the same stream (checked), search casts targets to int64, masses are computed in float"
            " anyway"
        ),
        "verl_med_plugin.sampler.xǁ_FenwickTreeǁprefix__mutmut_6": (
            "float64 prefix totals (zeros default dtype): exact below 2**53; integers() with float high gives the "
            "same stream, search casts targets to int64, masses are float anyway"
        ),
        "verl_med_plugin.sampler.xǁ_FenwickTreeǁsearch__mutmut_16": (
            "nxt < n vs <= n: at nxt == n, tree[n] covers (position, n] so go means prefix(n) <= target, impossible "
            "for targets in [0, total), the only ones the sampler searches (start + integers(0, sums))"
        ),
        "verl_med_plugin.sampler.xǁ_FenwickTreeǁsearch__mutmut_6": (
            "float64 remaining target: integer values below 2**53 compare and subtract exactly, positions stay int64"
        ),
        "verl_med_plugin.sampler.x__index_array__mutmut_58": (
            "the arrays that reach the cast unchecked by dtype are float64 or object arrays of real numbers (text and"
            " booleans are refused above), already checked whole and in [0, upper): cast straight to int64 they give "
            "the values they give through float64"
        ),
        "verl_med_plugin.sampler.x_sample_groups_from_dataframe__mutmut_89": (
            "rows with a null class field are refused above, so the dictionary indices hold no null and convert "
            "zero-copy: zero_copy_only=True succeeds with the same array"
        ),
    }
)
KILLED_BY_HAND["verl_med_plugin.sampler.x__check_state__mutmut_219"] = (
    "test_sampler_state_spec.py::test_fractional_weights_are_refused_naming_the_range"
)

# Fifth session (2026-12-07): the evaluation metrics and statistics measured whole (a fresh run with the tests of
# tests/test_eval_metrics_survivors.py, test_eval_outcomes_spec.py and test_eval_statistics_spec.py). The survivors
# of the first full run were read one by one, each equivalence checked by hand or numerically (150 random inputs
# per function for the dtype and warning-filter mutants), then re-keyed to this run's names by their diff.
EQUIVALENT.update(
    {
        "verl_med_plugin.evaluation.metrics.x__tie_rank__mutmut_6": (
            "byteorder dropped from int.from_bytes: its default is 'big' on Python >= 3.11 (this venv: 3.11.7); note "
            "requires-python allows 3.10, where the call would raise TypeError, not observable here"
        ),
        "verl_med_plugin.evaluation.metrics.x__tie_rank__mutmut_7": (
            "9 digest bytes instead of 8, big-endian: the ranks order answers as their 8-byte prefixes do, except "
            "when two answers' 8-byte sha256 prefixes collide (2^-64, not constructible), where the answer string "
            "breaks the tie anyway"
        ),
        "verl_med_plugin.evaluation.metrics.x_auroc__mutmut_3": (
            "truth without dtype=int: an indicator matrix of 0/1 (int, bool or float) has the same column sums and "
            "roc_auc_score ranks the same positives"
        ),
        "verl_med_plugin.evaluation.metrics.x_auroc__mutmut_5": (
            "truth without dtype=int (argument dropped): as mutmut_3"
        ),
        "verl_med_plugin.evaluation.metrics.x_balanced_accuracy__mutmut_4": (
            "ignoring every warning instead of UserWarning: balanced_accuracy_score emits only UserWarnings ('y_pred "
            "contains classes not in y_true', DataConversionWarning is a UserWarning too), so nothing else is ever "
            "silenced"
        ),
        "verl_med_plugin.evaluation.metrics.x_binary_auroc__mutmut_3": (
            "truth without dtype=int: only read through truth == 1, the same mask for integral labels of any numeric "
            "dtype"
        ),
        "verl_med_plugin.evaluation.metrics.x_binary_auroc__mutmut_5": (
            "truth without dtype=int (argument dropped): as mutmut_3"
        ),
        "verl_med_plugin.evaluation.metrics.x_binary_auroc__mutmut_7": (
            "positive as float 0./1. instead of int: its sum compares the same against 0 and len, and roc_auc_score "
            "treats 1.0 as the positive label as it does 1"
        ),
        "verl_med_plugin.evaluation.metrics.x_classification_metrics__mutmut_3": (
            "y_true without dtype=int: label indices are integral numbers (int lists, int or float arrays), and every"
            " use (range check, scikit-learn's metrics with integer labels, confusion_matrix, the sets macro_f1 "
            "merges, ordinal_metrics which casts again) gives the same values for 0.0 as for 0 (checked on float and "
            "int inputs)"
        ),
        "verl_med_plugin.evaluation.metrics.x_classification_metrics__mutmut_5": (
            "y_true without dtype=int (argument dropped): as mutmut_3, integral label values give identical results "
            "whatever the array dtype"
        ),
        "verl_med_plugin.evaluation.metrics.x_grounding_metrics__mutmut_10": (
            "hit without dtype=bool (argument dropped): as mutmut_8, means of 0/1 equal those of bools"
        ),
        "verl_med_plugin.evaluation.metrics.x_grounding_metrics__mutmut_13": (
            "IoUs are numbers: np.asarray of them without dtype=float is a numeric array with the same means"
        ),
        "verl_med_plugin.evaluation.metrics.x_grounding_metrics__mutmut_15": (
            "IoUs without dtype=float (argument dropped): as mutmut_13"
        ),
        "verl_med_plugin.evaluation.metrics.x_grounding_metrics__mutmut_8": (
            "hit is read only through means (overall and under the has_lesion mask): a 0/1 array has the same means "
            "as its bool array"
        ),
        "verl_med_plugin.evaluation.metrics.x_invalid_as_farthest__mutmut_3": (
            "y_true without dtype=int: it is only compared with (n_grades - 1) / 2, which gives the same mask for "
            "integral values of any numeric dtype (and np.where's result takes its values from n_grades - 1 / 0 / "
            "y_pred, not y_true)"
        ),
        "verl_med_plugin.evaluation.metrics.x_invalid_as_farthest__mutmut_5": (
            "y_true without dtype=int (argument dropped): as mutmut_3"
        ),
        "verl_med_plugin.evaluation.metrics.x_macro_f1__mutmut_17": (
            "zero_division dropped (default 'warn'): labels=seen holds only classes with support or a valid "
            "prediction, so F1 = 2tp/(2tp+fp+fn) always has a positive denominator; zero_division is never applied "
            "and no warning is raised (scikit-learn 1.9)"
        ),
        "verl_med_plugin.evaluation.metrics.x_macro_f1__mutmut_20": (
            "zero_division=1 instead of 0: as mutmut_17, no seen class has an undefined F1, so the value is never used"
        ),
        "verl_med_plugin.evaluation.metrics.x_multilabel_metrics__mutmut_12": (
            "one more binarizer class (n_labels + 1) that no truth or answer uses (label indices are 0..n_labels-1, "
            "the invalid marker is n_labels): an all-zero column in both matrices changes neither exact match nor the"
            " per-label scores, which read columns 0..n_labels-1"
        ),
        "verl_med_plugin.evaluation.metrics.x_multilabel_metrics__mutmut_28": (
            "labels=None in precision_recall_fscore_support: per-label scores (average=None) are computed column by "
            "column, so the extra invalid column only appends an entry after the n_labels ones _per_class_rows reads"
        ),
        "verl_med_plugin.evaluation.metrics.x_multilabel_metrics__mutmut_32": "labels argument dropped: as mutmut_28",
        "verl_med_plugin.evaluation.metrics.x_multilabel_metrics__mutmut_62": (
            "zero_division dropped from the macro-F1: seen holds only labels with support or a prediction, whose F1 ="
            " 2tp/(2tp+fp+fn) has a positive denominator; zero_division is never applied, no warning raised"
        ),
        "verl_med_plugin.evaluation.metrics.x_multilabel_metrics__mutmut_65": (
            "zero_division=1: as mutmut_62, never applied to a seen label"
        ),
        "verl_med_plugin.evaluation.metrics.x_ordinal_metrics__mutmut_10": (
            "y_pred without dtype=int (argument dropped): as mutmut_3"
        ),
        "verl_med_plugin.evaluation.metrics.x_ordinal_metrics__mutmut_3": (
            "y_true without dtype=int: integral grades of any numeric dtype give the same cohen_kappa_score (labels "
            "range(n_grades) match 0.0 == 0) and mean_absolute_error (checked on float and bool inputs)"
        ),
        "verl_med_plugin.evaluation.metrics.x_ordinal_metrics__mutmut_5": (
            "y_true without dtype=int (argument dropped): as mutmut_3"
        ),
        "verl_med_plugin.evaluation.metrics.x_ordinal_metrics__mutmut_8": (
            "y_pred without dtype=int: as mutmut_3 for the predicted grades"
        ),
        "verl_med_plugin.evaluation.metrics.x_positive_class_metrics__mutmut_10": (
            "y_pred without dtype=int (argument dropped): as mutmut_8"
        ),
        "verl_med_plugin.evaluation.metrics.x_positive_class_metrics__mutmut_12": (
            "truth as float 0./1. instead of int: recall_score/precision_score with pos_label 1 or 0 and "
            "confusion_matrix with labels [0, 1] match 1.0 == 1 and 0.0 == 0, and every count is wrapped in int()"
        ),
        "verl_med_plugin.evaluation.metrics.x_positive_class_metrics__mutmut_18": (
            "called as float 0./1. instead of int: as mutmut_12 (np.where(valid, called, 1) then mixes 1 and 1.0, "
            "equal labels for scikit-learn)"
        ),
        "verl_med_plugin.evaluation.metrics.x_positive_class_metrics__mutmut_26": (
            "the UndefinedMetricWarning filter given category None: every metric in the block passes "
            "zero_division=np.nan, so scikit-learn (>= 1.4) emits no warning there and the filter is never consulted"
        ),
        "verl_med_plugin.evaluation.metrics.x_positive_class_metrics__mutmut_28": (
            "the filter widened to every warning: as mutmut_26, no warning is emitted inside the block to be silenced"
        ),
        "verl_med_plugin.evaluation.metrics.x_positive_class_metrics__mutmut_3": (
            "y_true without dtype=int: only read through np.isin against the positive indices, which gives the same "
            "mask for integral values of any numeric dtype"
        ),
        "verl_med_plugin.evaluation.metrics.x_positive_class_metrics__mutmut_38": (
            "pos_label=1 dropped from the sensitivity's recall_score: 1 is scikit-learn's default pos_label"
        ),
        "verl_med_plugin.evaluation.metrics.x_positive_class_metrics__mutmut_5": (
            "y_true without dtype=int (argument dropped): as mutmut_3"
        ),
        "verl_med_plugin.evaluation.metrics.x_positive_class_metrics__mutmut_67": (
            "pos_label=1 dropped from the PPV's precision_score: 1 is scikit-learn's default pos_label"
        ),
        "verl_med_plugin.evaluation.metrics.x_positive_class_metrics__mutmut_8": (
            "y_pred without dtype=int: only read through np.isin and != INVALID, the same masks for integral values "
            "of any numeric dtype (checked on float arrays)"
        ),
        "verl_med_plugin.evaluation.metrics.x_quadratic_kappa__mutmut_12": (
            "ignoring every warning instead of UndefinedMetricWarning: as mutmut_6, the only warnings "
            "cohen_kappa_score emits here are the two already ignored"
        ),
        "verl_med_plugin.evaluation.metrics.x_quadratic_kappa__mutmut_6": (
            "ignoring every warning instead of RuntimeWarning: cohen_kappa_score on 1-D label arrays emits only "
            "UndefinedMetricWarning (sklearn >= 1.6) or RuntimeWarning (0/0, older), both already ignored; no other "
            "warning exists to let through"
        ),
        "verl_med_plugin.evaluation.metrics.x_zero_advantage_stats__mutmut_13": (
            "zip(group_ids, rewards) made non-strict: zero_advantage_groups has already zipped the same two sequences"
            " strictly and raised on a length mismatch, so this zip always sees equal lengths"
        ),
        "verl_med_plugin.evaluation.metrics.x_zero_advantage_stats__mutmut_16": "strict dropped: as mutmut_13",
        "verl_med_plugin.evaluation.metrics.x_zero_advantage_stats__mutmut_17": "strict=False: as mutmut_13",
        "verl_med_plugin.evaluation.statistics.x__indicator__mutmut_3": (
            "float zeros instead of int: the 0/1 entries are exact in float and every consumer is dtype-blind "
            "(metrics.auroc casts truth with dtype=int, macro_auroc_from_ranks and _multilabel_counts use "
            "astype(bool), the shares are divided to float anyway)"
        ),
        "verl_med_plugin.evaluation.statistics.x__indicator__mutmut_5": (
            "dtype argument dropped (float64 zeros): same as dtype=None, the 0/1 indicator is exact in float and its "
            "consumers cast it (dtype=int in metrics.auroc, astype(bool) elsewhere) or divide it to float"
        ),
        "verl_med_plugin.evaluation.statistics.x_bootstrap_ci__mutmut_10": (
            "np.asarray(idx, dtype=None) == dtype=int: scipy 1.17 hands the statistic slices of np.arange(n_units) "
            "(int64 resamples and jackknife samples; checked: only int64 reaches it), so asarray keeps int64 and no "
            "value changes"
        ),
        "verl_med_plugin.evaluation.statistics.x_bootstrap_ci__mutmut_12": (
            "np.asarray(idx) without dtype == dtype=int: the indices scipy passes are already int64 slices of "
            "np.arange(n_units) (resamples and jackknife), so the array and every statistic value are identical"
        ),
        "verl_med_plugin.evaluation.statistics.x_bootstrap_ci__mutmut_35": (
            "vectorized=None: scipy 1.17 _bootstrap_iv sets vectorized = 'axis' in signature(statistic).parameters; "
            "the inner stat(idx) has no axis parameter, so it becomes False exactly as passed"
        ),
        "verl_med_plugin.evaluation.statistics.x_bootstrap_ci__mutmut_42": (
            "vectorized argument dropped: scipy's default None resolves to False because stat(idx) has no 'axis' "
            "parameter, the same non-vectorized path as vectorized=False"
        ),
        "verl_med_plugin.evaluation.statistics.x_holm_adjust__mutmut_16": (
            "method='HOLM': statsmodels' multipletests dispatches on method.lower() in ['h', 'holm'], so the same "
            "Holm step-down adjustment is computed (checked: identical arrays)"
        ),
        "verl_med_plugin.evaluation.statistics.x_holm_adjust__mutmut_19": (
            "zip(strict=None): multipletests returns exactly one adjusted p per p-value passed, so tests and adjusted"
            " always have equal lengths and strictness never triggers"
        ),
        "verl_med_plugin.evaluation.statistics.x_holm_adjust__mutmut_22": (
            "zip without strict: multipletests returns one adjusted p per input p-value, so the two sequences are "
            "equal in length by construction and the pairing is identical"
        ),
        "verl_med_plugin.evaluation.statistics.x_holm_adjust__mutmut_23": (
            "zip(strict=False): tests and multipletests' adjusted array have equal lengths by construction (one "
            "adjusted p per p-value), so strict=True could never raise"
        ),
        "verl_med_plugin.evaluation.statistics.x_macro_f1_from_counts__mutmut_36": (
            "np.maximum(den, 2) vs 1: den = 2tp+fp+fn only falls below 2 when den=1 (then tp=0, F1 = 0/1 = 0/2 = 0) "
            "or den=0 (an unseen class, masked out, and 0 either way), so no F1 changes"
        ),
        "verl_med_plugin.evaluation.statistics.x_mcnemar_exact__mutmut_28": (
            "mcnemar(table) without exact=True: statsmodels 0.15 signature is mcnemar(table, exact=True, "
            "correction=True), so the default is the same exact binomial test"
        ),
        "verl_med_plugin.evaluation.statistics.x_multilabel_macro_f1_from_counts__mutmut_28": (
            "np.maximum(den, 2) vs 1: den = 2tp+fp+fn < 2 only when tp=0 (numerator 0, F1 0 with either floor) or the"
            " label is unseen (masked), so no label's F1 changes"
        ),
        "verl_med_plugin.evaluation.statistics.x_qwk_from_counts__mutmut_6": (
            "np.arange(cm.shape[1]) vs shape[0]: the only caller (Outcomes.metric_functions) passes the square grade "
            "x grade slice per_prompt[idx].sum(axis=0)[:, :n], so both shapes are n"
        ),
        "verl_med_plugin.evaluation.statistics.xǁOutcomesǁ_multilabel_counts__mutmut_3": (
            "TP/FP/FN counts as float64: small integers are exact, bool-array additions give the same numbers, and "
            "the only reader (multilabel_macro_f1_from_counts) float()s a ratio of them"
        ),
        "verl_med_plugin.evaluation.statistics.xǁOutcomesǁ_multilabel_counts__mutmut_5": (
            "np.zeros without dtype is float64: same as mutmut_3, the same exact counts, and macro-F1 is a float "
            "ratio of them"
        ),
        "verl_med_plugin.evaluation.statistics.xǁOutcomesǁ_multilabel_counts__mutmut_6": (
            "a 4th per-label count slot that nothing writes (stays 0) and nothing reads: "
            "multilabel_macro_f1_from_counts reads slots 0, 1, 2 by index"
        ),
        "verl_med_plugin.evaluation.statistics.xǁOutcomesǁauroc__mutmut_13": (
            "vote_shares(predicted, 3) instead of 2 for a binary task: predictions are 0, 1 or INVALID, each row is "
            "divided by its sample count (not the row sum), and binary_auroc reads only column 1, which is identical"
        ),
        "verl_med_plugin.evaluation.statistics.xǁOutcomesǁauroc__mutmut_17": (
            "one-hot truth built as float: metrics.auroc converts it first thing (np.asarray(truth, dtype=int)), so "
            "its input is identical"
        ),
        "verl_med_plugin.evaluation.statistics.xǁOutcomesǁauroc__mutmut_19": (
            "np.eye without dtype (float): metrics.auroc converts the truth with np.asarray(dtype=int) first, so "
            "nothing changes"
        ),
        "verl_med_plugin.evaluation.statistics.xǁOutcomesǁmetric_functions__mutmut_21": (
            "per-prompt confusion counts as float64 instead of int64: small integer counts are exact in float64 and "
            "every reader (balanced accuracy, macro-F1, QWK) divides and returns float(), so every value is "
            "bit-identical"
        ),
        "verl_med_plugin.evaluation.statistics.xǁOutcomesǁmetric_functions__mutmut_23": (
            "np.zeros without dtype is float64: same as mutmut_21, integer counts exact in float64 and every metric "
            "float()s its ratio, so no value changes"
        ),
        "verl_med_plugin.evaluation.statistics.xǁOutcomesǁmetric_functions__mutmut_25": (
            "an extra (n+2)th count column that nothing writes stays 0: the row sums (support, FN) add 0, FP and QWK "
            "read only [:, :n], so every metric is unchanged"
        ),
        "verl_med_plugin.evaluation.statistics.xǁOutcomesǁmetric_functions__mutmut_29": (
            "with the INVALID test forced false an invalid answer indexes column p = INVALID = -1, which on the "
            "n+1-column axis is column n, the invalid column itself"
        ),
        "verl_med_plugin.evaluation.statistics.xǁOutcomesǁmetric_functions__mutmut_32": (
            "every count doubled (+= 2): recall, 2TP/max(2TP+FP+FN,1) (0 only when its denominator is 0) and QWK "
            "(observed and expected both scale by 2) are scale-invariant, and doubling is exact in floating point"
        ),
        "verl_med_plugin.evaluation.statistics.xǁOutcomesǁmetric_functions__mutmut_57": (
            "the one-hot truth as float 0./1. instead of int: its only reader, macro_auroc_from_ranks, converts each "
            "column with astype(bool), so the masks and AUROC are identical"
        ),
        "verl_med_plugin.evaluation.statistics.xǁOutcomesǁmetric_functions__mutmut_59": (
            "np.eye without dtype is float: same as mutmut_57, macro_auroc_from_ranks reads the columns with "
            "astype(bool)"
        ),
        "verl_med_plugin.evaluation.statistics.xǁOutcomesǁprompt_correct__mutmut_10": (
            "the zip over prompt_ids, votes and correct right below is strict: a report whose predicted and correct "
            "lists differ in length is refused with the same ValueError one line later"
        ),
        "verl_med_plugin.evaluation.statistics.xǁOutcomesǁprompt_correct__mutmut_13": (
            "the zip over prompt_ids, votes and correct right below is strict: a report whose predicted and correct "
            "lists differ in length is refused with the same ValueError one line later"
        ),
        "verl_med_plugin.evaluation.statistics.xǁOutcomesǁprompt_correct__mutmut_14": (
            "the zip over prompt_ids, votes and correct right below is strict: a report whose predicted and correct "
            "lists differ in length is refused with the same ValueError one line later"
        ),
    }
)

KILLED = {"killed", "timeout", "caught by type check"}
_OPEN = "not yet killed"
_NAME = re.compile(r"^\s*(\S+): (.+)$")


def module_of(mutant: str) -> str:
    """``reward_fns.labels.x_normalize__mutmut_3`` (or ``...xǁLabelSpaceǁindex_of__mutmut_1``) -> its module."""
    return re.split(r"\.xǁ|\.x_", mutant, maxsplit=1)[0]


def read_results(path: Path) -> dict[str, str]:
    """``mutmut results --all true`` lines ``    name: status`` -> {name: status}."""
    results = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _NAME.match(line)
        if match:
            results[match.group(1)] = match.group(2).strip()
    return results


def diff_of(work: Path, mutant: str) -> str:
    """The changed lines of one mutant (``mutmut show``), without the diff headers."""
    shown = subprocess.run(
        [str(Path(".venv/bin/mutmut").resolve()), "show", mutant], cwd=work, capture_output=True, text=True
    ).stdout
    lines = [ln for ln in shown.splitlines() if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]
    return " / ".join(ln.strip() for ln in lines)[:300]


def wall_line(path: Path, stopped: bool = False) -> str:
    """The full run's wall time (or that of a run stopped early: its unchecked mutants are counted apart), then
    each re-run of named mutants (the survivors after new tests). ``stopped``: mutants were left unchecked, so
    the first run, if it named none, was stopped early (a stopped mutmut still exits into the report)."""
    runs = [line.split() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if stopped and runs and runs[0][1] == "0":
        runs[0][1] = "partial"
    kinds = {"0": "full run", "partial": "run stopped early"}  # partial: written by hand from a stopped run
    parts = [
        f"{kinds.get(named, f're-run of {named} mutants')} {int(s)} s ({int(s) / 60:.0f} min, {when})"
        for s, named, when in runs
    ]
    return "; ".join(parts)


def section(
    target: str, results: dict[str, str], work: Path, run: str, tests: str, previous: str = "", fill: bool = False
) -> str:
    """The target's section: this run's modules, plus the rows and survivors of modules that earlier runs (other
    ``MUTATION_ONLY`` sets, other work folders) measured and this one did not. ``fill``: this run checked mutants
    an earlier run of the same modules left unchecked (named ones; the rest read "not checked" here), so their
    verdicts are added to that run's rows."""
    counts: dict[str, Counter] = defaultdict(Counter)
    survivors = []
    for name, status in sorted(results.items()):
        module = module_of(name)
        if status in KILLED:
            counts[module]["killed"] += 1
        elif status == "not checked":  # before the kills by hand: those name survivors of a run that checked them
            counts[module]["unchecked"] += 1
        elif name in KILLED_BY_HAND:
            counts[module]["killed"] += 1
            survivors.append((name, status, f"killed by hand since: `{KILLED_BY_HAND[name]}`"))
        elif name in EQUIVALENT:
            counts[module]["equivalent"] += 1
            survivors.append((name, status, EQUIVALENT[name]))
        else:
            counts[module]["open"] += 1
            survivors.append((name, status, _OPEN))
    # A module none of whose mutants ran (the run stopped before testing: failed stats, Ctrl-C) measured nothing.
    counts = defaultdict(Counter, {m: c for m, c in counts.items() if c["unchecked"] < c.total()})
    survivors = [s for s in survivors if module_of(s[0]) in counts]
    rows = {module: (c, run) for module, c in counts.items()}
    whole = {m for m, c in counts.items() if not c["unchecked"]} if fill else set(counts)
    kept_rows, kept_survivors = earlier_rows(previous, whole)
    if fill:
        rows = {**kept_rows, **filled(kept_rows, counts, run)}
    else:
        rows = {**kept_rows, **rows}
    out = [
        f"<!-- target:{target} -->",
        f"## {target}",
        "",
        "mutmut 3.8.1, forkserver isolation, on the shared 2-core machine (nice 10, 2 children); each module's row "
        f"names the run that measured it (wall time of the whole run). Tests: `{tests}`.",
        "",
        "| module | mutants | killed | equivalent | surviving | not checked | score | run |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    total: Counter = Counter()
    for module in sorted(rows):
        c, module_run = rows[module]
        total += c
        out.append(row(module, c, module_run))
    out.append(row("**all**", total, ""))
    out += ["", "### Survivors", "", "| mutant | status | change | reason |", "|---|---|---|---|"]
    lines = dict(kept_survivors)
    for name, status, reason in survivors:
        lines[name] = f"| `{name}` | {status} | `{diff_of(work, name).replace('|', '¦')}` | {reason} |"
    out += [lines[name] for name in sorted(lines)]
    stale = sorted(set(EQUIVALENT) - set(results))
    stale = [n for n in stale if module_of(n) in counts]
    if stale:
        out += ["", "Stale equivalence entries (mutant no longer generated): " + ", ".join(stale)]
    out.append(f"<!-- /target:{target} -->")
    return "\n".join(out)


_ROW = re.compile(
    r"^\| ((?:reward_fns|verl_med_plugin)\S*) \| (\d+) \| (\d+) \| (\d+) \| (\d+) \| (\d+) \| [^|]* \| (.*) \|$"
)
_SURVIVOR = re.compile(r"^\| `([^`]+)` \|")


def earlier_rows(previous: str, measured: set[str]) -> tuple[dict[str, tuple[Counter, str]], dict[str, str]]:
    """Module rows and survivor lines of the previous section whose module this run did not measure."""
    rows: dict[str, tuple[Counter, str]] = {}
    survivors: dict[str, str] = {}
    for line in previous.splitlines():
        if match := _ROW.match(line):
            module = match.group(1)
            if module not in measured:
                keys = ("mutants", "killed", "equivalent", "open", "unchecked")
                c = Counter(dict(zip(keys, map(int, match.groups()[1:6]), strict=True)))
                del c["mutants"]
                rows[module] = (c, match.group(7))
        elif (match := _SURVIVOR.match(line)) and module_of(match.group(1)) not in measured:
            survivors[match.group(1)] = line
    for name, line in survivors.items():
        module, verdict = module_of(name), reclassified(name)
        if line.endswith(f"| {_OPEN} |") and verdict and module in rows:
            survivors[name] = line[: -len(f"{_OPEN} |")] + f"{verdict[1]} |"
            rows[module][0]["open"] -= 1
            rows[module][0][verdict[0]] += 1
    return rows, survivors


def filled(
    earlier: dict[str, tuple[Counter, str]], checked: dict[str, Counter], run: str
) -> dict[str, tuple[Counter, str]]:
    """Earlier rows with the verdicts of this run's checked mutants moved out of their "not checked" count; a
    mutant this run did not check stays counted as the earlier run left it. A module this run checked whole gets
    this run's row."""
    rows = {}
    for module, c in checked.items():
        if not c["unchecked"]:  # every mutant of the module checked here: a measurement of its own
            rows[module] = (c, run)
            continue
        if module not in earlier:
            raise SystemExit(f"mutation_report: --fill-unchecked, but no earlier row for {module}")
        before, before_run = earlier[module]
        done = c.total() - c["unchecked"]
        if done > before["unchecked"]:
            raise SystemExit(f"mutation_report: {module}: {done} checked, but only {before['unchecked']} were open")
        after = before + Counter({k: v for k, v in c.items() if k != "unchecked"})
        after["unchecked"] = before["unchecked"] - done
        rows[module] = (after, f"{before_run}; then its unchecked: {run}")
    return rows


def reclassified(name: str) -> tuple[str, str] | None:
    """An open survivor of an earlier run that a test added since kills, or that is now listed as equivalent:
    (count it moves to, its reason)."""
    if name in KILLED_BY_HAND:
        return "killed", f"killed by hand since: `{KILLED_BY_HAND[name]}`"
    if name in EQUIVALENT:
        return "equivalent", EQUIVALENT[name]
    return None


def row(module: str, c: Counter, run: str) -> str:
    n = c["killed"] + c["equivalent"] + c["open"] + c["unchecked"]
    scored = c["killed"] + c["open"]
    score = 100.0 * c["killed"] / scored if scored else 100.0
    return (
        f"| {module} | {n} | {c['killed']} | {c['equivalent']} | {c['open']} | {c['unchecked']} | {score:.1f} % "
        f"| {run} |"
    )


def old_section(text: str, target: str) -> str:
    match = re.search(rf"<!-- target:{target} -->.*?<!-- /target:{target} -->", text, re.S)
    return match.group(0) if match else ""


def replace_section(text: str, target: str, new: str) -> str:
    pattern = re.compile(rf"<!-- target:{target} -->.*?<!-- /target:{target} -->", re.S)
    if pattern.search(text):
        return pattern.sub(lambda _: new, text)
    return text.rstrip("\n") + "\n\n" + new + "\n"


HEADER = (
    "# Mutation score (scripts/mutation.sh)\n\n"
    "Written by `benchmarks/mutation_report.py`; equivalent survivors and their reasons live in its `EQUIVALENT`.\n\n"
    "Baseline (issue 30, before the specification tests, no equivalents excluded): reward_fns 1,708 of 1,991 "
    "killed, 85.8 % (vqa 94.8, mfrs 94.0, multilabel 91.4, parsing 91.3, boxes 88.1, accuracy 85.3, labels 84.1, "
    "recitation 83.6, format 78.9, composite 75.3 %).\n"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--wall", type=Path, required=True, help="wall.txt: seconds, mutants named, date per run")
    parser.add_argument("--tests", default="", help="the target's tests")
    parser.add_argument("--run-tests", default="", help="this run's tests, when narrowed (MUTATION_TESTS)")
    parser.add_argument("--fill-unchecked", action="store_true", help="this run checked an earlier run's unchecked")
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    results = read_results(args.work / "results.txt")
    text = args.output.read_text(encoding="utf-8") if args.output.exists() else HEADER
    run = wall_line(args.wall, "not checked" in results.values() and not args.fill_unchecked)
    if args.run_tests and args.run_tests != args.tests:
        run += f", tests: `{args.run_tests}`"
    new = section(args.target, results, args.work, run, args.tests, old_section(text, args.target), args.fill_unchecked)
    args.output.write_text(replace_section(text, args.target, new), encoding="utf-8")


if __name__ == "__main__":
    main()
