"""Medical VQA rows through ``MedRLHFDataset`` (built by verl from ``data.custom_cls``) and verl's rollout-side
prompt builder: the modality card the converter stored is injected per knowledge mode, with no class list or
per-class findings (VQA answers are per question), and MCQ options are shown once."""

from __future__ import annotations

import functools

import pytest
from fixtures_data import png_bytes, synthetic_images
from fixtures_perception import compose_med_config, model_dir, write_rows

from data_preprocess.modality_knowledge import modality_knowledge
from verl_med_plugin import verl_compat
from verl_med_plugin.dataset import compose_messages, render_prompt
from verl_med_plugin.med_settings import KNOWLEDGE_MODES, KnowledgeSettings

HEADER = "Background knowledge:"
# (question, answer, options, correct, modality, question type): one row per VQA task type, the modality spelled
# as each benchmark releases it; the open row has no labels.
ITEMS = [
    (
        "What is the abnormality in the lung?",
        "",
        ["nodule", "effusion", "pneumothorax"],
        1,
        "CT(Computed Tomography)",
        "Disease Diagnosis",
    ),
    ("Is the heart enlarged?", "No", [], None, "X-Ray", "Abnormality"),
    ("Which lobe holds the lesion?", "right temporal lobe", [], None, "MRI", "Position"),
]


@functools.cache
def vqa_rows() -> tuple[dict, ...]:
    """Rows as the VQA converter writes them (``data_preprocess.vqa``: template, options, modality card)."""
    from data_preprocess.vqa.core import RowFactory, VQAItem

    factory = RowFactory("slake")
    images = synthetic_images(len(ITEMS), size=56, seed=7)
    rows = []
    for i, (question, answer, options, correct, modality, qtype) in enumerate(ITEMS):
        item = VQAItem(
            f"fixture: {i}",
            question,
            answer,
            [lambda k=i: png_bytes(images[k])],
            options=options,
            correct=correct,
            modality=modality,
            question_type=qtype,
        )
        rows.append(factory.row(item, "train", i))
    return tuple(rows)


@functools.cache
def rollout_model(family: str):
    config = compose_med_config(f"actor_rollout_ref.model.path={model_dir(family)}", f"med.template={family}")
    from verl_med_plugin.med_settings import apply_chat_template_setting

    apply_chat_template_setting(config)
    return verl_compat.load_rollout_model(config)


@pytest.fixture(scope="module")
def vqa_parquet(tmp_path_factory):
    return write_rows(tmp_path_factory.mktemp("vqa") / "train.parquet", list(vqa_rows()))


def build_dataset(path, family: str, mode: str, classlist: bool = False):
    config = compose_med_config("data.filter_overlong_prompts_workers=null")
    config.med.knowledge.mode, config.med.knowledge.classlist = mode, classlist
    model = rollout_model(family)
    return verl_compat.create_dataset([str(path)], config.data, model.tokenizer, model.processor)


def test_converter_rows_carry_the_modality_card():
    rows = vqa_rows()
    assert [r["extra_info"]["task_type"] for r in rows] == ["mcq", "closed", "open"]
    assert list(rows[2]["extra_info"]["labels"]) == []
    for row, (_, _, _, _, modality, _) in zip(rows, ITEMS, strict=True):
        knowledge = row["extra_info"]["knowledge"]
        assert knowledge == modality_knowledge(modality)[1] and knowledge.startswith("Modality: ")
        assert knowledge not in row["prompt"][-1]["content"]  # stored, injected only by the dataset class


@pytest.mark.parametrize("classlist", [False, True])
@pytest.mark.parametrize("mode", KNOWLEDGE_MODES)
def test_compose_messages_per_mode(mode, classlist):
    settings = KnowledgeSettings(mode=mode, classlist=classlist)
    for row in vqa_rows():
        info = row["extra_info"]
        messages = compose_messages(row["prompt"], info, settings)
        user = messages[-1]["content"]
        system = "".join(m["content"] for m in messages if m["role"] == "system")
        block = f"{HEADER}\n{info['knowledge']}"
        if mode == "user":
            assert user.count(block) == 1 and user.index(block) < user.index(info["question"])
        else:
            assert HEADER not in user
        assert (block in system) == (mode == "system")
        # never a class list or per-class findings: yes/no and options are part of the question
        assert "Distinguishing findings" not in user + system and "- yes" not in user and "- no\n" not in user
        assert user.count("Options:") == (1 if info["task_type"] == "mcq" else 0)
        baseline = row["prompt"][-1]["content"]
        assert user.replace(block + "\n\n", "") == baseline


@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen3_vl"])
@pytest.mark.parametrize("mode", KNOWLEDGE_MODES)
def test_rollout_prompts_through_verl(vqa_parquet, family, mode):
    from verl_med_plugin.dataset import MedRLHFDataset

    dataset = build_dataset(vqa_parquet, family, mode, classlist=True)
    assert type(dataset) is MedRLHFDataset and len(dataset) == len(ITEMS)  # nothing filtered, open row included
    processor = rollout_model(family).processor
    for index, (question, _, options, _, modality, _) in enumerate(ITEMS):
        rendered = render_prompt(dataset, processor, index=index, hf_model_type=family)
        system_turn, user_turn = rendered.text.split("<|im_start|>user\n")
        knowledge = modality_knowledge(modality)[1]
        assert (knowledge in system_turn) == (mode == "system")
        assert (knowledge in user_turn) == (mode == "user")
        assert user_turn.count(question) == 1 and all(user_turn.count(f". {o}\n") == 1 for o in options)
        assert rendered.num_image_tokens == 4
        item = dataset[index]
        assert item["extra_info"]["knowledge"] == knowledge  # what the recitation reward reads
        assert item[verl_compat.SAMPLER_INDEX_FIELD] == index
