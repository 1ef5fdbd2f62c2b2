"""Set overlap between predicted and true label sets (multilabel tasks such as ChestMNIST)."""

from __future__ import annotations


def set_f1(pred: tuple[int, ...], truth: tuple[int, ...]) -> float:
    """F1 of two label sets; two empty sets agree perfectly ("no finding" predicted for a normal image)."""
    if not pred and not truth:
        return 1.0
    common = len(set(pred) & set(truth))
    return 2.0 * common / (len(set(pred)) + len(set(truth)))


def jaccard(pred: tuple[int, ...], truth: tuple[int, ...]) -> float:
    """Intersection over union of two label sets; 1.0 for two empty sets."""
    union = set(pred) | set(truth)
    return len(set(pred) & set(truth)) / len(union) if union else 1.0
