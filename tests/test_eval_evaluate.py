"""End to end on fixture runs: verl dumps -> reward parser -> metrics (checked by hand) -> report and comparison."""

from __future__ import annotations

import json

import numpy as np
import pytest
from eval_fixtures import (
    BLOOD_LABELS,
    RETINA_LABELS,
    captured_figures,
    prepared_rows,
    response,
    verl_write_generations,
    write_parquet,
    write_rollout_dump,
    write_validation_dumps,
)

import reward_fns
from verl_med_plugin.evaluation import evaluate
from verl_med_plugin.evaluation.dumps import EvalDataError, PreparedData
from verl_med_plugin.evaluation.generate import GenerationRequest, write_generations

ROLLOUT_STEPS = {1: [[1, 1, 1, 1], [0, 0, 0, 0], [0, 1, 0, 0]], 2: [[0.25, 1, 0, 0], [0, 0, 0, 0]]}


@pytest.fixture(scope="module")
def run_dirs(tmp_path_factory, qwen_tokenizer, qwen_processor):
    """A V-RFT-like run (validation + rollout dumps), an SFT-like offline JSONL and the test parquet."""
    root = tmp_path_factory.mktemp("runs")
    rows = prepared_rows()
    write_validation_dumps(root / "vrft_val", rows, qwen_tokenizer, qwen_processor)
    for step, groups in ROLLOUT_STEPS.items():
        write_rollout_dump(root / "vrft_rollout", step, groups)
    sft = [0, 1, 2, 3, 1, 1, 1]  # one answer per row, in row order
    requests = [
        GenerationRequest(
            f"{r['extra_info']['dataset']}/{r['extra_info']['index']}",
            "prompt",
            [],
            r["reward_model"]["ground_truth"],
            r["data_source"],
            r["extra_info"],
        )
        for r in rows
    ]
    write_generations(
        requests, [[response(r["extra_info"]["labels"], p)] for r, p in zip(rows, sft, strict=True)], root / "sft.jsonl"
    )
    return {"root": root, "parquet": write_parquet(rows, root / "test.parquet")}


@pytest.fixture(scope="module")
def vrft(run_dirs):
    prepared = PreparedData.from_parquet([run_dirs["parquet"]])
    return evaluate.evaluate_run("vrft", run_dirs["root"] / "vrft_val", run_dirs["root"] / "vrft_rollout", prepared, {})


def test_ordinal_dataset_metrics_by_hand(vrft):
    # step 20, truth grades (0,0,1,1,2,2,4,4), predicted (0,0,2,1,4,invalid,3,3)
    assert vrft["step"] == 20 and vrft["steps"] == [10, 20] and vrft["problems"] == {}
    m = vrft["datasets"]["retinamnist"]
    assert (m["task_type"], m["n_samples"], m["n"], m["n_prompts"]) == ("ordinal", 8, 8, 4)
    assert m["accuracy"] == pytest.approx(3 / 8)
    assert m["balanced_accuracy"] == pytest.approx((1 + 1 / 2 + 0 + 0) / 4)
    assert m["macro_f1"] == pytest.approx((1 + 2 / 3 + 0 + 0 + 0) / 5)
    assert [c["recall"] for c in m["per_class"]] == [1.0, 0.5, 0.0, None, 0.0]
    assert [c["precision"] for c in m["per_class"]] == [1.0, 1.0, 0.0, 0.0, 0.0]
    assert m["confusion_matrix"][2] == [0, 0, 0, 0, 1, 1]  # grade 2: once called grade 4, once no answer
    # QWK over the 7 graded answers: sum w*O = 7, sum w*E = 227/7 -> 1 - 49/227
    assert m["n_graded"] == 7
    assert m["qwk"] == pytest.approx(1 - 49 / 227)
    assert m["mae"] == pytest.approx(5 / 7)
    assert m["format_compliance"] == pytest.approx(7 / 8) and m["invalid_rate"] == pytest.approx(1 / 8)
    # per prompt: (right, right) (wrong, right) (wrong, none) (wrong, wrong); the tie grade 2 vs 1 goes to the
    # answer with the smallest sha256(prompt id, answer) (metrics.majority_vote): here grade 1, the right one
    assert m["sampling"] == {
        "n_prompts": 4,
        "k": 2,
        "k_min": 2,
        "mean@k": pytest.approx((1 + 0.5) / 4),
        "best@k": pytest.approx(2 / 4),
        "maj@k": pytest.approx(2 / 4),
        "chance@k": pytest.approx(1 - (1 - 1 / 5) ** 2),
    }  # 5 grades, k = 2
    assert m["parser_agreement"] == {"n": 8, "agree": 1.0}  # the dump's reward pred == this parser's pred


