"""Specifications for the survivors of ``bash scripts/mutation.sh metrics`` in ``verl_med_plugin/evaluation/metrics.py``
(mutmut 3.8.1; benchmarks/results/mutation.md): the clinical figures (sensitivity, specificity, PPV, NPV), AUROC
from vote shares, the single- and multi-label reports, the ordinal "invalid = farthest grade" rule, majority voting
and the sampling metrics, on the edge cases a survivor exploited (invalid answers, classes without support, all
answers invalid, one sample, ties, mismatched lists, exact keys of the JSON the evaluation writes).

Each test checks against an independent computation (scikit-learn, a brute force, sha256 by hand) or a tiny case
worked by hand, and names in its docstring the mutants it kills; every kill was confirmed on the run's own mutants/
folder (``MUTANT_UNDER_TEST=<name>``: the test fails; unmutated it passes).
"""

from __future__ import annotations

import hashlib
import json
import warnings

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score, confusion_matrix, f1_score, roc_auc_score

from verl_med_plugin.evaluation import metrics as M
from verl_med_plugin.evaluation.metrics import INVALID

ABC = ["a", "b", "c"]


def _json_round_trip(result: dict) -> dict:
    """What the evaluation writes and reads back: fails on numpy scalars or NaN smuggled into the result."""
    return json.loads(json.dumps(result, allow_nan=False))


def _sha_vote(tie_key, answers) -> str:
    """The documented tie rule, computed apart: the tied answer with the smallest sha256(f"{key}\\0{answer}")."""
    return min(answers, key=lambda a: hashlib.sha256(f"{tie_key}\x00{a}".encode()).digest()[:8])


# ------------------------------------------------------------------------------- positive_class_metrics


def test_positive_class_figures_and_counts_equal_scikit_learns_confusion_matrix():
    """Sensitivity, specificity, PPV and NPV of the clinically positive classes (here two of three, as retinamnist's
    referable grades) with the counts a reviewer checks them by, written to JSON and read back unchanged: the
    confusion matrix over the valid answers from scikit-learn; invalid answers are misses for sensitivity,
    "not cleared" for specificity and no call for PPV/NPV. The invalid answers fall 3 on positive and 2 on negative
    cases, so a count taken from the wrong side shows.

    Kills: the keys ``n``, ``n_positive``, ``n_negative`` renamed (XX..XX or upper case), ``n_negative`` computed as
    ``len + sum``, ``invalid_positive`` counting ``truth != 1``, ``invalid_negative`` counting ``truth != 0`` or
    ``truth == 1``."""
    y_true = np.array([0, 0, 0, 1, 1, 2, 2, 2, 0, 1, 0])
    y_pred = np.array([0, 1, INVALID, 1, INVALID, 2, 0, INVALID, INVALID, INVALID, 0])
    truth, called, valid = np.isin(y_true, [1, 2]), np.isin(y_pred, [1, 2]), y_pred != INVALID
    tn, fp, fn, tp = (int(x) for x in confusion_matrix(truth[valid], called[valid], labels=[False, True]).ravel())
    n_pos, n_neg = int(truth.sum()), int((~truth).sum())
    assert (tp, fn, fp, tn, n_pos, n_neg) == (2, 1, 1, 2, 6, 5)  # worked by hand from the lists above
    assert _json_round_trip(M.positive_class_metrics(y_true.tolist(), y_pred.tolist(), [1, 2])) == {
        "n": 11,
        "n_positive": n_pos,
        "n_negative": n_neg,
        "tp": tp,
        "fn": fn,
        "fp": fp,
        "tn": tn,
        "invalid_positive": 3,
        "invalid_negative": 2,
        "sensitivity": pytest.approx(tp / n_pos),  # 2 of 6 positives found (3 invalid, 1 called negative)
        "specificity": pytest.approx(tn / n_neg),  # 2 of 5 negatives cleared (2 invalid, 1 called positive)
        "ppv": pytest.approx(tp / (tp + fp)),
        "npv": pytest.approx(tn / (tn + fn)),
    }


