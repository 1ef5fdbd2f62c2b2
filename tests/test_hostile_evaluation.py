"""Hostile and careless input to the evaluation tools: ``verl-med-eval`` and
``verl-med-generate`` count a bad dump line instead of losing the evaluation, write valid JSON, refuse bad reward
kwargs and an unusable ``--out`` in one line, stop on Ctrl-C / SIGTERM without a traceback or a temporary file, and
grade a multilabel "every label" answer as the reward does. An example test and a property or table test per class.
"""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fixtures_data import REPO, default_sigint
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reward_fns
from verl_med_plugin.evaluation import evaluate, generate
from verl_med_plugin.evaluation.dumps import EvalDataError, Problems, read_file
from verl_med_plugin.evaluation.report import json_safe

LABELS = ["basophil", "eosinophil", "neutrophil"]
TOY = {"dataset": "toyset", "task_type": "multiclass", "labels": LABELS, "split": "test"}
CHEST = {"dataset": "toychest", "task_type": "multilabel", "labels": ["effusion", "mass", "nodule"], "split": "test"}
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _answer(text: str) -> str:
    return f"<think>I look.</think><answer>{text}</answer>"


def _good_lines(n: int = 4, step: int = 1) -> list[dict]:
    return [
        {
            "output": _answer(LABELS[i % 3]),
            "gts": LABELS[(i + 1) % 3 if i == 0 else i % 3],
            "step": step,
            "score": float(i != 0),
            "extra_info": TOY | {"index": i},
        }
        for i in range(n)
    ]


def _write(path: Path, lines: list[dict | bytes]) -> Path:
    """JSON objects (``json.dumps`` writes NaN as Python does) or raw bytes, one per line."""
    path.write_bytes(
        b"".join((line if isinstance(line, bytes) else json.dumps(line).encode()) + b"\n" for line in lines)
    )
    return path


def _run_cli(argv: list[str], capsys, main=None) -> tuple[int, str]:
    """``verl-med-eval`` (or another command's ``main``) in-process as the console script runs it: (exit status,
    stderr)."""
    try:
        code = (main or evaluate.main)(argv)
    except SystemExit as stop:
        code = stop.code
    return code, capsys.readouterr().err


def _one_error_line(err: str, prog: str = "verl-med") -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: ") and "Traceback" not in err, err
    return lines[0]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# --- 1. a bad line is counted, never the end of the evaluation ------------------------------------------------


def test_non_utf8_nested_and_mixed_step_lines_are_counted(tmp_path, capsys):
    deep = b'{"output": "x", "gts": "y", "extra": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    path = _write(
        tmp_path / "gen.jsonl",
        [
            *_good_lines(2),
            b'{"output": "caf\xe9", "gts": "basophil"}',  # one Latin-1 byte
            deep,
            {**_good_lines(1)[0], "step": "1"},  # a digit string: read as step 1 (mixed types still sort)
            {**_good_lines(1)[0], "step": [1]},
            {**_good_lines(1)[0], "step": "later"},
            {**_good_lines(1)[0], "data_source": {"a": 1}},
            b"\xff\xfe\x00",
        ],
    )
    result = evaluate.evaluate_run("x", path, None, None, {}, n_resamples=0)
    assert result["problems"]["malformed_line"]["count"] == 6
    examples = " ".join(result["problems"]["malformed_line"]["examples"])
    assert "not UTF-8 text (byte 0xe9" in examples and "nested too deeply" in examples
    assert result["datasets"]["toyset"]["n_samples"] == 3 and result["steps"] == [1]

    code, err = _run_cli([str(path), "--out", str(tmp_path / "r"), "--bootstrap", "0"], capsys)
    assert code == 0 and "6 record(s) skipped: malformed_line" in err and "Traceback" not in err
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["runs"][0]["problems"]["malformed_line"]["count"] == 6


@SETTINGS
@given(bad=st.lists(st.binary(min_size=1, max_size=60).filter(lambda b: b"\n" not in b and b.strip()), max_size=5))
def test_any_bytes_line_is_a_record_or_a_counted_problem(tmp_path, bad):
    path = _write(tmp_path / "gen.jsonl", [*_good_lines(3), *bad])
    problems = Problems()
    records = read_file(path, problems)
    skipped = sum(n for kind, n in problems.counts.items() if kind != "non_finite_score")
    assert len(records) + skipped == 3 + len(bad) and len(records) >= 3


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)


