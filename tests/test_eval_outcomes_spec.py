"""Specifications of ``statistics.Outcomes`` (one run's per-prompt answers, what the bootstrap resamples and McNemar
pairs) for the survivors of ``bash scripts/mutation.sh metrics`` (benchmarks/results/mutation.md): its JSON round
trip, the vote keys of reports written without ``votes``, the per-prompt majority tie-break, the units and
functions of each metric, the AUROC of two-class tasks that are not "binary", and empty or truncated reports.

Each expected value comes from an independent computation: the documented tie rule by ``hashlib``, scikit-learn
(``roc_auc_score``, ``multilabel_confusion_matrix``), numpy on the listed samples, or a case worked by hand. Each
test's docstring names the mutants it kills.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from sklearn.metrics import multilabel_confusion_matrix, roc_auc_score

from verl_med_plugin.evaluation import metrics as M
from verl_med_plugin.evaluation import statistics as S

# prompt ids for tie-break checks: with 24 of them, a changed vote key or tie key moves some tie (p = 2**-24 not)
TIE_IDS = [f"breastmnist/test/{i}" for i in range(24)]


def _tie_winner(prompt_id: str, answers: list[str]) -> str:
    """The documented tie rule (``metrics.majority_vote``): the tied answer with the smallest
    ``sha256(f"{prompt_id}\\0{answer}")`` (first 8 bytes)."""
    return min(answers, key=lambda a: hashlib.sha256(f"{prompt_id}\x00{a}".encode()).digest()[:8])


def _json_round_trip(outcomes: S.Outcomes) -> tuple[dict, S.Outcomes]:
    """As the evaluation writes ``outcomes`` into metrics.json and ``aggregation``/``table`` read it back."""
    data = json.loads(json.dumps(outcomes.as_dict()))
    return data, S.Outcomes.from_dict(data)


def _classification(votes: list[list[str]] | None = None) -> S.Outcomes:
    """Three RetinaMNIST-like prompts (5 grades), k = 2 and 3, an invalid answer among them."""
    return S.Outcomes(
        "ordinal",
        5,
        ["retinamnist/test/0", "retinamnist/test/1", "retinamnist/test/2"],
        [0, 3, 4],
        [[0, 1], [3, M.INVALID, 2], [4, 4]],
        [[True, False], [True, False, False], [True, True]],
        votes=votes,
    )


def _vqa(values: dict, correct: list[list[bool]], votes: list[list[str]] | None = None) -> S.Outcomes:
    n = len(correct)
    return S.Outcomes(
        "vqa",
        0,
        [f"vqa-rad/test/{i}" for i in range(n)],
        [None] * n,
        [[None] * len(c) for c in correct],
        correct,
        values=values,
        votes=votes,
    )


CORE_KEYS = {"task_type", "n_classes", "prompt_ids", "truth", "predicted", "correct"}


def test_a_report_without_votes_or_values_round_trips_through_json_with_exactly_the_core_keys():
    """A classification report written before ``votes`` existed: ``as_dict`` writes exactly the six core keys (no
    ``"votes": null``, no ``"values": null``, which would read back as present) and ``from_dict`` of its JSON gives
    the same outcomes, so a paired comparison read from metrics.json is the one computed in memory.

    Kills: any core key renamed in ``as_dict`` or ``from_dict``, the core keys dropped from ``from_dict``, the
    ``votes is not None`` guard inverted (a ``votes`` key written as null), ``values`` written though None (guard
    forced or inverted)."""
    outcomes = _classification()
    data, back = _json_round_trip(outcomes)
    assert set(data) == CORE_KEYS
    assert data == {
        "task_type": "ordinal",
        "n_classes": 5,
        "prompt_ids": ["retinamnist/test/0", "retinamnist/test/1", "retinamnist/test/2"],
        "truth": [0, 3, 4],
        "predicted": [[0, 1], [3, -1, 2], [4, 4]],
        "correct": [[True, False], [True, False, False], [True, True]],
    }
    assert back == outcomes
    assert back.votes is None and back.values is None


def test_votes_and_values_survive_the_json_round_trip():
    """The McNemar votes (answer texts for VQA and grounding, which ``predicted`` does not keep) and the VQA
    per-prompt metric values are written under "votes" and "values" and read back unchanged: a paired comparison
    from metrics.json votes on the answer texts and bootstraps the VQA metrics, as the run itself did.

    Kills: ``votes`` or ``values`` read back as None, read under another key (``data.get(None)``, "XXvotesXX",
    "VOTES", ...) or dropped from ``from_dict``; ``votes`` written as None or under another key; ``values`` not
    written (guard forced false or inverted) or written under another key."""
    votes = [["yes", "yes"], ["no", ""], ["left lung", "right lung", "left lung"]]
    values = {
        "accuracy": [[1.0, 1.0], [0.0, 0.0], [1.0, 0.0, 1.0]],
        "closed_accuracy": [[1.0, 1.0], [0.0, 0.0], None],
        "open_f1": [None, None, [1.0, 0.5, 1.0]],
    }
    outcomes = _vqa(values, [[True, True], [False, False], [True, False, True]], votes=votes)
    data, back = _json_round_trip(outcomes)
    assert set(data) == CORE_KEYS | {"votes", "values"}
    assert data["votes"] == votes and data["values"] == values
    assert back == outcomes
    assert back.votes == votes and back.values == values
    # the classification report with votes: "votes" written, no "values"
    with_votes = _classification(votes=[["0", "1"], ["3", "", "2"], ["4", "4"]])
    data, back = _json_round_trip(with_votes)
    assert set(data) == CORE_KEYS | {"votes"}
    assert back == with_votes


def test_single_label_reports_without_votes_vote_on_the_label_index_and_ignore_invalid_answers():
    """McNemar's per-prompt outcome of a report without ``votes`` is maj@k's vote on the label index the parser
    read, invalid answers (``INVALID``) voting for nothing. Worked by hand (truth, answers -> vote):

    - 1, [0, 2, 3, 1, 1] -> "1" (2 votes): right, though 3 of 5 samples are wrong (a vote on right/wrong says wrong);
    - 1, [-1, -1, 1] -> "1": right (invalid answers counted as an answer "-1" would win 2 to 1: wrong);
    - 1, [0, 1, 1] -> "1": right (every key the same, e.g. "None", would take the first sample: wrong);
    - 2, [-1, -1] -> no valid answer: wrong.

    Kills: the single-label test inverted (labels voted as right/wrong), invalid answers given a key ("-1" by the
    forced condition, or "XXXX"), every key made ``str(None)``."""
    truth = [1, 1, 1, 2]
    predicted = [[0, 2, 3, 1, 1], [M.INVALID, M.INVALID, 1], [0, 1, 1], [M.INVALID, M.INVALID]]
    for task_type, n in (("multiclass", 4), ("ordinal", 4)):
        outcomes = S.Outcomes(
            task_type,
            n,
            ["a", "b", "c", "d"],
            truth,
            predicted,
            [[p == t for p in preds] for t, preds in zip(truth, predicted, strict=True)],
        )
        assert outcomes.prompt_correct().tolist() == [True, True, True, False], task_type


def test_multilabel_reports_without_votes_vote_on_the_label_set():
    """A multilabel report without ``votes`` votes on the predicted label set, an invalid answer (None) voting for
    nothing and the empty set being an answer ("none" in ``aggregation.vote_key``). Worked by hand:

    - truth {1}, answers {0}, {1}, {1} -> {1}: right (every set read as one key would take the first: wrong);
    - truth {1}, answers None, None, {1} -> {1}: right (a key for "no answer" would win 2 to 1: wrong);
    - truth {}, answers {}, {}, {0} -> {}: right (the empty set dropped as "no answer": {0} wins, wrong);
    - truth {0, 2}, answers {0, 2}, {0, 2}, {0} -> {0, 2}: right.

    Kills: the multilabel test inverted (sets voted as right/wrong, or other tasks' None joined: TypeError), the
    None test forced or inverted, "no answer" keyed "XXXX", ``or "none"`` made ``and "none"``, the key's
    ``",".join(map(str, p))`` broken (``join(None)``, ``map(None, p)``, ``map(str, None)``, ``map(p)``, ...)."""
    outcomes = S.Outcomes(
        "multilabel",
        3,
        ["a", "b", "c", "d"],
        [[1], [1], [], [0, 2]],
        [[[0], [1], [1]], [None, None, [1]], [[], [], [0]], [[0, 2], [0, 2], [0]]],
        [[False, True, True], [False, False, True], [True, True, False], [True, True, False]],
    )
    assert outcomes.prompt_correct().tolist() == [True, True, True, True]


def test_multilabel_keys_without_votes_equal_the_written_ones_so_ties_break_alike():
    """A report written before ``votes`` gives the same McNemar outcomes as one with them: the derived key of a
    label set is ``aggregation.vote_key``'s (indices joined by ",", "none" for the empty set), and since a 1-1 tie
    goes by ``sha256(prompt id, key)`` the key's exact text decides it. Each prompt ties {0, 2} (right) against
    {} and each the expected winner is the documented rule's (``hashlib``).

    Kills: the separator changed ("XX,XX") and the empty set's key renamed ("XXnoneXX", "NONE")."""
    predicted = [[[0, 2], []] for _ in TIE_IDS]
    correct = [[True, False] for _ in TIE_IDS]
    without = S.Outcomes("multilabel", 3, TIE_IDS, [[0, 2]] * len(TIE_IDS), predicted, correct)
    written = S.Outcomes(
        "multilabel", 3, TIE_IDS, [[0, 2]] * len(TIE_IDS), predicted, correct, votes=[["0,2", "none"]] * len(TIE_IDS)
    )
    expected = [_tie_winner(pid, ["0,2", "none"]) == "0,2" for pid in TIE_IDS]
    assert 0 < sum(expected) < len(expected)  # both outcomes occur: the tie-break is exercised
    assert without.prompt_correct().tolist() == expected
    assert written.prompt_correct().tolist() == expected


def test_vqa_reports_without_votes_vote_on_correctness_and_break_ties_by_the_rule():
    """VQA (and grounding) reports written without ``votes`` keep no answer text, so each sample votes "right" or
    "wrong" (``_vote_keys``): 2 of 3 right -> right, 1 of 3 -> wrong, and a 2-2 tie goes to the key with the
    smaller ``sha256(prompt id, key)`` (``hashlib`` below), the same prompt always the same way. Here every wrong
    sample is a closed question left unanswered (""): its key is the same read from correctness or from the answer.

    Kills: every sample keyed "right" or every one "wrong" (the first sample's correctness decides), "right" or
    "wrong" renamed ("XXrightXX", "RIGHT", "XXwrongXX", "WRONG": the ties move)."""
    clear = S.Outcomes(
        "vqa",
        0,
        ["q1", "q2"],
        ["yes", "no"],
        [["", "yes", "yes"], ["no", "", ""]],
        [[False, True, True], [True, False, False]],
    )
    assert clear.prompt_correct().tolist() == [True, False]
    n = len(TIE_IDS)
    ties = S.Outcomes("vqa", 0, TIE_IDS, ["yes"] * n, [["yes", "", "yes", ""]] * n, [[True, False, True, False]] * n)
    expected = [_tie_winner(pid, ["right", "wrong"]) == "right" for pid in TIE_IDS]
    assert 0 < sum(expected) < n
    assert ties.prompt_correct().tolist() == expected


def test_grounding_and_answered_vqa_reports_without_votes_vote_on_correctness():
    """The documented rule for reports without ``votes`` (``_vote_keys``: "each sample votes by its correctness
    alone") on a grounding prompt (``predicted`` is None for every sample) and a closed question answered "no"
    where "yes" is right: 2 of 3 samples right -> the prompt is right for McNemar, as maj@k says.

    Kills: the keys read from ``predicted`` instead of ``correct`` (the bug this found: every grounding sample then
    voted "wrong" and the first sample decided; an answered VQA sample voted "right" whether right or not)."""
    grounding = S.Outcomes("grounding", 0, ["g1"], [None], [[None, None, None]], [[False, True, True]])
    assert grounding.prompt_correct().tolist() == [True]
    vqa = S.Outcomes("vqa", 0, ["q1"], ["yes"], [["no", "yes", "yes"]], [[False, True, True]])
    assert vqa.prompt_correct().tolist() == [True]


def test_a_tied_vote_is_broken_by_the_prompt_id():
    """McNemar's per-prompt outcome breaks a tie as maj@k does, by the prompt's own id (``sha256(id, answer)``),
    so a 1-1 tie between a right and a wrong label goes one way for some prompts and the other way for others,
    each as the documented rule computed with ``hashlib`` says; with or without written votes.

    Kills: the tie key dropped (``majority_correct(v, ok)``: tie key "") or made None (tie key "None"): every
    prompt would then break the tie by the same hash."""
    n = len(TIE_IDS)
    for votes in (None, [["1", "2"]] * n):
        outcomes = S.Outcomes("multiclass", 3, TIE_IDS, [1] * n, [[1, 2]] * n, [[True, False]] * n, votes=votes)
        expected = [_tie_winner(pid, ["1", "2"]) == "1" for pid in TIE_IDS]
        assert 0 < sum(expected) < n
        assert outcomes.prompt_correct().tolist() == expected


def test_a_report_whose_votes_or_answers_miss_a_prompt_is_refused_by_mcnemar():
    """A report whose ``votes`` (or, without them, ``predicted``) lists fewer prompts than ``prompt_ids`` is
    refused (``zip(..., strict=True)``), not paired on the prompts that happen to line up: McNemar would silently
    test a shorter table with the prompts shifted.

    Kills: ``strict=True`` made ``strict=None``, ``strict=False`` or dropped in ``prompt_correct``."""
    short_votes = S.Outcomes(
        "multiclass", 2, ["a", "b", "c"], [0, 1, 0], [[0], [1], [0]], [[True], [True], [True]], votes=[["0"], ["1"]]
    )
    with pytest.raises(ValueError, match="zip"):
        short_votes.prompt_correct()
    short_predicted = S.Outcomes("multiclass", 2, ["a", "b", "c"], [0, 1, 0], [[0], [1]], [[True], [True], [True]])
    with pytest.raises(ValueError, match="zip"):
        short_predicted.prompt_correct()


def test_a_dataset_without_prompts_has_no_intervals_and_no_auroc_rather_than_a_crash():
    """A dataset filtered down to no prompts (n = 0): no CI for any metric (None each), AUROC undefined for every
    class, and McNemar's per-prompt outcomes an empty boolean mask (``a & ~b`` works on it).

    Kills: the truth read without ``dtype=int`` in ``metric_functions`` or ``auroc`` (an empty list becomes a
    float array, which cannot index the one-hot matrix: IndexError); the per-prompt outcomes built without
    ``dtype=bool`` (an empty float array, which ``~`` rejects)."""
    empty = S.Outcomes("multiclass", 3, [], [], [], [])
    assert S.confidence_intervals(empty, n_resamples=20) == {
        "accuracy": None,
        "balanced_accuracy": None,
        "macro_f1": None,
        "auroc": None,
    }
    assert empty.auroc() == {"macro": None, "n_classes": 0, "per_class": [None, None, None]}
    mask = empty.prompt_correct()
    assert mask.dtype == bool and mask.shape == (0,)
    assert (mask & ~mask).tolist() == []


@pytest.mark.parametrize("task_type", ["multiclass", "ordinal"])
def test_a_two_class_task_that_is_not_binary_has_the_one_vs_rest_macro_auroc(task_type):
    """MedMNIST scores only "binary-class" tasks by label 1's score; a two-class multiclass or ordinal task keeps
    the one-vs-rest macro mean, scikit-learn's ``roc_auc_score`` of each class's vote share, averaged. With
    invalid answers (which vote for neither class) the two differ, so the report's AUROC and its CI depend on it.

    Kills: ``task_type == BINARY and n == 2`` made ``or`` in ``auroc`` and in ``metric_functions``."""
    rng = np.random.default_rng(7)
    truth = rng.integers(0, 2, 60)
    predicted = [[int(x) for x in rng.choice([-1, 0, 1], 3, p=[0.3, 0.35, 0.35])] for _ in truth]
    outcomes = S.Outcomes(
        task_type,
        2,
        [f"p{i}" for i in range(60)],
        truth.tolist(),
        predicted,
        [[p == t for p in ps] for t, ps in zip(truth, predicted, strict=True)],
    )
    shares = np.array([[ps.count(c) / len(ps) for c in (0, 1)] for ps in predicted])
    one_vs_rest = np.mean([roc_auc_score(truth == c, shares[:, c]) for c in (0, 1)])
    label_1_only = roc_auc_score(truth, shares[:, 1])
    assert abs(one_vs_rest - label_1_only) > 1e-3
    assert outcomes.auroc()["macro"] == pytest.approx(one_vs_rest)
    assert outcomes.metric_functions()["auroc"](np.arange(60)) == pytest.approx(one_vs_rest)


def _mixed_vqa() -> S.Outcomes:
    """Four VQA prompts: open questions 0 and 2, MCQ 1 and 3, no closed question."""
    return _vqa(
        {
            "accuracy": [[1.0, 0.0], [1.0], [0.0, 0.0], [0.0]],
            "mcq_accuracy": [None, [1.0], None, [0.0]],
            "closed_accuracy": [None, None, None, None],
            "open_f1": [[1.0, 0.5], None, [0.25, 0.0], None],
        },
        [[True, False], [True], [False, False], [False]],
    )


def test_a_vqa_metrics_units_are_the_prompts_it_applies_to():
    """The bootstrap of a VQA metric of one question kind resamples only the prompts of that kind (open F1: the
    open prompts 0 and 2), so its interval is that kind's own test set's; accuracy and a metric the report lacks
    resample every prompt; a metric applying to no prompt has no units, as an integer index array that selects
    nothing (not a float array, which cannot index).

    Kills: the values' lookup dropped (``per_prompt = None``, ``.get(None)``: every prompt), the accuracy test
    inverted (``name != "accuracy"``), the applicable test inverted (``v is None``: the other kind's prompts),
    ``enumerate(None)`` / ``np.array(None)`` / ``np.array()``, the indices built without ``dtype=int``."""
    outcomes = _mixed_vqa()
    assert outcomes.metric_units("open_f1").tolist() == [0, 2]
    assert outcomes.metric_units("mcq_accuracy").tolist() == [1, 3]
    assert outcomes.metric_units("accuracy").tolist() == [0, 1, 2, 3]
    assert outcomes.metric_units("open_recall").tolist() == [0, 1, 2, 3]  # not in values
    none = outcomes.metric_units("closed_accuracy")
    assert none.dtype.kind == "i" and np.arange(4)[none].tolist() == []
    ci = S.confidence_intervals(outcomes, n_resamples=50)
    assert (ci["open_f1"]["n_units"], ci["mcq_accuracy"]["n_units"], ci["accuracy"]["n_units"]) == (2, 2, 4)


def test_a_vqa_report_has_a_function_for_each_metric_that_applies_to_some_prompt():
    """A metric gets a bootstrap function (and a CI row) when it applies to at least one prompt, whether or not it
    applies to all: an all-closed dataset has accuracy and closed accuracy only (no null MCQ or open rows), a
    mixed one accuracy, MCQ accuracy and open F1 (no closed row).

    Kills: ``and any(v is not None ...)`` made ``or`` (a metric applying to no prompt gets a row) or turned into
    ``any(v is None ...)`` (a metric applying to every prompt loses its row, one applying to none gains one)."""
    closed = _vqa(
        {
            "accuracy": [[1.0], [0.0], [1.0]],
            "mcq_accuracy": [None, None, None],
            "closed_accuracy": [[1.0], [0.0], [1.0]],
            "open_f1": [None, None, None],
        },
        [[True], [False], [True]],
    )
    assert set(closed.metric_functions()) == {"accuracy", "closed_accuracy"}
    assert set(S.confidence_intervals(closed, n_resamples=20)) == {"accuracy", "closed_accuracy"}
    assert set(_mixed_vqa().metric_functions()) == {"accuracy", "mcq_accuracy", "open_f1"}


def test_accuracy_is_always_the_share_of_right_samples_over_every_prompt():
    """Accuracy and its CI come from ``correct`` over every prompt, for VQA too: an "accuracy" entry in ``values``
    (the VQA table's, over the samples that carry values) never replaces it. Here ``values`` lacks prompt 1's
    samples and prompt 0's second one, so its mean (2/3 over prompts 0 and 2) differs from the report's 3/6.

    Kills: "accuracy" renamed in the ``name != "accuracy"`` guard of ``metric_functions`` or of ``metric_units``
    (the values' mean, or only the prompts with values, would be used)."""
    outcomes = _vqa(
        {"accuracy": [[1.0], None, [1.0, 0.0]], "open_f1": [[1.0], None, [1.0, 0.2]]},
        [[True, False], [False, True], [True, False]],
    )
    assert outcomes.metric_functions()["accuracy"](np.arange(3)) == pytest.approx(3 / 6)
    assert outcomes.metric_functions()["accuracy"](np.array([0, 0])) == pytest.approx(2 / 4)
    assert outcomes.metric_units("accuracy").tolist() == [0, 1, 2]


def test_multilabel_counts_are_scikit_learns_tp_fp_fn_per_label():
    """The per-prompt, per-label counts the multilabel bootstrap sums are [TP, FP, FN] as documented, summed over
    each prompt's samples, an invalid answer predicting no label: equal to scikit-learn's
    ``multilabel_confusion_matrix`` of the prompt's samples (macro-F1 alone could not tell FP from FN).

    Kills: false positives added to the FN slot (``counts[i, :, 2] += ~t & q``)."""
    truth = [[0, 2], [1], [], [0]]
    predicted = [[[0], [0, 1], None], [[1], [2]], [[0], []], [None, [0, 1, 2]]]
    outcomes = S.Outcomes(
        "multilabel",
        3,
        ["a", "b", "c", "d"],
        truth,
        predicted,
        [[p is not None and sorted(p) == t for p in ps] for t, ps in zip(truth, predicted, strict=True)],
    )
    counts = outcomes._multilabel_counts()

    def indicator(sets):
        return np.array([[int(c in s) for c in range(3)] for s in sets])

    for i, (t, ps) in enumerate(zip(truth, predicted, strict=True)):
        mcm = multilabel_confusion_matrix(indicator([t] * len(ps)), indicator([p or [] for p in ps]), labels=[0, 1, 2])
        assert counts[i, :, 0].tolist() == mcm[:, 1, 1].tolist(), i  # TP
        assert counts[i, :, 1].tolist() == mcm[:, 0, 1].tolist(), i  # FP
        assert counts[i, :, 2].tolist() == mcm[:, 1, 0].tolist(), i  # FN
    assert counts[:, :, 1].sum() > 0  # false positives occur
