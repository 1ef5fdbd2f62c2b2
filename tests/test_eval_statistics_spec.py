"""Specifications of ``evaluation.statistics``' module-level functions for the survivors of
``bash scripts/mutation.sh metrics`` (benchmarks/results/mutation.md): bootstrap_ci, paired_comparison, the
``*_from_counts`` metrics, mean_sd, _subset, mcnemar_exact, holm_adjust, _indicator, confidence_intervals and
macro_auroc_from_ranks.

Each test checks a behaviour a clinician or reviewer relies on against an independent computation (scipy's
bootstrap or numpy by hand with the same seed, scikit-learn, statsmodels, or a tiny case worked by hand), on the
edge cases the surviving mutants exploit: classes without support, invalid answers, degenerate resamples, n = 2,
one resample, the BCa size limit, exact keys of returned dicts read back from JSON. Each docstring names the
mutants it kills.
"""

from __future__ import annotations

import json
import statistics as stdlib_statistics
import warnings

import numpy as np
import pytest
from eval_fixtures import single_label_outcomes
from scipy import stats
from sklearn.metrics import (
    balanced_accuracy_score,
    cohen_kappa_score,
    confusion_matrix,
    f1_score,
    roc_auc_score,
)
from statsmodels.stats.contingency_tables import mcnemar

from verl_med_plugin.evaluation import metrics as M
from verl_med_plugin.evaluation import statistics as S

INVALID = M.INVALID


_outcomes = single_label_outcomes


def _json_round_trip(outcomes: S.Outcomes) -> S.Outcomes:
    """What the evaluation writes to metrics.json and reads back for a paired comparison."""
    return S.Outcomes.from_dict(json.loads(json.dumps(outcomes.as_dict())))


def _scipy_interval(n_units, statistic, method, *, confidence=0.95, n_resamples=1000, seed=0):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = stats.bootstrap(
            (np.arange(n_units),),
            lambda idx: statistic(idx.astype(int)),
            vectorized=False,
            n_resamples=n_resamples,
            method=method,
            confidence_level=confidence,
            rng=np.random.default_rng(seed),
        )
    return tuple(float(x) for x in result.confidence_interval)


# ------------------------------------------------------------------------------------------------ bootstrap_ci


def _accuracy_statistic(n: int, seed: int = 11):
    right = np.random.default_rng(seed).random(n) < 0.7
    return lambda idx: float(right[idx].mean())


def test_a_ci_is_scipys_bca_with_seed_0_and_reports_its_settings_by_name():
    """A reported interval is reproducible: without a seed it is scipy's BCa interval drawn with
    ``default_rng(0)``; the confidence level and resample count asked for are used and written back under their
    names, and the dict survives JSON unchanged (metrics.json).

    Kills: the default seed changed (0 -> 1), the generator dropped or unseeded (``rng=None``,
    ``default_rng(None)``), ``n_resamples`` or ``confidence_level`` not passed to scipy (its defaults 9999 and
    0.95 then), BCa never tried (``and False``), the method reported as "bca" / "BCA", the keys "confidence" and
    "n_resamples" renamed."""
    statistic = _accuracy_statistic(30)
    ci = S.bootstrap_ci(30, statistic, confidence=0.8, n_resamples=60)
    low, high = _scipy_interval(30, statistic, "BCa", confidence=0.8, n_resamples=60, seed=0)
    expected = {"low": low, "high": high, "confidence": 0.8, "method": "BCa", "n_units": 30, "n_resamples": 60}
    assert ci == pytest.approx(expected)
    assert json.loads(json.dumps(ci)) == ci
    assert ci == S.bootstrap_ci(30, statistic, confidence=0.8, n_resamples=60)  # the same report twice
    seeded = S.bootstrap_ci(30, statistic, confidence=0.8, n_resamples=60, seed=3)
    assert (seeded["low"], seeded["high"]) == pytest.approx(
        _scipy_interval(30, statistic, "BCa", confidence=0.8, n_resamples=60, seed=3)
    )