@SETTINGS
@given(
    steps=st.lists(JSON_VALUES, min_size=1, max_size=4),
    fields=st.dictionaries(
        st.sampled_from(["output", "gts", "input", "uid", "prompt_id", "data_source", "extra_info", "sample_id"]),
        JSON_VALUES,
        max_size=3,
    ),
)
def test_any_field_values_evaluate_or_fail_in_one_line(tmp_path, steps, fields):
    """Every line is scored at its step or counted as a problem, never lost: the samples reported at the chosen
    step are exactly the lines scored at that step, and the run's problems are the reading and scoring problems.
    Mutations checked: ``score_records`` skipping a record with no dataset without ``problems.add`` (lines vanish
    uncounted) and ``evaluate_run`` keeping every step instead of the chosen one both fail here."""
    lines = [{**line, "step": step} for line, step in zip(_good_lines(len(steps)), steps, strict=True)]
    path = _write(tmp_path / "gen.jsonl", [*lines, {**_good_lines(1)[0], **fields}])
    problems = Problems()
    records = read_file(path, problems)
    assert all(r.step is None or type(r.step) is int for r in records)
    scored = evaluate.score_records(records, {}, problems)
    assert len(scored) + sum(problems.counts.values()) - problems.counts["non_finite_score"] == len(lines) + 1
    try:
        result = evaluate.evaluate_run("x", path, None, None, {}, n_resamples=0)
    except EvalDataError as err:
        # the CLI's one error line: no record left to score, or a line without extra_info and no --data to add it
        assert "\n" not in str(err) and (not scored or "no 'extra_info'" in str(err)), str(err)
        return
    numbered = [s.record.step for s in scored if s.record.step is not None]
    chosen = max(numbered) if numbered else None
    assert result["step"] == chosen
    assert sum(d["n_samples"] for d in result["datasets"].values()) == sum(s.record.step == chosen for s in scored)
    assert {kind: p["count"] for kind, p in result["problems"].items()} == +problems.counts


# --- 2. NaN scores: valid JSON, counted -------------------------------------------------------------------------


def test_nan_scores_are_written_as_null_and_counted(tmp_path, capsys):
    lines = _good_lines(4)
    lines[1]["score"], lines[2]["score"] = float("nan"), float("inf")
    path = _write(tmp_path / "gen.jsonl", lines)
    assert b"NaN" in path.read_bytes()
    code, err = _run_cli([str(path), "--out", str(tmp_path / "r"), "--bootstrap", "0"], capsys)
    assert code == 0 and "2 record(s) kept with non_finite_score" in err and "written as null" in err

    def refuse(constant):
        raise ValueError(f"{constant} in metrics.json")

    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text(), parse_constant=refuse)  # strict JSON
    run = metrics["runs"][0]
    assert run["datasets"]["toyset"]["reward_means"]["score"] is None
    assert run["datasets"]["toyset"]["n_samples"] == 4  # the records were kept and graded by the parser
    assert run["problems"]["non_finite_score"]["count"] == 2 and metrics["non_finite_values"] >= 1


FLOATS = st.floats(allow_nan=True, allow_infinity=True)


@given(
    st.recursive(
        st.none() | st.integers() | FLOATS | st.text(max_size=4),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.tuples(inner, inner)
            | st.dictionaries(st.text(max_size=4), inner, max_size=4)
        ),
        max_leaves=20,
    )
)
def test_json_safe_output_is_always_strict_json(value):
    def count(v):
        if isinstance(v, float):
            return int(not math.isfinite(v))
        if isinstance(v, dict):
            return sum(count(x) for x in v.values())
        return sum(count(x) for x in v) if isinstance(v, (list, tuple)) else 0

    safe, n = json_safe(value)
    json.dumps(safe, allow_nan=False)
    assert n == count(value)


# --- 3. reward kwargs: refused as training refuses them ---------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ('{"iou_threshold": 0}', "iou_threshold"),
        ('{"min_pixels": 1e400}', "min_pixels"),
        ('{"acc_weight": "abc"}', "acc_weight"),
        ('{"mfrs_gamma": NaN}', "mfrs_gamma"),
        ('{"acc_wieght": 1.0}', "unknown key(s) ['acc_wieght']"),
        ('run={"think_tagg": "think"}', "unknown key(s) ['think_tagg']"),
    ],
)
def test_invalid_or_unknown_reward_kwargs_are_refused_in_one_line(tmp_path, capsys, kwargs, needle):
    path = _write(tmp_path / "gen.jsonl", _good_lines(2))
    code, err = _run_cli([f"run={path}", "--reward_kwargs", kwargs, "--out", str(tmp_path / "r")], capsys)
    line = _one_error_line(err)
    assert code == 2 and "--reward_kwargs" in line and needle in line
    assert not (tmp_path / "r" / "metrics.json").exists()


