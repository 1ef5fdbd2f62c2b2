"""Offline generation, the CPU parts: parquet -> verl's dataset -> chat-template prompts -> JSONL the evaluation reads.
vLLM itself is replaced by a fake generator (it needs a GPU)."""

from __future__ import annotations

import json
import sys

import pytest
from eval_fixtures import (
    INSTRUCTION,
    RETINA_LABELS,
    RETINA_QUESTION,
    prepared_rows,
    response,
    write_parquet,
)
from fixtures_data import IMAGE_PAD
from PIL import Image

from verl_med_plugin.evaluation import evaluate
from verl_med_plugin.evaluation import generate as generate_offline


@pytest.fixture(scope="module")
def parquet(tmp_path_factory):
    return write_parquet(prepared_rows(), tmp_path_factory.mktemp("gen") / "test.parquet")


def test_prompts_are_built_like_verls_rollout(parquet, qwen_tokenizer, qwen_processor, monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # importing vLLM (GPU only) would now fail the test
    requests = generate_offline.build_requests(
        [parquet], qwen_tokenizer, qwen_processor, generate_offline.data_config(), limit=5
    )
    assert len(requests) == 5  # the first rows in file order, none filtered
    first = requests[0]
    assert first.prompt_id == "retinamnist/test/0" and first.ground_truth == RETINA_LABELS[0]
    assert first.prompt_text.endswith(f"{RETINA_QUESTION}{INSTRUCTION}<|im_end|>\n<|im_start|>assistant\n")
    assert first.prompt_text.count(IMAGE_PAD) == 1  # one per <image>
    assert len(first.images) == 1 and isinstance(first.images[0], Image.Image)
    assert first.extra_info["labels"] == RETINA_LABELS and first.data_source == "verl_med/retinamnist"


def test_run_config_data_section_is_used_for_prompts(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(
        "data:\n  prompt_key: prompt\n  image_key: images\n  filter_overlong_prompts: true\n"
        "  apply_chat_template_kwargs: {enable_thinking: false}\n"
    )
    data = generate_offline.data_config(config)
    assert data.apply_chat_template_kwargs == {"enable_thinking": False}
    assert data.filter_overlong_prompts is False and data.shuffle is False  # every test row, in order
    (tmp_path / "bad.yaml").write_text("trainer: {}\n")
    with pytest.raises(ValueError, match="no 'data' section"):
        generate_offline.data_config(tmp_path / "bad.yaml")


def test_run_config_chat_template_is_the_training_one(tmp_path):
    from verl_med_plugin.med_settings import chat_template_text

    assert generate_offline.run_chat_template(None) is None
    named = tmp_path / "named.yaml"
    named.write_text("med:\n  template: qwen3_vl\ndata: {}\n")
    assert generate_offline.run_chat_template(named) == chat_template_text("qwen3_vl")
    explicit = tmp_path / "explicit.yaml"
    explicit.write_text("med:\n  template: qwen3_vl\nactor_rollout_ref:\n  model:\n    custom_chat_template: 'X'\n")
    assert generate_offline.run_chat_template(explicit) == "X"  # an explicit template wins, as in training


def test_cli_writes_jsonl_that_evaluates_without_parquet(parquet, tiny_model_dir, tmp_path, monkeypatch):
    answers = {"retinamnist": [[0, 0], [1, 2], [2, 2], [3, -1]], "bloodmnist": [[0, 1], [1, 1], [2, 2]]}

    def fake_vllm(requests, model, **kwargs):
        assert model == str(tiny_model_dir) and kwargs["n"] == 2 and kwargs["temperature"] == 1.0
        return [
            [response(r.extra_info["labels"], p) for p in answers[r.extra_info["dataset"]][r.extra_info["index"]]]
            for r in requests
        ]

    monkeypatch.setattr(generate_offline, "generate_with_vllm", fake_vllm)
    out = tmp_path / "gen.jsonl"
    assert (
        generate_offline.main(
            [
                "--model",
                str(tiny_model_dir),
                "--data",
                str(parquet),
                "--out",
                str(out),
                "--n",
                "2",
                "--temperature",
                "1.0",
            ]
        )
        == 0
    )
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 14
    assert set(lines[0]) == {"prompt_id", "sample", "input", "output", "gts", "data_source", "extra_info"}
    assert [(x["prompt_id"], x["sample"]) for x in lines[:3]] == [
        ("retinamnist/test/0", 0),
        ("retinamnist/test/0", 1),
        ("retinamnist/test/1", 0),
    ]

    result = evaluate.evaluate_run("gen", out, None, None, {})
    retina = result["datasets"]["retinamnist"]
    assert retina["accuracy"] == pytest.approx(5 / 8)  # right: (1,1) (1,0) (1,1) (0,invalid)
    assert retina["sampling"]["maj@k"] == pytest.approx(3 / 4)  # prompt 1 ties 1 vs 2: first seen (1) wins
    assert retina["sampling"]["best@k"] == pytest.approx(3 / 4)
    assert result["datasets"]["bloodmnist"]["accuracy"] == pytest.approx(5 / 6)


def test_missing_vllm_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # as on a CPU host
    with pytest.raises(RuntimeError, match="needs vLLM"):
        generate_offline.generate_with_vllm(
            [],
            "model",
            n=1,
            temperature=0.0,
            top_p=1.0,
            max_tokens=8,
            seed=0,
            tensor_parallel_size=1,
            gpu_memory_utilization=0.5,
        )
