"""Prior-knowledge injection: ``MedRLHFDataset`` built by verl from ``data.custom_cls``, prompts rendered by verl's
rollout-side builder (the Qwen-VL continuous-token builder the agent loop uses), per knowledge mode and family."""

from __future__ import annotations

import functools

import pytest
from fixtures_data import IMAGE_PAD, RETINA_KNOWLEDGE, RETINA_LABELS, RETINA_QUESTION, VRFT_INSTRUCTION
from fixtures_perception import (
    classification_row,
    compose_med_config,
    grounding_row,
    model_dir,
    write_rows,
)

from verl_med_plugin import verl_compat
from verl_med_plugin.dataset import compose_messages, render_first_prompt, render_prompt
from verl_med_plugin.med_settings import KNOWLEDGE_MODES, KnowledgeSettings, SettingsError

KNOWLEDGE = "Background knowledge:\n" + RETINA_KNOWLEDGE
OPTIONS = "Grades, from least to most severe:\n" + "\n".join(f"- {name}" for name in RETINA_LABELS)
BASELINE = "<image>" + RETINA_QUESTION + VRFT_INSTRUCTION


def user_text(messages):
    return next(m["content"] for m in messages if m["role"] == "user")


# ------------------------------------------------------------------ message composition (no verl)
@pytest.mark.parametrize(
    ("mode", "classlist", "expected_user", "expected_system"),
    [
        ("none", False, BASELINE, None),
        ("classlist", False, f"<image>{RETINA_QUESTION}\n{OPTIONS}\n{VRFT_INSTRUCTION.lstrip()}", None),
        ("user", False, f"<image>{KNOWLEDGE}\n\n{RETINA_QUESTION}{VRFT_INSTRUCTION}", None),
        ("system", False, BASELINE, KNOWLEDGE),
        ("user", True, f"<image>{KNOWLEDGE}\n\n{RETINA_QUESTION}\n{OPTIONS}\n{VRFT_INSTRUCTION.lstrip()}", None),
        ("system", True, f"<image>{RETINA_QUESTION}\n{OPTIONS}\n{VRFT_INSTRUCTION.lstrip()}", KNOWLEDGE),
    ],
)
def test_compose_messages_per_mode(mode, classlist, expected_user, expected_system):
    row = classification_row(0)
    original = [dict(m) for m in row["prompt"]]
    messages = compose_messages(row["prompt"], row["extra_info"], KnowledgeSettings(mode=mode, classlist=classlist))
    assert user_text(messages) == expected_user
    system = [m["content"] for m in messages if m["role"] == "system"]
    assert system == ([expected_system] if expected_system else [])
    assert row["prompt"] == original  # the row itself is left alone


def test_compose_messages_edge_cases():
    settings = KnowledgeSettings(mode="system", classlist=True)
    # An existing system message keeps its text; the knowledge follows it.
    row = classification_row(0, option_style="letter")
    with_system = [{"role": "system", "content": "Be brief."}, *row["prompt"]]
    messages = compose_messages(with_system, row["extra_info"], settings)
    assert messages[0]["content"] == "Be brief.\n\n" + KNOWLEDGE
    assert "\nA. no DR\nB. mild NPDR\n" in user_text(messages)  # options as the reward parses them (letters)
    # A prompt that already shows the knowledge and the options (converter template "knowledge") is not doubled.
    baked = f"<image>{KNOWLEDGE}\n\n{RETINA_QUESTION}\n{OPTIONS}\n{VRFT_INSTRUCTION}"
    row = classification_row(0, prompt_text=baked)
    both = KnowledgeSettings(mode="user", classlist=True)
    assert compose_messages(row["prompt"], row["extra_info"], both) == row["prompt"]
    # Grounding rows have no class list; their knowledge still goes before the question.
    row = grounding_row(0)
    assert compose_messages(row["prompt"], row["extra_info"], KnowledgeSettings(mode="classlist")) == row["prompt"]
    injected = user_text(compose_messages(row["prompt"], row["extra_info"], KnowledgeSettings(mode="user")))
    assert injected.startswith("<image>Background knowledge:\nLesions are bright round blobs.\n\nWhere is the lesion")
    # A question the converter reworded: the block goes right after the image placeholder.
    row = classification_row(0, prompt_text="<image>Grade it." + VRFT_INSTRUCTION)
    assert user_text(compose_messages(row["prompt"], row["extra_info"], KnowledgeSettings())).startswith(
        f"<image>{KNOWLEDGE}\n\nGrade it."
    )


