"""Reading verl 0.9.1 generation dumps (written by verl's own writer) and joining extra_info from the parquet."""

from __future__ import annotations

import json

import pytest
from eval_fixtures import (
    BLOOD_QUESTION,
    INSTRUCTION,
    RETINA_LABELS,
    RETINA_QUESTION,
    prepared_rows,
    verl_write_generations,
    write_parquet,
    write_rollout_dump,
    write_validation_dumps,
)

import reward_fns
from verl_med_plugin.evaluation.dumps import (
    EvalDataError,
    PreparedData,
    Problems,
    read_records,
    sample_id,
)


@pytest.fixture(scope="module")
def rows():
    return prepared_rows()


@pytest.fixture(scope="module")
def val_dir(tmp_path_factory, rows, qwen_tokenizer, qwen_processor):
    return write_validation_dumps(tmp_path_factory.mktemp("val"), rows, qwen_tokenizer, qwen_processor)


def test_verl_validation_dump_format(val_dir):
    """What verl 0.9.1 writes to trainer.validation_data_dir: <step>.jsonl, these keys, no extra_info."""
    assert sorted(p.name for p in val_dir.iterdir()) == ["10.jsonl", "20.jsonl"]
    first = json.loads((val_dir / "20.jsonl").read_text().splitlines()[0])
    assert set(first) == {"input", "output", "gts", "score", "step", "reward", "uid", *reward_fns.SCORE_KEYS}
    assert first["step"] == 20 and first["reward"] == first["score"]
    assert "extra_info" not in first and "data_source" not in first
    assert first["input"].startswith("system\nYou are a helpful assistant.\nuser\n")  # special tokens removed


def test_read_validation_dump(val_dir):
    problems = Problems()
    records = read_records(val_dir, problems)
    assert problems.counts == {}
    assert len(records) == 2 * (7 * 2)  # 2 steps x 7 prompts x 2 samples
    r = records[0]
    assert (r.step, r.prompt_id) == (10, "uuid-10-0000")  # from verl's key {uid}_{session}_{index}
    assert r.extra_info is None and r.ground_truth == RETINA_LABELS[0]
    assert r.rewards["pred"] == RETINA_LABELS[0] and r.rewards["acc"] == 1.0
    assert "uid" not in r.rewards and "output" not in r.rewards


def test_read_rollout_dump_and_multi_output_sessions(tmp_path):
    path = write_rollout_dump(tmp_path, 3, [[1, 0], [0.5]])
    assert set(json.loads(path.read_text().splitlines()[0])) == {"input", "output", "gts", "score", "step", "uid"}
    records = read_records(path, Problems())
    assert [(r.prompt_id, r.rewards["score"]) for r in records] == [
        ("uuid-3-0", 1.0),
        ("uuid-3-0", 0.0),
        ("uuid-3-1", 0.5),
    ]
    # a multi-output (multi-turn) session: only its last output is scored, as verl's GRPO does
    verl_write_generations(
        tmp_path,
        4,
        ["p"] * 3,
        ["turn 1", "turn 2", "other"],
        ["g"] * 3,
        [0.0, 1.0, 0.0],
        {"uid": ["u_0_0", "u_0_1", "u_1_0"]},
    )
    records = read_records(tmp_path / "4.jsonl", Problems())
    assert [r.response for r in records] == ["turn 2", "other"]


def test_malformed_lines_and_missing_fields_are_counted(tmp_path):
    path = tmp_path / "gen.jsonl"
    good = {"output": "x", "gts": "no DR", "prompt_id": "p"}
    path.write_text(
        "\n".join(
            [json.dumps(good), "{not json", "[1, 2]", json.dumps({"output": "x"}), json.dumps({"gts": "no DR"}), ""]
        )
        + "\n"
    )
    problems = Problems()
    records = read_records(path, problems)
    assert len(records) == 1
    assert problems.counts == {"malformed_line": 2, "missing_field": 2}
    assert "gen.jsonl:4: missing field 'gts'" in problems.examples["missing_field"][0]
    with pytest.raises(EvalDataError, match="gen.jsonl:2: not JSON"):
        read_records(path, Problems(strict=True))


