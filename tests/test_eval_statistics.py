"""Confidence intervals, paired comparisons and seeds (``evaluation.statistics``), each against an independent
computation: simulated coverage, McNemar's 2x2 by hand, scikit-learn for the resample metrics."""

from __future__ import annotations

import statistics as stdlib_statistics

import numpy as np
import pytest
from eval_fixtures import single_label_outcomes
from scipy.stats import binomtest

from verl_med_plugin.evaluation import metrics as M
from verl_med_plugin.evaluation import statistics as S

_outcomes = single_label_outcomes


def _coverage(true_value, draw, n_sims, rng, n_resamples=400):
    hits = 0
    for _ in range(n_sims):
        outcomes = draw(rng)
        ci = S.bootstrap_ci(
            len(outcomes.prompt_ids),
            outcomes.metric_functions()["accuracy"],
            n_resamples=n_resamples,
            seed=int(rng.integers(1 << 30)),
        )
        hits += ci["low"] <= true_value <= ci["high"]
    return hits / n_sims


def test_accuracy_ci_covers_a_simulated_binomial_95_percent_of_the_time():
    # 100 prompts, one answer each, right with probability 0.8: the interval should hold 0.8 in ~95 % of test sets
    rng = np.random.default_rng(0)
    n_sims = 300

    def draw(rng):
        right = rng.random(100) < 0.8
        return _outcomes(np.zeros(100), [[0 if r else 1] for r in right], n_classes=2)

    coverage = _coverage(0.8, draw, n_sims, rng)
    # binomial sampling error of the coverage estimate itself: sd = sqrt(.95*.05/300) = 1.3 points
    assert 0.91 <= coverage <= 0.985, coverage


def test_prompts_not_samples_are_resampled():
    """k = 4 correlated samples per prompt (easy and hard images): resampling prompts keeps ~95 % coverage of the
    expected accuracy; treating the 4 samples as independent units would give intervals far too narrow."""
    rng = np.random.default_rng(1)

    def draw(rng):
        p = np.where(rng.random(60) < 0.5, 0.95, 0.15)  # expected accuracy 0.55
        right = rng.random((60, 4)) < p[:, None]
        return _outcomes(np.zeros(60), [[0 if r else 1 for r in row] for row in right], n_classes=2)

    assert 0.9 <= _coverage(0.55, draw, 200, rng) <= 0.99

    def draw_as_samples(rng):  # the same data with every sample its own "prompt"
        o = draw(rng)
        flat = [p for preds in o.predicted for p in preds]
        return _outcomes(np.zeros(len(flat)), [[p] for p in flat], n_classes=2)

    assert _coverage(0.55, draw_as_samples, 200, rng) < 0.85


def test_bootstrap_is_scipys_and_handles_degenerate_data():
    all_right = _outcomes(np.zeros(30), [[0]] * 30, n_classes=2)
    ci = S.bootstrap_ci(30, all_right.metric_functions()["accuracy"], n_resamples=200)
    assert (ci["low"], ci["high"], ci["method"]) == (1.0, 1.0, "percentile")  # BCa undefined when constant
    assert S.bootstrap_ci(1, lambda idx: 1.0) is None
    assert S.bootstrap_ci(30, lambda idx: None, n_resamples=50) is None  # undefined on resamples: no interval


def test_resample_metrics_equal_scikit_learns():
    """The fast per-resample metrics (summed confusion counts) equal scikit-learn on the same samples."""
    rng = np.random.default_rng(2)
    for task_type in ("multiclass", "ordinal"):
        truth = rng.integers(0, 5, 40)
        predicted = [
            [int(p) for p in rng.choice([-1, 0, 1, 2, 3, 4], size=3, p=[0.1, 0.3, 0.2, 0.2, 0.1, 0.1])] for _ in truth
        ]
        o = _outcomes(truth, predicted, task_type=task_type, n_classes=5)
        funcs = o.metric_functions()
        for _ in range(30):
            idx = rng.integers(0, 40, 40)
            y_true = np.repeat(truth[idx], 3)
            y_pred = np.array([p for i in idx for p in predicted[i]])
            assert funcs["balanced_accuracy"](idx) == pytest.approx(M.balanced_accuracy(y_true, y_pred))
            assert funcs["macro_f1"](idx) == pytest.approx(M.macro_f1(y_true, y_pred))
            onehot = np.eye(5, dtype=int)[truth[idx]]
            assert funcs["auroc"](idx) == pytest.approx(
                M.auroc(onehot, M.vote_shares([predicted[i] for i in idx], 5))["macro"]
            )
            if task_type == "ordinal":
                valid = y_pred != M.INVALID
                assert funcs["qwk"](idx) == pytest.approx(M.quadratic_kappa(y_true[valid], y_pred[valid], 5))


def test_mcnemar_exact_against_a_hand_computed_table():
    # 20 prompts: both right 10, only A right 1, only B right 6, both wrong 3.
    # Exact McNemar: two-sided binomial on the 7 discordant prompts, p = 2 * P(X <= 1 | n=7, 1/2) = 2 * 8/128
    a = [True] * 10 + [True] + [False] * 6 + [False] * 3
    b = [True] * 10 + [False] + [True] * 6 + [False] * 3
    result = S.mcnemar_exact(a, b)
    assert result["table"] == [[10, 1], [6, 3]]
    assert result["p_value"] == pytest.approx(16 / 128)
    assert result["p_value"] == pytest.approx(binomtest(1, 7, 0.5).pvalue)  # and scipy's binomial test agrees
    assert S.mcnemar_exact([True] * 5, [True] * 5)["p_value"] == 1.0  # no discordant prompt: no evidence


def test_paired_comparison_of_two_runs():
    truth = [0, 1, 2, 0, 1, 2, 0, 1, 2, 0] * 3
    a_pred = list(truth)
    b_pred = [t if i % 3 else (t + 1) % 3 for i, t in enumerate(truth)]  # B wrong on every third prompt
    a = _outcomes(truth, [[p] for p in a_pred], n_classes=3)
    # the same prompts listed in another order: pairing is by prompt id, not position
    b = _outcomes(truth[::-1], [[p] for p in b_pred[::-1]], n_classes=3, ids=[f"p{i}" for i in range(30)][::-1])
    result = S.paired_comparison(a, b, n_resamples=300)
    assert result["n_prompts"] == 30
    acc = result["differences"]["accuracy"]
    assert acc["difference"] == pytest.approx(1 - 20 / 30)
    assert acc["ci"]["low"] > 0  # A is right on every prompt B gets right, and on 10 more
    assert result["mcnemar"]["a_only"] == 10 and result["mcnemar"]["b_only"] == 0
    assert result["mcnemar"]["p_value"] == pytest.approx(2 / 2**10)
    other = _outcomes(truth, [[p] for p in a_pred], n_classes=3, ids=[f"q{i}" for i in range(30)])
    assert "error" in S.paired_comparison(a, other)  # different prompts: nothing to pair


def test_seeds_mean_and_sd():
    assert S.row_and_seed("vrft_aug@3") == ("vrft_aug", "3")
    assert S.row_and_seed("sft") == ("sft", None)
    assert S.row_and_seed("a@b@7") == ("a@b", "7")
    values = [0.61, 0.66, 0.58]
    summary = S.mean_sd(values)
    assert summary["mean"] == pytest.approx(stdlib_statistics.mean(values))
    assert summary["sd"] == pytest.approx(stdlib_statistics.stdev(values))  # sample sd (n - 1)
    assert S.mean_sd([0.5]) == {"n": 1, "mean": 0.5, "sd": None}
