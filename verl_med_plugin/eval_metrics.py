"""Evaluation metrics for medical classification, from scikit-learn (pure: no I/O, no parser).

Predictions arrive as label indices already produced by the reward's answer parser; an answer the parser
rejected is ``INVALID`` (-1). Every result states how many samples it covers (``n``), since invalid
answers are excluded from some metrics (grade distances) but counted as errors by others (accuracy).
"""

from __future__ import annotations

import math
import warnings
from collections import Counter, defaultdict
from typing import Any, Hashable, Sequence

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    cohen_kappa_score,
    confusion_matrix,
    f1_score,
    hamming_loss,
    mean_absolute_error,
    precision_recall_fscore_support,
)
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.preprocessing import MultiLabelBinarizer

INVALID = -1  # label index of an answer the parser rejected: always wrong, never a class


def _finite_or_none(value: float) -> float | None:
    """JSON has no NaN: undefined metrics (no support, no prediction) become ``None``."""
    return None if value is None or math.isnan(value) else float(value)


def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[str], ordinal: bool) -> dict:
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
    seen = sorted(set(y_true.tolist()) | set(y_pred[valid].tolist()))

    with warnings.catch_warnings():  # "y_pred contains classes not in y_true": intended, such classes have no recall
        warnings.simplefilter("ignore", UserWarning)
        balanced = balanced_accuracy_score(y_true, y_pred)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=class_ids, zero_division=np.nan
    )
    predicted = np.bincount(y_pred[valid], minlength=n_classes)
    result: dict[str, Any] = {
        "n": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(balanced),
        "macro_f1": float(f1_score(y_true, y_pred, labels=seen, average="macro", zero_division=0)),
        "per_class": _per_class_rows(labels, support, predicted, recall, precision, f1),
        # rows: true class; columns: predicted class, then "invalid"
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=class_ids + [INVALID])[:n_classes].tolist(),
    }
    if ordinal:
        result.update(ordinal_metrics(y_true[valid], y_pred[valid], n_classes))
    return result


def ordinal_metrics(y_true: Sequence[int], y_pred: Sequence[int], n_grades: int) -> dict:
    """Quadratic-weighted kappa and mean absolute grade error over valid (graded) answers only."""
    y_true = np.asarray(y_true, dtype=int)
    y_pred = np.asarray(y_pred, dtype=int)
    if len(y_true) == 0:
        return {"n_graded": 0, "qwk": None, "mae": None}
    with warnings.catch_warnings():  # one grade in both truth and prediction: kappa is 0/0, reported as None
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        qwk = cohen_kappa_score(y_true, y_pred, labels=list(range(n_grades)), weights="quadratic")
    return {
        "n_graded": int(len(y_true)),
        "qwk": _finite_or_none(qwk),
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
        "n": int(len(true_sets)),
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


def majority_vote(preds: Sequence[str]) -> str:
    """Most frequent valid prediction (ties: the one seen first, as verl's ``maj@N``); ``""`` if none is valid."""
    counts = Counter(p for p in preds if p)
    return counts.most_common(1)[0][0] if counts else ""


def sampling_metrics(prompt_ids: Sequence[Hashable], preds: Sequence[str], correct: Sequence[bool]) -> dict:
    """mean@k, best@k (any sample right) and maj@k (majority-voted answer right) over prompts with k samples.

    ``k`` is the largest group size; ``k_min`` differs from it when some prompts lost samples.
    """
    groups: dict[Hashable, list[tuple[str, bool]]] = defaultdict(list)
    for pid, pred, ok in zip(prompt_ids, preds, correct, strict=True):
        groups[pid].append((pred, bool(ok)))
    mean_k, best_k, maj_k = [], [], []
    for samples in groups.values():
        hits = [ok for _, ok in samples]
        mean_k.append(np.mean(hits))
        best_k.append(any(hits))
        voted = majority_vote([p for p, _ in samples])
        maj_k.append(bool(voted) and next(ok for p, ok in samples if p == voted))
    sizes = [len(s) for s in groups.values()]
    return {
        "n_prompts": len(groups),
        "k": max(sizes),
        "k_min": min(sizes),
        "mean@k": float(np.mean(mean_k)),
        "best@k": float(np.mean(best_k)),
        "maj@k": float(np.mean(maj_k)),
    }


def zero_advantage_stats(group_ids: Sequence[Hashable], rewards: Sequence[float], atol: float = 1e-6) -> dict:
    """Share of GRPO groups whose rewards are all equal: their group-normalised advantage is 0, no gradient.

    Groups of one sample are counted apart (verl's GRPO gives them a non-zero advantage). ``equal_value_counts``
    splits the all-equal groups by their common reward (e.g. all 0 = too hard, all 1 = already solved).
    """
    groups: dict[Hashable, list[float]] = defaultdict(list)
    for gid, reward in zip(group_ids, rewards, strict=True):
        groups[gid].append(float(reward))
    multi = [np.asarray(v) for v in groups.values() if len(v) > 1]
    equal = [g for g in multi if np.ptp(g) <= atol]
    values = Counter(f"{g[0]:g}" for g in equal)
    return {
        "n_groups": len(multi),
        "n_singletons": len(groups) - len(multi),
        "n_all_equal": len(equal),
        "fraction_all_equal": float(len(equal) / len(multi)) if multi else None,
        "equal_value_counts": dict(sorted(values.items())),
    }
