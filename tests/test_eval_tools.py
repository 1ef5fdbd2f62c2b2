"""Tool-use metrics in ``verl-med-eval``: an offline-generation JSONL of multi-turn zoom responses
through ``evaluate_run`` and the markdown report. Expected figures are counted by hand from the fixture and the
IoU comes from ``torchvision.ops.box_iou``."""

from __future__ import annotations

import json

import pytest
import torch
from torchvision.ops import box_iou

from data_preprocess.schema import make_extra_info
from verl_med_plugin.evaluation.evaluate import evaluate_run
from verl_med_plugin.evaluation.report import markdown_summary

LABELS = ["benign", "malignant", "normal"]
LESION = [200, 200, 600, 600]  # 0-1000 grid
TOOL_TURN = "\nuser\n<tool_response>\n\n</tool_response>\nassistant\n"
KWARGS = {"format_weight": 1.0, "acc_weight": 1.0, "box_format": "rel1000", "zoom_iou_weight": 0.5}


def call(box) -> str:
    return "<think>look</think>\n<tool_call>\n" + json.dumps({"name": "zoom_in", "arguments": {"bbox_2d": box}})


def answer(label: str) -> str:
    return f"<think>seen</think><answer>{label}</answer>"


# (response, truth): 3 with a call (one right; one calls twice; one was cut after its call, unanswered), 3 without
# (two right)
CASES = [
    (call([200, 200, 600, 600]) + "\n</tool_call>", "benign"),
    (call([300, 300, 700, 700]) + "\n</tool_call>" + TOOL_TURN + answer("benign"), "benign"),
    (
        call([200, 200, 600, 600])
        + "\n</tool_call>"
        + TOOL_TURN
        + call([0, 0, 10, 10])
        + "\n</tool_call>"
        + TOOL_TURN
        + answer("benign"),
        "malignant",
    ),
    (answer("normal"), "normal"),
    (answer("benign"), "benign"),
    (answer("benign"), "malignant"),
]


def write_generations(path):
    lines = []
    for i, (text, truth) in enumerate(CASES):
        info = make_extra_info(
            split="test", index=i, dataset="busi", task_type="multiclass", labels=list(LABELS), box_format="rel1000"
        )
        info["lesion_boxes"] = json.dumps([LESION])
        lines.append(
            {
                "prompt_id": f"busi/test/{i}",
                "input": "q",
                "output": text,
                "gts": truth,
                "data_source": "verl_med/busi",
                "extra_info": info,
            }
        )
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return path


def test_tool_metrics_per_dataset_and_in_the_report(tmp_path):
    """Call rate 3/6, assistant turns (1 + 2 + 3 + 1 + 1 + 1) / 6, accuracy 1/3 with a call and 2/3 without, zoom
    IoU the mean over the three calling responses of their FIRST box's IoU; multi-turn answers graded on their
    last turn (format compliance 5/6: only the cut response has no answer). Mutations checked: grading the whole
    response (the multi-turn answers lose their format), counting turns from tool calls instead of answered tool
    responses, the last box's IoU; each fails."""
    run = evaluate_run("zoom", write_generations(tmp_path / "gen.jsonl"), None, None, KWARGS, n_resamples=0)
    metrics = run["datasets"]["busi"]
    assert metrics["accuracy"] == pytest.approx(3 / 6) and metrics["format_compliance"] == pytest.approx(5 / 6)
    tools = metrics["tools"]
    firsts = torch.tensor([[200.0, 200, 600, 600], [300, 300, 700, 700], [200, 200, 600, 600]])
    reference = box_iou(firsts, torch.tensor([LESION], dtype=torch.float))
    assert tools["zoom_iou"] == pytest.approx(float(reference.mean())) and tools["n_zoom_iou"] == 3
    assert tools["tool_call_rate"] == pytest.approx(3 / 6)
    assert tools["turns_per_response"] == pytest.approx(9 / 6)
    assert tools["calls_per_response"] == pytest.approx(4 / 6)
    assert (tools["accuracy_with_call"], tools["n_with_call"]) == (pytest.approx(1 / 3), 3)
    assert (tools["accuracy_without_call"], tools["n_without_call"]) == (pytest.approx(2 / 3), 3)
    report = markdown_summary({"runs": [run], "comparisons": [], "parser": "reward_fns.parse_answer"}, {})
    assert "Tool use (zoom)" in report and "| zoom | 50.0% | 1.50 |" in report


def test_a_run_without_tool_calls_has_no_tools_block(tmp_path):
    path = tmp_path / "gen.jsonl"
    write_generations(path)
    lines = [json.loads(line) for line in path.read_text().splitlines()][3:]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    run = evaluate_run("plain", path, None, None, KWARGS, n_resamples=0)
    assert "tools" not in run["datasets"]["busi"]
    report = markdown_summary({"runs": [run], "comparisons": [], "parser": "reward_fns.parse_answer"}, {})
    assert "Tool use" not in report
