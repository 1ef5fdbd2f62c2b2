"""Evaluation metrics for medical classification, from scikit-learn (pure: no I/O, no parser).

Predictions arrive as label indices already produced by the reward's answer parser; an answer the parser
rejected is ``INVALID`` (-1). Every result states how many samples it covers (``n``), since invalid
answers are excluded from some metrics (grade distances) but counted as errors by others (accuracy).
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    cohen_kappa_score,
    confusion_matrix,
    f1_score,
    hamming_loss,
    mean_absolute_error,
    precision_recall_fscore_support,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.preprocessing import MultiLabelBinarizer

from reward_fns.task_type import TaskType
from verl_med_plugin.advantage import zero_advantage_groups

INVALID = -1  # label index of an answer the parser rejected: always wrong, never a class


def _finite_or_none(value: float) -> float | None:
    """JSON has no NaN: undefined metrics (no support, no prediction) become ``None``."""
    return None if value is None or math.isnan(value) else float(value)


def classification_metrics(
    y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray, labels: Sequence[str], ordinal: bool
) -> dict:
    """Accuracy, balanced accuracy, macro-F1, per-class precision/recall, confusion matrix; QWK and MAE if ordinal.

    Invalid predictions count as wrong for accuracy, balanced accuracy and recall, are no false positive of any
    class (precision), fill the confusion matrix's last column, and are left out of QWK/MAE (``n_graded``).
    Macro-F1 averages the classes present in truth or prediction (scikit-learn's default label set).
    """
    y_true = np.asarray(y_true, dtype=int)
    y_pred = np.asarray(y_pred, dtype=int)
    if len(y_true) == 0:
        raise ValueError("classification_metrics: no samples")
    n_classes = len(labels)
    if y_true.min() < 0 or y_true.max() >= n_classes:
        raise ValueError(f"true label index outside 0..{n_classes - 1}")
    if y_pred.max() >= n_classes or y_pred.min() < INVALID:
        raise ValueError(f"predicted label index outside {INVALID}..{n_classes - 1}")
    class_ids = list(range(n_classes))
    valid = y_pred != INVALID

    balanced = balanced_accuracy(y_true, y_pred)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=class_ids, zero_division=np.nan
    )
    predicted = np.bincount(y_pred[valid], minlength=n_classes)
    result: dict[str, Any] = {
        "n": len(y_true),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(balanced),
        "macro_f1": macro_f1(y_true, y_pred),
        "per_class": _per_class_rows(labels, support, predicted, recall, precision, f1),
        # rows: true class; columns: predicted class, then "invalid"
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=class_ids + [INVALID])[:n_classes].tolist(),
    }
    if ordinal:
        result.update(ordinal_metrics(y_true[valid], y_pred[valid], n_classes))
        farthest = ordinal_metrics(y_true, invalid_as_farthest(y_true, y_pred, n_classes), n_classes)
        result.update({"qwk_invalid_farthest": farthest["qwk"], "mae_invalid_farthest": farthest["mae"]})
    return result


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Macro-F1 over the classes present in truth or (valid) prediction, scikit-learn's default label set."""
    seen = sorted(set(y_true.tolist()) | set(y_pred[y_pred != INVALID].tolist()))
    return float(f1_score(y_true, y_pred, labels=seen, average="macro", zero_division=0))


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean recall over the true classes; invalid answers are misses."""
    with warnings.catch_warnings():  # "y_pred contains classes not in y_true": intended, such classes have no recall
        warnings.simplefilter("ignore", UserWarning)
        return float(balanced_accuracy_score(y_true, y_pred))


def quadratic_kappa(y_true: np.ndarray, y_pred: np.ndarray, n_grades: int) -> float | None:
    """QWK over grade positions; ``None`` when undefined (one grade in both truth and prediction)."""
    if len(y_true) == 0:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        return _finite_or_none(cohen_kappa_score(y_true, y_pred, labels=list(range(n_grades)), weights="quadratic"))


def invalid_as_farthest(y_true: np.ndarray, y_pred: np.ndarray, n_grades: int) -> np.ndarray:
    """Predictions with each invalid answer replaced by the grade farthest from the truth (the middle grade's tie
    goes to grade 0), so QWK/MAE of runs with different invalid rates compare: a non-answer is the worst answer."""
    y_true = np.asarray(y_true, dtype=int)
    farthest = np.where(y_true < (n_grades - 1) / 2, n_grades - 1, 0)
    return np.where(np.asarray(y_pred) == INVALID, farthest, y_pred)


def positive_class_metrics(
    y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray, positive: Sequence[int]
) -> dict:
    """Sensitivity, specificity, PPV and NPV of the clinically positive class(es) against the rest.

    Invalid answers are errors for sensitivity and specificity (a positive case missed, a negative case not cleared)
    and no call for PPV/NPV (neither a positive nor a negative call), as for recall and precision above.
    """
    y_true = np.asarray(y_true, dtype=int)
    y_pred = np.asarray(y_pred, dtype=int)
    truth = np.isin(y_true, positive).astype(int)
    called = np.isin(y_pred, positive).astype(int)
    valid = y_pred != INVALID
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        # invalid -> "negative call" for sensitivity (a miss), -> "positive call" for specificity (not cleared)
        sensitivity = recall_score(truth, called, pos_label=1, zero_division=np.nan)
        specificity = recall_score(truth, np.where(valid, called, 1), pos_label=0, zero_division=np.nan)
        ppv = precision_score(truth[valid], called[valid], pos_label=1, zero_division=np.nan) if valid.any() else np.nan
        npv = precision_score(truth[valid], called[valid], pos_label=0, zero_division=np.nan) if valid.any() else np.nan
    tn, fp, fn, tp = confusion_matrix(truth[valid], called[valid], labels=[0, 1]).ravel() if valid.any() else (0,) * 4
    return {
        "n": len(y_true),
        "n_positive": int(truth.sum()),
        "n_negative": int(len(truth) - truth.sum()),
        "tp": int(tp),
        "fn": int(fn),
        "fp": int(fp),
        "tn": int(tn),
        "invalid_positive": int((~valid & (truth == 1)).sum()),
        "invalid_negative": int((~valid & (truth == 0)).sum()),
        "sensitivity": _finite_or_none(sensitivity),
        "specificity": _finite_or_none(specificity),
        "ppv": _finite_or_none(ppv),
        "npv": _finite_or_none(npv),
    }


def vote_shares(groups: Sequence[Sequence[int]], n_classes: int) -> np.ndarray:
    """Per prompt, the share of its k samples that answered each class (invalid answers vote for none)."""
    shares = np.zeros((len(groups), n_classes))
    for row, preds in enumerate(groups):
        for p in preds:
            if p != INVALID:
                shares[row, p] += 1
        shares[row] /= max(len(preds), 1)
    return shares


def auroc(truth: np.ndarray, scores: np.ndarray) -> dict:
    """AUROC per class from per-prompt class scores (vote shares), one-vs-rest, and their macro mean.

    ``truth`` is a prompt x class indicator matrix (one-hot for single-label tasks), so this is scikit-learn's
    one-vs-rest macro AUROC for multiclass and per-label AUROC for multilabel. Classes without both positive and
    negative prompts have no AUROC and are left out of the mean (``n_classes`` says how many count).
    """
    truth = np.asarray(truth, dtype=int)
    per_class: list[float | None] = []
    for c in range(truth.shape[1]):
        column = truth[:, c]
        per_class.append(float(roc_auc_score(column, scores[:, c])) if 0 < column.sum() < len(column) else None)
    known = [v for v in per_class if v is not None]
    return {"macro": float(np.mean(known)) if known else None, "n_classes": len(known), "per_class": per_class}


def binary_auroc(truth: Sequence[int] | np.ndarray, shares: np.ndarray) -> dict:
    """MedMNIST's binary AUROC (``medmnist.evaluator.getAUC``, task "binary-class": ``y_score[:, -1]``): the score of
    label 1 against the truth being label 1. Not the mean of both one-vs-rest AUROCs, which differs from it when
    answers are invalid (an invalid answer scores 0 for both classes)."""
    truth = np.asarray(truth, dtype=int)
    positive = (truth == 1).astype(int)
    value = float(roc_auc_score(positive, shares[:, 1])) if 0 < positive.sum() < len(positive) else None
    return {"macro": value, "n_classes": 1 if value is not None else 0, "per_class": [None, value]}


def chance_best_at_k(n_classes: int, k: int) -> float:
    """best@k of a model answering uniformly at random among C classes: ``1 - (1 - 1/C)^k``."""
    return 1.0 - (1.0 - 1.0 / n_classes) ** k


def grounding_metrics(
    has_lesion: Sequence[bool] | np.ndarray, hit: Sequence[bool] | np.ndarray, iou: Sequence[float] | np.ndarray
) -> dict:
    """Hit rate and mean matched IoU overall and on images with at least one true box (lesion-only): an empty answer
    on a normal image scores IoU 1 in the reward but finds no lesion, so the overall figures flatter sparse data."""
    has_lesion = np.asarray(has_lesion, dtype=bool)
    hit = np.asarray(hit, dtype=bool)
    iou = np.asarray(iou, dtype=float)
    n_lesion = int(has_lesion.sum())
    return {
        "n": len(hit),
        "accuracy": float(hit.mean()),
        "mean_iou": float(iou.mean()),
        "n_lesion": n_lesion,
        "lesion_hit_rate": float(hit[has_lesion].mean()) if n_lesion else None,
        "lesion_mean_iou": float(iou[has_lesion].mean()) if n_lesion else None,
    }


def think_answer_consistency(think_class: Sequence[int | None], answer_class: Sequence[int]) -> dict:
    """Share of responses whose think concludes a different class than the answer gives, over the responses with a
    valid answer and a class named in the think (``n``)."""
    pairs = [(t, a) for t, a in zip(think_class, answer_class, strict=True) if t is not None and a != INVALID]
    return {"n": len(pairs), "inconsistent": float(np.mean([t != a for t, a in pairs])) if pairs else None}


def ordinal_metrics(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray, n_grades: int) -> dict:
    """Quadratic-weighted kappa and mean absolute grade error over valid (graded) answers only."""
    y_true = np.asarray(y_true, dtype=int)
    y_pred = np.asarray(y_pred, dtype=int)
    if len(y_true) == 0:
        return {"n_graded": 0, "qwk": None, "mae": None}
    return {
        "n_graded": len(y_true),
        "qwk": quadratic_kappa(y_true, y_pred, n_grades),
        "mae": float(mean_absolute_error(y_true, y_pred)),
    }


def multilabel_metrics(
    true_sets: Sequence[Sequence[int]], pred_sets: Sequence[Sequence[int] | None], labels: Sequence[str]
) -> dict:
    """Exact-match accuracy, macro-F1, Hamming loss and per-label precision/recall; ``None`` = invalid answer.

    Macro-F1 averages the labels present in truth or prediction, as ``classification_metrics`` does.
    An invalid answer never matches, even when the true set is empty (a normal image): it gets a one-hot
    "invalid" column the truth never has, excluded from the per-label scores.
    """
    if len(true_sets) == 0:
        raise ValueError("multilabel_metrics: no samples")
    n_labels = len(labels)
    binarizer = MultiLabelBinarizer(classes=list(range(n_labels + 1)))
    y_true = binarizer.fit_transform([list(s) for s in true_sets])
    y_pred = binarizer.transform([[n_labels] if s is None else list(s) for s in pred_sets])
    label_ids = list(range(n_labels))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=label_ids, zero_division=np.nan
    )
    predicted = y_pred[:, :n_labels].sum(axis=0)
    seen = [i for i in label_ids if support[i] or predicted[i]]  # as for single-label: labels in truth or prediction
    return {
        "n": len(true_sets),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=seen, average="macro", zero_division=0)) if seen else 0.0,
        "hamming_loss": float(hamming_loss(y_true[:, :n_labels], y_pred[:, :n_labels])),
        "per_class": _per_class_rows(labels, support, predicted, recall, precision, f1),
    }


def _per_class_rows(labels, support, predicted, recall, precision, f1) -> list[dict[str, Any]]:
    return [
        {
            "label": name,
            "support": int(support[i]),
            "predicted": int(predicted[i]),
            "recall": _finite_or_none(recall[i]),
            "precision": _finite_or_none(precision[i]),
            "f1": _finite_or_none(f1[i]),
        }
        for i, name in enumerate(labels)
    ]


def majority_vote(preds: Sequence[str], tie_key: Hashable = "") -> str:
    """Most frequent valid prediction; ``""`` if none is valid.

    A tie goes to the tied answer with the smallest ``sha256(tie_key, answer)``: a fixed choice per prompt
    (``tie_key`` = its id) that does not depend on the order of the samples in a file (verl's ``maj@N`` takes the
    first seen, so shuffling a dump's lines moved maj@k) nor systematically favour one class's name.

    >>> majority_vote(["b", "a", "a", ""]), majority_vote(["a", "b"], "p1") == majority_vote(["b", "a"], "p1")
    ('a', True)
    """
    counts = Counter(p for p in preds if p)
    if not counts:
        return ""
    top = max(counts.values())
    return min((p for p, n in counts.items() if n == top), key=lambda p: (_tie_rank(tie_key, p), p))


def _tie_rank(tie_key: Hashable, answer: str) -> int:
    digest = hashlib.sha256(f"{tie_key}\x00{answer}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def majority_correct(preds: Sequence[str], correct: Sequence[bool], tie_key: Hashable = "") -> bool:
    """Whether the majority-voted answer of one prompt's samples is right (no valid answer: wrong)."""
    voted = majority_vote(preds, tie_key)
    return bool(voted) and next(bool(ok) for p, ok in zip(preds, correct, strict=True) if p == voted)


def sampling_metrics(
    prompt_ids: Sequence[Hashable], preds: Sequence[str], correct: Sequence[bool], n_classes: int | None = None
) -> dict:
    """mean@k, best@k (any sample right) and maj@k (majority-voted answer right) over prompts with k samples;
    with ``n_classes``, best@k's chance level (``chance@k``): best@k rises with k even for a random guesser.

    ``k`` is the largest group size; ``k_min`` differs from it when some prompts lost samples.
    """
    groups: dict[Hashable, list[tuple[str, bool]]] = defaultdict(list)
    for pid, pred, ok in zip(prompt_ids, preds, correct, strict=True):
        groups[pid].append((pred, bool(ok)))
    mean_k, best_k, maj_k = [], [], []
    for pid, samples in groups.items():
        hits = [ok for _, ok in samples]
        mean_k.append(np.mean(hits))
        best_k.append(any(hits))
        maj_k.append(majority_correct([p for p, _ in samples], hits, pid))
    sizes = [len(s) for s in groups.values()]
    result = {
        "n_prompts": len(groups),
        "k": max(sizes),
        "k_min": min(sizes),
        "mean@k": float(np.mean(mean_k)),
        "best@k": float(np.mean(best_k)),
        "maj@k": float(np.mean(maj_k)),
    }
    if n_classes:
        result["chance@k"] = chance_best_at_k(n_classes, max(sizes))
    return result


def zero_advantage_stats(group_ids: Sequence[Hashable], rewards: Sequence[float], atol: float = 1e-6) -> dict:
    """Share of GRPO groups that carry no gradient, by verl's definition (``verl_med_plugin.advantage``, also the
    sampler's ``zero_adv_group_frac``): all rewards equal, or a group of one whose reward is 0.

    ``equal_value_counts`` splits those groups by their common reward (e.g. all 0 = too hard, all 1 = solved);
    ``n_singletons`` counts the groups of one sample (an evaluation with ``n=1`` has only those).
    """
    zero = zero_advantage_groups(group_ids, rewards, atol)
    first: dict[Hashable, float] = {}
    sizes: Counter = Counter()
    for gid, reward in zip(group_ids, rewards, strict=True):
        first.setdefault(gid, float(reward))
        sizes[gid] += 1
    values = Counter(f"{first[g]:g}" for g, is_zero in zero.items() if is_zero)
    n_zero = sum(zero.values())
    return {
        "n_groups": len(zero),
        "n_singletons": sum(1 for n in sizes.values() if n == 1),
        "n_zero_advantage": n_zero,
        "fraction_zero_advantage": float(n_zero / len(zero)) if zero else None,
        "equal_value_counts": dict(sorted(values.items())),
    }


# --- medical VQA (task types mcq / closed / open) ------------------------------------------------------------------

# The benchmarks' own figures: overall accuracy (mcq/closed right, open exact match), MCQ accuracy, closed (yes/no)
# accuracy, and for open questions exact match and token precision / recall / F1 (``reward_fns.vqa.open_scores``).
VQA_METRICS = ("accuracy", "mcq_accuracy", "closed_accuracy", "open_exact", "open_precision", "open_recall", "open_f1")
_VQA_COUNTS = {"mcq_accuracy": "n_mcq", "closed_accuracy": "n_closed", "open_exact": "n_open"}


def vqa_answer_values(task_type: str, correct: bool, open_scores: Any = None) -> dict[str, float]:
    """The VQA metrics one answer counts in, with its value: an MCQ answer counts in ``accuracy`` and
    ``mcq_accuracy`` only, an open answer in ``accuracy`` (exact match) and the ``open_*`` metrics.

    Args:
        task_type: ``mcq``, ``closed`` or ``open``.
        correct: the answer is right (open: exact match).
        open_scores: the answer's ``reward_fns.vqa.OpenScores`` (open questions only).

    Returns:
        Metric name -> value in [0, 1].

    >>> vqa_answer_values("closed", True)
    {'accuracy': 1.0, 'closed_accuracy': 1.0}
    """
    values = {"accuracy": float(correct)}
    if task_type == TaskType.MCQ:
        values["mcq_accuracy"] = float(correct)
    elif task_type == TaskType.CLOSED:
        values["closed_accuracy"] = float(correct)
    else:
        values.update(
            open_exact=float(open_scores.exact),
            open_precision=float(open_scores.precision),
            open_recall=float(open_scores.recall),
            open_f1=float(open_scores.f1),
        )
    return values


def vqa_metrics(answer_values: Sequence[dict[str, float]]) -> dict[str, Any]:
    """Each VQA metric as the mean over the answers it applies to (None when none does), with the number of MCQ,
    closed and open answers it covers (``n_mcq``, ``n_closed``, ``n_open``).

    Args:
        answer_values: per answer, ``vqa_answer_values``.

    Returns:
        The metrics and counts.

    >>> m = vqa_metrics([vqa_answer_values("mcq", True), vqa_answer_values("mcq", False)])
    >>> m["mcq_accuracy"], m["n_mcq"], m["closed_accuracy"], m["n_closed"]
    (0.5, 2, None, 0)
    """
    out: dict[str, Any] = {}
    for name in VQA_METRICS:
        values = [v[name] for v in answer_values if name in v]
        out[name] = float(np.mean(values)) if values else None
        if name in _VQA_COUNTS:
            out[_VQA_COUNTS[name]] = len(values)
    return out
