"""LoRA runs are evaluated with their adapter (else the base model would be scored): verl's model merger writes the
base weights and a ``lora_adapter/`` beside them; ``verl-med-generate`` merges the adapter (peft
``merge_and_unload``) and generates from the merged model. A tiny random-weight Qwen2.5-VL and an adapter written by
verl's own merger code, on CPU."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
from fixtures_model import build_tiny_qwen_vl_dir

from verl_med_plugin.evaluation import generate

PROMPT = "<|im_start|>user\nWhich grade does this fundus image show?<|im_end|>\n<|im_start|>assistant\n"
NEW_TOKENS = 8


pytestmark = pytest.mark.xdist_group("eval_lora_run")  # one process builds the LoRA run (session scope)


@pytest.fixture(scope="session")
def lora_run(tmp_path_factory):
    """``hf_model/``: base weights + ``lora_adapter/`` as verl's merger leaves a LoRA run; plus the peft model."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText
    from verl.model_merger.base_model_merger import BaseModelMerger

    root = tmp_path_factory.mktemp("lora")
    model_dir = build_tiny_qwen_vl_dir(root / "hf_model", weights=True, seed=0)
    base = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32)
    # the language model only, as med/hardware=1gpu_lora trains it (vision tower excluded)
    config = LoraConfig(
        r=4, lora_alpha=8, target_modules=r".*language_model.*\.(q_proj|v_proj|o_proj)", task_type="CAUSAL_LM"
    )
    peft_model = get_peft_model(base, config)
    torch.manual_seed(1)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:  # peft starts B at 0 (no change); a trained adapter is not 0
                param.normal_(0.0, 0.5)
    # verl's own writer: the FSDP state dict of the peft model -> lora_adapter/adapter_config.json + safetensors
    merger = SimpleNamespace(
        config=SimpleNamespace(target_dir=str(model_dir), local_dir=str(root)),
        _load_lora_train_meta=lambda: {"r": 4, "lora_alpha": 8, "task_type": "CAUSAL_LM"},
    )
    state = {k: v.detach().clone() for k, v in peft_model.state_dict().items()}
    adapter_dir = BaseModelMerger.save_lora_adapter(merger, state)
    return {"model_dir": model_dir, "adapter_dir": adapter_dir, "peft_model": peft_model.eval(), "root": root}


def _ids(model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_dir)(PROMPT, return_tensors="pt")["input_ids"]


def _greedy(model, ids):
    with torch.no_grad():
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=NEW_TOKENS,
            do_sample=False,
            pad_token_id=151643,
            eos_token_id=None,
        )
    return out[0, ids.shape[1] :].tolist()


def test_adapter_is_found_where_verls_merger_writes_it(lora_run, tmp_path):
    assert lora_run["adapter_dir"] == str(lora_run["model_dir"] / "lora_adapter")
    assert generate.find_adapter(lora_run["model_dir"]) == lora_run["model_dir"] / "lora_adapter"
    assert generate.find_adapter(tmp_path) is None  # a full-weight model: nothing to merge
    with pytest.raises(ValueError, match="no adapter_config.json"):
        generate.find_adapter(lora_run["model_dir"], adapter=tmp_path)


def test_merged_model_generates_the_adapters_output(lora_run, tmp_path):
    from transformers import AutoModelForImageTextToText

    model_dir = lora_run["model_dir"]
    merged_dir = generate.merge_lora(model_dir, lora_run["adapter_dir"], tmp_path / "merged", dtype="float32")
    ids = _ids(model_dir)
    base = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32).eval()
    merged = AutoModelForImageTextToText.from_pretrained(merged_dir, dtype=torch.float32).eval()
    adapted = lora_run["peft_model"]
    with torch.no_grad():
        logits_base = base(input_ids=ids).logits[0, -1]
        logits_adapted = adapted(input_ids=ids).logits[0, -1]
        logits_merged = merged(input_ids=ids).logits[0, -1]
    assert torch.allclose(logits_merged, logits_adapted, atol=1e-4)
    assert not torch.allclose(logits_base, logits_adapted, atol=1e-2)  # the adapter matters
    greedy_adapted = _greedy(adapted, ids)
    assert _greedy(merged, ids) == greedy_adapted
    assert _greedy(base, ids) != greedy_adapted  # evaluating the base model would report another model's answers
    # a folder vLLM and verl load as they load the base: config, weights without peft wrappers, processor files
    names = {p.name for p in merged_dir.iterdir()}
    processor_files = {p.name for p in model_dir.iterdir() if p.is_file() and not p.name.endswith(".safetensors")}
    assert processor_files | {"merged_from.json", "model.safetensors"} <= names
    assert "lora_adapter" not in names and not [n for n in names if n.startswith(".")]
    from verl.utils import hf_processor

    assert hf_processor(str(merged_dir)) is not None


@pytest.mark.slow  # merges the adapter into a random-weight model twice
def test_generate_cli_hands_vllm_the_merged_model(lora_run, tmp_path, monkeypatch):
    from eval_fixtures import prepared_rows, response, write_parquet

    parquet = write_parquet(prepared_rows()[:2], tmp_path / "test.parquet")
    seen = {}

    def fake_vllm(requests, model, **kwargs):
        from transformers import AutoConfig

        seen["model"] = model
        seen["merged_from"] = json.loads((generate.Path(model) / "merged_from.json").read_text())
        seen["config"] = AutoConfig.from_pretrained(model).architectures
        return [[response(r.extra_info["labels"], 0)] for r in requests]

    monkeypatch.setattr(generate, "generate_with_vllm", fake_vllm)
    out = tmp_path / "gen" / "out.jsonl"
    assert generate.main(["--model", str(lora_run["model_dir"]), "--data", str(parquet), "--out", str(out)]) == 0
    assert seen["model"] != str(lora_run["model_dir"])
    assert seen["merged_from"]["adapter"] == str((lora_run["model_dir"] / "lora_adapter").resolve())
    assert seen["config"] == ["Qwen2_5_VLForConditionalGeneration"]
    assert len(out.read_text().splitlines()) == 2
    assert [p.name for p in out.parent.iterdir()] == ["out.jsonl"]  # the temporary merged model is gone

    kept = tmp_path / "kept_merge"
    assert (
        generate.main(
            [
                "--model",
                str(lora_run["model_dir"]),
                "--data",
                str(parquet),
                "--out",
                str(out),
                "--merged-dir",
                str(kept),
            ]
        )
        == 0
    )
    assert seen["model"] == str(kept) and (kept / "config.json").is_file()
