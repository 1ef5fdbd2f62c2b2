"""Knowledge base, prompt templates and the SFT export."""

from __future__ import annotations

import shutil

import pytest
from convert_checks import read_rows

from data_preprocess import medmnist as mm
from data_preprocess import sft
from data_preprocess.common import ConversionError
from data_preprocess.knowledge import available_cards, load_card, render_knowledge, validate_card
from data_preprocess.prompts import RowBuilder, TaskSpec, available_templates, load_template


def check_shipped_card(name: str) -> None:
    """A card of the knowledge base: valid, cited, with findings the knowledge text shows, a question that names no
    class, and, for a MedMNIST dataset, the labels of ``medmnist.INFO`` in order."""
    card = load_card(name)
    if name in mm.INFO:
        info = mm.INFO[name]
        validate_card(
            card, [info["label"][str(i)] for i in range(len(info["label"]))], mm.TASK_TYPES[info["task"]], name
        )
    assert card.references and card.modality and card.description and card.question
    assert all(len(c.findings) > 20 for c in card.labels), name
    text = render_knowledge(card)
    assert all(f"- {c.name}: {c.findings}" in text for c in card.labels)
    assert not any(c.name.casefold() in card.question.casefold() for c in card.labels if len(card.labels) > 2)


def test_every_medmnist_2d_dataset_has_a_valid_cited_card():
    """Every MedMNIST 2D dataset has its card; a card for another task may join them (a new task is its card)."""
    assert len(mm.DATASETS_2D) == 12 and set(mm.DATASETS_2D) <= set(available_cards())
    for name in available_cards():
        check_shipped_card(name)


def test_a_new_task_is_its_card(tmp_path, monkeypatch):
    """A contributor's one file: a card dropped into the knowledge base is found (``available_cards``), passes the
    checks every shipped card passes and ``knowledge validate``, and converts. Mutation checked:
    ``available_cards`` reading a fixed list (or the former test's ``sorted(DATASETS_2D) == available_cards()``)
    fails here."""
    from data_preprocess import cards, knowledge

    base = tmp_path / "knowledge"
    shutil.copytree(cards.KNOWLEDGE_DIR, base)
    (base / "knee_oa.yaml").write_text(KNEE_CARD)
    monkeypatch.setattr(cards, "KNOWLEDGE_DIR", base)
    assert "knee_oa" in available_cards() and set(mm.DATASETS_2D) < set(available_cards())
    check_shipped_card("knee_oa")
    knowledge.main(["validate", "--card", str(base / "knee_oa.yaml")])
    assert load_card("knee_oa").task_type == "ordinal"


KNEE_CARD = """
name: knee_oa
modality: knee radiograph (weight-bearing, anteroposterior)
task_type: ordinal
question: What is the Kellgren-Lawrence grade of knee osteoarthritis in this radiograph?
description: >-
  Weight-bearing knee radiographs graded by the Kellgren-Lawrence scale, from joint space narrowing and osteophytes.
references:
  - Kellgren JH, Lawrence JS. Radiological assessment of osteo-arthrosis. Ann Rheum Dis. 1957;16(4):494-502.
labels:
  - name: no osteoarthritis
    official: "0"
    findings: Normal joint space width and no osteophytes at the tibial or femoral margins.
  - name: doubtful osteoarthritis
    official: "1"
    findings: Doubtful joint space narrowing with possible small osteophytic lipping at the margins.
  - name: definite osteoarthritis
    official: "2"
    findings: Definite osteophytes with possible joint space narrowing; no sclerosis or deformity of bone ends.
"""


def test_retina_knowledge_follows_icdr():
    card = load_card("retinamnist")
    findings = {c.name: c.findings for c in card.labels}
    assert "Microaneurysms only" in findings["mild NPDR"]
    assert "4-2-1 rule" in findings["severe NPDR"] and "Neovascularisation" in findings["proliferative DR"]
    assert any("Wilkinson" in r and "Ophthalmology" in r for r in card.references)


