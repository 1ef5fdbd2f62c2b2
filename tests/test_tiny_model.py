"""The shipped command that builds the tiny local model of contributors' dry runs (docs/new_task.md) writes a
directory verl loads as it loads a hub checkpoint: tokenizer, processor and config."""

from __future__ import annotations

import json

from verl_med_plugin import tiny_model


def test_the_shipped_command_writes_a_model_verl_loads(tmp_path, capsys):
    """Mutation checked: a builder that skips ``processor.save_pretrained`` fails here (verl finds no processor)."""
    from verl.utils import hf_processor, hf_tokenizer

    out = tmp_path / "tiny"
    tiny_model.main(["--out", str(out)])
    assert f"actor_rollout_ref.model.path={out}" in capsys.readouterr().out
    tokenizer, processor = hf_tokenizer(str(out)), hf_processor(str(out))
    assert processor is not None and type(processor).__name__ == "Qwen2_5_VLProcessor"
    assert (
        tokenizer.convert_tokens_to_ids("<|image_pad|>")
        == json.loads((out / "config.json").read_text())["image_token_id"]
    )
    text = processor.apply_chat_template([{"role": "user", "content": "Which grade?"}], tokenize=False)
    assert text.startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhich grade?")
