"""Medical VQA in ``verl-med-eval``: on a fixture dump (``eval_fixtures.VQA_SLAKE`` / ``VQA_OMNI``) the evaluation
reports each benchmark's own figures (closed and MCQ accuracy, open exact match / recall / F1) overall, per modality
and per question type, with bootstrap CIs; numbers checked by hand."""

from __future__ import annotations

import json

import pytest
from eval_fixtures import vqa_rows, write_parquet, write_vqa_generations, write_vqa_validation_dump

from verl_med_plugin.evaluation import evaluate
from verl_med_plugin.evaluation.dumps import PreparedData, Problems, Record
from verl_med_plugin.evaluation.metrics import majority_vote
from verl_med_plugin.evaluation.statistics import Outcomes, paired_comparison

BOOT = "200"
approx = pytest.approx

# Hand-checked (eval_fixtures): SLAKE closed answers right/wrong/right; open answers
# exact "left lung" (P 1, R 1, F1 1), "liver and spleen" vs "liver" (P 1/3, R 1, F1 1/2),
# "lower lobe" vs "right lower lobe" (P 1, R 2/3, F1 4/5), no answer (0).
SLAKE = {
    "accuracy": 3 / 7,
    "closed_accuracy": 2 / 3,
    "n_closed": 3,
    "open_exact": 1 / 4,
    "n_open": 4,
    "open_precision": (1 + 1 / 3 + 1 + 0) / 4,
    "open_recall": (1 + 1 + 2 / 3 + 0) / 4,
    "open_f1": (1 + 0.5 + 0.8 + 0) / 4,
    "mcq_accuracy": None,
    "n_mcq": 0,
}
SLAKE_BY_MODALITY = {
    "CT": {
        "n_samples": 3,
        "accuracy": 1 / 3,
        "closed_accuracy": 1.0,
        "open_exact": 0.0,
        "open_recall": (1 + 2 / 3) / 2,
        "open_f1": (0.5 + 0.8) / 2,
    },
    "MRI": {
        "n_samples": 2,
        "accuracy": 0.0,
        "closed_accuracy": 0.0,
        "open_exact": 0.0,
        "open_recall": 0.0,
        "open_f1": 0.0,
    },
    "X-Ray": {
        "n_samples": 2,
        "accuracy": 1.0,
        "closed_accuracy": 1.0,
        "open_exact": 1.0,
        "open_recall": 1.0,
        "open_f1": 1.0,
    },
}
SLAKE_BY_QUESTION_TYPE = {
    "Modality": {"n_samples": 3, "accuracy": 1 / 3, "closed_accuracy": 1 / 2, "open_recall": 0.0},
    "Organ": {"n_samples": 2, "accuracy": 1 / 2, "closed_accuracy": 1.0, "open_recall": 1.0, "open_f1": 0.5},
    "Abnormality": {"n_samples": 1, "accuracy": 1.0, "closed_accuracy": None, "open_f1": 1.0},
    "Position": {"n_samples": 1, "accuracy": 0.0, "open_exact": 0.0, "open_recall": 2 / 3, "open_f1": 0.8},
}
# OmniMedVQA MCQ, 2 samples per question: (A, CT) right right; (A, brain) wrong right; (C, none) wrong wrong.
OMNI = {"accuracy": 0.5, "mcq_accuracy": 0.5, "n_mcq": 6, "closed_accuracy": None, "open_recall": None}


def _check(metrics: dict, expected: dict) -> None:
    for key, value in expected.items():
        assert metrics[key] == (value if value is None else approx(value)), key


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("vqa")
    rows = vqa_rows()
    generations = write_vqa_generations(root / "gen.jsonl", rows)
    out = root / "report"
    assert evaluate.main([f"vqa={generations}", "--out", str(out), "--bootstrap", BOOT]) == 0
    return {
        "root": root,
        "rows": rows,
        "generations": generations,
        "out": out,
        "metrics": json.loads((out / "metrics.json").read_text()),
    }


