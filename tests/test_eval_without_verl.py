"""Evaluation needs no training stack: ``verl-med-eval`` imports and runs, reward kwargs validated, with verl, torch,
Ray, Hydra and vLLM import-blocked (an evaluation host, or a laptop with the dumps, has none of them)."""

from __future__ import annotations

import json
import subprocess
import sys

BLOCKED = ("verl", "torch", "ray", "hydra", "vllm")
RUNNER = f"""
import importlib.abc, sys

BLOCKED = {BLOCKED!r}


class Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{{name}} is blocked in this test")
        return None


sys.meta_path.insert(0, Blocked())
from verl_med_plugin.evaluation import evaluate

try:
    code = evaluate.main(sys.argv[1:])
except SystemExit as stop:
    code = stop.code
loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
assert not loaded, loaded
sys.exit(code)
"""
LABELS = ["basophil", "eosinophil", "neutrophil"]


def _generations(path):
    info = {"dataset": "toyset", "task_type": "multiclass", "labels": LABELS, "split": "test"}
    lines = [
        {
            "output": f"<think>I look.</think><answer>{LABELS[i % 3]}</answer>",
            "gts": LABELS[(i + (i == 0)) % 3],
            "step": 1,
            "extra_info": {**info, "index": i},
        }
        for i in range(6)
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def _run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", RUNNER, *argv], capture_output=True, text=True, timeout=300)


def test_evaluation_runs_with_the_training_stack_blocked(tmp_path):
    """Mutation checked: ``check_reward_kwargs`` validating through ``preflight`` again (which imports Hydra through
    the config checks) fails here with the blocked import."""
    gen = _generations(tmp_path / "gen.jsonl")
    out = tmp_path / "report"
    proc = _run(f"run={gen}", "--reward_kwargs", '{"format_weight": 0.5}', "--bootstrap", "0", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["runs"][0]["datasets"]["toyset"]["accuracy"] == 5 / 6  # the first answer is wrong
    assert metrics["runs"][0]["reward_kwargs"] == {"format_weight": 0.5}

    bad = _run(f"run={gen}", "--reward_kwargs", '{"format_weight": "high"}', "--out", str(tmp_path / "bad"))
    lines = [line for line in bad.stderr.splitlines() if line.strip()]
    assert bad.returncode == 2 and len(lines) == 1 and "format_weight" in lines[0], bad.stderr[-3000:]