def test_multiclass_dataset_and_majority_vote(vrft):
    m = vrft["datasets"]["bloodmnist"]
    assert m["labels"] == BLOOD_LABELS and "qwk" not in m
    assert m["accuracy"] == pytest.approx(5 / 6)
    assert m["balanced_accuracy"] == pytest.approx((1 + 0.5 + 1) / 3)
    assert m["sampling"]["maj@k"] == 1.0  # prompt 2 ties (right, wrong): its sha256 tie-break picks the right one


def test_zero_advantage_per_reward_key_shows_what_mfrs_changes(vrft):
    za = vrft["datasets"]["retinamnist"]["zero_advantage"]
    # binary acc: groups (1,1) (0,1) (0,0) (0,0) -> 3 of 4 all equal
    assert za["acc"]["fraction_zero_advantage"] == pytest.approx(3 / 4)
    # MFRS score 0.1*format + table[d]: (1.1,1.1) (0.35,1.1) (0.1625,0) (0.35,0.35) -> 2 of 4
    assert za["score"]["fraction_zero_advantage"] == pytest.approx(2 / 4)
    assert za["score"]["equal_value_counts"] == {"0.35": 1, "1.1": 1}


def test_rollout_sparsity_by_hand(vrft):
    sparsity = vrft["rollout_sparsity"]
    overall = sparsity["overall"]["score"]
    assert (overall["n_groups"], overall["n_zero_advantage"]) == (5, 3)
    assert overall["equal_value_counts"] == {"0": 2, "1": 1}
    assert sparsity["by_step"]["step"] == [1, 2]
    assert sparsity["by_step"]["score"] == pytest.approx([2 / 3, 1 / 2])
    assert sparsity["by_step"]["mean_score"] == pytest.approx([5 / 12, 1.25 / 8])


def test_rollout_dump_without_groups_is_an_error(tmp_path):
    # verl's legacy trainer dumps rollouts without uid: GRPO groups cannot be rebuilt
    verl_write_generations(tmp_path, 1, ["p", "p"], ["a", "b"], ["g", "g"], [1.0, 0.0], {"acc": [1.0, 0.0]})
    with pytest.raises(EvalDataError, match="no record with a 'uid' field"):
        evaluate.evaluate_run("legacy", None, tmp_path, None, {})


def test_curves_over_validation_steps(vrft):
    retina = vrft["curves"]["retinamnist"]
    assert retina["step"] == [10, 20]
    assert retina["accuracy"] == pytest.approx([2 / 8, 3 / 8])  # step 10 answers grade 0 everywhere
    assert {"score", "acc", "format", "mfrs"} <= set(retina)
    assert vrft["curves"]["bloodmnist"]["accuracy"] == pytest.approx([2 / 6, 5 / 6])