def test_positive_class_with_every_answer_invalid_has_zero_counts_and_no_predictive_values():
    """A run that answered nothing parseable: no case found, none cleared, no call made. The counts are all 0
    (not a crash) and PPV/NPV are undefined (None), while sensitivity and specificity are 0.

    Kills: the ``valid.any()`` guards of PPV, NPV and the confusion counts forced true (scikit-learn refuses the
    empty arrays), the no-valid-answer counts ``(0,) * 4`` turned into ``(1,) * 4``, ``(0,) * 5`` or ``(0,) / 4``."""
    m = M.positive_class_metrics([0, 1, 1], [INVALID] * 3, [1])
    assert _json_round_trip(m) == {
        "n": 3,
        "n_positive": 2,
        "n_negative": 1,
        "tp": 0,
        "fn": 0,
        "fp": 0,
        "tn": 0,
        "invalid_positive": 2,
        "invalid_negative": 1,
        "sensitivity": 0.0,
        "specificity": 0.0,
        "ppv": None,
        "npv": None,
    }


def test_positive_class_figures_without_a_denominator_are_none_not_zero():
    """A test split without any positive case has no sensitivity, and a run that never calls the positive class
    has no PPV: None (undefined), not 0, which a reader would take for a model that misses every case. Likewise
    without negative cases (specificity) or negative calls (NPV). Only one of the two classes occurs among the valid
    answers here, which must still give four counts.

    Kills: ``zero_division=np.nan`` dropped from sensitivity, specificity, PPV or NPV (scikit-learn's default
    gives 0), the confusion matrix's ``labels=[0, 1]`` dropped or None (a 1x1 matrix: the four counts do not
    unpack)."""
    no_positive = M.positive_class_metrics([0, 0, 2], [0, 2, INVALID], [1])
    assert (no_positive["sensitivity"], no_positive["ppv"]) == (None, None)
    assert no_positive["specificity"] == pytest.approx(2 / 3) and no_positive["npv"] == 1.0
    assert (no_positive["tp"], no_positive["fn"], no_positive["fp"], no_positive["tn"]) == (0, 0, 0, 2)
    only_positive = M.positive_class_metrics([1, 1], [1, INVALID], [1])
    assert (only_positive["specificity"], only_positive["npv"]) == (None, None)
    assert only_positive["sensitivity"] == 0.5 and only_positive["ppv"] == 1.0
    assert (only_positive["tp"], only_positive["fn"], only_positive["fp"], only_positive["tn"]) == (1, 0, 0, 0)


# ------------------------------------------------------------------------------- classification_metrics


def test_classification_errors_name_the_problem_exactly():
    """An evaluation fed the wrong label set stops with a message naming the valid index range (the labels are
    0..2 here, INVALID = -1 the parser's "no answer"): every out-of-range predicted index is refused, one past the
    last class included, not scored as a confusion-matrix column that does not exist.

    Kills: the messages replaced (XX..XX, None) or their upper bound printed as ``n_classes + 1`` / ``- 2``, the
    predicted-index test's ``or`` made ``and`` (an index 3 alone passes) or ``>=`` made ``>`` (index 3 of 3 passes)."""
    with pytest.raises(ValueError, match=r"^classification_metrics: no samples$"):
        M.classification_metrics([], [], ABC, ordinal=False)
    for y_true in ([3], [-1]):
        with pytest.raises(ValueError, match=r"^true label index outside 0\.\.2$"):
            M.classification_metrics(y_true, [0], ABC, ordinal=False)
    for y_pred in ([0, 3], [0, -2]):
        with pytest.raises(ValueError, match=r"^predicted label index outside -1\.\.2$"):
            M.classification_metrics([0, 1], y_pred, ABC, ordinal=False)


