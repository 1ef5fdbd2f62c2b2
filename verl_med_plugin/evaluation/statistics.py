"""Uncertainty of the metrics: bootstrap confidence intervals over prompts, paired run comparisons and seeds.

Test sets of medical benchmarks are small (156 BreastMNIST images, 400 RetinaMNIST), so a point accuracy says
little; these functions give the interval and the paired test a reviewer asks for. The resampling unit is the
prompt (the image), not the sample: the k samples of one prompt are correlated, and resampling them apart would
make the intervals too narrow. Statistics come from scipy (``stats.bootstrap``) and statsmodels (McNemar).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from reward_fns.task_type import TaskType
from verl_med_plugin.evaluation import metrics as M

CONFIDENCE = 0.95
N_RESAMPLES = 1000
# BCa's jackknife evaluates the statistic once per unit: beyond this many prompts (TissueMNIST's test set has 47k)
# the percentile interval is used, whose coverage is as good at that size.
BCA_MAX_UNITS = 2000
# run names "row@seed" group the seeds of one ablation row
_ROW_SEED = re.compile(r"^(?P<row>.+)@(?P<seed>[^@]+)$")


def bootstrap_ci(
    n_units: int,
    statistic: Callable[[np.ndarray], float | None],
    *,
    confidence: float = CONFIDENCE,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
) -> dict[str, Any] | None:
    """``confidence`` interval of ``statistic`` over resamples of ``n_units`` units (prompts), by scipy's BCa
    bootstrap (percentile bootstrap where BCa is undefined, e.g. a statistic that is constant on the jackknife, or
    too slow: more than ``BCA_MAX_UNITS`` units).

    ``statistic`` takes an array of unit indices (with repeats). A resample on which it is undefined (``None``,
    e.g. QWK with one grade) is NaN and makes the interval ``None`` rather than silently narrower.
    """
    if n_units < 2 or n_resamples < 1:
        return None

    def stat(idx: np.ndarray) -> float:
        value = statistic(np.asarray(idx, dtype=int))
        return np.nan if value is None else float(value)

    data = (np.arange(n_units),)
    for method in ("BCa", "percentile") if n_units <= BCA_MAX_UNITS else ("percentile",):
        with warnings.catch_warnings():  # degenerate or NaN resamples: we check the result ourselves
            warnings.simplefilter("ignore")
            result = stats.bootstrap(
                data,
                stat,
                vectorized=False,
                n_resamples=n_resamples,
                method=method,
                confidence_level=confidence,
                rng=np.random.default_rng(seed),
            )
        low, high = result.confidence_interval
        if np.isfinite(low) and np.isfinite(high):
            return {
                "low": float(low),
                "high": float(high),
                "confidence": confidence,
                "method": method,
                "n_units": n_units,
                "n_resamples": n_resamples,
            }
    return None


@dataclass
class Outcomes:
    """One run's answers to one dataset, grouped by prompt: what the bootstrap resamples.

    ``truth[i]``: prompt i's label index (classification), label-index tuple (multilabel) or None (grounding);
    ``predicted[i]``: its samples' predicted label indices (``INVALID`` = no answer; tuples or None for multilabel);
    ``correct[i]``: its samples' correctness; ``values`` (medical VQA, ``task_type`` "vqa"): per metric of
    ``metrics.VQA_METRICS``, per prompt its samples' values, or None where the metric does not apply to the prompt
    (an MCQ question has no open F1).
    """

    task_type: str
    n_classes: int
    prompt_ids: list[str]
    truth: list[Any]
    predicted: list[list[Any]]
    correct: list[list[bool]]
    values: dict[str, list[list[float] | None]] | None = None
    # Per prompt, its samples' answers as the majority vote compares them (``evaluate.vote_key``: the label index
    # or label set the parser read, the answer text for grounding and VQA; "" = no answer). maj@k and McNemar vote
    # on the same keys. None (reports written before): derived from ``predicted`` where it can be.
    votes: list[list[str]] | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Outcomes:
        return cls(
            **{k: data[k] for k in ("task_type", "n_classes", "prompt_ids", "truth", "predicted", "correct")},
            values=data.get("values"),
            votes=data.get("votes"),
        )

    def as_dict(self) -> dict[str, Any]:
        out = {
            "task_type": self.task_type,
            "n_classes": self.n_classes,
            "prompt_ids": self.prompt_ids,
            "truth": self.truth,
            "predicted": self.predicted,
            "correct": self.correct,
        }
        if self.votes is not None:
            out["votes"] = self.votes
        return out if self.values is None else {**out, "values": self.values}

    def prompt_correct(self) -> np.ndarray:
        """Per prompt, one right/wrong for McNemar: the sample's (k = 1) or the majority vote's (k > 1), by the rule
        maj@k uses (``metrics.majority_correct``: most frequent valid answer, ties fixed by the prompt id), for
        every task type."""
        votes = self.votes
        if votes is None:
            votes = [self._vote_keys(p, ok) for p, ok in zip(self.predicted, self.correct, strict=True)]
        return np.array(
            [M.majority_correct(v, ok, pid) for pid, v, ok in zip(self.prompt_ids, votes, self.correct, strict=True)],
            dtype=bool,
        )

    def _vote_keys(self, preds: list[Any], correct: list[bool]) -> list[str]:
        """Vote keys from ``predicted`` (reports without ``votes``): grounding and VQA keep no answer text there,
        so each sample votes by its correctness alone."""
        if self.task_type in TaskType.single_label():
            return [str(p) if p != M.INVALID else "" for p in preds]
        if self.task_type == TaskType.MULTILABEL:
            return ["" if p is None else ",".join(map(str, p)) or "none" for p in preds]
        return ["right" if ok else "wrong" for ok in correct]

    def metric_functions(self) -> dict[str, Callable[[np.ndarray], float | None]]:
        """Per reported metric, its value on a resample of prompt indices.

        A resample sums per-prompt confusion counts (``np.bincount``) and reads the metric off the summed matrix
        (``*_from_counts``), which is what scikit-learn computes, without its per-call validation: scikit-learn
        takes 5-20 ms a call here, too slow for 1000 resamples x metrics x runs. ``tests/test_eval_statistics.py``
        checks every one against scikit-learn on random resamples.
        """
        sizes = np.array([len(c) for c in self.correct])
        hits = np.array([sum(c) for c in self.correct])
        funcs: dict[str, Callable[[np.ndarray], float | None]] = {
            "accuracy": lambda idx: float(hits[idx].sum() / sizes[idx].sum()),
        }
        if self.task_type in TaskType.single_label():
            n = self.n_classes
            y_true = np.array(self.truth, dtype=int)
            per_prompt = np.zeros((len(y_true), n, n + 1), dtype=np.int64)  # last column: invalid answers
            for i, preds in enumerate(self.predicted):
                for p in preds:
                    per_prompt[i, y_true[i], n if p == M.INVALID else p] += 1
            funcs["balanced_accuracy"] = lambda idx: balanced_accuracy_from_counts(per_prompt[idx].sum(axis=0))
            funcs["macro_f1"] = lambda idx: macro_f1_from_counts(per_prompt[idx].sum(axis=0))
            if self.task_type == TaskType.ORDINAL:
                funcs["qwk"] = lambda idx: qwk_from_counts(per_prompt[idx].sum(axis=0)[:, :n])
            onehot = np.eye(n, dtype=int)[y_true]
            shares = M.vote_shares(self.predicted, n)
            if (
                self.task_type == TaskType.BINARY and n == 2
            ):  # MedMNIST's binary AUROC: label 1's score (metrics.binary_auroc)
                funcs["auroc"] = lambda idx: macro_auroc_from_ranks(onehot[idx][:, 1:], shares[idx][:, 1:])
            else:
                funcs["auroc"] = lambda idx: macro_auroc_from_ranks(onehot[idx], shares[idx])
        elif self.task_type == TaskType.MULTILABEL:
            truth, shares = self._multilabel_scores()
            funcs["auroc"] = lambda idx: macro_auroc_from_ranks(truth[idx], shares[idx])
            label_counts = self._multilabel_counts()
            funcs["macro_f1"] = lambda idx: multilabel_macro_f1_from_counts(label_counts[idx].sum(axis=0))
        for name, prompt_values in (self.values or {}).items():
            if name != "accuracy" and any(v is not None for v in prompt_values):
                funcs[name] = _mean_over_applicable(prompt_values)
        return funcs

    def metric_units(self, name: str) -> np.ndarray:
        """Indices of the prompts metric ``name`` applies to, the units its bootstrap resamples: every prompt, but
        for a VQA metric of one question kind (closed accuracy) only the prompts of that kind, so a resample never
        lacks them (its interval is then the one of that kind's own test set)."""
        per_prompt = (self.values or {}).get(name)
        if per_prompt is None or name == "accuracy":
            return np.arange(len(self.prompt_ids))
        return np.array([i for i, v in enumerate(per_prompt) if v is not None], dtype=int)

    def _multilabel_scores(self) -> tuple[np.ndarray, np.ndarray]:
        truth = _indicator([list(t) for t in self.truth], self.n_classes)
        shares = np.stack(
            [
                _indicator([list(p) for p in preds if p is not None], self.n_classes).sum(axis=0) / len(preds)
                for preds in self.predicted
            ]
        )
        return truth, shares

    def _multilabel_counts(self) -> np.ndarray:
        """Per prompt and label, summed over its samples: [TP, FP, FN] (an invalid answer predicts no label)."""
        counts = np.zeros((len(self.truth), self.n_classes, 3), dtype=np.int64)
        for i, (truth, preds) in enumerate(zip(self.truth, self.predicted, strict=True)):
            t = _indicator([list(truth)], self.n_classes)[0].astype(bool)
            for p in preds:
                q = _indicator([list(p or [])], self.n_classes)[0].astype(bool)
                counts[i, :, 0] += t & q
                counts[i, :, 1] += ~t & q
                counts[i, :, 2] += t & ~q
        return counts

    def auroc(self) -> dict | None:
        """AUROC from the vote shares of each prompt's k samples (k = 1: the 0/1 answer itself); binary tasks as
        MedMNIST's evaluator scores them (label 1's share, ``metrics.binary_auroc``)."""
        if self.task_type == TaskType.BINARY and self.n_classes == 2:
            return M.binary_auroc(self.truth, M.vote_shares(self.predicted, 2))
        if self.task_type in TaskType.single_label():
            truth = np.eye(self.n_classes, dtype=int)[np.array(self.truth, dtype=int)]
            return M.auroc(truth, M.vote_shares(self.predicted, self.n_classes))
        if self.task_type == TaskType.MULTILABEL:
            return M.auroc(*self._multilabel_scores())
        return None


def _mean_over_applicable(per_prompt: Sequence[Sequence[float] | None]) -> Callable[[np.ndarray], float | None]:
    """A resample's mean of a metric over the samples of the prompts it applies to (None: it applies to none)."""
    sums = np.array([0.0 if v is None else float(np.sum(v)) for v in per_prompt])
    counts = np.array([0 if v is None else len(v) for v in per_prompt])

    def mean(idx: np.ndarray) -> float | None:
        n = counts[idx].sum()
        return float(sums[idx].sum() / n) if n else None

    return mean


def balanced_accuracy_from_counts(cm: np.ndarray) -> float:
    """Mean recall over the classes with true samples (invalid answers, the last column, are misses)."""
    support = cm.sum(axis=1)
    present = support > 0
    return float(np.mean(np.diag(cm)[present] / support[present]))


def macro_f1_from_counts(cm: np.ndarray) -> float:
    """Macro-F1 over classes in truth or valid prediction, F1 = 2TP / (2TP + FP + FN), as ``metrics.macro_f1``."""
    n = cm.shape[0]
    tp = np.diag(cm)
    fn = cm.sum(axis=1) - tp
    fp = cm[:, :n].sum(axis=0) - tp
    seen = (cm.sum(axis=1) > 0) | (cm[:, :n].sum(axis=0) > 0)
    return float(np.mean((2 * tp / np.maximum(2 * tp + fp + fn, 1))[seen]))


def multilabel_macro_f1_from_counts(counts: np.ndarray) -> float:
    """Macro-F1 over the labels in truth or prediction from per-label [TP, FP, FN], as ``metrics.multilabel_metrics``
    (0 when no label is in either)."""
    tp, fp, fn = counts[:, 0], counts[:, 1], counts[:, 2]
    seen = (tp + fn > 0) | (tp + fp > 0)
    return float(np.mean((2 * tp / np.maximum(2 * tp + fp + fn, 1))[seen])) if seen.any() else 0.0


def qwk_from_counts(cm: np.ndarray) -> float | None:
    """Quadratic-weighted kappa of a grade x grade count matrix (valid answers only); None when undefined."""
    total = cm.sum()
    if total == 0:
        return None
    grades = np.arange(cm.shape[0])
    weights = (grades[:, None] - grades[None, :]) ** 2
    expected = np.outer(cm.sum(axis=1), cm.sum(axis=0)) / total
    denominator = (weights * expected).sum()
    return None if denominator == 0 else float(1 - (weights * cm).sum() / denominator)


def macro_auroc_from_ranks(truth: np.ndarray, scores: np.ndarray) -> float | None:
    """Macro one-vs-rest AUROC by the rank (Mann-Whitney) form, ties averaged, over classes with both positive and
    negative prompts: equal to ``metrics.auroc`` (scikit-learn's trapezoidal ROC area)."""
    values = []
    for c in range(truth.shape[1]):
        positive = truth[:, c].astype(bool)
        n_pos = int(positive.sum())
        n_neg = len(positive) - n_pos
        if n_pos and n_neg:
            ranks = stats.rankdata(scores[:, c])
            values.append((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
    return float(np.mean(values)) if values else None


def _indicator(sets: Sequence[Sequence[int]], n: int) -> np.ndarray:
    out = np.zeros((max(len(sets), 1), n), dtype=int)
    for row, labels in enumerate(sets):
        out[row, list(labels)] = 1
    return out


def confidence_intervals(outcomes: Outcomes, **kwargs: Any) -> dict[str, dict | None]:
    """Bootstrap CIs (prompts resampled) of accuracy, balanced accuracy, macro-F1, QWK and AUROC, as available;
    for VQA, of each ``metrics.VQA_METRICS`` figure."""
    out = {}
    for name, func in outcomes.metric_functions().items():
        units = outcomes.metric_units(name)

        def on_units(
            idx: np.ndarray, f: Callable[[np.ndarray], float | None] = func, u: np.ndarray = units
        ) -> float | None:
            return f(u[idx])

        out[name] = bootstrap_ci(len(units), on_units, **kwargs)
    return out


def mcnemar_exact(a_correct: Sequence[bool] | np.ndarray, b_correct: Sequence[bool] | np.ndarray) -> dict[str, Any]:
    """McNemar's exact test (statsmodels) on paired per-prompt correctness: only the discordant prompts count."""
    from statsmodels.stats.contingency_tables import mcnemar

    a = np.asarray(a_correct, dtype=bool)
    b = np.asarray(b_correct, dtype=bool)
    table = [[int((a & b).sum()), int((a & ~b).sum())], [int((~a & b).sum()), int((~a & ~b).sum())]]
    result = mcnemar(table, exact=True)
    return {"table": table, "a_only": table[0][1], "b_only": table[1][0], "p_value": float(result.pvalue)}


def paired_comparison(a: Outcomes, b: Outcomes, **kwargs: Any) -> dict[str, Any]:
    """Run A minus run B on their common prompts: paired bootstrap CI of each metric's difference (the same prompt
    resample for both runs) and McNemar's exact test on per-prompt correctness."""
    common = sorted(set(a.prompt_ids) & set(b.prompt_ids))
    if len(common) < 2:
        return {
            "n_prompts": len(common),
            "error": "fewer than 2 common prompt ids (verl's validation dumps use "
            "random prompt ids: compare offline generations)",
        }
    a_sub, b_sub = _subset(a, common), _subset(b, common)
    fa, fb = a_sub.metric_functions(), b_sub.metric_functions()
    diffs = {}
    for name in fa.keys() & fb.keys():
        units = a_sub.metric_units(name)  # the same prompts in both runs: VQA question kinds are the prompts'

        def diff(idx: np.ndarray, name: str = name, units: np.ndarray = units) -> float | None:
            va, vb = fa[name](units[idx]), fb[name](units[idx])
            return None if va is None or vb is None else va - vb

        diffs[name] = {"difference": diff(np.arange(len(units))), "ci": bootstrap_ci(len(units), diff, **kwargs)}
    return {
        "n_prompts": len(common),
        "differences": dict(sorted(diffs.items())),
        "mcnemar": mcnemar_exact(a_sub.prompt_correct(), b_sub.prompt_correct()),
    }


def holm_adjust(comparisons: Sequence[Mapping[str, Any]]) -> None:
    """Add ``p_holm`` beside ``p_value`` to every McNemar test of ``comparisons`` (``paired_comparison`` results),
    Holm-adjusted over the whole family, so a report's many tests keep a 5 % family-wise error rate
    (statsmodels ``multipletests``, method "holm"). The paired CIs stay unadjusted 95 % intervals."""
    from statsmodels.stats.multitest import multipletests

    tests = [c["mcnemar"] for c in comparisons if "mcnemar" in c]
    if not tests:
        return
    _, adjusted, _, _ = multipletests([t["p_value"] for t in tests], method="holm")
    for test, p_holm in zip(tests, adjusted, strict=True):
        test["p_holm"] = float(p_holm)
        test["n_tests"] = len(tests)


def _subset(outcomes: Outcomes, prompt_ids: Sequence[str]) -> Outcomes:
    position = {pid: i for i, pid in enumerate(outcomes.prompt_ids)}
    rows = [position[p] for p in prompt_ids]
    values = (
        None
        if outcomes.values is None
        else {name: [per_prompt[i] for i in rows] for name, per_prompt in outcomes.values.items()}
    )
    return Outcomes(
        outcomes.task_type,
        outcomes.n_classes,
        list(prompt_ids),
        [outcomes.truth[i] for i in rows],
        [outcomes.predicted[i] for i in rows],
        [outcomes.correct[i] for i in rows],
        values,
        None if outcomes.votes is None else [outcomes.votes[i] for i in rows],
    )


def row_and_seed(run_name: str) -> tuple[str, str | None]:
    """``"vrft@2"`` -> ``("vrft", "2")``; a name without ``@`` is a row with one unnamed seed."""
    match = _ROW_SEED.match(run_name)
    return (match["row"], match["seed"]) if match else (run_name, None)


def mean_sd(values: Sequence[float | None]) -> dict[str, Any]:
    """Mean and sample standard deviation (ddof=1; None for one seed) across the seeds of a row."""
    known = np.array([v for v in values if v is not None], dtype=float)
    if len(known) == 0:
        return {"n": 0, "mean": None, "sd": None}
    return {"n": len(known), "mean": float(known.mean()), "sd": float(known.std(ddof=1)) if len(known) > 1 else None}
