"""Specifications of the grounding and VQA metrics and of the bootstrap mean over applicable prompts, each checked
against an independent computation (pandas, numpy) on cases where a wrong field, mask or divisor changes the value.

These functions were reached only through the evaluation entry points (tests/test_eval_vqa.py,
test_eval_evaluate.py): a mutation run over metrics.py/statistics.py against the metric tests found no test for
any of their mutants. Each test names the mutants it kills.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from reward_fns.vqa import OpenScores
from verl_med_plugin.evaluation.metrics import grounding_metrics, vqa_answer_values, vqa_metrics
from verl_med_plugin.evaluation.statistics import Outcomes


def test_grounding_metrics_equal_pandas_overall_and_on_lesion_images():
    """Kills: any input dropped or read as None (np.asarray(None) has no mean), a key renamed, the lesion mask
    dropped (``iou[has_lesion]`` -> ``iou``, both lesion means then equal the overall ones here) or its guard
    inverted, has_lesion read without dtype=bool (a 0/1 int mask would index positions 0 and 1)."""
    frame = pd.DataFrame(
        {
            "has_lesion": [True, True, False, False, True],
            "hit": [True, False, True, True, False],
            "iou": [0.9, 0.2, 1.0, 1.0, 0.0],
        }
    )
    # lists of 0/1 ints, as an evaluation that counted them would pass: the dtype conversion is the contract
    m = grounding_metrics(frame.has_lesion.astype(int).tolist(), frame.hit.astype(int).tolist(), frame.iou.tolist())
    lesion = frame[frame.has_lesion]
    assert m == {
        "n": len(frame),
        "accuracy": pytest.approx(frame.hit.mean()),
        "mean_iou": pytest.approx(frame.iou.mean()),
        "n_lesion": len(lesion),
        "lesion_hit_rate": pytest.approx(lesion.hit.mean()),
        "lesion_mean_iou": pytest.approx(lesion.iou.mean()),
    }
    assert m["lesion_hit_rate"] != m["accuracy"] and m["lesion_mean_iou"] != m["mean_iou"]  # the mask matters


def test_grounding_metrics_without_lesion_images_have_no_lesion_figures():
    """Kills: the ``if n_lesion`` guard forced true (mean of an empty slice: nan, not None)."""
    m = grounding_metrics([False, False], [True, False], [1.0, 0.0])
    assert m["n_lesion"] == 0
    assert m["lesion_hit_rate"] is None and m["lesion_mean_iou"] is None
    assert m["accuracy"] == 0.5 and m["mean_iou"] == 0.5


@pytest.mark.parametrize(
    ("task_type", "key"), [("mcq", "mcq_accuracy"), ("closed", "closed_accuracy")], ids=["mcq", "closed"]
)
@pytest.mark.parametrize("correct", [True, False])
def test_a_closed_or_mcq_answer_counts_in_accuracy_and_its_own_kind_only(task_type, key, correct):
    """Kills: the task-type comparisons inverted or the kind's key renamed, its value dropped (None) or the
    answer's correctness read as None."""
    assert vqa_answer_values(task_type, correct) == {"accuracy": float(correct), key: float(correct)}


def test_an_open_answer_counts_its_exact_match_and_token_scores():
    """Kills: any open_* value dropped (None) or read from another field of the scores (all four differ here)."""
    scores = OpenScores(exact=0.0, precision=0.25, recall=0.5, f1=1 / 3)
    assert vqa_answer_values("open", False, scores) == {
        "accuracy": 0.0,
        "open_exact": 0.0,
        "open_precision": 0.25,
        "open_recall": 0.5,
        "open_f1": pytest.approx(1 / 3),
    }