def test_per_class_rows_carry_the_label_name_and_its_f1():
    """Each per-class row, as written to the report: its label name and F1 beside support, predictions, recall
    and precision (F1 worked by hand, the same as scikit-learn's per-class f1_score); a class never true nor
    predicted ("d") has no recall, precision or F1 (None).

    Kills: the row keys ``label`` and ``f1`` renamed (XX..XX, upper case), the F1 value replaced by None."""
    # truth a a b b c c ; predicted a b b b (invalid) c
    y_true, y_pred = [0, 0, 1, 1, 2, 2], [0, 1, 1, 1, INVALID, 2]
    m = M.classification_metrics(y_true, y_pred, [*ABC, "d"], ordinal=False)
    f1 = [2 * 1 * 0.5 / 1.5, 2 * (2 / 3) * 1 / (5 / 3), 2 * 1 * 0.5 / 1.5]
    assert f1 == pytest.approx(f1_score(y_true, y_pred, labels=[0, 1, 2], average=None))
    assert _json_round_trip(m)["per_class"] == [
        {"label": "a", "support": 2, "predicted": 1, "recall": 0.5, "precision": 1.0, "f1": pytest.approx(f1[0])},
        {"label": "b", "support": 2, "predicted": 3, "recall": 1.0, "precision": pytest.approx(2 / 3), "f1": 0.8},
        {"label": "c", "support": 2, "predicted": 1, "recall": 0.5, "precision": 1.0, "f1": pytest.approx(f1[2])},
        {"label": "d", "support": 0, "predicted": 0, "recall": None, "precision": None, "f1": None},
    ]


def test_label_indices_given_as_a_float_array_score_as_the_integers():
    """Label indices arrive as integers however they are held: a float array (what pandas makes of an integer
    column with a missing value, or np.genfromtxt of a CSV) gives the same report as the int lists.

    Kills: ``np.asarray(y_pred, dtype=int)`` without the dtype (a float array then cannot be counted by
    ``np.bincount``)."""
    y_true, y_pred = [0, 1, 2, 2, 1], [0, 2, 2, INVALID, 1]
    as_float = M.classification_metrics(np.array(y_true, float), np.array(y_pred, float), ABC, ordinal=True)
    assert as_float == M.classification_metrics(y_true, y_pred, ABC, ordinal=True)


# ------------------------------------------------------------------------------- ordinal: QWK, invalid as farthest


def test_quadratic_kappa_of_one_graded_answer_is_scikit_learns_and_of_none_is_none():
    """QWK is defined for a single graded answer (a wrong grade: kappa 0, scikit-learn's value), and undefined
    (None) only when nothing was graded.

    Kills: the empty guard ``len(y_true) == 0`` made ``== 1`` (one answer gets None, no answer reaches scikit-learn
    and fails)."""
    one = M.quadratic_kappa(np.array([0]), np.array([2]), 3)
    assert one == pytest.approx(cohen_kappa_score([0], [2], labels=[0, 1, 2], weights="quadratic")) and one == 0.0
    assert M.quadratic_kappa(np.array([], dtype=int), np.array([], dtype=int), 3) is None


