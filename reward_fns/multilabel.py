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


def balanced_accuracy(pred: tuple[int, ...], truth: tuple[int, ...], n_labels: int) -> float:
    """Mean of the per-label sensitivity (share of present labels named) and specificity (share of absent labels
    not named); the one that exists when every or no label is present. Why the multilabel default: under set F1 a
    single false positive on a normal image (about half of ChestMNIST) scores 0, so "no finding" for every image
    earns about 0.54 and guessing never pays; here a false positive costs 1/(absent labels)/2 and a missed finding
    1/(present labels)/2, as balanced accuracy weighs them."""
    present, named = set(truth), set(pred)
    absent = n_labels - len(present)
    parts = []
    if present:
        parts.append(len(named & present) / len(present))
    if absent > 0:
        parts.append((absent - len(named - present)) / absent)
    return sum(parts) / len(parts) if parts else 0.0