def test_benchmark_figures_by_hand(report):
    run = report["metrics"]["runs"][0]
    assert run["problems"] == {}
    slake, omni = run["datasets"]["slake"], run["datasets"]["omnimedvqa"]
    assert (slake["task_type"], slake["task_types"], slake["n_samples"]) == ("vqa", ["closed", "open"], 7)
    _check(slake, SLAKE)
    assert slake["invalid_rate"] == approx(1 / 7) and slake["format_compliance"] == approx(6 / 7)
    assert (omni["task_types"], omni["n_samples"], omni["n_prompts"]) == (["mcq"], 6, 3)
    _check(omni, OMNI)
    # several samples per question: mean@k, best@k (any right), maj@k ("liver" and "brain", options 0 and 1, tie:
    # the rule of metrics.majority_vote fixes the winner per prompt id, whatever the sample order)
    assert omni["sampling"]["k"] == 2
    assert (omni["sampling"]["mean@k"], omni["sampling"]["best@k"]) == (approx(0.5), approx(2 / 3))
    tie_right = majority_vote(["0", "1"], "omnimedvqa/test/1") == "1"  # option 1, "brain", is right
    assert omni["sampling"]["maj@k"] == approx((1 + tie_right) / 3)


def test_per_modality_and_question_type(report):
    datasets = report["metrics"]["runs"][0]["datasets"]
    slake = datasets["slake"]
    assert sorted(slake["by_modality"]) == sorted(SLAKE_BY_MODALITY)
    for name, expected in SLAKE_BY_MODALITY.items():
        _check(slake["by_modality"][name], expected)
    assert sorted(slake["by_question_type"]) == sorted(SLAKE_BY_QUESTION_TYPE)
    for name, expected in SLAKE_BY_QUESTION_TYPE.items():
        _check(slake["by_question_type"][name], expected)
    omni = datasets["omnimedvqa"]  # modalities as OmniMedVQA releases them
    assert {k: v["mcq_accuracy"] for k, v in omni["by_modality"].items()} == {
        "CT(Computed Tomography)": approx(0.5),
        "MR (Mag-netic Resonance Imaging)": approx(0.5),
    }
    assert {k: v["mcq_accuracy"] for k, v in omni["by_question_type"].items()} == {
        "Modality Recognition": 1.0,
        "Anatomy Identification": 0.5,
        "Disease Diagnosis": 0.0,
    }


def test_bootstrap_intervals_cover_the_estimates(report):
    datasets = report["metrics"]["runs"][0]["datasets"]
    slake = datasets["slake"]
    assert set(slake["ci"]) == {
        "accuracy",
        "closed_accuracy",
        "open_exact",
        "open_precision",
        "open_recall",
        "open_f1",
    }  # no MCQ in SLAKE: no interval for it
    # a figure of one question kind resamples the questions of that kind (a resample always has some)
    units = {"accuracy": 7, "closed_accuracy": 3}
    for name, ci in slake["ci"].items():
        assert ci["n_resamples"] == int(BOOT) and ci["n_units"] == units.get(name, 4), name
        assert ci["low"] <= slake[name] <= ci["high"], name
    ct = slake["by_modality"]["CT"]["ci"]["open_recall"]  # the two open CT questions, within the group
    assert ct["n_units"] == 2 and 2 / 3 - 1e-9 <= ct["low"] <= 5 / 6 <= ct["high"] <= 1 + 1e-9
    omni_ci = datasets["omnimedvqa"]["ci"]["mcq_accuracy"]
    assert omni_ci["n_units"] == 3 and omni_ci["low"] <= 0.5 <= omni_ci["high"]  # prompts, not samples


def test_summary_and_rerun_are_byte_identical(report, tmp_path):
    summary = (report["out"] / "summary.md").read_text()
    assert "## slake (vqa: closed / open)" in summary and "## omnimedvqa (vqa: mcq)" in summary
    assert "Per modality" in summary and "Per question type" in summary
    assert "| CT(Computed Tomography) | vqa | 4 |" in summary
    assert "| X-Ray | vqa | 2 | 100.0" in summary
    out = tmp_path / "again"
    assert evaluate.main([f"vqa={report['generations']}", "--out", str(out), "--bootstrap", BOOT]) == 0
    for name in ("metrics.json", "summary.md"):
        assert (out / name).read_text() == (report["out"] / name).read_text().replace(str(report["out"]), str(out))


