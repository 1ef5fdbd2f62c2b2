"""``verl-med-eval --protocol``: a VQA figure under the split and scorer of MedEvalKit or MedVLThinker, beside our
own (docs/vqa.md names the source commit of each rule). Hand-checked on the SLAKE fixture of test_eval_vqa.py."""

from __future__ import annotations

import json

import pytest
from eval_fixtures import vqa_rows, write_vqa_generations

from verl_med_plugin.evaluation import evaluate
from verl_med_plugin.evaluation.protocols import medevalkit_answer, medevalkit_correct, protocol_figures


@pytest.mark.parametrize(
    ("response", "answer", "task_type", "right"),
    [
        ("<answer>Yes.</answer>", "yes", "closed", True),
        ("<answer>yes, there is</answer>", "yes", "closed", True),  # a substring suffices (ours: not an answer)
        ("<answer>not sure</answer>", "no", "closed", True),  # "not" holds "no" (ours: not an answer)
        ("<answer>yes or no</answer>", "yes", "closed", False),  # both substrings: wrong
        ("<answer>The answer is liver</answer>", "liver", "open", True),  # text after "answer is"
        ("<answer>the left lung</answer>", "left lung", "open", False),  # no article removal (ours: exact)
        ("no tags, final answer: MRI", "MRI", "open", True),
    ],
)
def test_medevalkit_verdicts_by_hand(response, answer, task_type, right):
    """Each case read off MedEvalKit's utils/utils.py (judge_judgement, judge_open_end_vqa, parse_response).
    Mutation checked: ``!=`` (xor) replaced by ``or`` in the closed rule -> "yes or no" counts as right."""
    assert medevalkit_correct(response, answer, task_type) is right


def test_medevalkit_reads_at_most_64k_characters():
    assert medevalkit_answer("x" * 1_000_000 + "answer: yes") == "x" * 65_536


@pytest.fixture(scope="module")
def metrics(tmp_path_factory):
    root = tmp_path_factory.mktemp("protocol")
    generations = write_vqa_generations(root / "gen.jsonl", vqa_rows())
    out = {}
    for name in ("medevalkit", "medvlthinker"):
        args = [f"vqa={generations}", "--out", str(root / name), "--bootstrap", "0", "--protocol", name]
        assert evaluate.main(args) == 0
        out[name] = json.loads((root / name / "metrics.json").read_text())["runs"][0]["datasets"]
    return out


def test_protocol_figures_stand_beside_ours(metrics):
    """SLAKE fixture: closed yes/yes (right), no/yes (wrong), yes/"Yes." (right); open "the left lung" for "left
    lung" (ours exact, MedEvalKit wrong), three other open answers wrong under both. Ours 3/7; MedEvalKit 2/7 over
    the 7 closed and open questions; MedVLThinker 2/3 over the 3 closed ones. Mutation checked: counting
    ``task_types`` of every protocol as (closed, open) -> MedVLThinker's n is 7."""
    slake = metrics["medevalkit"]["slake"]
    assert slake["accuracy"] == pytest.approx(3 / 7)
    assert slake["protocol"]["n"] == 7 and slake["protocol"]["accuracy"] == pytest.approx(2 / 7)
    assert slake["protocol"]["split"] == "test" and slake["protocol"]["splits_seen"] == ["test"]
    assert "MedEvalKit@9b12e3b" in slake["protocol"]["source"]
    thinker = metrics["medvlthinker"]["slake"]["protocol"]
    assert (thinker["n"], thinker["accuracy"]) == (3, pytest.approx(2 / 3))
    # MCQ-only datasets count no question under these protocols
    assert metrics["medvlthinker"]["omnimedvqa"]["protocol"]["n"] == 0
    assert metrics["medvlthinker"]["omnimedvqa"]["protocol"]["accuracy"] is None


def test_protocol_figures_report_the_splits_seen():
    rows = [("val", "closed", "<answer>yes</answer>", "yes", True)]
    figures = protocol_figures("medvlthinker", rows)
    assert figures["splits_seen"] == ["val"] and figures["split"] == "test"
