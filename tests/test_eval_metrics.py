"""Evaluation metrics against values computed by hand on small cases."""

from __future__ import annotations

import pytest

from verl_med_plugin.evaluation.metrics import (
    INVALID,
    classification_metrics,
    majority_vote,
    multilabel_metrics,
    ordinal_metrics,
    sampling_metrics,
    zero_advantage_stats,
)

ABC = ["a", "b", "c"]


def test_classification_metrics_by_hand():
    # truth  a a b b c c ; predicted a b b b (invalid) c
    m = classification_metrics([0, 0, 1, 1, 2, 2], [0, 1, 1, 1, INVALID, 2], ABC, ordinal=False)
    assert m["n"] == 6
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["balanced_accuracy"] == pytest.approx((1 / 2 + 2 / 2 + 1 / 2) / 3)  # recall a, b, c
    # F1: a = 2*1*.5/1.5, b = 2*(2/3)*1/(5/3), c = 2*1*.5/1.5
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.8 + 2 / 3) / 3)
    recall = [c["recall"] for c in m["per_class"]]
    precision = [c["precision"] for c in m["per_class"]]
    assert recall == pytest.approx([0.5, 1.0, 0.5])
    assert precision == pytest.approx([1.0, 2 / 3, 1.0])  # the invalid answer is nobody's false positive
    assert [c["support"] for c in m["per_class"]] == [2, 2, 2]
    assert [c["predicted"] for c in m["per_class"]] == [1, 3, 1]
    assert m["confusion_matrix"] == [[1, 1, 0, 0], [0, 2, 0, 0], [0, 0, 1, 1]]  # last column: invalid
    assert "qwk" not in m


def test_class_without_support_has_no_recall_and_counts_in_macro_f1():
    m = classification_metrics([0, 0, 1], [2, 0, 1], ABC, ordinal=False)
    assert m["balanced_accuracy"] == pytest.approx((1 / 2 + 1) / 2)  # classes present in the truth only
    c = m["per_class"][2]
    assert (c["support"], c["recall"], c["precision"], c["predicted"]) == (0, None, 0.0, 1)
    assert m["macro_f1"] == pytest.approx((2 / 3 + 1 + 0) / 3)  # c was predicted, so it is averaged (F1 = 0)


def test_quadratic_weighted_kappa_by_hand():
    # O = [[1,0,0],[0,0,1],[0,0,1]]; E = outer([1,1,1],[1,0,2])/3; sum w*O = 1; sum w*E = 5; kappa = 1 - 1/5
    m = ordinal_metrics([0, 1, 2], [0, 2, 2], n_grades=3)
    assert m == {"n_graded": 3, "qwk": pytest.approx(0.8), "mae": pytest.approx(1 / 3)}


def test_kappa_weights_use_grade_positions_not_observed_labels():
    # grades 0..4, truth (0, 4), predicted (0, 2): sum w*O = (4-2)^2 = 4, sum w*E = .5*(0+4+16+4) = 12
    assert ordinal_metrics([0, 4], [0, 2], n_grades=5)["qwk"] == pytest.approx(1 - 4 / 12)


def test_invalid_answers_are_errors_for_accuracy_but_not_graded():
    m = classification_metrics([0, 1, 2, 1], [0, 2, 2, INVALID], ABC, ordinal=True)
    assert m["accuracy"] == pytest.approx(2 / 4)
    assert m["n_graded"] == 3
    assert m["qwk"] == pytest.approx(0.8) and m["mae"] == pytest.approx(1 / 3)  # same graded samples as above


def test_kappa_undefined_is_none_not_nan():
    assert ordinal_metrics([1, 1], [1, 1], n_grades=3)["qwk"] is None  # one grade only: 0/0
    assert ordinal_metrics([], [], n_grades=3) == {"n_graded": 0, "qwk": None, "mae": None}


def test_bad_indices_are_rejected():
    with pytest.raises(ValueError, match="true label index"):
        classification_metrics([3], [0], ABC, ordinal=False)
    with pytest.raises(ValueError, match="no samples"):
        classification_metrics([], [], ABC, ordinal=False)


