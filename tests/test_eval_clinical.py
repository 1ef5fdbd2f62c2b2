"""Clinical metrics through the whole evaluation (JSONL -> reward parser -> metrics), each against an independent
computation: AUROC (scikit-learn's multiclass one-vs-rest, scipy's Mann-Whitney U), sensitivity/specificity/PPV/NPV
of the knowledge card's positive class (hand counts), ordinal QWK/MAE with invalid answers as the farthest grade,
best@k's chance level (a simulated random guesser), lesion-only grounding, think/answer consistency."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import mannwhitneyu
from sklearn.metrics import cohen_kappa_score, roc_auc_score

from data_preprocess.common import ConversionError
from data_preprocess.knowledge import label_aliases, load_card
from verl_med_plugin.evaluation import evaluate
from verl_med_plugin.evaluation import metrics as M
from verl_med_plugin.evaluation.dumps import EvalDataError


def _info(dataset: str, index: int) -> dict:
    card = load_card(dataset)
    return {
        "dataset": dataset,
        "task_type": card.task_type,
        "labels": card.label_names,
        "label_aliases": label_aliases(card),
        "index": index,
        "split": "test",
    }


def _answer(label: str | None, think: str = "I look at the image.") -> str:
    return f"<think>{think}</think>" + ("no idea" if label is None else f"<answer>{label}</answer>")


def _write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _run(tmp_path, dataset, truth, answers, **kwargs):
    """One record per (prompt, sample); ``answers[i]`` lists prompt i's answers (label index, None = no answer)."""
    labels = load_card(dataset).label_names
    records = [
        {
            "prompt_id": f"{dataset}/test/{i}",
            "output": _answer(None if a is None else labels[a]),
            "gts": labels[t],
            "extra_info": _info(dataset, i),
        }
        for i, (t, samples) in enumerate(zip(truth, answers, strict=True))
        for a in samples
    ]
    path = _write(tmp_path / f"{dataset}.jsonl", records)
    return evaluate.evaluate_run("run", path, None, None, {}, n_resamples=0, **kwargs)["datasets"][dataset]


def test_positive_class_comes_from_the_card_breastmnist_label_0_is_malignant(tmp_path):
    card = load_card("breastmnist")
    assert card.label_names[0] == "malignant" and card.positive == ("malignant",)
    # truth: 4 malignant (0), 6 benign/normal (1); answers per image (None: no answer)
    truth = [0, 0, 0, 0, 1, 1, 1, 1, 1, 1]
    answers = [[0], [0], [1], [None], [1], [1], [1], [0], [None], [1]]
    m = _run(tmp_path, "breastmnist", truth, answers)["positive_class"]
    # malignant found 2 of 4 (one called benign, one no answer); benign cleared 4 of 6 (one called malignant,
    # one no answer); PPV over malignant calls 2/3, NPV over benign calls 4/5
    assert (m["tp"], m["fn"], m["fp"], m["tn"]) == (2, 1, 1, 4)
    assert (m["invalid_positive"], m["invalid_negative"]) == (1, 1)
    assert m["sensitivity"] == pytest.approx(2 / 4) and m["specificity"] == pytest.approx(4 / 6)
    assert m["ppv"] == pytest.approx(2 / 3) and m["npv"] == pytest.approx(4 / 5)
    assert m["labels"] == ["malignant"]
    # label 1 as "positive" would have given another sensitivity: the card, not the index, decides
    flipped = _run(tmp_path, "breastmnist", truth, answers, positive={"breastmnist": ["normal or benign"]})
    assert flipped["positive_class"]["sensitivity"] == pytest.approx(4 / 6)


def test_positive_class_list_and_bad_cards(tmp_path):
    retina = load_card("retinamnist")
    assert retina.positive == ("moderate NPDR", "severe NPDR", "proliferative DR")  # referable DR
    assert load_card("bloodmnist").positive == ()  # no clinically positive class: no such metrics
    text = retina.path.read_text(encoding="utf-8").replace(
        "positive: [moderate NPDR, severe NPDR, proliferative DR]", "positive: [grade 9]"
    )
    bad = tmp_path / "retina.yaml"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(ConversionError, match="field 'positive'"):
        load_card(bad)
    assert "positive_class" not in _run(tmp_path, "bloodmnist", [0, 1], [[0], [1]])
    with pytest.raises(EvalDataError, match="positive class"):
        _run(tmp_path, "bloodmnist", [0, 1], [[0], [1]], positive={"bloodmnist": ["dragon"]})