def test_reward_kwargs_file_is_validated_too(tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text("reward:\n  custom_reward_function:\n    reward_kwargs:\n      iou_threshold: 2\n")
    path = _write(tmp_path / "gen.jsonl", _good_lines(2))
    code, err = _run_cli([str(path), "--reward_kwargs", str(config), "--out", str(tmp_path / "r")], capsys)
    assert code == 2 and "iou_threshold" in _one_error_line(err)


@SETTINGS
@given(
    kwargs=st.dictionaries(
        st.sampled_from(
            [
                "iou_threshold",
                "acc_weight",
                "format_weight",
                "min_pixels",
                "mfrs_gamma",
                "multilabel_reward",
                "think_prefilled",
                "no_such_key",
            ]
        ),
        JSON_VALUES,
        max_size=3,
    )
)
def test_evaluation_refuses_exactly_what_training_refuses(kwargs):
    from omegaconf import OmegaConf

    from verl_med_plugin.preflight import reward_kwargs_problems

    training = reward_kwargs_problems(
        OmegaConf.create({"reward": {"custom_reward_function": {"reward_kwargs": kwargs}}})
    )
    try:
        evaluate.check_reward_kwargs(kwargs, "--reward_kwargs")
        refused = False
    except EvalDataError as err:
        refused = True
        assert "\n" not in str(err)
    assert refused == bool(training)


# --- 4. an unusable --out ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tool", ["eval", "table", "generate"])
@pytest.mark.parametrize("where", ["file", "under_file"])
def test_unusable_out_is_one_error_line(tmp_path, capsys, tool, where):
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder\n")
    out = blocker if where == "file" else blocker / "sub" / "report"
    gen = _write(tmp_path / "gen.jsonl", _good_lines(2))
    if tool == "generate":
        argv = [
            "--model",
            str(tmp_path / "no_model"),
            "--data",
            str(tmp_path / "x.parquet"),
            "--out",
            str(out / "gen.jsonl" if where == "file" else out),
        ]
        code, err = _run_cli(argv, capsys, generate.main)
    else:
        argv = [str(gen)] if tool == "eval" else ["--table", str(tmp_path / "metrics.json")]
        code, err = _run_cli([*argv, "--out", str(out)], capsys)
    line = _one_error_line(err)
    assert code == 2 and "--out" in line and "file" in line
    assert blocker.read_text() == "not a folder\n"


def test_generate_out_that_is_a_folder_is_refused(tmp_path, capsys):
    code, err = _run_cli(["--model", "m", "--data", "x.parquet", "--out", str(tmp_path)], capsys, generate.main)
    assert code == 2 and "is a folder" in _one_error_line(err)


@pytest.mark.parametrize(
    ("flag", "value", "needle"),
    [
        ("--model", "no/such/model/folder", "no such checkpoint folder"),
        ("--data", "missing.parquet", "no such parquet file"),
        ("--run_config", "missing.yaml", "does not exist"),
        ("--max-tokens", "0", "--max_tokens 0"),  # the old hyphen spelling is still accepted
    ],
)
def test_generate_bad_argument_is_one_line_before_any_model_loads(tmp_path, capsys, flag, value, needle):
    model = tmp_path / "model"
    model.mkdir()
    data = _write(tmp_path / "test.parquet", [])
    argv = {"--model": str(model), "--data": str(data), "--out": str(tmp_path / "out" / "gen.jsonl")}
    argv[flag] = value if flag != "--data" else str(tmp_path / value)
    code, err = _run_cli([x for item in argv.items() for x in item], capsys, generate.main)
    assert code == 2 and needle in _one_error_line(err)
    assert not (tmp_path / "out" / "gen.jsonl").exists()


# --- 5. Ctrl-C / SIGTERM: one line, exit 130 / 143, no temporary file; stale temporaries are removed ----------------

EVAL_SCRIPT = """
import os, sys, time, types
from data_preprocess import atomic
from verl_med_plugin.evaluation import evaluate
atomic.os = types.SimpleNamespace(**{**vars(os), "replace": lambda *a: time.sleep(600)})  # hang mid-write
sys.exit(evaluate.main(sys.argv[1:]))
"""
GENERATE_SCRIPT = """
import os, sys, time, types
from verl_med_plugin import verl_compat
from data_preprocess import atomic
from verl_med_plugin.evaluation import generate
generate.check_inputs = lambda args: None  # no model folder or parquet: everything that reads them is replaced
verl_compat.load_tokenizer_and_processor = lambda model: (None, None)
generate.build_requests = lambda *a, **k: [generate.GenerationRequest("p0", "prompt", [], "a", "toy", {})]
generate.generate_with_vllm = lambda requests, model, **k: [["<answer>a</answer>"] for _ in requests]
atomic.os = types.SimpleNamespace(**{**vars(os), "replace": lambda *a: time.sleep(600)})  # hang mid-write
sys.exit(generate.main(sys.argv[1:]))
"""


@pytest.mark.parametrize("tool", ["eval", "generate"])
@pytest.mark.parametrize(
    ("signum", "status", "word"), [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]
)
def test_interrupt_exits_cleanly_without_temporary_files(tmp_path, tool, signum, status, word):
    """Interrupted mid-write, the tool exits with one line and leaves nothing hidden in its output folder. Mutation
    checked: ``write_report`` removing its staging folder only on ``Exception`` (not on the interrupt's
    ``KeyboardInterrupt``/``SystemExit``) fails the eval cases."""
    out = tmp_path / "out"
    if tool == "eval":
        args = [
            "-c",
            EVAL_SCRIPT,
            str(_write(tmp_path / "gen.jsonl", _good_lines(4))),
            "--out",
            str(out),
            "--bootstrap",
            "0",
        ]
    else:
        args = ["-c", GENERATE_SCRIPT, "--model", "m", "--data", "x.parquet", "--out", str(out / "gen.jsonl")]
    proc = subprocess.Popen(
        [sys.executable, *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**__import__("os").environ, "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg"},
        preexec_fn=default_sigint,
    )
    # The report is staged in a hidden folder inside ``out`` (``writer.write_report``), so its temporaries lie one
    # level down: look for them recursively, and after the interrupt for any hidden leftover at all.
    deadline = time.monotonic() + 120
    while not list(out.rglob(".*.tmp")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # wait until it is writing: the interrupt must find a temporary file to remove
    assert list(out.rglob(".*.tmp")), f"no temporary file appeared: {proc.poll()}"
    assert proc.poll() is None, f"finished before the interrupt: {proc.communicate()}"
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == status and word in err and "Traceback" not in err, err
    assert not list(out.rglob(".*")), list(out.rglob(".*"))  # no temporary file, no staging folder


@pytest.mark.parametrize("tool", ["eval", "generate"])
def test_stale_temporaries_of_a_killed_run_are_removed(tmp_path, capsys, monkeypatch, tool):
    import os

    out = tmp_path / "out"
    out.mkdir()
    dead, live = _dead_pid(), os.getppid()
    suffix = "metrics.json" if tool == "eval" else "gen.jsonl"
    stale, running = out / f".{suffix}.{dead}.tmp", out / f".{suffix}.{live}.tmp"
    foreign = out / f".train.parquet.{dead}.tmp"  # not this tool's file
    for path in (stale, running, foreign):
        path.write_text("partial")
    if tool == "eval":
        code, _ = _run_cli(
            [str(_write(tmp_path / "gen.jsonl", _good_lines(2))), "--out", str(out), "--bootstrap", "0"], capsys
        )
    else:
        from verl_med_plugin import verl_compat

        monkeypatch.setattr(verl_compat, "load_tokenizer_and_processor", lambda model: (None, None))
        monkeypatch.setattr(generate, "check_inputs", lambda args: None)
        monkeypatch.setattr(generate, "build_requests", lambda *a, **k: [])
        monkeypatch.setattr(generate, "generate_with_vllm", lambda requests, model, **k: [])
        code = generate.main(["--model", "m", "--data", "x.parquet", "--out", str(out / "gen.jsonl")])
    assert code == 0
    assert not stale.exists() and running.exists() and foreign.exists()


# --- 6. multilabel: "every label" graded as the reward grades it -----------------------------------------------------


def _chest_record(answer: str, truth: list[str]):
    from verl_med_plugin.evaluation.dumps import Record

    return Record(origin="t:1", response=_answer(answer), ground_truth=json.dumps(truth), extra_info=CHEST)


def test_every_label_answer_counts_only_when_every_label_is_true():
    everything = "effusion, mass, nodule"
    hedge = evaluate.score_record(_chest_record(everything, ["mass"]), {})
    assert hedge.predicted is None and not hedge.correct  # invalid, as the reward's guard: no per-label credit
    right = evaluate.score_record(_chest_record(everything, ["effusion", "mass", "nodule"]), {})
    assert right.predicted == (0, 1, 2) and right.correct


@SETTINGS
@given(truth=st.sets(st.sampled_from(CHEST["labels"])), answer=st.sets(st.sampled_from(CHEST["labels"]), min_size=1))
def test_multilabel_correct_is_the_rewards_acc(truth, answer):
    record = _chest_record(", ".join(sorted(answer)), sorted(truth))
    scored = evaluate.score_record(record, {})
    reward = reward_fns.compute_score(
        data_source="toychest", solution_str=record.response, ground_truth=record.ground_truth, extra_info=CHEST
    )
    assert scored.correct == (float(reward["acc"]) == 1.0)
    if len(answer) == 3 and answer != truth:
        assert scored.predicted is None
