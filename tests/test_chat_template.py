"""The Qwen2.5-VL / Qwen3-VL chat templates (``med.template`` -> ``actor_rollout_ref.model.custom_chat_template``):
the model's own layout, and a generation prompt that never pre-fills ``<think>``."""

from __future__ import annotations

import pytest
from fixtures_data import IMAGE_PAD
from fixtures_model import QWEN25_VL_TEMPLATE
from fixtures_perception import compose_med_config, model_dir
from transformers.utils.chat_template_utils import render_jinja_template

from verl_med_plugin.med_settings import SettingsError, apply_chat_template_setting, chat_template_text

IMAGE = {"type": "image", "image": "x.png"}
CONVERSATIONS = {
    "user only": [{"role": "user", "content": [IMAGE, {"type": "text", "text": "Q?"}]}],
    "knowledge system": [
        {"role": "system", "content": "Background knowledge:\nK"},
        {"role": "user", "content": [IMAGE, {"type": "text", "text": "Q?"}]},
    ],
    "string content": [{"role": "user", "content": "<think> </think> plain"}],
    "history, two images": [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "<think>a</think><answer>b</answer>"},
        {"role": "user", "content": [IMAGE, IMAGE, {"type": "text", "text": "two"}]},
    ],
}


def render(template: str, messages: list[dict], **kwargs) -> str:
    rendered, _ = render_jinja_template(
        conversations=[messages], chat_template=template, add_generation_prompt=True, **kwargs
    )
    return rendered[0]


@pytest.mark.parametrize("add_vision_id", [False, True])
@pytest.mark.parametrize("name", list(CONVERSATIONS))
def test_qwen2_5_vl_template_renders_exactly_like_the_stock_template(name, add_vision_id):
    messages = CONVERSATIONS[name]
    assert render(chat_template_text("qwen2_5_vl"), messages, add_vision_id=add_vision_id) == render(
        QWEN25_VL_TEMPLATE, messages, add_vision_id=add_vision_id
    )


def test_qwen3_vl_template_layout():
    template = chat_template_text("qwen3_vl")
    # No default system prompt in Qwen3-VL; a system message renders first, as is.
    assert render(template, CONVERSATIONS["user only"]) == (
        f"<|im_start|>user\n{IMAGE_PAD}Q?<|im_end|>\n<|im_start|>assistant\n"
    )
    assert render(template, CONVERSATIONS["knowledge system"]) == (
        f"<|im_start|>system\nBackground knowledge:\nK<|im_end|>\n<|im_start|>user\n{IMAGE_PAD}Q?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert render(template, CONVERSATIONS["history, two images"], add_vision_id=True) == (
        "<|im_start|>user\nfirst<|im_end|>\n<|im_start|>assistant\n<think>a</think><answer>b</answer><|im_end|>\n"
        f"<|im_start|>user\nPicture 1: {IMAGE_PAD}Picture 2: {IMAGE_PAD}two<|im_end|>\n<|im_start|>assistant\n"
    )
    tool_turn = [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}]},
        {"role": "tool", "content": "r"},
    ]
    assert render(template, tool_turn) == (
        '<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n<tool_call>\n{"name": "f", "arguments": {"a": 1}}\n'
        "</tool_call><|im_end|>\n<|im_start|>user\n<tool_response>\nr\n</tool_response><|im_end|>\n"
        "<|im_start|>assistant\n"
    )


@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen3_vl"])
@pytest.mark.parametrize("kwargs", [{}, {"enable_thinking": True}, {"enable_thinking": False}])
def test_generation_prompt_never_prefills_think(family, kwargs):
    for messages in CONVERSATIONS.values():
        text = render(chat_template_text(family), messages, **kwargs)
        assert text.endswith("<|im_end|>\n<|im_start|>assistant\n")
        assert "<think>" not in text.rsplit("<|im_start|>assistant\n", 1)[1]


def test_template_setting_fills_verls_key_and_reaches_the_processor():
    from verl_med_plugin import verl_compat

    config = compose_med_config(f"actor_rollout_ref.model.path={model_dir('qwen3_vl')}", "med.template=qwen3_vl")
    assert config.actor_rollout_ref.model.custom_chat_template is None
    apply_chat_template_setting(config)
    assert config.actor_rollout_ref.model.custom_chat_template == chat_template_text("qwen3_vl")
    processor = verl_compat.load_rollout_model(config).processor  # verl's HFModelConfig, as the trainer builds it
    assert processor.chat_template == chat_template_text("qwen3_vl")

    explicit = compose_med_config("actor_rollout_ref.model.custom_chat_template=mine", "med.template=qwen3_vl")
    apply_chat_template_setting(explicit)
    assert explicit.actor_rollout_ref.model.custom_chat_template == "mine"  # an explicit template wins


def test_template_names_and_paths(tmp_path):
    custom = tmp_path / "mine.jinja"
    custom.write_text("{{ messages[0]['content'] }}")
    assert chat_template_text(str(custom)) == "{{ messages[0]['content'] }}"
    with pytest.raises(SettingsError, match=r"med\.template='qwen9'"):
        chat_template_text("qwen9")