def test_auroc_from_vote_shares_equals_scikit_learns_one_vs_rest(tmp_path):
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 8, 60)
    # 4 samples per prompt, mostly right: vote shares sum to 1 when every answer is valid
    answers = [[int(t) if rng.random() < 0.6 else int(rng.integers(0, 8)) for _ in range(4)] for t in truth]
    m = _run(tmp_path, "bloodmnist", truth, answers)
    shares = np.array([[a.count(c) / 4 for c in range(8)] for a in answers])
    assert m["auroc"] == pytest.approx(roc_auc_score(truth, shares, multi_class="ovr", average="macro"))
    assert m["auroc_detail"]["n_classes"] == 8


def test_binary_auroc_is_the_mann_whitney_statistic(tmp_path):
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 2, 40)
    answers = [[int(t) if rng.random() < 0.7 else 1 - int(t) for _ in range(5)] for t in truth]
    answers[0][0] = None  # an invalid answer votes for no class
    m = _run(tmp_path, "pneumoniamnist", truth, answers)
    share_pneumonia = np.array([sum(a == 1 for a in s) / 5 for s in answers])
    u = mannwhitneyu(share_pneumonia[truth == 1], share_pneumonia[truth == 0]).statistic
    assert m["auroc_detail"]["per_class"][1] == pytest.approx(u / ((truth == 1).sum() * (truth == 0).sum()))


def test_multilabel_auroc_per_label(tmp_path):
    labels = ["effusion", "mass", "nodule"]
    info = {"dataset": "chest", "task_type": "multilabel", "labels": labels, "split": "test"}
    truth_sets = [["effusion"], ["mass"], ["effusion", "mass"], [], ["effusion"], ["mass"]]
    answers = [
        [["effusion"], ["effusion", "mass"]],
        [["mass"], []],
        [["effusion", "mass"], ["mass"]],
        [[], ["nodule"]],
        [["mass"], ["effusion"]],
        [["mass"], ["mass"]],
    ]
    records = [
        {
            "prompt_id": str(i),
            "output": _answer(", ".join(a) if a else "none"),
            "gts": json.dumps(t),
            "extra_info": info | {"index": i},
        }
        for i, (t, s) in enumerate(zip(truth_sets, answers, strict=True))
        for a in s
    ]
    m = evaluate.evaluate_run("x", _write(tmp_path / "c.jsonl", records), None, None, {}, n_resamples=0)["datasets"][
        "chest"
    ]
    truth = np.array([[label in t for label in labels] for t in truth_sets], dtype=int)
    shares = np.array([[sum(label in a for a in s) / 2 for label in labels] for s in answers])
    expected = [roc_auc_score(truth[:, j], shares[:, j]) for j in range(2)]  # nodule: never true, no AUROC
    assert m["auroc_detail"]["per_class"] == [pytest.approx(expected[0]), pytest.approx(expected[1]), None]
    assert m["auroc"] == pytest.approx(np.mean(expected))


def test_ordinal_invalid_answers_as_the_farthest_grade(tmp_path):
    truth = [0, 1, 2, 3, 4, 4]
    answers = [[0], [None], [None], [2], [4], [None]]
    m = _run(tmp_path, "retinamnist", truth, answers)
    # valid only: 3 graded answers (0->0, 3->2, 4->4)
    assert m["n_graded"] == 3 and m["mae"] == pytest.approx(1 / 3)
    assert m["qwk"] == pytest.approx(cohen_kappa_score([0, 3, 4], [0, 2, 4], labels=range(5), weights="quadratic"))
    # every answer: grade 1 -> 4, grade 2 (the middle: tie) -> 0, grade 4 -> 0
    substituted = [0, 4, 0, 2, 4, 0]
    assert m["mae_invalid_farthest"] == pytest.approx(np.mean(np.abs(np.array(truth) - substituted)))
    assert m["qwk_invalid_farthest"] == pytest.approx(
        cohen_kappa_score(truth, substituted, labels=range(5), weights="quadratic")
    )
    assert m["qwk_invalid_farthest"] < m["qwk"]  # a run cannot look better by refusing hard cases


