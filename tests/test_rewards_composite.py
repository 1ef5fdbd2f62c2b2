"""compute_score as verl calls it: constant keys, weights, dispatch, the verl fallback and rows we cannot grade."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest
from rewards_rows import KNOWLEDGE, ROWS, chest, derma, grounding, respond

import reward_fns.composite
from reward_fns import SCORE_KEYS, compute_score
from reward_fns.accuracy import UngradableRow, truth_boxes, truth_label, truth_label_set
from reward_fns.task_info import TaskInfo

GEO3K = "<think>The two angles are supplementary.</think> The answer is \\boxed{60}"


@pytest.mark.parametrize("row", sorted(ROWS))
def test_keys_and_types_are_the_same_for_every_task(row):
    data_source, truth, info = ROWS[row]
    for response in (respond("melanoma"), "", None, "<answer>[]</answer>"):
        result = compute_score(data_source=data_source, solution_str=response, ground_truth=truth, extra_info=info)
        assert tuple(result) == SCORE_KEYS
        assert isinstance(result["pred"], str)
        assert all(type(result[k]) is float for k in SCORE_KEYS if k != "pred")


def test_rows_of_other_sources_use_verl_default_with_the_same_keys():
    from verl.utils.reward_score import default_compute_score

    result = compute_score("hiyouga/geometry3k", GEO3K, "60", {"split": "test"})
    assert tuple(result) == SCORE_KEYS
    assert result["score"] == result["acc"] == default_compute_score("hiyouga/geometry3k", GEO3K, "60") == 1.0


def test_unknown_source_scores_zero_and_warns_once(caplog):
    with caplog.at_level(logging.WARNING, logger="reward_fns.composite"):
        for _ in range(3):
            result = compute_score("someone/else", "text", "x", None)
    assert result["score"] == 0.0 and tuple(result) == SCORE_KEYS
    assert len(caplog.records) == 1 and "NotImplementedError" in caplog.text


def test_task_type_makes_a_row_ours_whatever_its_source():
    result = compute_score("my/derma", respond("melanoma"), "melanoma", derma())
    assert result["acc"] == 1.0


def test_ungradable_row_scores_zero_with_one_warning(caplog):
    info = derma()
    info["labels"] = []
    with caplog.at_level(logging.WARNING, logger="reward_fns.composite"):
        for _ in range(2):
            result = compute_score("verl_med/broken", respond("melanoma"), "melanoma", info)
    assert {k: v for k, v in result.items() if k != "pred"} == dict.fromkeys(SCORE_KEYS[:3] + SCORE_KEYS[4:], 0.0)
    assert caplog.text.count("extra_info.labels is empty") == 1


def test_internal_error_is_logged_with_traceback_not_raised(caplog, monkeypatch):
    """Training (strict mode off): a bug scores 0 and logs its traceback."""

    def broken(*args, **kwargs):
        raise ZeroDivisionError("bug")

    monkeypatch.delenv(reward_fns.composite.STRICT_ENV, raising=False)
    monkeypatch.setattr(reward_fns.composite, "score_task", broken)
    with caplog.at_level(logging.WARNING, logger="reward_fns.composite"):
        result = compute_score("verl_med/dermamnist", respond("melanoma"), "melanoma", derma())
    assert result["score"] == 0.0 and "ZeroDivisionError" in caplog.text and "Traceback" in caplog.text


def test_strict_mode_raises_internal_errors_but_not_ungradable_rows(monkeypatch):
    """Under the test suite (``VERL_MED_REWARD_STRICT=1``, tests/conftest.py) a crash inside a scorer fails the
    test instead of passing as a zero reward; a row that cannot be graded, or a data source verl does not know,
    is data and still scores 0. Mutant checked: ``if strict_mode(): raise`` removed (this test then passes a 0)."""

    def broken(*args, **kwargs):
        raise ZeroDivisionError("bug")

    monkeypatch.setenv("VERL_MED_REWARD_STRICT", "1")  # the documented name (docs/rewards.md, tests/conftest.py)
    info = derma()
    info["labels"] = []
    assert compute_score("verl_med/broken", respond("melanoma"), "melanoma", info)["score"] == 0.0
    assert compute_score("someone/else", "text", "x", None)["score"] == 0.0
    monkeypatch.setattr(reward_fns.composite, "score_task", broken)
    with pytest.raises(ZeroDivisionError, match="bug"):
        compute_score("verl_med/dermamnist", respond("melanoma"), "melanoma", derma())


def test_the_suite_scores_in_strict_mode():
    """The strict mode is on for every test of the suite (tests/conftest.py sets ``VERL_MED_REWARD_STRICT=1`` at
    import, so in every xdist worker and in mutation runs too): a scorer that crashes fails its test instead of
    passing as a zero reward. Mutation tried: conftest's ``os.environ.setdefault(...)`` line removed (this test
    fails, and so does the next one)."""
    assert reward_fns.composite.strict_mode()


def test_strict_mode_raises_when_verls_result_cannot_be_mapped(monkeypatch):
    """A verl scorer returning a dict without "score" is a bug of the mapping: raised in strict mode, 0 else."""
    import verl.utils.reward_score

    monkeypatch.setattr(verl.utils.reward_score, "default_compute_score", lambda *a, **k: {"acc": 1.0})
    with pytest.raises(KeyError):
        compute_score("math_dapo", "Answer: 1", "1", None)
    monkeypatch.setenv(reward_fns.composite.STRICT_ENV, "0")
    assert compute_score("math_dapo", "Answer: 1", "1", None)["score"] == 0.0


def test_weights_scale_each_term():
    data_source, truth, info = ROWS["multiclass"]
    response = respond("melanoma", think=KNOWLEDGE)
    result = compute_score(data_source, response, truth, info, format_weight=1.0, acc_weight=2.0, recite_delta=-0.25)
    assert result["score"] == pytest.approx(1.0 + 2.0 - 0.25 * result["recite"])
    assert result["recite"] == pytest.approx(1.0)


def test_recitation_span_response_reads_the_whole_response():
    data_source, truth, info = ROWS["multiclass"]
    response = f"<answer>{KNOWLEDGE}</answer>"  # no think block at all
    assert compute_score(data_source, response, truth, info, recite_delta=1.0)["recite"] == 0.0
    assert compute_score(data_source, response, truth, info, recite_delta=1.0, recite_span="response")["recite"] > 0.5


@pytest.mark.parametrize("mode, expected", [("balanced", 3 / 4), ("f1", 2 / 3), ("jaccard", 1 / 2), ("exact", 0.0)])
def test_multilabel_reward_modes(mode, expected):
    data_source, truth, info = ROWS["multilabel"]
    result = compute_score(data_source, respond("effusion"), truth, info, multilabel_reward=mode, format_weight=0)
    assert result["score"] == pytest.approx(expected)
    assert result["set_f1"] == pytest.approx(2 / 3)


def test_score_stays_within_documented_bounds_for_extreme_weights():
    data_source, truth, info = ROWS["multiclass"]
    kwargs = dict(format_weight=-0.5, acc_weight=2.0, recite_delta=-1.0)
    low, high = reward_fns.RewardConfig(**kwargs).score_bounds()
    for response in (respond("melanoma", think=KNOWLEDGE), respond("nevus"), "<think>x</think>", ""):
        assert low <= compute_score(data_source, response, truth, info, **kwargs)["score"] <= high


def test_reward_fns_imports_and_scores_without_verl():
    code = (
        "import sys; sys.modules['verl'] = None\n"  # any `import verl` now fails
        "import reward_fns\n"
        "r = reward_fns.compute_score('verl_med/x', '<think>a</think><answer>b</answer>', 'b',"
        " {'task_type': 'binary', 'labels': ['a', 'b']})\n"
        "assert r['score'] == 1.1, r\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.parametrize("row", sorted(ROWS))
def test_reference_response_is_scored_correct(row):
    """reward_fns.reference (used by the dry run and the converter tests) writes answers this parser reads."""
    from reward_fns.reference import reference_response

    data_source, truth, info = ROWS[row]
    result = compute_score(data_source, reference_response(truth, info), truth, info)
    assert result["acc"] == 1.0 and result["format"] == 1.0


def test_ground_truth_readers_are_public_and_raise_on_ungradable_rows():
    assert truth_label("bcc", TaskInfo.from_extra_info(derma())) == 1  # aliases count, as in the reward
    assert truth_label_set('["mass","effusion"]', TaskInfo.from_extra_info(chest())) == (2, 4)
    assert truth_boxes("[[1,2,3,4]]", TaskInfo.from_extra_info(grounding())) == [[1.0, 2.0, 3.0, 4.0]]
    assert truth_boxes("[]", TaskInfo.from_extra_info(grounding())) == []  # a box-free image is gradable
    with pytest.raises(UngradableRow, match="not one of extra_info.labels"):
        truth_label("psoriasis", TaskInfo.from_extra_info(derma()))
    with pytest.raises(UngradableRow, match="not a JSON list of label names"):
        truth_label_set("effusion, mass", TaskInfo.from_extra_info(chest()))
    for bad_truth in ("[[1,2,3]]", "lesion at the top", '[["a","b","c","d"]]'):
        with pytest.raises(UngradableRow, match="grounding ground truth"):
            truth_boxes(bad_truth, TaskInfo.from_extra_info(grounding()))
    with pytest.raises(UngradableRow, match="grounding ground truth"):
        truth_boxes("[[1,2,3,4]]", TaskInfo.from_extra_info(grounding() | {"box_format": "pixels"}))