def test_the_parser_is_the_rewards(run_dirs, monkeypatch):
    """Every record is parsed by the reward's own ``reward_fns.parse_answer``, with the run's reward kwargs.
    Mutation checked: ``score_record`` calling ``parse_answer`` without the run's reward kwargs fails here (the calls
    carry no ``answer_tag``), and so does a private copy of the parser (no call reaches the spy)."""
    calls = []
    original = reward_fns.parse_answer

    def spy(solution_str, extra_info, **kwargs):
        calls.append(kwargs)
        return original(solution_str, extra_info, **kwargs)

    monkeypatch.setattr(reward_fns, "parse_answer", spy)
    result = evaluate.evaluate_run("sft", run_dirs["root"] / "sft.jsonl", None, None, {"answer_tag": "final"})
    assert len(calls) == 7 and all(c == {"answer_tag": "final"} for c in calls)  # the run's reward kwargs
    assert result["datasets"]["retinamnist"]["invalid_rate"] == 1.0  # no <final> tag: the reward gives no credit


def test_reward_kwargs_mismatch_shows_in_parser_agreement(run_dirs):
    prepared = PreparedData.from_parquet([run_dirs["parquet"]])
    result = evaluate.evaluate_run("vrft", run_dirs["root"] / "vrft_val", None, prepared, {"answer_tag": "final"})
    assert result["datasets"]["retinamnist"]["parser_agreement"]["agree"] == pytest.approx(1 / 8)  # only "" == ""


def test_offline_jsonl_needs_no_parquet(run_dirs):
    result = evaluate.evaluate_run("sft", run_dirs["root"] / "sft.jsonl", None, None, {})
    retina = result["datasets"]["retinamnist"]
    assert result["step"] is None and retina["n_samples"] == 4 and "sampling" not in retina
    assert retina["accuracy"] == pytest.approx(3 / 4)  # grades 0,1,2 right; grade 4 called 3
    # truth (0,1,2,4), predicted (0,1,2,3): sum w*O = 1; sum w*E = (14 + 6 + 6 + 30) / 4 = 14
    assert retina["qwk"] == pytest.approx(1 - 1 / 14)
    assert result["datasets"]["bloodmnist"]["accuracy"] == pytest.approx(1 / 3)


def test_verl_dump_without_parquet_names_the_missing_field(run_dirs):
    with pytest.raises(EvalDataError, match="no 'extra_info' .*--data"):
        evaluate.evaluate_run("vrft", run_dirs["root"] / "vrft_val", None, None, {})


def test_mixed_label_sets_unknown_datasets_and_bad_truths(tmp_path):
    def line(labels, dataset="retinamnist", task="ordinal", gts="no DR"):
        info = {"dataset": dataset, "task_type": task, "labels": labels, "index": 0, "split": "test"}
        return json.dumps({"output": response(RETINA_LABELS, 0), "gts": gts, "extra_info": info}) + "\n"

    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(line(RETINA_LABELS) + line(RETINA_LABELS[:3]))
    with pytest.raises(EvalDataError, match="'retinamnist' mixes label sets"):
        evaluate.evaluate_run("x", mixed, None, None, {})

    odd = tmp_path / "odd.jsonl"
    odd.write_text(
        line(RETINA_LABELS)
        + line(RETINA_LABELS, dataset="")
        + line(RETINA_LABELS, task="regression")
        + line(RETINA_LABELS, gts="grade 7")
    )
    result = evaluate.evaluate_run("x", odd, None, None, {})
    assert result["problems"].keys() == {"unknown_dataset", "unknown_task_type", "bad_ground_truth"}
    assert result["datasets"]["retinamnist"]["n_samples"] == 1  # metrics state what they cover
    with pytest.raises(EvalDataError, match="unknown_dataset"):
        evaluate.evaluate_run("x", odd, None, None, {}, strict=True)


