"""The zoom warm start needs no hand-passed chat template: ``configs/sft_med.yaml`` derives ``med.template`` from
the model's ``config.json`` and fills verl's ``model.custom_chat_template`` with verl-med's template, so verl's own
SFT trainer renders tool calls and image-bearing tool responses exactly as the tool agent loop does.

Real verl pieces: the config is composed over verl's ``sft_trainer_engine``, turned into verl's ``HFModelConfig``
(what ``verl.trainer.sft_trainer`` does with ``config.model``) and read by verl's ``MultiTurnSFTDataset``; the
resolvers come from ``import verl`` (verl-med's ``verl.plugins`` entry point)."""

from __future__ import annotations

import re

import pytest
from fixtures_data import write_busi_like_folder
from fixtures_model import build_tiny_qwen_vl_dir
from hydra import compose, initialize_config_module

from data_preprocess import grounding, sft
from verl_med_plugin.med_settings import chat_template_text, model_family

# family -> the box convention of its model preset (configs/med/model) and the start of a rendered zoom trace:
# Qwen2.5-VL's template adds its default system prompt, Qwen3-VL's has none (the tool list opens the system turn).
FAMILIES = {
    "qwen2_5_vl": ("abs", "<|im_start|>system\nYou are a helpful assistant.\n\n# Tools"),
    "qwen3_vl": ("rel1000", "<|im_start|>system\n# Tools"),
}
IMAGE_PADS = re.compile(r"(?:<\|image_pad\|>)+")


def _composed_sft_config(model_dir, train_file):
    import verl  # noqa: F401 - loads verl-med's entry point, which registers the config resolvers

    with initialize_config_module("verl_med_plugin.configs", version_base=None):
        return compose("sft_med", overrides=[f"model.path={model_dir}", f"data.train_files={train_file}"])


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_sft_config_renders_a_zoom_trace_with_verl_med_template(family, tmp_path):
    """Mutations checked: ``model.custom_chat_template`` dropped from sft_med.yaml fails both families (the
    config check; for Qwen2.5-VL also the rendering, whose stock template writes ``<|im_start|>tool`` and no tool
    list); ``med.template: qwen2_5_vl`` written in place of the derivation fails the Qwen3-VL case (the default
    system prompt appears); the resolver registration dropped from register.py fails at composition."""
    from verl.utils.config import omega_conf_to_dataclass

    from verl_med_plugin import verl_compat

    box_format, opening = FAMILIES[family]
    model_dir = build_tiny_qwen_vl_dir(tmp_path / "model", family=family)
    samples = grounding.read_mask_folder(write_busi_like_folder(tmp_path / "busi"))
    grounding.convert(samples, tmp_path / "rl", name="busi", box_format=box_format, progress=False)
    train_file = sft.convert(tmp_path / "rl", zoom_tool=family, progress=False)["sft_zoom_train.parquet"]

    cfg = _composed_sft_config(model_dir, train_file)
    assert cfg.med.template == family
    assert cfg.model.custom_chat_template == chat_template_text(family)
    model_config = omega_conf_to_dataclass(cfg.model)  # verl's HFModelConfig applies the template
    tokenizer, processor = model_config.tokenizer, model_config.processor
    dataset = verl_compat.create_sft_dataset(str(train_file), cfg.data, tokenizer, processor)
    rows = dataset.dataframe.to_dict("records") if hasattr(dataset.dataframe, "to_dict") else list(dataset.dataframe)
    traced = next(i for i in range(len(dataset)) if len(rows[i]["images"]) == 2)
    item = dataset[traced]
    assert item["multi_modal_inputs"]["image_grid_thw"].shape[0] == 2  # the image and the crop both reach training
    rendered = IMAGE_PADS.sub("<|image_pad|>", tokenizer.decode(item["input_ids"]))
    assert rendered.startswith(opening), rendered[:200]
    assert '<tool_call>\n{"name": "zoom_in"' in rendered
    crop_turn = "<|im_start|>user\n<tool_response>\n<|vision_start|><|image_pad|><|vision_end|>\n</tool_response>"
    assert crop_turn in rendered
    assert "<|im_start|>tool" not in rendered
    trained = tokenizer.decode(item["input_ids"][item["loss_mask"].bool()])
    assert "<tool_call>" in trained and "<tool_response>" not in trained  # the call is learnt, the crop is not


def test_model_family_reads_the_config_not_the_name(tmp_path):
    """A local checkpoint named like the other family still gets its own template (mutation: deriving the family
    from the path's name fails here); an unknown model type keeps the model's own template (None)."""
    qwen3 = build_tiny_qwen_vl_dir(tmp_path / "Qwen2.5-VL-3B-finetuned", family="qwen3_vl")
    assert model_family(str(qwen3)) == "qwen3_vl"
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text('{"model_type": "llava"}')
    assert model_family(str(other)) is None