def test_verl_dump_joined_with_the_parquet_gives_the_same_figures(report):
    # verl's writer: no extra_info, random uuids; "Is this a CT image?" is asked of a CT (yes) and an MRI (no):
    # the record's ground truth picks the row, so each keeps its own modality.
    root = report["root"]
    dump = write_vqa_validation_dump(root / "val", report["rows"])
    parquet = write_parquet(report["rows"], root / "test.parquet")
    out = root / "from_dump"
    assert evaluate.main([f"val={dump.parent}", "--data", str(parquet), "--out", str(out), "--bootstrap", "0"]) == 0
    run = json.loads((out / "metrics.json").read_text())["runs"][0]
    assert run["problems"] == {}
    _check(run["datasets"]["slake"], SLAKE)
    _check(run["datasets"]["omnimedvqa"], OMNI)
    for name, expected in SLAKE_BY_MODALITY.items():
        _check(run["datasets"]["slake"]["by_modality"][name], expected)


def test_ungradable_ground_truth_is_counted_not_scored():
    rows = vqa_rows()
    mcq = next(r for r in rows if r["extra_info"]["task_type"] == "mcq")
    closed = next(r for r in rows if r["extra_info"]["task_type"] == "closed")
    opened = next(r for r in rows if r["extra_info"]["task_type"] == "open")
    records = [
        Record("a:1", "<answer>A</answer>", "pleural effusion", prompt_id="1", extra_info=mcq["extra_info"]),
        Record("a:2", "<answer>yes</answer>", "maybe", prompt_id="2", extra_info=closed["extra_info"]),
        Record("a:3", "<answer>x</answer>", " ?! ", prompt_id="3", extra_info=opened["extra_info"]),
    ]
    problems = Problems(strict=False)
    assert evaluate.score_records(records, {}, problems) == []
    reported = problems.as_dict()["bad_ground_truth"]
    assert reported["count"] == 3
    assert "not one of the options" in reported["examples"][0] and "extra_info.options" in reported["examples"][0]


def test_vqa_outcomes_round_trip_and_paired_comparison(report):
    slake = report["metrics"]["runs"][0]["datasets"]["slake"]
    outcomes = Outcomes.from_dict(slake["outcomes"])
    assert outcomes.values["open_f1"][0] is None  # a closed question has no open F1
    assert outcomes.as_dict() == slake["outcomes"]
    funcs = outcomes.metric_functions()
    every = list(range(len(outcomes.prompt_ids)))
    assert funcs["open_recall"](every) == approx(SLAKE["open_recall"])
    assert "mcq_accuracy" not in funcs  # no MCQ prompt in SLAKE
    compared = paired_comparison(outcomes, outcomes, n_resamples=50, seed=0)
    assert compared["differences"]["open_f1"]["difference"] == 0.0
    assert compared["mcnemar"]["a_only"] == compared["mcnemar"]["b_only"] == 0


def test_vqa_and_classification_rows_in_one_dataset_are_refused():
    from eval_fixtures import prepared_rows

    vqa = vqa_rows()[0]
    retina = prepared_rows()[0]
    info = {**retina["extra_info"], "dataset": "slake"}
    records = [
        Record("a:1", "<answer>yes</answer>", "yes", prompt_id="1", extra_info=vqa["extra_info"]),
        Record("a:2", "<answer>no DR</answer>", "no DR", prompt_id="2", extra_info=info),
    ]
    scored = evaluate.score_records(records, {}, Problems(strict=False))
    with pytest.raises(evaluate.EvalDataError, match="mixes VQA questions with"):
        evaluate.vqa_dataset_metrics(scored, n_resamples=0)


def test_prepared_data_keeps_vqa_groups_apart():
    rows = vqa_rows()
    prepared = PreparedData(rows)
    record = Record("d:1", "<answer>yes</answer>", "no", prompt_text="user\nIs this a CT image? Think ...")
    assert prepared.attach(record, Problems(strict=False))
    assert record.extra_info["modality"] == "MRI"