def test_best_at_k_chance_level_matches_a_random_guesser():
    rng = np.random.default_rng(2)
    n_prompts, k, n_classes = 20_000, 4, 5
    truth = rng.integers(0, n_classes, n_prompts)
    guesses = rng.integers(0, n_classes, (n_prompts, k))
    result = M.sampling_metrics(
        np.repeat(np.arange(n_prompts), k),
        [str(g) for g in guesses.ravel()],
        (guesses == truth[:, None]).ravel(),
        n_classes,
    )
    assert result["chance@k"] == pytest.approx(1 - (1 - 1 / 5) ** 4)
    assert result["best@k"] == pytest.approx(result["chance@k"], abs=0.01)  # a guesser's best@k is the chance level


def test_lesion_only_grounding_leaves_normal_images_out(tmp_path):
    info = {
        "dataset": "busi",
        "task_type": "grounding",
        "labels": [],
        "box_format": "rel1000",
        "image_size": [100, 100],
        "split": "test",
    }
    rows = [
        ("[]", "[]"),
        ("[]", "[]"),
        ("[[100,100,500,500]]", "[[100,100,500,500]]"),
        ("[[300,300,700,700]]", "[[100,100,500,500]]"),
        ("[]", "[[100,100,500,500]]"),
    ]
    records = [{"output": _answer(a), "gts": g, "extra_info": info | {"index": i}} for i, (a, g) in enumerate(rows)]
    m = evaluate.evaluate_run("x", _write(tmp_path / "g.jsonl", records), None, None, {}, n_resamples=0)["datasets"][
        "busi"
    ]
    assert m["accuracy"] == pytest.approx(3 / 5) and m["mean_iou"] == pytest.approx((1 + 1 + 1 + 1 / 7 + 0) / 5)
    # lesions: 3 images; found 1 (IoU 1), missed by a far box (1/7) and by an empty answer (0)
    assert m["n_lesion"] == 3
    assert m["lesion_hit_rate"] == pytest.approx(1 / 3) and m["lesion_mean_iou"] == pytest.approx((1 + 1 / 7) / 3)


def test_think_answer_consistency(tmp_path):
    labels = load_card("breastmnist").label_names
    thinks = [
        "The margins are spiculated, so this is malignant.",  # consistent with "malignant"
        "Benign features... on reflection, malignant.",  # last named class: malignant; answer benign
        "Oval, circumscribed: benign.",  # alias of "normal or benign"; answer benign: consistent
        "Hard to say.",
    ]  # names no class: not counted
    answers = [0, 1, 1, 1]
    records = [
        {
            "prompt_id": str(i),
            "output": _answer(labels[a], think),
            "gts": labels[0],
            "extra_info": _info("breastmnist", i),
        }
        for i, (think, a) in enumerate(zip(thinks, answers, strict=True))
    ]
    m = evaluate.evaluate_run("x", _write(tmp_path / "t.jsonl", records), None, None, {}, n_resamples=0)["datasets"][
        "breastmnist"
    ]
    assert m["think_answer"] == {"n": 3, "inconsistent": pytest.approx(1 / 3)}


def test_cis_appear_in_metrics_and_summary(tmp_path):
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 5, 30)
    answers = [[int(t) if rng.random() < 0.6 else None] for t in truth]
    labels = load_card("retinamnist").label_names
    records = [
        {
            "prompt_id": str(i),
            "output": _answer(None if a[0] is None else labels[a[0]]),
            "gts": labels[t],
            "extra_info": _info("retinamnist", i),
        }
        for i, (t, a) in enumerate(zip(truth, answers, strict=True))
    ]
    out = tmp_path / "report"
    assert evaluate.main([f"r={_write(tmp_path / 'r.jsonl', records)}", "--bootstrap", "300", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    m = metrics["runs"][0]["datasets"]["retinamnist"]
    assert set(m["ci"]) == {"accuracy", "balanced_accuracy", "macro_f1", "qwk", "auroc"}
    assert m["ci"]["accuracy"]["low"] < m["accuracy"] < m["ci"]["accuracy"]["high"]
    assert m["ci"]["accuracy"]["n_units"] == 30 and m["ci_unit"] == "prompt"
    summary = (out / "summary.md").read_text()
    acc = m["ci"]["accuracy"]
    assert f"{100 * m['accuracy']:.1f} [{100 * acc['low']:.1f}, {100 * acc['high']:.1f}]" in summary
    assert "| run | n | prompts | acc | bal. acc | macro-F1 | AUROC | graded | QWK | MAE | QWK* | MAE* |" in summary
    assert "sensitivity | specificity | PPV | NPV" in summary