def test_bca_up_to_the_size_limit_then_the_percentile_interval_by_hand():
    """BCa is used up to ``BCA_MAX_UNITS`` prompts inclusive; beyond it (TissueMNIST's 47k test images) the
    percentile interval, which equals numpy's percentiles of the statistic over ``default_rng(0).integers``
    resamples, and is reported as "percentile".

    Kills: BCa always (``or True``), the limit made exclusive (``<``), the large-set method misspelt
    ("XXpercentileXX": scipy refuses it) or reported as "PERCENTILE"."""
    limit = S.BCA_MAX_UNITS
    values = np.random.default_rng(5).random(limit + 1)

    def mean(idx):
        return float(values[idx].mean())

    large = S.bootstrap_ci(limit + 1, mean, n_resamples=30)
    draws = np.random.default_rng(0).integers(0, limit + 1, (30, limit + 1))
    low, high = np.percentile([mean(d) for d in draws], [2.5, 97.5])
    assert large == pytest.approx(
        {"low": low, "high": high, "confidence": 0.95, "method": "percentile", "n_units": limit + 1, "n_resamples": 30}
    )
    at_limit = S.bootstrap_ci(limit, mean, n_resamples=30)
    assert at_limit["method"] == "BCa"
    assert (at_limit["low"], at_limit["high"]) == pytest.approx(_scipy_interval(limit, mean, "BCa", n_resamples=30))


def test_two_prompts_or_one_resample_still_give_an_interval():
    """The smallest inputs scipy accepts give an interval: two prompts (a tiny pilot set), one resample (the
    percentile interval of that one resample's value, BCa being undefined). One prompt or no resample: None.

    Kills: the two-prompt guard tightened (``n_units <= 2``, ``< 3``), the one-resample guard tightened
    (``n_resamples <= 1``, ``< 2``)."""
    two = S.bootstrap_ci(2, lambda idx: float(np.mean(idx)), n_resamples=20)
    assert two is not None and two["n_units"] == 2
    assert (two["low"], two["high"]) == pytest.approx(
        _scipy_interval(2, lambda idx: float(np.mean(idx)), "BCa", n_resamples=20)
    )
    statistic = _accuracy_statistic(10)
    one = S.bootstrap_ci(10, statistic, n_resamples=1)
    only = statistic(np.random.default_rng(0).integers(0, 10, 10))  # the one resample, drawn by hand
    assert one == {
        "low": only,
        "high": only,
        "confidence": 0.95,
        "method": "percentile",
        "n_units": 10,
        "n_resamples": 1,
    }
    assert S.bootstrap_ci(10, statistic, n_resamples=0) is None


def test_an_interval_with_an_infinite_bound_is_not_reported():
    """A ratio statistic that divides by the count of a rare event (one positive among 20 prompts, absent from a
    third of the resamples) is infinite on some resamples: its percentile interval has a finite low and an
    infinite high bound (scipy, checked here). No interval is reported rather than "[6.7, inf]", which strict
    JSON cannot even hold.

    Kills: both bounds' finiteness check relaxed to either (``and`` -> ``or``)."""
    positives = np.array([1.0] + [0.0] * 19)

    def ratio(idx):
        k = positives[idx].sum()
        return float(len(idx) / k) if k else float("inf")

    low, high = _scipy_interval(20, ratio, "percentile", n_resamples=50)
    assert np.isfinite(low) and high == np.inf  # the case the check exists for
    assert S.bootstrap_ci(20, ratio, n_resamples=50) is None


# ------------------------------------------------------------------------------------ metrics from counts


# 5 classes: 0 true once and never predicted, 1 predicted once and never true, 2 and 3 ordinary (3 with an
# invalid answer), 4 neither true nor predicted.
Y_TRUE = np.array([0, 2, 2, 2, 3, 3])
Y_PRED = np.array([2, 2, 1, 2, 3, INVALID])


def _counts(y_true, y_pred, n):
    """The resample layout: true class x (predicted class, invalid last), from scikit-learn's confusion matrix."""
    return confusion_matrix(y_true, y_pred, labels=[*range(n), INVALID])[:n]