def test_multilabel_metrics_by_hand():
    # truth {a} {a,b} {} {c}; predicted {a} {a} invalid {c}
    m = multilabel_metrics([(0,), (0, 1), (), (2,)], [(0,), (0,), None, (2,)], ABC)
    assert m["n"] == 4
    assert m["accuracy"] == pytest.approx(2 / 4)  # invalid never matches, even an empty truth
    assert [c["recall"] for c in m["per_class"]] == pytest.approx([1.0, 0.0, 1.0])
    assert [c["precision"] for c in m["per_class"]] == [1.0, None, 1.0]
    assert m["macro_f1"] == pytest.approx((1 + 0 + 1) / 3)
    assert m["hamming_loss"] == pytest.approx(1 / 12)  # one wrong cell (b of sample 2) out of 4 x 3


def test_majority_vote_ignores_invalid_and_breaks_ties_independently_of_sample_order():
    """A tie goes to a fixed answer per prompt id (sha256 of id and answer), whatever the order of the samples.

    Mutation checked: the old rule (first seen, ``Counter.most_common``) fails the permutation check: the tied
    answers ["b", "a"] and ["a", "b"] then vote differently."""
    import hashlib
    import itertools

    assert majority_vote(["", "c", "a", "a"]) == "a"
    assert majority_vote(["", ""]) == ""
    samples = ["b", "a", "", "", "", "a", "b", "c"]
    for pid in ("p0", "p1", "p2", "p3", "breastmnist/test/7"):
        votes = {majority_vote(list(order), pid) for order in itertools.permutations(samples)}
        # the rule as documented, computed apart: the tied answer with the smallest sha256(f"{id}\0{answer}")
        assert votes == {min(("a", "b"), key=lambda a: hashlib.sha256(f"{pid}\x00{a}".encode()).digest()[:8])}
    # over many prompts, ties go to either answer (no class is favoured by its name)
    assert {majority_vote(["b", "a"], f"p{i}") for i in range(20)} == {"a", "b"}


def test_sampling_metrics_by_hand():
    ids = ["p1"] * 3 + ["p2"] * 3 + ["p3"] * 3 + ["p4"] * 3
    preds = ["A", "A", "B", "B", "C", "C", "", "", "A", "A", "B", "B"]
    truth = {"p1": "A", "p2": "C", "p3": "B", "p4": "A"}
    correct = [p == truth[i] for i, p in zip(ids, preds, strict=True)]
    m = sampling_metrics(ids, preds, correct)
    assert (m["n_prompts"], m["k"], m["k_min"]) == (4, 3, 3)
    assert m["mean@k"] == pytest.approx((2 / 3 + 2 / 3 + 0 + 1 / 3) / 4)
    assert m["best@k"] == pytest.approx(3 / 4)  # p1, p2, p4 have a right sample
    assert m["maj@k"] == pytest.approx(2 / 4)  # votes: A (right), C (right), A (wrong), B (wrong)


def test_zero_advantage_stats_by_hand():
    groups = ["g1"] * 3 + ["g2"] * 2 + ["g3"] * 2 + ["g4"]
    rewards = [1, 1, 1, 0, 0, 0, 1, 0.5]
    m = zero_advantage_stats(groups, rewards)
    # g4 is a group of one with reward 0.5: verl's GRPO gives it advantage 0.5 (mean 0, std 1), so it teaches
    assert (m["n_groups"], m["n_singletons"], m["n_zero_advantage"]) == (4, 1, 2)
    assert m["fraction_zero_advantage"] == pytest.approx(2 / 4)
    assert m["equal_value_counts"] == {"0": 1, "1": 1}
    assert zero_advantage_stats(["g"], [1.0])["fraction_zero_advantage"] == 0.0
    assert zero_advantage_stats(["g"], [0.0])["fraction_zero_advantage"] == 1.0  # the sampler counts it the same
    assert zero_advantage_stats([], [])["fraction_zero_advantage"] is None
