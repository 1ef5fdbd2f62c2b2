"""The zoom presets (``med/experiment=zoom``, ``zoom_vqa``; block ``blocks/zoom_tool``): composition, the tool yaml
each model preset gets, both chat templates' rendering of tool calls and image-bearing tool responses through
verl's own continuous-token builder (the agent loop's tokenizer path), and the length accounting."""

from __future__ import annotations

import functools
import json
import re

import pytest
from fixtures_perception import classification_row, compose_med_config, model_dir, write_rows
from omegaconf import OmegaConf
from test_presets_inherit import compose_flat, diff

from verl_med_plugin import verl_compat
from verl_med_plugin.med_settings import check_med_config
from verl_med_plugin.tools.settings import apply_tool_setting, zoom_settings_of

MODELS = ("qwen2_5_vl_3b", "qwen2_5_vl_7b", "qwen3_vl_4b", "qwen3_vl_8b")
TOOL_KEYS = {
    "med.tool": "zoom",
    "med.reward.zoom_iou_weight": 0.5,
    "actor_rollout_ref.rollout.agent.default_agent_loop": "tool_agent",
    "actor_rollout_ref.rollout.multi_turn.enable": True,
    "actor_rollout_ref.rollout.multi_turn.max_assistant_turns": 3,
    "actor_rollout_ref.rollout.multi_turn.max_user_turns": 2,
    "data.max_response_length": 1536,
    "reward.custom_reward_function.name": "compute_zoom_score",
}


def zoom_config(model: str, *overrides: str, experiment: str = "zoom"):
    config = compose_med_config(f"med/model={model}", f"med/experiment={experiment}", *overrides)
    apply_tool_setting(config)
    return config


@pytest.mark.parametrize("model", MODELS)
def test_each_model_preset_gets_a_tool_reading_boxes_as_its_reward_does(model):
    """The tool yaml picked for the model's template reads boxes in ``med.reward.box_format`` (pixels for
    Qwen2.5-VL, 0-1000 for Qwen3-VL) and, for pixel boxes, in the reward's frame (factor and pixel budget); the
    pre-flight check passes. Mutation checked: zoom_qwen3_vl.yaml with ``box_format: abs`` fails here (and the
    pre-flight check names the key)."""
    config = zoom_config(model)
    path = config.actor_rollout_ref.rollout.multi_turn.tool_config_path
    assert config.data.tool_config_path == path
    settings = zoom_settings_of(path)
    assert settings is not None and settings.box_format == config.med.reward.box_format
    assert settings.box_format == ("abs" if model.startswith("qwen2_5") else "rel1000")
    if settings.box_format == "abs":
        from reward_fns.config import reward_config

        reward = reward_config(OmegaConf.to_container(config.med.reward))
        assert (settings.factor, settings.min_pixels, settings.max_pixels) == (
            reward.image_factor,
            reward.min_pixels,
            reward.max_pixels,
        )
    assert check_med_config(config) == []


def test_a_tool_yaml_in_another_convention_is_refused_before_ray(tmp_path):
    """A tool reading 0-1000 boxes for a Qwen2.5-VL run (pixel boxes) is one pre-flight problem naming both
    keys. Mutation checked: ``tool_problems`` without ``_reward_agreement`` passes the config."""
    wrong = tmp_path / "zoom.yaml"
    cfg = OmegaConf.load(model_dir_yaml("qwen3_vl"))
    OmegaConf.save(cfg, wrong)
    config = zoom_config("qwen2_5_vl_3b", f"actor_rollout_ref.rollout.multi_turn.tool_config_path={wrong}")
    problems = check_med_config(config)
    assert len(problems) == 1 and "box_format='rel1000'" in problems[0] and "med.reward.box_format='abs'" in problems[0]


def model_dir_yaml(family: str):
    from verl_med_plugin.tools.settings import shipped_tool_config

    return shipped_tool_config("zoom", family)


@pytest.mark.parametrize(("row", "base"), [("zoom", "vrft_baseline"), ("zoom_vqa", "vqa")])
def test_zoom_rows_add_the_tool_block_and_nothing_else(row, base):
    """Against the row it extends, a zoom row changes the tool block's keys and its run name only (data,
    prompts and reward weights stay the baseline's). Mutation checked: blocks/zoom_tool.yaml also changing
    ``acc_weight`` fails the diff."""
    got = diff(compose_flat(base, "qwen2_5_vl_3b", "1gpu_lora"), compose_flat(row, "qwen2_5_vl_3b", "1gpu_lora"))
    run_name = got.pop("trainer.experiment_name")
    assert run_name == f"${{med.dataset}}_{row}"
    assert got == TOOL_KEYS  # (multi_turn.format hermes and max_tool_response_length 256 are verl's defaults)


def test_the_response_length_must_hold_every_crop_and_an_answer():
    """2 calls x (256 image tokens + 64) + 128 = 768 response tokens at least; less is one pre-flight problem.
    Mutation checked: ``tool_problems`` without ``_response_budget`` passes 767."""
    assert check_med_config(zoom_config("qwen3_vl_8b", "data.max_response_length=768")) == []
    (problem,) = check_med_config(zoom_config("qwen3_vl_8b", "data.max_response_length=767"))
    assert problem.startswith("data.max_response_length=767 < 768")