def test_invalid_mode_names_the_key():
    with pytest.raises(SettingsError, match=r"data\.med_knowledge\.mode='context'"):
        KnowledgeSettings.from_config({"mode": "context"}, key="data.med_knowledge")


# ------------------------------------------------------------------ through verl (dataset, filter, rollout builder)
@functools.cache
def rollout_model(family: str):
    """verl's HFModelConfig with the verl-med template applied: tokenizer + processor exactly as in training."""
    config = compose_med_config(f"actor_rollout_ref.model.path={model_dir(family)}", f"med.template={family}")
    from verl_med_plugin.med_settings import apply_chat_template_setting

    apply_chat_template_setting(config)
    return verl_compat.load_rollout_model(config)


def build_dataset(path, family: str, mode: str, max_prompt_length: int = 1024):
    # In-process length filter (null workers): a worker pool costs seconds per dataset here.
    config = compose_med_config("data.filter_overlong_prompts_workers=null")
    config.med.knowledge.mode, config.data.max_prompt_length = mode, max_prompt_length
    model = rollout_model(family)
    return verl_compat.create_dataset([str(path)], config.data, model.tokenizer, model.processor)


@functools.cache
def mixed_dataset(path, family: str, mode: str):
    return build_dataset(path, family, mode)


@pytest.fixture(scope="module")
def mixed_parquet(tmp_path_factory):
    rows = [classification_row(i) for i in range(3)] + [grounding_row(0)]
    return write_rows(tmp_path_factory.mktemp("knowledge") / "train.parquet", rows)