def test_quadratic_kappa_silences_older_scikit_learns_zero_division_warning(monkeypatch):
    """pyproject allows scikit-learn >= 1.4, whose cohen_kappa_score computes an undefined kappa (one grade in
    truth and prediction) as numpy's 0/0: a RuntimeWarning, not the UndefinedMetricWarning of 1.6+. The result is
    None either way, and no warning escapes (here: warnings are errors). Simulated by a cohen_kappa_score that
    divides as the old one did.

    Kills: ``warnings.simplefilter("ignore", RuntimeWarning)`` given the category None (the old warning then meets
    a filter that cannot match it: TypeError)."""
    real = M.cohen_kappa_score

    def sklearn_1_4_kappa(*args, **kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = real(*args, **kwargs)
        if np.isnan(value):
            return np.float64(0.0) / np.float64(0.0)  # what sklearn < 1.6 did: RuntimeWarning, nan
        return value

    monkeypatch.setattr(M, "cohen_kappa_score", sklearn_1_4_kappa)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert M.quadratic_kappa(np.array([1, 1]), np.array([1, 1]), 3) is None
        assert M.quadratic_kappa(np.array([0, 2]), np.array([0, 2]), 3) == 1.0


@pytest.mark.parametrize("n_grades", [2, 3, 4, 5, 6])
def test_an_invalid_answer_becomes_the_grade_farthest_from_the_truth(n_grades):
    """For QWK/MAE over every answer, a non-answer counts as the worst answer: the grade farthest from the truth,
    the middle grade's tie going to grade 0, for any number of grades, even ones included (brute force over the
    grades).

    Kills: the midpoint ``(n_grades - 1) / 2`` moved to ``(n_grades - 2) / 2`` or ``(n_grades - 1) / 3`` (grade 1 of
    4 and grade 2 of 6 then become 0, the nearer end)."""
    truth = np.arange(n_grades)
    farthest = [max(range(n_grades), key=lambda g: (abs(g - t), -g)) for t in truth]
    assert M.invalid_as_farthest(truth, np.full(n_grades, INVALID), n_grades).tolist() == farthest
    valid = (truth + 1) % n_grades  # valid answers are kept as they are
    assert M.invalid_as_farthest(truth, valid, n_grades).tolist() == valid.tolist()


# ------------------------------------------------------------------------------- AUROC from vote shares


def test_vote_shares_are_fractions_of_each_prompts_own_samples():
    """A prompt's score for a class is the share of its k samples that answered it, whatever k; invalid answers
    count in k but vote for no class; a prompt without samples scores 0 everywhere (worked by hand).

    Kills: a vote counted twice, the share multiplied by k instead of divided, the divisor floored at 2 (a single
    sample then only half votes)."""
    shares = M.vote_shares([[1], [0, 0, 1, INVALID], []], 3)
    assert shares.tolist() == [[0.0, 1.0, 0.0], [0.5, 0.25, 0.0], [0.0, 0.0, 0.0]]


def test_a_class_true_for_every_prompt_has_no_auroc_and_none_defined_gives_no_macro():
    """AUROC needs positive and negative prompts: a label true for every image (multilabel) has none (None, left
    out of the macro mean, as scikit-learn's roc_auc_score cannot rank one class), and when no class has an AUROC
    the macro is None, not NaN (JSON has no NaN).

    Kills: ``0 < column.sum() < len(column)`` made ``<= len`` (an all-positive column gets scikit-learn's NaN),
    the ``if known`` guard of the macro forced true (the mean of nothing: NaN)."""
    truth = np.array([[1, 0], [1, 1], [1, 0]])
    scores = np.array([[0.5, 0.5], [1.0, 0.0], [0.0, 1.0]])
    m = M.auroc(truth, scores)
    expected = roc_auc_score(truth[:, 1], scores[:, 1])
    assert _json_round_trip(m) == {"macro": expected, "n_classes": 1, "per_class": [None, expected]}
    assert _json_round_trip(M.auroc(truth[:, :1], scores[:, :1])) == {
        "macro": None,
        "n_classes": 0,
        "per_class": [None],
    }


def test_binary_auroc_is_defined_exactly_when_both_classes_occur():
    """MedMNIST's binary AUROC (label 1's vote share against truth = 1) exists as soon as the split has one case
    of each class, and not when it lacks one; the result's keys and ``n_classes`` (1 or 0) are what the report
    reads (scikit-learn's roc_auc_score as the reference).

    Kills: the guard ``0 < positive.sum() < len(positive)`` forced true, made ``1 <`` (one positive case loses its
    AUROC), ``0 <=`` or ``<= len`` (a one-class split gets NaN); ``n_classes`` renamed, forced to 0 or 1, given 2,
    its test inverted or its undefined value made 1."""
    shares = M.vote_shares([[1, 1, 0], [0, 1, INVALID], [0, 0, 0], [1, 0, 0]], 2)
    truth = [1, 0, 0, 0]  # one positive case
    value = roc_auc_score(truth, shares[:, 1])
    assert value == pytest.approx(1.0)  # label 1's shares 2/3 vs 1/3, 0, 1/3: the positive ranks first
    assert _json_round_trip(M.binary_auroc(truth, shares)) == {
        "macro": value,
        "n_classes": 1,
        "per_class": [None, value],
    }
    for one_class in ([0, 0, 0, 0], [1, 1, 1, 1]):
        assert _json_round_trip(M.binary_auroc(one_class, shares)) == {
            "macro": None,
            "n_classes": 0,
            "per_class": [None, None],
        }


# ------------------------------------------------------------------------------- multilabel_metrics


def test_multilabel_metrics_of_one_sample_by_hand():
    """One image is a valid report: truth {a}, answer {a, b} gives exact match 0, macro-F1 over the labels in truth
    or answer (a: 1, b: 0) = 0.5, Hamming loss 1/3, and per label the number of answers naming it (worked by hand).

    Kills: the no-samples guard made ``== 1`` (one sample refused), the per-label prediction counts summed over
    labels per sample (``axis=1``) instead of over samples per label."""
    assert _json_round_trip(M.multilabel_metrics([(0,)], [(0, 1)], ABC)) == {
        "n": 1,
        "accuracy": 0.0,
        "macro_f1": 0.5,
        "hamming_loss": pytest.approx(1 / 3),
        "per_class": [
            {"label": "a", "support": 1, "predicted": 1, "recall": 1.0, "precision": 1.0, "f1": 1.0},
            {"label": "b", "support": 0, "predicted": 1, "recall": None, "precision": 0.0, "f1": 0.0},
            {"label": "c", "support": 0, "predicted": 0, "recall": None, "precision": None, "f1": None},
        ],
    }
    many = M.multilabel_metrics([(0,), (0, 1), (), (2,)], [(0, 1), (0,), None, (0, 2)], ABC)
    assert [c["predicted"] for c in many["per_class"]] == [3, 1, 1]  # answers naming a, b, c (invalid: none)


def test_multilabel_metrics_without_samples_is_refused_by_name():
    """Kills: the no-samples message replaced (None, XX..XX, upper case) or the guard made ``== 1`` (scikit-learn's
    own error about an empty array instead)."""
    with pytest.raises(ValueError, match=r"^multilabel_metrics: no samples$"):
        M.multilabel_metrics([], [], ABC)


def test_multilabel_macro_f1_without_any_label_in_truth_or_answer_is_zero():
    """Only normal images, answered "none" or not at all: no label to average, macro-F1 0.0, the value
    scikit-learn's f1_score gives with ``zero_division=0`` when no label occurs (not NaN, not a perfect 1.0).

    Kills: the ``if seen`` guard forced true (macro over no label: NaN), its fallback 0.0 made 1.0."""
    m = M.multilabel_metrics([(), ()], [(), None], ["a", "b"])
    reference = f1_score(np.zeros((2, 2), int), np.zeros((2, 2), int), average="macro", zero_division=0)
    assert m["macro_f1"] == reference == 0.0
    assert m["accuracy"] == 0.5  # the invalid answer never matches, even an empty truth


# ------------------------------------------------------------------------------- think/answer consistency


def test_think_answer_consistency_refuses_mismatched_lists_and_has_no_share_without_pairs():
    """The think's class and the answer's class are paired per response: lists of different lengths are a broken
    record (ValueError), not scored on the pairs that happen to line up; with no response to compare (no class in
    the think, or the answer invalid) the share is None, not NaN.

    Kills: ``zip(..., strict=True)`` made ``strict=None``/``False`` or dropped, the ``if pairs`` guard forced true."""
    with pytest.raises(ValueError, match="zip"):
        M.think_answer_consistency([0, 1, 1], [0, 1])
    assert M.think_answer_consistency([None, 1], [0, INVALID]) == {"n": 0, "inconsistent": None}


# ------------------------------------------------------------------------------- majority vote and sampling


def test_the_default_tie_key_is_the_empty_string():
    """Without a prompt id, a tie is broken by sha256("\\0" + answer), as documented (``tie_key=""``): callers that
    vote without ids get the same answer as the documented rule (computed apart). The pairs here are ones a
    different default key breaks the other way.

    Kills: the default ``tie_key`` of ``majority_vote`` or of ``majority_correct`` changed ("XXXX")."""
    for pair in (["no", "yes"], ["1", "0"]):
        voted = _sha_vote("", pair)
        assert voted != _sha_vote("XXXX", pair)  # the case distinguishes the default
        assert M.majority_vote(pair) == voted
        assert M.majority_correct(pair, [p == voted for p in pair]) is True


def test_majority_correct_and_maj_at_k_break_ties_by_the_prompt_id():
    """maj@k's vote on a tie is fixed per prompt by its id (sha256 of id and answer): the same for
    ``majority_correct`` and ``sampling_metrics``. Here the right answer "A" wins the tie for ids p0..p3 while the
    empty key and "None" pick "B" (computed apart), so maj@k is 1.

    Kills: the tie key replaced by None or dropped (the default "") in ``majority_correct``'s call of
    ``majority_vote`` and in ``sampling_metrics``' call of ``majority_correct``."""
    pair, ids = ["B", "A"], ["p0", "p1", "p2", "p3"]
    assert {_sha_vote(pid, pair) for pid in ids} == {"A"}
    assert _sha_vote("", pair) == _sha_vote("None", pair) == "B"
    assert all(M.majority_correct(pair, [False, True], pid) for pid in ids)
    m = M.sampling_metrics([pid for pid in ids for _ in pair], pair * len(ids), [False, True] * len(ids))
    assert (m["maj@k"], m["mean@k"], m["best@k"]) == (1.0, 0.5, 1.0)


def test_answer_and_correctness_lists_of_different_lengths_are_refused():
    """A dump whose per-sample lists disagree in length (a line lost from one) is refused with the strict pairing's
    ValueError, not scored on the samples that line up (sampling metrics) or ended by a bare StopIteration
    (majority_correct, when the voted answer lies past the shorter list).

    Kills: ``zip(..., strict=True)`` made ``strict=None``/``False`` or dropped in ``sampling_metrics`` and in
    ``majority_correct``."""
    with pytest.raises(ValueError, match="zip"):
        M.sampling_metrics(["p", "p", "q"], ["a", "b"], [True, False])
    with pytest.raises(ValueError, match="zip"):
        M.sampling_metrics(["p", "p"], ["a", "b"], [True, False, True])
    with pytest.raises(ValueError, match="zip"):
        M.majority_correct(["b", "a", "a"], [False])


def test_zero_advantage_stats_use_the_given_tolerance():
    """Rewards closer than ``atol`` count as equal (verl adds epsilon to the std): with atol 0.1 a group scored
    0.5 and 0.55 carries no gradient; with the default 1e-6 it does.

    Kills: ``atol`` not passed on to ``zero_advantage_groups`` (the default used instead)."""
    loose = M.zero_advantage_stats(["g", "g", "h", "h"], [0.5, 0.55, 0.0, 1.0], atol=0.1)
    assert (loose["n_zero_advantage"], loose["fraction_zero_advantage"]) == (1, 0.5)
    assert loose["equal_value_counts"] == {"0.5": 1}
    assert M.zero_advantage_stats(["g", "g", "h", "h"], [0.5, 0.55, 0.0, 1.0])["n_zero_advantage"] == 0
