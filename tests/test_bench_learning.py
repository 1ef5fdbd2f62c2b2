"""The learning benchmark's design and statistics (benchmarks/bench_learning.py), without running verl: the arms
differ from their controls in one setting, the task's grade is the property drawn, and the pooled comparison
agrees with an independent computation (scikit-learn accuracy, statsmodels' McNemar on a pandas cross-table)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, mean_absolute_error
from statsmodels.stats.contingency_tables import mcnemar

from verl_med_plugin.evaluation.statistics import Outcomes

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_learning", REPO / "benchmarks" / "bench_learning.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_learning"] = module
    spec.loader.exec_module(module)
    return module


def _settings(overrides: list[str]) -> dict[str, str]:
    return dict(o.lstrip("+").split("=", 1) for o in overrides)


def test_each_arm_differs_from_its_control_in_one_setting(bench):
    """Mutation checked: giving the ``error`` arm its own learning rate (an extra override) or dropping MFRS from it
    fails (two settings differ)."""
    for control, arms in bench.EXPERIMENTS.values():
        base = _settings(bench.ARMS[control])
        for arm in arms:
            other = _settings(bench.ARMS[arm])
            differing = {k for k in base.keys() | other.keys() if base.get(k) != other.get(k)}
            assert len(differing) == 1, (arm, control, differing)


def test_every_run_shares_the_budget(bench, tmp_path):
    """Steps, batch, group size and learning rate come from the shared constants for every arm; only the arm's
    own overrides vary (a per-arm budget would make a comparison unfair)."""

    def shared(arm: str) -> set[str]:
        overrides = bench.grpo_overrides(tmp_path / arm, tmp_path / "m", tmp_path / "d", arm, 0, 16)
        own = set(bench.ARMS[arm])
        return {o for o in overrides if o not in own and "hydra.run.dir" not in o and "default_local_dir" not in o}

    common = [shared(arm) for arm in bench.ARMS]
    assert all(c == common[0] for c in common)
    assert f"trainer.total_training_steps={16}" in common[0]
    assert f"actor_rollout_ref.actor.optim.lr={bench.LR}" in common[0]


def test_the_grade_is_the_red_tint(bench):
    """Mean red minus blue rises with the grade, well apart between neighbours (the task is learnable and ordinal).

    Mutation checked: the tint reversed (``t = 1 - grade / 4``) fails the ordering."""
    rng = np.random.default_rng(0)
    means = []
    for grade in range(len(bench.GRADES)):
        arrays = [np.asarray(bench.tint_image(grade, rng), dtype=float) for _ in range(20)]
        means.append(np.mean([a[..., 0].mean() - a[..., 2].mean() for a in arrays]))
    assert np.all(np.diff(means) > 40)


def _outcomes(correct: list[bool], prompts: list[str]) -> Outcomes:
    predicted = [[0 if c else 1] for c in correct]
    return Outcomes("ordinal", 5, prompts, [0] * len(prompts), predicted, [[c] for c in correct])


def test_pooled_comparison_matches_sklearn_and_statsmodels(bench):
    """Accuracy difference = the mean over seeds of the per-seed differences (scikit-learn's accuracy); McNemar on
    the pooled (seed, prompt) pairs = statsmodels on a pandas cross-table of them.

    Mutation checked: pooling only the first seed (``arm[:1]``) changes both figures and fails."""
    rng = np.random.default_rng(1)
    prompts = [f"p{i}" for i in range(40)]
    arm = [rng.random(40) < 0.7, rng.random(40) < 0.6]
    control = [rng.random(40) < 0.4, rng.random(40) < 0.5]
    result = bench.pooled_comparison(
        [_outcomes(list(a), prompts) for a in arm], [_outcomes(list(c), prompts) for c in control]
    )
    truth = np.ones(40)
    expected = np.mean([accuracy_score(truth, a) - accuracy_score(truth, c) for a, c in zip(arm, control, strict=True)])
    assert result["accuracy_difference"] == pytest.approx(expected)
    table = pd.crosstab(np.concatenate(arm), np.concatenate(control)).reindex(
        index=[True, False], columns=[True, False], fill_value=0
    )
    assert result["mcnemar"]["p_value"] == pytest.approx(mcnemar(table.to_numpy(), exact=True).pvalue)
    assert result["ci"]["low"] < expected < result["ci"]["high"]
    assert result["n_seeds"] == 2 and result["n_prompts"] == 40


def test_pooled_mae_difference_matches_sklearn(bench):
    """Grade distances with an unanswered sample counted as the farthest grade, as ``verl-med-eval``'s
    ``mae_invalid_farthest``: scikit-learn's MAE on the same answers with the invalid ones replaced.

    Mutation checked: an invalid answer counted as distance 0 (``abs(p - t)`` for every p) fails."""
    rng = np.random.default_rng(2)
    prompts = [f"p{i}" for i in range(30)]
    truth = rng.integers(0, 5, 30)

    def run(answers: np.ndarray) -> Outcomes:
        predicted = [[int(a)] for a in answers]
        return Outcomes(
            "ordinal",
            5,
            prompts,
            list(map(int, truth)),
            predicted,
            [[a == t] for a, t in zip(answers, truth, strict=True)],
        )

    arm, control = rng.integers(-1, 5, 30), rng.integers(-1, 5, 30)
    result = bench.pooled_comparison([run(arm)], [run(control)])

    def farthest(answers: np.ndarray) -> np.ndarray:
        return np.where(answers < 0, np.where(truth >= 2, 0, 4), answers)

    expected = mean_absolute_error(truth, farthest(arm)) - mean_absolute_error(truth, farthest(control))
    assert result["mae_difference"] == pytest.approx(expected)


def test_zero_advantage_test_is_scipys_wilcoxon_over_seed_step_pairs(bench):
    from scipy import stats

    arm = [
        {"curves": {"zero_adv_group_frac": [0.0, 0.125, 0.0, 0.25]}},
        {"curves": {"zero_adv_group_frac": [0.0, 0.0, 0.125, 0.0]}},
    ]
    control = [
        {"curves": {"zero_adv_group_frac": [0.25, 0.25, 0.0, 0.375]}},
        {"curves": {"zero_adv_group_frac": [0.5, 0.125, 0.25, 0.25]}},
    ]
    result = bench.zero_advantage_test(arm, control)
    diffs = np.array([-0.25, -0.125, 0.0, -0.125, -0.5, -0.125, -0.125, -0.25])
    assert result["mean_difference"] == pytest.approx(diffs.mean())
    assert result["p_value"] == pytest.approx(stats.wilcoxon(diffs[diffs != 0]).pvalue)
    assert result["n_pairs"] == 8


def test_seed_level_test_is_scipys_paired_t_test(bench):
    from scipy import stats

    arm, control = [0.6, 0.7, 0.65], [0.5, 0.55, 0.6]
    result = bench.seed_level_test(arm, control)
    assert result["p_value"] == pytest.approx(stats.ttest_rel(arm, control).pvalue)
    assert result["mean_difference"] == pytest.approx(np.mean(np.subtract(arm, control)))


def test_answer_counts_name_grades_and_unanswered_samples(bench):
    """Mutation checked: counting without the shift for INVALID (-1) puts unanswered samples on the last grade."""
    o = Outcomes("ordinal", 5, ["a", "b"], [0, 1], [[-1, 0], [2, 2]], [[False, True], [False, False]])
    assert bench.answer_counts(o) == {"no answer": 1, "none": 1, "moderate": 2}