def test_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(EvalDataError, match="no such file"):
        read_records(tmp_path / "nope", Problems())
    with pytest.raises(EvalDataError, match="no \\*.jsonl files"):
        read_records(tmp_path, Problems())


def test_join_by_prompt_text(tmp_path, rows, val_dir):
    prepared = PreparedData.from_parquet([write_parquet(rows, tmp_path / "test.parquet")])
    problems = Problems()
    records = read_records(val_dir / "20.jsonl", problems)
    assert all(prepared.attach(r, problems) for r in records)
    assert [r.dataset for r in records] == ["retinamnist"] * 8 + ["bloodmnist"] * 6
    assert records[0].extra_info["labels"] == RETINA_LABELS and records[0].data_source == "verl_med/retinamnist"


def test_join_problems_are_counted(tmp_path, rows):
    prepared = PreparedData.from_parquet([write_parquet(rows, tmp_path / "test.parquet")])
    blood_input = f"user\n\n{BLOOD_QUESTION}{INSTRUCTION}\nassistant\n"
    lines = [
        {"input": blood_input, "output": "x", "gts": "basophil"},  # joins
        {"input": blood_input, "output": "x", "gts": "no DR"},  # not a ground truth of that prompt
        {"input": "user\nan unrelated question\nassistant\n", "output": "x", "gts": "basophil"},
        {"output": "x", "gts": "basophil", "sample_id": "bloodmnist/test/99"},
        {"output": "x", "gts": "basophil", "sample_id": sample_id(rows[4]["extra_info"])},  # exact join
        {"output": "x", "gts": "basophil"},  # nothing to join on
    ]
    path = tmp_path / "gen.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    problems = Problems()
    joined = [r for r in read_records(path, problems) if prepared.attach(r, problems)]
    assert [r.origin.rsplit(":", 1)[1] for r in joined] == ["1", "5"]
    assert joined[1].extra_info["index"] == 0 and joined[1].dataset == "bloodmnist"
    assert problems.counts == {
        "ground_truth_mismatch": 1,
        "unmatched_prompt": 1,
        "unknown_sample": 1,
        "missing_field": 1,
    }


def test_same_prompt_with_different_label_sets_is_ambiguous(tmp_path, rows):
    other = json.loads(json.dumps(rows[0], default=lambda b: None))  # a copy without image bytes
    other["extra_info"] = dict(other["extra_info"], dataset="otherset", labels=["x", "y"], label_aliases=[[], []])
    prepared = PreparedData([rows[0], other])
    path = tmp_path / "gen.jsonl"
    path.write_text(json.dumps({"input": f"user\n\n{RETINA_QUESTION}", "output": "x", "gts": "no DR"}) + "\n")
    problems = Problems()
    (record,) = read_records(path, problems)
    assert not prepared.attach(record, problems)
    assert problems.counts == {"ambiguous_prompt": 1}
    assert "otherset" in problems.examples["ambiguous_prompt"][0]


def test_join_survives_knowledge_and_class_list_around_the_question(tmp_path, rows):
    """The dataset class may put knowledge before the question and the class list after it (med.knowledge.mode)."""
    prepared = PreparedData(rows)
    rendered = (
        f"system\nYou are a helpful assistant.\nuser\n\nKnowledge:\nGrades follow the ICDR scale.\n\n"
        f"{RETINA_QUESTION}\nOptions: {', '.join(RETINA_LABELS)}\n{INSTRUCTION.strip()}\nassistant\n"
    )
    path = tmp_path / "gen.jsonl"
    path.write_text(json.dumps({"input": rendered, "output": "x", "gts": "mild NPDR"}) + "\n")
    problems = Problems()
    (record,) = read_records(path, problems)
    assert prepared.attach(record, problems) and record.dataset == "retinamnist"