@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen3_vl"])
@pytest.mark.parametrize("mode", KNOWLEDGE_MODES)
def test_rollout_prompt_per_mode_and_family(mixed_parquet, family, mode):
    from verl_med_plugin.dataset import MedRLHFDataset

    dataset = mixed_dataset(mixed_parquet, family, mode)
    assert type(dataset) is MedRLHFDataset and len(dataset) == 4  # verl built our class; nothing filtered
    model = rollout_model(family)
    builder = verl_compat.continuous_token_builder(model.tokenizer, model.processor, family, dataset.config)
    assert type(builder).__name__ == "QwenVLContinuousTokenBuilder"

    rendered = render_prompt(dataset, model.processor, hf_model_type=family)
    text = rendered.text
    system_turn = text.split("<|im_start|>user\n")[0]
    user_turn = text.split("<|im_start|>user\n")[1].split("<|im_end|>")[0]
    assert (KNOWLEDGE in system_turn) == (mode == "system")
    assert user_turn.startswith(IMAGE_PAD)
    if mode == "user":
        assert user_turn.startswith(f"{IMAGE_PAD}{KNOWLEDGE}\n\n{RETINA_QUESTION}")
    else:
        assert user_turn.startswith(IMAGE_PAD + RETINA_QUESTION) and RETINA_KNOWLEDGE not in user_turn
    assert ("- proliferative DR" in user_turn) == (mode == "classlist")
    default_system = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    assert text.startswith(default_system) == (family == "qwen2_5_vl" and mode != "system")
    assert text.endswith("<|im_end|>\n<|im_start|>assistant\n")  # no <think> pre-fill

    # Image tokens: one <|image_pad|> per merged patch, as the processor computed them.
    mm_inputs: dict = {}
    item = dataset[0]
    patch_size = model.processor.image_processor.patch_size
    images, videos, _ = type(dataset)._process_multi_modal_info(item["raw_prompt"], patch_size, dataset.config)
    ids = builder.build_initial_tokens(item["raw_prompt"], images=images, videos=videos, mm_inputs_out=mm_inputs)
    merge = model.processor.image_processor.merge_size
    assert rendered.num_image_tokens == int(mm_inputs["image_grid_thw"].prod()) // merge**2 == 4
    # __getitem__'s raw_prompt (what the agent loop receives) gives the very same tokens.
    assert ids == rendered.token_ids
    # The token count is the template text with each image placeholder expanded.
    expanded = text.replace("<|image_pad|>", "<|image_pad|>" * rendered.num_image_tokens)
    assert ids == model.tokenizer(expanded, add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize(
    ("family", "mode", "size"),
    [("qwen2_5_vl", m, 56) for m in KNOWLEDGE_MODES] + [("qwen3_vl", "system", 56), ("qwen3_vl", "user", 100)],
)
def test_length_filter_counts_exactly_the_rollout_tokens(tmp_path, family, mode, size):
    # 100 px: Qwen3-VL's 16-px patches resize it differently from verl's default data.image_patch_size=14.
    path = write_rows(tmp_path / "one.parquet", [classification_row(0, size=size)])
    n_tokens = len(
        render_prompt(
            build_dataset(path, family, mode), rollout_model(family).processor, hf_model_type=family
        ).token_ids
    )
    assert len(build_dataset(path, family, mode, max_prompt_length=n_tokens)) == 1
    assert len(build_dataset(path, family, mode, max_prompt_length=n_tokens - 1)) == 0


def test_rows_carry_sampler_index_and_the_knowledge_the_reward_reads(mixed_parquet):
    from reward_fns import compute_score

    dataset = mixed_dataset(mixed_parquet, "qwen2_5_vl", "user")
    batch = verl_compat.dataset_collate_fn()([dataset[i] for i in (2, 0, 3)])
    assert list(batch[verl_compat.SAMPLER_INDEX_FIELD]) == [2, 0, 3]
    item = dataset[1]
    knowledge = item["extra_info"]["knowledge"]
    assert knowledge == RETINA_KNOWLEDGE
    prompt_text = "".join(p.get("text", "") for p in item["raw_prompt"][-1]["content"])
    assert knowledge in prompt_text  # injected verbatim ...
    # ... and the recitation reward compares the think text with that same extra_info field.
    answer = item["reward_model"]["ground_truth"]
    response = f"<think>{knowledge}</think><answer>{answer}</answer>"
    reciting = compute_score(
        data_source=item["data_source"],
        solution_str=response,
        ground_truth=answer,
        extra_info=item["extra_info"],
        recite_delta=1.0,
    )
    assert reciting["recite"] > 0.9 and reciting["acc"] == 1.0


def test_dry_run_helper_renders_each_mode(mixed_parquet):
    dataset = mixed_dataset(mixed_parquet, "qwen2_5_vl", "none")
    processor = rollout_model("qwen2_5_vl").processor
    lengths = {mode: len(render_first_prompt(dataset, processor, mode).token_ids) for mode in KNOWLEDGE_MODES}
    assert lengths["none"] < min(lengths["classlist"], lengths["system"], lengths["user"])
    assert str(render_first_prompt(dataset, processor, "user")).count(RETINA_KNOWLEDGE) == 1
    with pytest.raises(SettingsError):
        render_first_prompt(dataset, processor, "context")


def test_class_list_intro_comes_from_the_converters_answer_formats(monkeypatch):
    from data_preprocess import prompts
    from verl_med_plugin import dataset

    assert dataset._options_intros()["ordinal"] == prompts.answer_formats()["ordinal"]["options_intro"]
    fake = {"ordinal": {"options_intro": "Pick a grade:"}}
    monkeypatch.setattr(dataset, "answer_formats", lambda: fake)  # the one loader, not a second read of the file
    dataset._options_intros.cache_clear()
    dataset._class_list.cache_clear()
    try:
        _, block = dataset._class_list("ordinal", ("a", "b"), "number")
        assert block == "Pick a grade:\n1. a\n2. b"
    finally:
        dataset._options_intros.cache_clear()
        dataset._class_list.cache_clear()