def test_card_structure_errors_name_file_and_field(tmp_path):
    bad = tmp_path / "ambiguous.yaml"
    bad.write_text(
        "name: x\ntask_type: multiclass\nquestion: q?\nlabels:\n"
        "  - {name: cyst, aliases: [Lesion-A]}\n  - {name: tumour, aliases: [lesion a]}\n"
    )
    with pytest.raises(ConversionError, match=r"ambiguous.yaml: field 'labels': 'lesion a' names both"):
        load_card(bad)
    bad.write_text("name: x\ntask_type: regression\nquestion: q?\nlabels: [{name: a}, {name: b}]\n")
    with pytest.raises(ConversionError, match=r"ambiguous.yaml: field 'task_type'"):
        load_card(bad)


def test_templates_are_data_and_render_for_every_task_type():
    assert available_templates() == ["classlist", "knowledge", "vrft"]
    for name in available_templates():
        assert load_template(name).user.count("<image>") == 1
    grounding = RowBuilder(TaskSpec(name="g", task_type="grounding", question="Locate the lesion."))
    assert "pixel coordinates of this 112x84 image" in grounding.prompt_text((112, 84))
    multilabel = RowBuilder(
        TaskSpec(name="m", task_type="multilabel", question="Which?", labels=("a", "b")),
        template="classlist",
        option_style="letter",
    )
    text = multilabel.prompt_text((28, 28))
    assert "Possible findings:\nA. a\nB. b" in text and "or answer none" in text and "  " not in text
    with pytest.raises(ConversionError, match="knowledge.yaml: the template shows task knowledge"):
        RowBuilder(TaskSpec(name="g", task_type="grounding", question="Locate."), template="knowledge")


def test_sft_rows_load_in_verl_sft_dataset_and_targets_score_correct(
    fake_medmnist_dir, tmp_path, qwen_tokenizer, qwen_processor
):
    from fixtures_perception import compose_med_config
    from omegaconf import OmegaConf
    from verl.utils.dataset.multiturn_sft_dataset import MultiTurnSFTDataset

    from reward_fns import compute_score
    from verl_med_plugin.dataset import compose_messages
    from verl_med_plugin.med_settings import KnowledgeSettings

    for dataset, npz in (("retinamnist", "retinamnist.npz"), ("chestmnist", "chestmnist.npz")):
        out = tmp_path / dataset
        mm.convert(
            dataset,
            out,
            npz=fake_medmnist_dir / npz,
            split_sizes={"train": 4, "val": 2, "test": 0},
            image_size=56,
            progress=False,
        )
        written = sft.convert(out)
        assert sorted(written) == ["sft_test.parquet", "sft_train.parquet", "sft_val.parquet"]
        rl_rows, sft_rows = read_rows(out / "train.parquet"), read_rows(written["sft_train.parquet"])
        assert list(sft_rows[0]) == ["messages", "images"]
        # The RL baseline's prompt as its run renders it: the vrft_baseline preset's med.knowledge through the
        # dataset class's own function (the question and the class list).
        # Mutation checked: the raw parquet prompt (no class list) fails here.
        baseline = KnowledgeSettings.from_config(compose_med_config("med/experiment=vrft_baseline").med.knowledge)
        for rl, row in zip(rl_rows, sft_rows, strict=True):
            assert row["messages"][:-1] == compose_messages(rl["prompt"], rl["extra_info"], baseline)
            assert row["messages"][:-1] != rl["prompt"]  # the class list was added
            assert row["images"] == rl["images"]
            reply = row["messages"][-1]
            assert reply["role"] == "assistant"
            score = compute_score(
                rl["data_source"], reply["content"], rl["reward_model"]["ground_truth"], rl["extra_info"]
            )
            assert score["acc"] == 1.0 and score["format"] == 1.0, (reply, score)
        config = OmegaConf.create({"max_length": 2048, "pad_mode": "no_padding", "truncation": "error"})
        sft_dataset = MultiTurnSFTDataset(str(written["sft_train.parquet"]), qwen_tokenizer, config, qwen_processor)
        item = sft_dataset[0]
        trained = qwen_tokenizer.decode(item["input_ids"][item["loss_mask"].bool()])
        assert trained.startswith("<think>") and sft_rows[0]["messages"][-1]["content"] in trained
        image_pad = qwen_tokenizer.convert_tokens_to_ids("<|image_pad|>")
        assert int((item["input_ids"] == image_pad).sum()) > 0 and "pixel_values" in item["multi_modal_inputs"]
    retina_reply = read_rows(tmp_path / "retinamnist" / "sft_train.parquet")[0]["messages"][-1]["content"]
    assert retina_reply.startswith(
        f"<think>{sft.FALLBACK_THINK}</think>"
    )  # plain SFT by default: the baseline row sees no card
    knowledge = sft.convert(tmp_path / "retinamnist", tmp_path / "sft_k", think_source="knowledge", progress=False)
    assert "<think>Findings of " in read_rows(knowledge["sft_train.parquet"])[0]["messages"][-1]["content"]