def test_no_template_no_tool():
    """The stock Qwen2.5-VL template cannot render tool calls: med.tool without med.template is refused."""
    (problem,) = check_med_config(zoom_config("qwen2_5_vl_3b", "med.template=null"))
    assert "med.tool=zoom needs med.template" in problem


# --------------------------------------------------------------------------- chat templates, through verl
@functools.cache
def rollout_model(family: str):
    from verl_med_plugin.med_settings import apply_chat_template_setting

    config = compose_med_config(f"actor_rollout_ref.model.path={model_dir(family)}", f"med.template={family}")
    apply_chat_template_setting(config)
    return verl_compat.load_rollout_model(config)


def zoom_schemas(family: str) -> list[dict]:
    (tool,) = verl_compat.load_tools(str(model_dir_yaml(family)))
    return [tool.tool_schema.model_dump(exclude_unset=True, exclude_none=True)]


TOOL_TURN = (
    "<|im_end|>\n<|im_start|>user\n<tool_response>\n<|vision_start|><|image_pad|><|vision_end|>\n</tool_response>"
    "<|im_end|>\n<|im_start|>assistant\n"
)


def one_pad(text: str) -> str:
    """Each image's run of expanded <|image_pad|> tokens as one (the count is the processor's business)."""
    return re.sub(r"(<\|image_pad\|>)+", "<|image_pad|>", text)


@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen3_vl"])
def test_templates_render_the_tool_list_a_call_and_an_image_tool_response(family):
    """Both verl-med templates, through verl's Qwen-VL continuous-token builder exactly as the tool agent loop
    calls it: the first prompt lists the zoom tool in the system turn; after an assistant turn with a call, the
    tool response (an image, as ToolAgentLoop builds it) is one user turn wrapping one image in <tool_response>,
    then the generation prompt. verl's builder raises if the template is not prefix-stable. Mutation checked:
    the Qwen2.5-VL template without its tool branch renders "<|im_start|>tool" and no tool list: fails."""
    from PIL import Image

    model = rollout_model(family)
    data_config = compose_med_config().data
    builder = verl_compat.continuous_token_builder(model.tokenizer, model.processor, family, data_config)
    tools = zoom_schemas(family)
    image = Image.new("RGB", (56, 56), "gray")
    messages = [{"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": "Grade?"}]}]
    first = model.tokenizer.decode(builder.build_initial_tokens(messages, tools=tools, images=[image]))
    system = first.split("<|im_end|>")[0]
    assert "# Tools" in system and json.dumps(tools[0]) in system
    assert first.endswith("Grade?<|im_end|>\n<|im_start|>assistant\n")
    if family == "qwen2_5_vl":
        assert system.startswith("<|im_start|>system\nYou are a helpful assistant.\n\n# Tools")

    call = {"type": "function", "function": {"name": "zoom_in", "arguments": {"bbox_2d": [1, 2, 30, 40]}}}
    assistant = {"role": "assistant", "content": "<think>look</think>", "tool_calls": [call]}
    tool_message = {"role": "tool", "content": [{"type": "image", "image": image}]}
    delta = builder.render_delta_token_id(
        [*messages, assistant], [tool_message], add_generation_prompt=True, tools=tools
    )
    assert one_pad(model.tokenizer.decode(delta)) == TOOL_TURN.removeprefix("<|im_end|>")[1:]
    full = model.tokenizer.decode(
        builder._render_tokens([*messages, assistant, tool_message], add_generation_prompt=True, tools=tools)
    )
    assert (
        '<think>look</think>\n<tool_call>\n{"name": "zoom_in", "arguments": {"bbox_2d": [1, 2, 30, 40]}}\n</tool_call>'
        in full
    )
    assert one_pad(full).count("<|image_pad|>") == 2


@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen3_vl"])
def test_the_length_filter_counts_the_tool_list(tmp_path, family):
    """With the zoom preset verl's dataset loads the tool (``data.tool_config_path`` follows the rollout's) and its
    length filter counts the tool list in the system turn: a row whose prompt fits without the tool is filtered
    with it, at a limit between the two lengths (the dry run renders the same tokens, ``render_prompt``).
    Mutations checked: ``apply_tool_setting`` not filling the path keeps the row; ``render_prompt`` without
    ``tools`` renders no tool list."""
    from verl_med_plugin.dataset import render_prompt

    path = write_rows(tmp_path / "one.parquet", [classification_row(0)])
    model = rollout_model(family)

    def dataset(max_prompt_length: int, tool: bool):
        config = compose_med_config(
            f"med.template={family}",
            "data.filter_overlong_prompts_workers=null",
            *(["med/experiment=zoom"] if tool else []),
        )
        apply_tool_setting(config)
        config.data.max_prompt_length = max_prompt_length
        return verl_compat.create_dataset([str(path)], config.data, model.tokenizer, model.processor)

    plain = len(render_prompt(dataset(4096, False), model.processor, hf_model_type=family).token_ids)
    with_tool = render_prompt(dataset(4096, True), model.processor, hf_model_type=family)
    assert "zoom_in" in with_tool.text and len(with_tool.token_ids) > plain + 50
    assert len(dataset(len(with_tool.token_ids), True)) == 1
    assert len(dataset(len(with_tool.token_ids) - 1, True)) == 0
    assert len(dataset(len(with_tool.token_ids) - 1, False)) == 1
