"""The statistics' rules, each checked against an independent computation: one resampling order (shuffling a dump's
lines changes no figure), McNemar on the documented majority vote for every task type, a CI for multilabel
macro-F1 (scikit-learn), Holm-adjusted p-values (by hand), MedMNIST's binary AUROC (medmnist's own Evaluator)
and the table's caption."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from statsmodels.stats.contingency_tables import mcnemar

from verl_med_plugin.evaluation import evaluate
from verl_med_plugin.evaluation import metrics as M
from verl_med_plugin.evaluation import statistics as S

K = 4  # samples per prompt: 2-2 splits make ties


def _lines(run_no: int) -> list[dict]:
    """k = 4 answers per prompt on BreastMNIST (30 prompts) and RetinaMNIST (30), many of them 2-2 ties, each line
    with its prompt id and sample index, in an order that is not sorted by prompt id."""
    from eval_fixtures import card_test_info

    import reward_fns
    from data_preprocess.knowledge import load_card

    lines = []
    for ds_no, dataset in enumerate(("breastmnist", "retinamnist")):
        card = load_card(dataset)
        labels = card.label_names
        rng = np.random.default_rng([run_no, ds_no])
        truth = np.random.default_rng(ds_no).integers(0, len(labels), 30)
        for i in range(30):
            t = int(truth[i])
            other = int((t + 1 + rng.integers(len(labels) - 1)) % len(labels))
            answers = [t, t, other, other] if rng.random() < 0.5 else [int(a) for a in rng.choice([t, other, -1], K)]
            info = card_test_info(card, dataset, i)
            for j, answer in enumerate(answers):
                text = "<think>x</think>" + ("" if answer < 0 else f"<answer>{labels[answer]}</answer>")
                score = reward_fns.compute_score(
                    data_source=f"verl_med/{dataset}", solution_str=text, ground_truth=labels[t], extra_info=info
                )
                lines.append(
                    {
                        "prompt_id": f"{dataset}/test/{i}",
                        "sample": j,
                        "output": text,
                        "gts": labels[t],
                        "data_source": f"verl_med/{dataset}",
                        "extra_info": info,
                        "score": score["score"],
                        "acc": score["acc"],
                    }
                )
    random.Random(run_no).shuffle(lines)
    return lines


def _evaluate(tmp_path, name: str, runs: dict[str, list[dict]]) -> dict:
    args = []
    for run, lines in runs.items():
        path = tmp_path / name / f"{run}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(x) + "\n" for x in lines))
        args.append(f"{run}={path}")
    out = tmp_path / name / "report"
    assert evaluate.main([*args, "--bootstrap", "200", "--baseline", "a", "--out", str(out)]) == 0
    report = json.loads((out / "metrics.json").read_text())
    return {"datasets": {r["name"]: r["datasets"] for r in report["runs"]}, "comparisons": report["comparisons"]}


def test_shuffling_a_dumps_lines_changes_no_figure(tmp_path):
    """Every figure (metrics, maj@k, bootstrap CIs, per-prompt outcomes, McNemar, Holm) of two runs is the same
    for their dumps in three line orders.

    Mutations checked: prompts kept in file order (``ids = list(groups)`` in ``evaluate.prompt_outcomes``) moves
    the CIs; ties broken by the first sample seen (``Counter.most_common``) moves maj@k and McNemar."""
    a, b = _lines(1), _lines(2)
    reference = _evaluate(tmp_path, "original", {"a": a, "b": b})
    assert reference["datasets"]["b"]["breastmnist"]["sampling"]["k"] == K
    for seed in (3, 4):
        shuffled = {name: random.Random(seed).sample(lines, len(lines)) for name, lines in (("a", a), ("b", b))}
        assert _evaluate(tmp_path, f"shuffled{seed}", shuffled) == reference


def test_maj_at_k_and_mcnemar_vote_alike_for_every_task_type():
    """McNemar's per-prompt correctness is maj@k's majority vote, for multilabel and grounding too (it used to be
    "more than half the samples right": a prompt with 2 of 4 samples right and the right answer the most frequent
    counted as wrong). McNemar's p is then statsmodels' on the hand-counted table.

    Mutation checked: ``np.mean(ok) > 0.5`` for non-single-label tasks again fails the per-prompt assertion."""
    # multilabel, truth {0}: answers {0},{0},{1},{2} -> the vote {0} is right, though only half the samples are
    ml = S.Outcomes(
        "multilabel",
        3,
        ["m1", "m2"],
        [[0], [1, 2]],
        [[[0], [0], [1], [2]], [[1, 2], [1], [1], None]],
        [[True, True, False, False], [True, False, False, False]],
        votes=[["0", "0", "1", "2"], ["1,2", "1", "1", ""]],
    )
    assert ml.prompt_correct().tolist() == [True, False]
    # grounding: the answer text is the vote
    gr = S.Outcomes(
        "grounding",
        0,
        ["g1", "g2"],
        [None, None],
        [[None] * 4, [None] * 3],
        [[True, True, False, False], [False, True, True]],
        votes=[["(1,1),(5,5)", "(1,1),(5,5)", "(0,0),(2,2)", ""], ["(0,0),(9,9)", "(1,1),(5,5)", "(1,1),(6,6)"]],
    )
    by_vote = [M.majority_correct(v, ok, pid) for pid, v, ok in zip(gr.prompt_ids, gr.votes, gr.correct, strict=True)]
    assert gr.prompt_correct().tolist() == by_vote
    assert gr.prompt_correct()[0]  # 2 right of 4, the right box the majority
    sampling = M.sampling_metrics(
        [p for p, v in zip(gr.prompt_ids, gr.votes, strict=True) for _ in v],
        [x for v in gr.votes for x in v],
        [x for c in gr.correct for x in c],
    )
    assert sampling["maj@k"] == pytest.approx(gr.prompt_correct().mean())

    a = np.array([True, False, True, True, False, True, True, True])
    b = np.array([False, False, True, False, False, False, True, False])
    table = [[int((a & b).sum()), int((a & ~b).sum())], [int((~a & b).sum()), int((~a & ~b).sum())]]
    assert S.mcnemar_exact(a, b)["p_value"] == pytest.approx(mcnemar(table, exact=True).pvalue)


def test_multilabel_macro_f1_has_a_ci_equal_to_scikit_learns_on_resamples():
    """Mutation checked: without the multilabel ``macro_f1`` function there is no CI (KeyError below)."""
    rng = np.random.default_rng(5)
    n, labels = 40, ("a", "b", "c", "d")
    truth = [sorted(rng.choice(4, rng.integers(0, 3), replace=False).tolist()) for _ in range(n)]
    predicted = [
        [None if rng.random() < 0.1 else sorted(rng.choice(4, rng.integers(0, 3), replace=False).tolist())]
        for _ in range(n)
    ] + []
    predicted = [p + [sorted(set(truth[i]))] for i, p in enumerate(predicted)]  # k = 2
    correct = [[p is not None and sorted(p) == truth[i] for p in preds] for i, preds in enumerate(predicted)]
    o = S.Outcomes("multilabel", 4, [f"p{i}" for i in range(n)], truth, predicted, correct)
    f1 = o.metric_functions()["macro_f1"]
    for _ in range(20):
        idx = rng.integers(0, n, n)
        flat_truth = [truth[i] for i in idx for _ in predicted[i]]
        flat_pred = [p for i in idx for p in predicted[i]]
        assert f1(idx) == pytest.approx(M.multilabel_metrics(flat_truth, flat_pred, labels)["macro_f1"])
    ci = S.confidence_intervals(o, n_resamples=200)["macro_f1"]
    assert ci is not None and ci["low"] <= f1(np.arange(n)) <= ci["high"]


def _holm_by_hand(p: list[float]) -> list[float]:
    order = sorted(range(len(p)), key=p.__getitem__)
    adjusted, running = [0.0] * len(p), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[i]))
        adjusted[i] = running
    return adjusted


def test_holm_adjusted_p_values_beside_the_raw_ones():
    """Mutation checked: Bonferroni (``method="bonferroni"``) instead of Holm fails the by-hand values."""
    raw = [0.01, 0.04, 0.03, 0.2, 0.004]
    comparisons = [{"mcnemar": {"p_value": p}} for p in raw] + [{"error": "no common prompts"}]
    S.holm_adjust(comparisons)
    got = [c["mcnemar"]["p_holm"] for c in comparisons[:-1]]
    assert got == pytest.approx(_holm_by_hand(raw))
    assert [c["mcnemar"]["p_value"] for c in comparisons[:-1]] == raw  # the raw ones stay
    assert all(c["mcnemar"]["n_tests"] == 5 for c in comparisons[:-1])


def test_binary_auroc_is_medmnists():
    """MedMNIST's Evaluator scores binary tasks by label 1's score (``getAUC``, "binary-class"): with invalid
    answers this differs from the mean of both one-vs-rest AUROCs, which the report gave before.

    Mutation checked: the one-vs-rest macro for binary tasks (``metrics.auroc``) fails both equalities."""
    from medmnist.evaluator import getAUC

    rng = np.random.default_rng(7)
    truth = rng.integers(0, 2, 60)
    predicted = [[int(x) for x in rng.choice([-1, 0, 1], 3, p=[0.3, 0.35, 0.35])] for _ in truth]
    o = S.Outcomes(
        "binary",
        2,
        [f"p{i}" for i in range(60)],
        truth.tolist(),
        predicted,
        [[p == t for p in ps] for t, ps in zip(truth, predicted, strict=True)],
    )
    shares = M.vote_shares(predicted, 2)
    expected = getAUC(truth, shares, "binary-class")
    assert o.auroc()["macro"] == pytest.approx(expected)
    assert o.metric_functions()["auroc"](np.arange(60)) == pytest.approx(expected)
    assert abs(M.auroc(np.eye(2, dtype=int)[truth], shares)["macro"] - expected) > 1e-3


def test_every_table_has_the_caption():
    """Mutation checked: dropping the caption from any rendering fails."""
    from verl_med_plugin.evaluation import table as T

    table = {
        "metric": "accuracy",
        "datasets": ["breastmnist"],
        "rows": {"vrft": {"breastmnist": {"n": 2, "mean": 0.8, "sd": 0.01, "ci": {"low": 0.7, "high": 0.9}}}},
        "best": {},
    }
    table["rows"]["vrft"][T.MEAN] = table["rows"]["vrft"]["breastmnist"]
    md, tex = T.markdown_table(table), T.latex_table(table)
    assert "± = sample standard deviation (ddof 1) over seeds; [ ] = 95 % bootstrap CI over test prompts" in md
    assert r"\pm{} = sample standard deviation" in tex or "± = sample standard deviation" in tex