def test_vqa_metrics_are_means_over_the_answers_each_metric_applies_to():
    """Kills: a metric averaged over every answer (missing ones as 0) instead of the ones it applies to, a count
    renamed or taken over all answers, a metric with no answer reported as a number instead of None."""
    answers = [
        vqa_answer_values("mcq", True),
        vqa_answer_values("mcq", False),
        vqa_answer_values("mcq", True),
        vqa_answer_values("open", True, OpenScores(exact=1.0, precision=1.0, recall=1.0, f1=1.0)),
        vqa_answer_values("open", False, OpenScores(exact=0.0, precision=0.5, recall=0.25, f1=1 / 3)),
    ]
    frame = pd.DataFrame(answers)  # NaN where a metric does not apply; pandas' mean skips NaN
    m = vqa_metrics(answers)
    for name in ("accuracy", "mcq_accuracy", "open_exact", "open_precision", "open_recall", "open_f1"):
        assert m[name] == pytest.approx(frame[name].mean()), name
    assert m["closed_accuracy"] is None
    assert (m["n_mcq"], m["n_closed"], m["n_open"]) == (3, 0, 2)


def _vqa_outcomes(per_prompt_f1: list[list[float] | None]) -> Outcomes:
    """Four VQA prompts whose open F1 applies to some (None: an MCQ prompt)."""
    n = len(per_prompt_f1)
    return Outcomes(
        task_type="vqa",
        n_classes=0,
        prompt_ids=[f"p{i}" for i in range(n)],
        truth=[None] * n,
        predicted=[[None] * 2 for _ in range(n)],
        correct=[[True, False] for _ in range(n)],
        values={"open_f1": per_prompt_f1, "accuracy": [[1.0, 0.0]] * n},
    )


def test_a_resamples_metric_mean_pools_the_samples_of_the_applicable_prompts_it_drew():
    """The bootstrap statistic of a VQA metric: the mean over all samples of the drawn prompts it applies to, each
    drawn prompt counted as often as drawn (numpy over the concatenated samples).

    Kills: a prompt's sum or its sample count replaced (1 per prompt, or the values' mean), None prompts counted
    as zeros, the sums or counts not indexed by the resample, the empty-resample guard dropped (0/0)."""
    f1 = [[0.0, 0.5], None, [1.0, 1.0, 0.25], [0.2]]
    fn = _vqa_outcomes(f1).metric_functions()["open_f1"]
    for idx in ([0, 1, 2, 3], [2, 2, 3], [1, 0, 0], [3]):
        drawn = [v for i in idx if f1[i] is not None for v in f1[i]]
        assert fn(np.array(idx)) == pytest.approx(np.mean(drawn)), idx
    assert fn(np.array([1, 1])) is None  # it applies to no drawn prompt


def test_a_multilabel_report_whose_lists_differ_in_length_is_refused():
    """Kills: ``zip(truth, predicted, strict=True)`` in the per-label counts made non-strict: a report with a
    prompt's predictions missing would be scored on the prompts that happen to pair up."""
    outcomes = Outcomes(
        task_type="multilabel",
        n_classes=2,
        prompt_ids=["a", "b", "c"],
        truth=[(0,), (1,), (0, 1)],
        predicted=[[(0,)], [(1,)]],
        correct=[[True], [True], [False]],
    )
    with pytest.raises(ValueError, match="zip"):
        outcomes.metric_functions()


def test_multilabel_auroc_scores_each_prompt_by_the_share_of_its_samples_naming_the_label():
    """Vote shares are fractions of a prompt's own samples, whatever its number of samples: scikit-learn's macro
    AUROC over the shares computed here by hand. Kills: a share multiplied by the sample count instead of divided
    (with equal counts a monotone rescaling AUROC cannot see; with unequal ones the ranks change)."""
    predicted = [[(0, 1)], [(0,), (0,), (0, 1), (1,)], [(0,), ()]]
    outcomes = Outcomes(
        task_type="multilabel",
        n_classes=2,
        prompt_ids=["a", "b", "c"],
        truth=[(0, 1), (1,), (0,)],
        predicted=predicted,
        correct=[[True], [False] * 4, [True, False]],
    )
    truth = np.array([[1, 1], [0, 1], [1, 0]])
    shares = np.array([[sum(label in p for p in preds) / len(preds) for label in (0, 1)] for preds in predicted])
    auroc = outcomes.metric_functions()["auroc"](np.arange(3))
    assert auroc == pytest.approx(roc_auc_score(truth, shares, average="macro"))