def test_sft_refuses_a_folder_without_rl_parquet(tmp_path):
    with pytest.raises(ConversionError, match="no train/val/test.parquet"):
        sft.convert(tmp_path)


def test_bad_template_yaml_names_the_file(tmp_path):
    bad = tmp_path / "mine.yaml"
    bad.write_text("user: [unclosed\n")
    with pytest.raises(ConversionError, match=r"mine.yaml: not a readable YAML prompt template"):
        load_template(str(bad))


def test_sft_multilabel_answer_survives_label_names_with_commas():
    from reward_fns import compute_score
    from reward_fns.reference import reference_answer

    info = {"task_type": "multilabel", "labels": ["Effusion, pleural", "mass", "nodule"], "knowledge": ""}
    gt = '["Effusion, pleural","nodule"]'
    assert reference_answer('["mass","nodule"]', info) == "mass, nodule"  # plain names: the prompt's comma list
    reply = sft.sft_row({"reward_model": {"ground_truth": gt}, "extra_info": info, "prompt": [], "images": []})
    score = compute_score("verl_med/x", reply["messages"][-1]["content"], gt, info)
    assert score["acc"] == 1.0 and score["format"] == 1.0, reply


def test_sft_bad_row_names_file_and_row(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from data_preprocess.schema import arrow_schema, make_extra_info, make_row

    info = make_extra_info(task_type="multilabel", dataset="x", labels=["a", "b"])
    row = make_row(dataset="x", prompt_text="<image>q", image_bytes=[b"png"], ground_truth=["a"], extra_info=info)
    broken = dict(row, reward_model={"style": "rule", "ground_truth": "a, b"})  # not JSON
    pq.write_table(pa.Table.from_pylist([row, broken], schema=arrow_schema()), tmp_path / "train.parquet")
    with pytest.raises(ConversionError, match=r"train.parquet: row 1: reward_model.ground_truth"):
        sft.convert(tmp_path, progress=False)
    assert not (tmp_path / "sft_train.parquet").exists()


def test_sft_think_is_neutral_by_default_knowledge_on_request():
    """The SFT row is plain SFT (a fair baseline): the knowledge-card think is an option, not a silent default."""
    info = {"task_type": "ordinal", "knowledge": render_knowledge(load_card("retinamnist"))}
    row = {"reward_model": {"ground_truth": "moderate NPDR"}, "extra_info": info, "prompt": [], "images": []}
    plain = sft.sft_row(row)["messages"][-1]["content"]
    assert plain == f"<think>{sft.FALLBACK_THINK}</think><answer>moderate NPDR</answer>"
    with_knowledge = sft.sft_row(row, think_source="knowledge")["messages"][-1]["content"]
    assert with_knowledge.startswith("<think>Findings of moderate NPDR: More than just microaneurysms")
    with pytest.raises(ConversionError, match="--think"):
        sft.convert("/nonexistent", think_source="card")