def test_reward_kwargs_from_a_run_config(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(
        "med:\n  reward: {ordinal_reward: exact}\nreward:\n  custom_reward_function:\n"
        "    reward_kwargs: ${med.reward}\n"
    )
    assert evaluate.load_reward_kwargs(str(config)) == {"ordinal_reward": "exact"}
    assert evaluate.load_reward_kwargs('{"format_weight": 0.5}') == {"format_weight": 0.5}
    with pytest.raises(EvalDataError, match="neither a file nor JSON"):
        evaluate.load_reward_kwargs("format_weight: 0.5")
    by_run = evaluate.reward_kwargs_by_run([str(config), 'mfrs={"mfrs_shape": "exp"}', '{"a": "x=y"}'])
    assert by_run == {None: {"a": "x=y"}, "mfrs": {"mfrs_shape": "exp"}}  # the last run-less value wins


def test_cli_writes_report_and_compares_runs(run_dirs, tmp_path, capsys):
    """The report's files, its summary's figures and what each plot shows, read back from the figure's axes and
    compared with ``metrics.json``. Mutations checked: ``plot_per_class_recall`` drawing precision, ``plot_confusion``
    colouring raw counts instead of row shares, and ``plot_sparsity`` drawing the mean score instead of the
    all-equal share each fail here (the PNG-size check they replace passed all three)."""
    root, out = run_dirs["root"], tmp_path / "report"
    with captured_figures() as shown:
        code = evaluate.main(
            [
                f"sft={root / 'sft.jsonl'}",
                f"vrft={root / 'vrft_val'}",
                "--rollouts",
                f"vrft={root / 'vrft_rollout'}",
                "--data",
                str(run_dirs["parquet"]),
                "--reward_kwargs",
                'vrft={"ordinal_reward": "mfrs"}',
                "--out",
                str(out),
            ]
        )
    assert code == 0
    names = {p.name for p in out.iterdir()}
    assert {
        "metrics.json",
        "summary.md",
        "comparison.png",
        "sparsity.png",
        "curves_vrft.png",
        "recall_retinamnist.png",
        "recall_bloodmnist.png",
        "confusion_sft_retinamnist.png",
        "confusion_vrft_bloodmnist.png",
        "table.md",
        "table.tex",
        "table.png",
        "training_curves.png",
    } <= names
    assert {name for name in shown} == {n for n in names if n.endswith(".png")}
    _check_figures(shown, json.loads((out / "metrics.json").read_text()))
    metrics = json.loads((out / "metrics.json").read_text())
    assert [r["name"] for r in metrics["runs"]] == ["sft", "vrft"]
    assert metrics["parser"] == "reward_fns.parse_answer"
    _check_record_keys(metrics)
    assert [r["reward_kwargs"] for r in metrics["runs"]] == [{}, {"ordinal_reward": "mfrs"}]
    summary = (out / "summary.md").read_text()
    assert "| run | bloodmnist | retinamnist | mean |" in summary  # accuracy per dataset, paper style
    assert "| sft | 33.3 | 75.0 | 54.2 |" in summary
    header = (
        "| run | n | prompts | acc | bal. acc | macro-F1 | AUROC | graded | QWK | MAE | QWK* | MAE* | format | "
        "invalid | k | mean@k | best@k | chance@k | maj@k |"
    )
    assert header in summary
    # QWK*/MAE*: the invalid answer (truth grade 2, the middle) counted as grade 0; chance@k = 1 - (4/5)^2
    assert (
        "| vrft | 8 | 4 | 37.5 | 37.5 | 33.3 | 0.667 | 7 | 0.784 | 0.71 | 0.690 | 0.88 | 87.5 | 12.5 | 2 | 37.5 | "
        "50.0 | 36.0 | 50.0 |"
    ) in summary
    assert "| sft | 75.0 [25.0, 100.0] | 75.0 [50.0, 100.0] | 60.0 [33.3, 100.0] |" in summary  # bootstrap CIs
    assert "![confusion_vrft_retinamnist](confusion_vrft_retinamnist.png)" in summary


def _check_record_keys(metrics: dict) -> None:
    """``metrics.json`` holds the typed shapes the evaluation's jobs exchange (``records``): every required key and
    none the type does not declare. Mutation checked: ``evaluate_run`` storing its steps as ``all_steps`` fails."""
    from verl_med_plugin.evaluation.records import Comparison, Report, RunReport

    def keys_fit(value: dict, shape) -> bool:
        return shape.__required_keys__ <= set(value) <= shape.__required_keys__ | shape.__optional_keys__

    assert keys_fit(metrics, Report), set(metrics)
    assert all(keys_fit(run, RunReport) for run in metrics["runs"]), [set(r) for r in metrics["runs"]]
    assert metrics["comparisons"] and all(keys_fit(c, Comparison) for c in metrics["comparisons"])


def test_cli_errors_are_clear(run_dirs, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        evaluate.main([str(run_dirs["root"] / "vrft_val"), "--out", str(tmp_path)])
    assert exit_.value.code == 2
    assert "pass the prepared parquet with --data" in capsys.readouterr().err
    sft = run_dirs["root"] / "sft.jsonl"
    with pytest.raises(SystemExit) as exit_:
        evaluate.main([f"a={sft}", "--reward_kwargs", "b={}", "--out", str(tmp_path)])
    assert exit_.value.code == 2
    assert "--reward_kwargs names no run: ['b']" in capsys.readouterr().err


def _jsonl(path, lines):
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_multilabel_and_grounding_tasks(tmp_path):
    chest = {
        "dataset": "chestmnist",
        "task_type": "multilabel",
        "labels": ["effusion", "mass", "nodule"],
        "index": 0,
        "split": "test",
    }
    lesion = {
        "dataset": "lesions",
        "task_type": "grounding",
        "labels": [],
        "box_format": "rel1000",
        "image_size": [100, 100],
        "index": 0,
        "split": "test",
    }

    def answer(text):
        return f"<think>I look.</think><answer>{text}</answer>"

    path = _jsonl(
        tmp_path / "gen.jsonl",
        [
            {"output": answer("effusion, mass"), "gts": '["effusion","mass"]', "extra_info": chest | {"index": 0}},
            {"output": answer("mass"), "gts": '["effusion","mass"]', "extra_info": chest | {"index": 1}},
            {"output": answer("none"), "gts": "[]", "extra_info": chest | {"index": 2}},
            {"output": answer("[100,100,500,500]"), "gts": "[[100,100,500,500]]", "extra_info": lesion | {"index": 0}},
            {"output": answer("[300,300,700,700]"), "gts": "[[100,100,500,500]]", "extra_info": lesion | {"index": 1}},
            {"output": "no idea", "gts": "[[100,100,500,500]]", "extra_info": lesion | {"index": 2}},
        ],
    )
    result = evaluate.evaluate_run("x", path, None, None, {})
    chest_m = result["datasets"]["chestmnist"]
    assert chest_m["accuracy"] == pytest.approx(2 / 3)  # exact sets: {e,m} right, {m} wrong, {} right
    assert [c["recall"] for c in chest_m["per_class"]] == [0.5, 1.0, None]
    assert chest_m["macro_f1"] == pytest.approx((2 / 3 + 1) / 2)  # nodule: neither true nor predicted
    lesion_m = result["datasets"]["lesions"]
    assert lesion_m["accuracy"] == pytest.approx(1 / 3)  # the reward's hit: IoU >= 0.5
    # IoU of the second box: 200*200 / (2 * 400*400 - 200*200) = 1/7
    assert lesion_m["mean_iou"] == pytest.approx((1 + 1 / 7 + 0) / 3)
    assert lesion_m["invalid_rate"] == pytest.approx(1 / 3) and "confusion_matrix" not in lesion_m
    out = tmp_path / "report"
    assert evaluate.main([f"mixed={path}", "--out", str(out)]) == 0
    summary = (out / "summary.md").read_text()
    assert "## lesions (grounding)" in summary and "## chestmnist (multilabel, 3 classes)" in summary
    assert "| run | n | prompts | acc | format | invalid | k | mean@k | best@k | maj@k |" not in summary
    # lesions: acc, mean IoU, then lesion-only hit rate and IoU (every image here has a lesion: the same numbers)
    assert "| mixed | 3 | 3 | 33.3 | 0.381 | 33.3 | 0.381 | 66.7 | 33.3 | 1 | – | – | – |" in summary
    assert (out / "recall_chestmnist.png").exists() and not (out / "confusion_mixed_chestmnist.png").exists()


def test_runs_with_different_label_sets_are_not_compared():
    run_a = {"name": "a", "datasets": {"retinamnist": {"task_type": "ordinal", "labels": RETINA_LABELS}}}
    run_b = {"name": "b", "datasets": {"retinamnist": {"task_type": "ordinal", "labels": RETINA_LABELS[:3]}}}
    evaluate.check_comparable([run_a, run_a])
    with pytest.raises(EvalDataError, match="runs 'a' and 'b' disagree on dataset 'retinamnist'"):
        evaluate.check_comparable([run_a, run_b])


def test_unreadable_reward_kwargs_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "config.yaml"
    bad.write_text("reward: {custom_reward_function: [\n")
    with pytest.raises(EvalDataError, match="not a readable YAML/JSON mapping"):
        evaluate.load_reward_kwargs(str(bad))
    dangling = tmp_path / "dangling.yaml"
    dangling.write_text("reward:\n  custom_reward_function:\n    reward_kwargs: ${med.reward}\n")
    with pytest.raises(EvalDataError, match="dangling.yaml"):
        evaluate.load_reward_kwargs(str(dangling))


def test_interrupted_generation_leaves_no_partial_jsonl(tmp_path):
    out = tmp_path / "gen.jsonl"
    out.write_text("previous good run\n")
    rows = prepared_rows()[:2]
    requests = [
        GenerationRequest(str(i), "prompt", [], r["reward_model"]["ground_truth"], r["data_source"], r["extra_info"])
        for i, r in enumerate(rows)
    ]

    def responses():
        yield ["<think>x</think><answer>a</answer>"]
        raise RuntimeError("vLLM died")

    with pytest.raises(RuntimeError, match="vLLM died"):
        write_generations(requests, responses(), out)
    assert out.read_text() == "previous good run\n"
    assert [p.name for p in tmp_path.iterdir()] == ["gen.jsonl"]  # no temporary file left behind


def test_report_files_are_replaced_atomically(tmp_path, monkeypatch):
    from verl_med_plugin.evaluation import writer

    report = {
        "parser": "reward_fns.parse_answer",
        "runs": [{"name": "a", "sources": [], "reward_kwargs": {}, "problems": {}}],
    }
    written = writer.write_report(report, tmp_path)
    assert {p.name for p in written} == {"metrics.json", "summary.md"}
    assert {p.name for p in tmp_path.iterdir()} == {"metrics.json", "summary.md"}
    before = (tmp_path / "metrics.json").read_text()

    def failing_write(self, *args, **kwargs):
        self.write_bytes(b"{trunc")  # the disk fills up half-way through the write
        raise OSError("No space left on device")

    monkeypatch.setattr(writer.Path, "write_text", failing_write)
    with pytest.raises(OSError):
        writer.write_report(report, tmp_path)
    assert (tmp_path / "metrics.json").read_text() == before
    assert {p.name for p in tmp_path.iterdir()} == {"metrics.json", "summary.md"}


def test_ungradable_grounding_truths_are_counted_not_scored(tmp_path):
    lesion = {
        "dataset": "lesions",
        "task_type": "grounding",
        "labels": [],
        "box_format": "rel1000",
        "image_size": [100, 100],
        "index": 0,
        "split": "test",
    }
    good = "<think>I look.</think><answer>[100,100,500,500]</answer>"
    path = _jsonl(
        tmp_path / "gen.jsonl",
        [
            {"output": good, "gts": "[[100,100,500,500]]", "extra_info": lesion | {"index": 0}},
            {"output": good, "gts": "[[100,100,500]]", "extra_info": lesion | {"index": 1}},
            {"output": good, "gts": "the upper left", "extra_info": lesion | {"index": 2}},
            {"output": good, "gts": "[[100,100,500,500]]", "extra_info": lesion | {"index": 3, "box_format": "px"}},
        ],
    )
    result = evaluate.evaluate_run("x", path, None, None, {})
    assert result["problems"]["bad_ground_truth"]["count"] == 3
    assert (
        "gen.jsonl:2: grounding ground truth is not a JSON list"
        in result["problems"]["bad_ground_truth"]["examples"][0]
    )
    lesion_m = result["datasets"]["lesions"]
    assert lesion_m["n_samples"] == 1 and lesion_m["accuracy"] == 1.0  # only the gradable row is in the metrics
    with pytest.raises(EvalDataError, match="bad_ground_truth: .*gen.jsonl:2"):
        evaluate.evaluate_run("x", path, None, None, {}, strict=True)


def test_evaluation_reads_ground_truth_with_the_rewards_functions(tmp_path):
    from reward_fns import accuracy
    from verl_med_plugin.evaluation import scoring

    assert not hasattr(scoring, "_truth_indices")  # no second implementation
    for name in ("truth_label", "truth_label_set", "truth_boxes"):
        assert getattr(scoring, name) is getattr(accuracy, name)
    chest = {
        "dataset": "chestmnist",
        "task_type": "multilabel",
        "labels": ["effusion", "mass", "nodule"],
        "label_aliases": [["pleural effusion"], [], []],
        "index": 0,
        "split": "test",
    }
    path = _jsonl(
        tmp_path / "gen.jsonl",
        [
            {"output": "<think>x</think><answer>effusion</answer>", "gts": '["pleural effusion"]', "extra_info": chest},
            {"output": "<think>x</think><answer>mass</answer>", "gts": "mass", "extra_info": chest | {"index": 1}},
        ],
    )
    result = evaluate.evaluate_run("x", path, None, None, {})
    # An alias in the ground truth grades as the reward grades it; a bare name is not a JSON list for either.
    assert result["datasets"]["chestmnist"]["accuracy"] == 1.0
    assert result["problems"]["bad_ground_truth"]["count"] == 1
    assert "multilabel ground truth is not a JSON list" in result["problems"]["bad_ground_truth"]["examples"][0]
    assert (
        reward_fns.compute_score(
            "verl_med/chestmnist", "<think>x</think><answer>effusion</answer>", '["pleural effusion"]', chest
        )["acc"]
        == 1.0
    )


def _check_figures(shown: dict, metrics: dict) -> None:
    """Each plot of the two-run report shows the numbers of ``metrics.json``."""
    runs = {r["name"]: r for r in metrics["runs"]}
    nan = float("nan")
    for ds in ("retinamnist", "bloodmnist"):
        [panel] = shown[f"recall_{ds}.png"]
        assert panel.bars == [
            pytest.approx(
                [nan if c["recall"] is None else c["recall"] for c in runs[n]["datasets"][ds]["per_class"]], nan_ok=True
            )
            for n in ("sft", "vrft")
        ]
        for name in ("sft", "vrft"):
            [panel] = shown[f"confusion_{name}_{ds}.png"]
            counts = np.asarray(runs[name]["datasets"][ds]["confusion_matrix"], dtype=float)
            rows = counts.sum(axis=1, keepdims=True)
            share = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
            np.testing.assert_allclose(panel.images[0], share)
            assert panel.texts == [f"{v:.0f}" for v in counts.flat]
    comparison = {p.title: p for p in shown["comparison.png"]}
    assert comparison["retinamnist"].bars[1][:3] == pytest.approx(
        [runs["vrft"]["datasets"]["retinamnist"][k] for k in ("accuracy", "balanced_accuracy", "macro_f1")]
    )
    [sparsity] = shown["sparsity.png"]
    by_step = runs["vrft"]["rollout_sparsity"]["by_step"]
    assert sparsity.lines["vrft"] == (pytest.approx(by_step["step"]), pytest.approx(by_step["score"]))
    curves = {p.title: p for p in shown["curves_vrft.png"]}
    retina = runs["vrft"]["curves"]["retinamnist"]
    assert curves["vrft: retinamnist"].lines["score"] == (pytest.approx(retina["step"]), pytest.approx(retina["score"]))
