"""The optional local LLM judge of open VQA answers (``verl-med-eval --judge MODEL``): its fixed, versioned prompt,
the reading of its verdict, the cache, and one run through vLLM on CPU with a tiny random-weight model."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from verl_med_plugin.evaluation.judge import (
    MAX_FIELD_CHARS,
    PROMPT_VERSION,
    cache_key,
    judge_answers,
    judge_figures,
    judge_prompt,
    parse_verdict,
)


def test_the_prompt_holds_the_three_fields_cut_to_their_bound():
    text = judge_prompt("Which organ is enlarged?", "spleen", "the spleen" + "x" * 5000)
    assert "Question: Which organ is enlarged?" in text and "Reference answer: spleen" in text
    assert "Candidate answer: the spleen" in text and "x" * (MAX_FIELD_CHARS - 10 + 1) not in text
    assert "<judge>correct</judge> or <judge>incorrect</judge>" in text


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [
        ("<judge>correct</judge>", True),
        ("<judge> INCORRECT </judge>", False),
        ("I think <judge>incorrect</judge> ... no wait <judge>correct</judge>", True),  # the last tag counts
        ("correct", None),  # no tag: no verdict, never read as correct
        ("<judge>maybe</judge>", None),
        ("<judge>correct", None),
        ("", None),
    ],
)
def test_verdicts_are_read_from_the_last_tag_only(reply, verdict):
    """Mutation checked: reading the first tag -> the third case gives False."""
    assert parse_verdict(reply) is verdict


def test_the_cache_key_changes_with_version_model_and_each_text():
    base = cache_key("m", "q", "r", "a")
    others = [cache_key("m2", "q", "r", "a"), cache_key("m", "q2", "r", "a"), cache_key("m", "q", "r2", "a")]
    assert len({base, *others}) == 4
    assert len({base, cache_key("m", "q", "r", "a2")}) == 2 and base == cache_key("m", "q", "r", "a")
    assert PROMPT_VERSION.startswith("verl-med-judge-v")


def test_each_distinct_answer_is_asked_once_and_cached(tmp_path):
    """A grader that answers from the prompt text (reference == candidate) stands in for the model here, so the
    asking and caching are checked; the model itself runs in the slow test below. Mutation checked: not reading
    the cache file -> the second call asks again."""
    asked: list[list[str]] = []

    def grader(prompts: list[str]) -> list[str]:
        asked.append(prompts)
        out = []
        for p in prompts:
            ref = p.split("Reference answer: ")[1].split("\n")[0]
            cand = p.split("Candidate answer: ")[1].split("\n")[0]
            out.append(f"<judge>{'correct' if ref == cand else 'incorrect'}</judge>" if cand != "?" else "hmm")
        return out

    cache = tmp_path / "cache.json"
    items = [("q", "liver", "liver"), ("q", "liver", "spleen"), ("q", "liver", "liver"), ("q", "liver", "?")]
    assert judge_answers(items, "m", grader, cache) == [True, False, True, None]
    assert len(asked) == 1 and len(asked[0]) == 3  # the repeated answer is asked once
    assert judge_answers(items, "m", grader, cache) == [True, False, True, None]
    assert len(asked) == 1  # all from the cache
    assert len(json.loads(cache.read_text())) == 3
    assert judge_figures([True, False, True, None], "m") == {
        "model": "m",
        "prompt_version": PROMPT_VERSION,
        "n_open": 4,
        "n_no_verdict": 1,
        "accuracy": 2 / 3,
    }


JUDGE_SCRIPT = """
import json, sys
from pathlib import Path
from verl_med_plugin.evaluation.judge import judge_answers, vllm_generate
items = [("Which organ?", "liver", "liver"), ("Which side?", "right", "left")]
verdicts = judge_answers(items, sys.argv[1], vllm_generate(sys.argv[1]), Path(sys.argv[2]))
print(json.dumps(verdicts))
"""


@pytest.mark.slow
def test_the_judge_runs_a_local_model_through_vllm_on_cpu(tmp_path):
    """A tiny random-weight Qwen2.5-VL (tests/fixtures_model.py) through vLLM's CPU engine, temperature 0: a
    verdict (or none) per item, cached. Its verdicts mean nothing (random weights); what is checked is that the
    judge path runs end to end and its cache then answers without a model."""
    from cpu_e2e import CPU_ENV
    from fixtures_model import build_tiny_qwen_vl_dir

    model = build_tiny_qwen_vl_dir(tmp_path / "model", weights=True)
    cache = tmp_path / "cache.json"
    env = {**os.environ, **CPU_ENV}
    proc = subprocess.run(
        [sys.executable, "-c", JUDGE_SCRIPT, str(model), str(cache)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    verdicts = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(verdicts) == 2 and all(v in (True, False, None) for v in verdicts)
    assert len(json.loads(cache.read_text())) == 2

    def no_model(prompts: list[str]) -> list[str]:
        raise AssertionError("asked the model although every verdict is cached")

    items = [("Which organ?", "liver", "liver"), ("Which side?", "right", "left")]
    assert judge_answers(items, str(model), no_model, cache) == verdicts