def test_balanced_accuracy_averages_recall_over_classes_with_support_even_support_one():
    """Balanced accuracy is the mean recall over classes present in the truth, a class seen once included
    (recall 0 here), classes never true left out (scikit-learn: (0 + 2/3 + 1/2) / 3 = 7/18).

    Kills: the support mask dropped (``present = None``) or relaxed to ``>= 0`` (0/0 recalls: NaN), or raised to
    ``> 1`` (the class seen once dropped: 7/12)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "y_pred contains classes not in y_true"
        expected = balanced_accuracy_score(Y_TRUE, Y_PRED)
    assert expected == pytest.approx((0 + 2 / 3 + 1 / 2) / 3)
    assert S.balanced_accuracy_from_counts(_counts(Y_TRUE, Y_PRED, 5)) == pytest.approx(expected)


def test_macro_f1_averages_classes_in_truth_or_valid_prediction_only():
    """Macro-F1 averages F1 over the classes that occur in the truth or among the valid answers: a class true
    once and never predicted (F1 0) and a class predicted once and never true (F1 0) count; a class that never
    occurs does not; an invalid answer is a miss of its true class, nobody's false positive. scikit-learn with
    those labels: (0 + 0 + 2/3 + 2/3) / 4 = 1/3.

    Kills: the mask dropped (``seen = None``) or made constant by summing the whole matrix (``axis=None``) or by
    ``>= 0`` (the absent class then counts: 4/15), ``|`` -> ``&`` (only classes both true and predicted: 2/3),
    the truth side raised to ``> 1`` or the prediction side to ``> 1`` (a class seen once dropped: 4/9), the
    prediction side summed over rows (``axis=1``: the class predicted but never true dropped)."""
    expected = f1_score(Y_TRUE, Y_PRED, labels=[0, 1, 2, 3], average="macro")
    assert expected == pytest.approx(1 / 3)
    assert S.macro_f1_from_counts(_counts(Y_TRUE, Y_PRED, 5)) == pytest.approx(expected)


def _multilabel_outcomes(truth, predicted, n_labels):
    return S.Outcomes(
        "multilabel",
        n_labels,
        [f"m{i}" for i in range(len(truth))],
        truth,
        [[p] for p in predicted],
        [[p is not None and sorted(p) == sorted(t)] for t, p in zip(truth, predicted, strict=True)],
    )


def test_multilabel_macro_f1_averages_labels_in_truth_or_prediction_only():
    """Multilabel macro-F1 averages per-label F1 (scikit-learn, ``average=None``) over the labels that are true
    or predicted somewhere: label 0 true once and never predicted, label 1 predicted once and never true (both
    F1 0), label 3 never anywhere (left out); an invalid answer predicts no label. (0 + 0 + 2/3 + 1) / 4 = 5/12.

    Kills: ``|`` -> ``&``, ``tp + fn`` -> ``tp - fn`` or ``tp + fp`` -> ``tp - fp`` (label 0 or 1 dropped), either
    side relaxed to ``>= 0`` (label 3 counted) or raised to ``> 1`` (a label seen once dropped)."""
    truth = [(0, 2), (2,), (2,), (4,), ()]
    predicted = [(2,), (2, 1), None, (4, 2), ()]
    y_true = np.zeros((5, 5), dtype=int)
    y_pred = np.zeros((5, 5), dtype=int)
    for i, (t, p) in enumerate(zip(truth, predicted, strict=True)):
        y_true[i, list(t)] = 1
        y_pred[i, list(p or ())] = 1
    per_label = f1_score(y_true, y_pred, average=None, zero_division=0)
    occurs = (y_true.sum(axis=0) > 0) | (y_pred.sum(axis=0) > 0)
    expected = per_label[occurs].mean()
    assert expected == pytest.approx(5 / 12)
    f1 = _multilabel_outcomes(truth, predicted, 5).metric_functions()["macro_f1"]
    assert f1(np.arange(5)) == pytest.approx(expected)


def test_multilabel_macro_f1_is_zero_when_no_label_occurs():
    """A resample of normal images only (no label true, none predicted) scores macro-F1 0, as scikit-learn with
    ``zero_division=0`` does, not NaN (which would void the interval) nor a perfect 1.

    Kills: the ``seen.any()`` guard forced (``or True``: mean of nothing, NaN), the fallback 0.0 -> 1.0."""
    y = np.zeros((3, 4), dtype=int)
    assert f1_score(y, y, average="macro", zero_division=0) == 0.0
    assert S.multilabel_macro_f1_from_counts(np.zeros((4, 3), dtype=np.int64)) == 0.0
    f1 = _multilabel_outcomes([(), (), ()], [(), None, ()], 4).metric_functions()["macro_f1"]
    assert f1(np.arange(3)) == 0.0


def test_qwk_is_none_where_undefined_and_scikit_learns_elsewhere():
    """Quadratic-weighted kappa is None (JSON null, a void resample) when it is undefined: no graded answer at
    all (a resample where every answer is invalid) or truth and answers all one grade (scikit-learn: NaN). A
    single off-diagonal answer is defined: kappa 0 (scikit-learn, and by hand: 1 - 4/4).

    Kills: the empty guard moved to ``total == 1`` (NaN for no answer, None for one), the zero-denominator guard
    disabled (``and False``: NaN) or moved to ``denominator == 1``."""
    assert S.qwk_from_counts(np.zeros((3, 3), dtype=np.int64)) is None
    same = confusion_matrix([1, 1, 1], [1, 1, 1], labels=[0, 1, 2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isnan(cohen_kappa_score([1, 1, 1], [1, 1, 1], labels=[0, 1, 2], weights="quadratic"))
    assert S.qwk_from_counts(same) is None
    one = confusion_matrix([0], [2], labels=[0, 1, 2])
    assert S.qwk_from_counts(one) == pytest.approx(cohen_kappa_score([0], [2], labels=[0, 1, 2], weights="quadratic"))
    assert S.qwk_from_counts(one) == 0.0


def test_macro_auroc_leaves_out_classes_without_positives_or_negatives():
    """Macro AUROC averages one-vs-rest AUROC (scikit-learn) over classes with both positive and negative
    prompts: a class no prompt has (no positive) and one every prompt has (no negative) are left out; when no
    class qualifies the AUROC is None, not NaN.

    Kills: ``n_pos and n_neg`` -> ``or`` (0/0 for the left-out classes: NaN), the empty guard forced
    (``or True``: mean of nothing, NaN)."""
    truth = np.array([[1, 0, 1, 0], [0, 0, 1, 1], [1, 0, 1, 0], [0, 0, 1, 1], [1, 0, 1, 1]])
    scores = np.array(
        [[0.9, 0.1, 0.5, 0.2], [0.4, 0.0, 0.5, 0.6], [0.5, 0.2, 0.3, 0.6], [0.1, 0.3, 1.0, 0.9], [0.4, 0, 0, 0.1]]
    )
    expected = np.mean([roc_auc_score(truth[:, c], scores[:, c]) for c in (0, 3)])
    assert S.macro_auroc_from_ranks(truth, scores) == pytest.approx(expected)
    assert S.macro_auroc_from_ranks(truth[:, 1:3], scores[:, 1:3]) is None


def test_a_single_prompt_multilabel_run_has_no_auroc_rather_than_an_error():
    """A multilabel evaluation of one prompt (a smoke run) has no AUROC: every label is all-positive or
    all-negative. It is reported as None per label, as ``metrics.auroc`` documents.

    Kills: the indicator matrix padded to at least two rows (``max(len(sets), 2)``): a one-prompt truth matrix
    then has a phantom second prompt, and scikit-learn refuses scores for one prompt against truth for two."""
    o = _multilabel_outcomes([(0, 2)], [(0,)], 3)
    assert o.auroc() == {"macro": None, "n_classes": 0, "per_class": [None, None, None]}
    assert o.metric_functions()["auroc"](np.array([0])) is None


# ---------------------------------------------------------------------------------- confidence_intervals


def _vqa(ids, open_f1, accuracy, votes=None) -> S.Outcomes:
    """VQA prompts with two samples each; ``open_f1`` applies to the open questions (None for the others)."""
    return S.Outcomes(
        task_type="vqa",
        n_classes=0,
        prompt_ids=ids,
        truth=[None] * len(ids),
        predicted=[[None] * len(a) for a in accuracy],
        correct=[[bool(x) for x in a] for a in accuracy],
        values=None if open_f1 is None else {"open_f1": open_f1, "accuracy": accuracy},
        votes=votes,
    )


OPEN_F1 = [[0.0, 0.5], None, [1.0, 1.0], None, [0.2, 0.4]]
ACCURACY = [[1.0, 0.0], [1.0, 1.0], [1.0, 1.0], [0.0, 0.0], [0.0, 1.0]]


def test_a_vqa_metrics_ci_resamples_only_the_prompts_it_applies_to_with_the_settings_given():
    """The interval of open-question F1 is the bootstrap over the open questions only (3 of 5 prompts), so it is
    the interval of that kind's own test set (scipy's BCa over those 3 prompts' pooled sample means); the
    settings passed (confidence, resamples, seed) reach every metric's interval.

    Kills: the metric's units looked up for no metric (``metric_units(None)``: all 5 prompts), the settings not
    passed on to ``bootstrap_ci`` (its defaults 1000 resamples and 95 %)."""
    o = _json_round_trip(_vqa([f"v{i}" for i in range(5)], OPEN_F1, ACCURACY))
    cis = S.confidence_intervals(o, n_resamples=40, confidence=0.9, seed=2)
    applicable = [np.array(v) for v in OPEN_F1 if v is not None]

    def pooled(idx):
        return float(np.concatenate([applicable[i] for i in idx]).mean())

    low, high = _scipy_interval(3, pooled, "BCa", confidence=0.9, n_resamples=40, seed=2)
    assert cis["open_f1"] == pytest.approx(
        {"low": low, "high": high, "confidence": 0.9, "method": "BCa", "n_units": 3, "n_resamples": 40}
    )
    assert (cis["accuracy"]["n_units"], cis["accuracy"]["n_resamples"], cis["accuracy"]["confidence"]) == (5, 40, 0.9)


# ----------------------------------------------------------------------------------------------- McNemar


def test_mcnemar_reports_each_runs_wins_not_the_both_wrong_cell():
    """``a_only`` / ``b_only`` are the discordant prompts (A right and B wrong / the reverse), the table is the
    2x2 of scikit-learn's confusion matrix of the two runs' correctness, the p-value statsmodels' exact test.
    Here both are wrong on 4 prompts, B alone right on 2.

    Kills: ``b_only`` read from the both-wrong cell (``table[1][1]``)."""
    a = [True] * 5 + [True] * 3 + [False] * 2 + [False] * 4
    b = [True] * 5 + [False] * 3 + [True] * 2 + [False] * 4
    table = confusion_matrix(np.logical_not(a), np.logical_not(b), labels=[False, True]).tolist()  # right first
    result = S.mcnemar_exact(a, b)
    assert result == {
        "table": table,
        "a_only": 3,
        "b_only": 2,
        "p_value": pytest.approx(mcnemar(table, exact=True).pvalue),
    }


def test_mcnemar_accepts_correctness_as_0_1_numbers():
    """Per-prompt correctness given as numbers (1.0 / 0.0: a k = 1 run's per-prompt accuracy) is read as
    right / wrong, and gives the same test as booleans.

    Kills: either run's correctness not converted to booleans (``dtype=None`` or no dtype: ``&`` on floats raises
    TypeError)."""
    a = [True, True, False, True, False, False, True]
    b = [True, False, True, False, False, True, False]
    as_numbers = S.mcnemar_exact([float(x) for x in a], np.array(b, dtype=float))
    assert as_numbers == S.mcnemar_exact(a, b)
    assert S.mcnemar_exact(a, np.array(b, dtype=float)) == S.mcnemar_exact(np.array(a, dtype=float), b)


# ------------------------------------------------------------------------------------------ paired_comparison


def test_two_common_prompts_are_compared_and_fewer_give_the_documented_error():
    """Two common prompts are enough for a paired comparison (the minimum scipy's bootstrap takes); one gives
    exactly ``{"n_prompts": 1, "error": <why, and what to do>}``, the message telling the user verl's dumps use
    random prompt ids and to compare offline generations.

    Kills: the guard tightened (``<= 2``, ``< 3``), the key "n_prompts" renamed, the message's either half
    altered."""
    a = _outcomes([0, 1, 1], [[0], [1], [0]], n_classes=2, ids=["x", "y", "z"])
    b = _outcomes([0, 1, 1], [[1], [1], [1]], n_classes=2, ids=["x", "y", "q"])
    two = S.paired_comparison(a, b, n_resamples=20)
    assert two["n_prompts"] == 2 and "error" not in two
    assert two["differences"]["accuracy"]["difference"] == pytest.approx(0.5)
    one = S.paired_comparison(a, _outcomes([0], [[0]], n_classes=2, ids=["x"]))
    assert one == {
        "n_prompts": 1,
        "error": "fewer than 2 common prompt ids (verl's validation dumps use random prompt ids: "
        "compare offline generations)",
    }


def test_paired_comparison_differences_every_metric_with_the_settings_given():
    """A paired comparison of two multiclass runs (read back from JSON, listed in different orders) reports the
    difference of every metric (scikit-learn's on the common prompts, A minus B), each with a paired interval
    drawn with the settings passed.

    Kills: the subset's task type dropped (``None``: only accuracy compared), the settings not passed to the
    paired ``bootstrap_ci`` (its defaults)."""
    truth = [0, 1, 2, 0, 1, 2, 0, 1, 2, 1, 0, 2]
    a_pred = [0, 1, 2, 0, 2, 2, 1, 1, 2, 1, 0, 0]
    b_pred = [0, 2, 2, 1, 1, INVALID, 0, 0, 2, 1, 2, 2]
    a = _json_round_trip(_outcomes(truth, [[p] for p in a_pred], n_classes=3))
    ids = [f"p{i}" for i in range(12)]
    b = _json_round_trip(_outcomes(truth[::-1], [[p] for p in b_pred[::-1]], n_classes=3, ids=ids[::-1]))
    result = S.paired_comparison(a, b, n_resamples=30, confidence=0.9)
    diffs = result["differences"]
    assert list(diffs) == ["accuracy", "auroc", "balanced_accuracy", "macro_f1"]

    def sk(pred):
        onehot = np.eye(3, dtype=int)[truth]
        return {
            "accuracy": np.mean(np.array(pred) == truth),
            "auroc": roc_auc_score(onehot, M.vote_shares([[p] for p in pred], 3), average="macro"),
            "balanced_accuracy": balanced_accuracy_score(truth, pred),
            "macro_f1": f1_score(truth, pred, labels=[0, 1, 2], average="macro"),
        }

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ska, skb = sk(a_pred), sk(b_pred)
    for name, d in diffs.items():
        assert d["difference"] == pytest.approx(ska[name] - skb[name]), name
        assert (d["ci"]["n_resamples"], d["ci"]["confidence"], d["ci"]["n_units"]) == (30, 0.9, 12), name


def test_a_metric_undefined_for_one_run_has_no_difference_rather_than_a_crash():
    """An ordinal run that never answered validly (every answer INVALID) has no QWK: its QWK difference and
    interval are None, while the metrics defined for both runs are still compared.

    Kills: the None check of the difference disabled (``and False``) or requiring both runs undefined
    (``and``): ``float - None`` raises TypeError."""
    truth = [0, 1, 2, 1, 0, 2, 2, 1]
    a = _outcomes(truth, [[t] for t in truth], task_type="ordinal", n_classes=3)
    b = _outcomes(truth, [[INVALID]] * 8, task_type="ordinal", n_classes=3)
    diffs = S.paired_comparison(a, b, n_resamples=20)["differences"]
    assert diffs["qwk"] == {"difference": None, "ci": None}
    assert diffs["accuracy"]["difference"] == 1.0


def test_paired_vqa_metric_compares_its_own_prompts():
    """Two VQA runs (read back from JSON) are compared on open-question F1 over the open questions only: the
    difference of their pooled means there (by hand), a paired interval over those 3 prompts.

    Kills: the per-prompt values dropped from the common-prompt subset (``values = None``, forced by ``or True``,
    passed as None or left out so the votes take their place), the units looked up for no metric
    (``metric_units(None)``: all 5 prompts)."""
    ids = [f"v{i}" for i in range(5)]
    b_f1 = [[0.0, 0.0], None, [0.5, 1.0], None, [0.2, 0.2]]
    a = _json_round_trip(_vqa(ids, OPEN_F1, ACCURACY))
    b = _json_round_trip(_vqa(ids[::-1], b_f1[::-1], ACCURACY[::-1]))
    d = S.paired_comparison(a, b, n_resamples=30)["differences"]["open_f1"]
    a_mean = np.mean([x for v in OPEN_F1 if v for x in v])
    b_mean = np.mean([x for v in b_f1 if v for x in v])
    assert d["difference"] == pytest.approx(a_mean - b_mean)
    assert d["ci"]["n_units"] == 3


def test_metrics_only_one_run_reports_are_left_out_of_the_comparison():
    """A VQA run from a report written without per-prompt values (an older evaluation) is compared with a newer
    one on what both have: accuracy; open F1, which only one run has, is left out.

    Kills: the metrics of either run compared (``fa.keys() | fb.keys()``: KeyError for the older run)."""
    ids = [f"v{i}" for i in range(5)]
    a = _json_round_trip(_vqa(ids, OPEN_F1, ACCURACY))
    old = _json_round_trip(_vqa(ids, None, ACCURACY))
    assert list(S.paired_comparison(a, old, n_resamples=20)["differences"]) == ["accuracy"]


def test_mcnemar_of_a_paired_comparison_votes_on_the_answers_recorded():
    """McNemar's per-prompt correctness in a paired comparison is the majority vote over the recorded answers
    (``votes``): a grounding prompt answered W1, R, R, W2, W3 (R right) is right by its answers' majority
    (``metrics.majority_correct``), though its first sample and 3 of its 5 samples are wrong.

    Kills: the votes dropped from the common-prompt subset (``None``, forced by ``or True``, left out): the vote
    then falls back to what ``predicted`` holds (no answer text for grounding) and the prompt counts as wrong."""
    ids = ["g1", "g2", "g3"]
    votes = [["W1", "R", "R", "W2", "W3"]] * 3
    correct = [[False, True, True, False, False]] * 3
    assert M.majority_correct(votes[0], correct[0], "g1")
    a = S.Outcomes("grounding", 0, ids, [None] * 3, [[None] * 5] * 3, correct, votes=votes)
    b = S.Outcomes("grounding", 0, ids, [None] * 3, [[None] * 5] * 3, [[False] * 5] * 3, votes=[["W"] * 5] * 3)
    result = S.paired_comparison(_json_round_trip(a), _json_round_trip(b), n_resamples=20)
    assert (result["mcnemar"]["a_only"], result["mcnemar"]["b_only"]) == (3, 0)
    assert result["mcnemar"]["table"] == [[0, 3], [0, 0]]


# ------------------------------------------------------------------------------------------------- mean_sd


def test_mean_sd_of_no_seed_two_seeds_and_float32_values():
    """Across seeds: none known gives exactly ``{"n": 0, "mean": None, "sd": None}``; two seeds have a sample
    sd (Python's statistics.stdev); values arriving as numpy float32 are summarised in double precision (Python's
    statistics on the same values, to 1e-12).

    Kills: the empty result's keys renamed or its n changed, the sd withheld for two seeds (``> 2``), the values
    kept in their own dtype (float32 mean and sd, off by ~1e-8)."""
    assert S.mean_sd([]) == {"n": 0, "mean": None, "sd": None}
    assert S.mean_sd([None, None]) == {"n": 0, "mean": None, "sd": None}
    two = S.mean_sd([0.6, 0.7, None])
    assert two == {"n": 2, "mean": pytest.approx(0.65), "sd": pytest.approx(stdlib_statistics.stdev([0.6, 0.7]))}
    values = [np.float32(x) for x in (0.61, 0.66, 0.58, 0.7)]
    summary = S.mean_sd(values)
    exact = [float(v) for v in values]
    assert summary["mean"] == pytest.approx(stdlib_statistics.fmean(exact), rel=1e-12, abs=0)
    assert summary["sd"] == pytest.approx(stdlib_statistics.stdev(exact), rel=1e-12, abs=0)
