"""A fair baseline: every paper row shows the class list, so "+ knowledge" differs from the V-RFT
baseline by the knowledge alone; questions do not presuppose a list or a yes/no answer."""

from __future__ import annotations

import pytest
from convert_checks import read_rows
from fixtures_data import PAPER_ROWS, write_fake_medmnist_npz
from fixtures_perception import compose_med_config
from omegaconf import OmegaConf

from data_preprocess import medmnist as mm
from data_preprocess.knowledge import available_cards, load_card
from data_preprocess.prompts import render_options
from verl_med_plugin.dataset import compose_messages
from verl_med_plugin.med_settings import KnowledgeSettings


def prompt_of(experiment: str, row: dict) -> str:
    cfg = compose_med_config(f"med/experiment={experiment}")  # composed once per test process
    settings = KnowledgeSettings.from_config(OmegaConf.to_container(cfg.med.knowledge, resolve=True))
    messages = compose_messages([dict(m) for m in row["prompt"]], row["extra_info"], settings)
    return "\n".join(m["content"] for m in messages)


@pytest.fixture(scope="module")
def breast_row(tmp_path_factory):
    root = tmp_path_factory.mktemp("breast")
    npz = write_fake_medmnist_npz(root / "breastmnist.npz", n_classes=2, channels=1, counts=(4, 2, 2))
    return read_rows(mm.convert("breastmnist", root / "out", npz=npz, progress=False)["test.parquet"])[0]


@pytest.mark.parametrize("experiment", PAPER_ROWS)
def test_every_row_shows_the_class_list(experiment, breast_row):
    prompt = prompt_of(experiment, breast_row)
    for line in render_options(list(breast_row["extra_info"]["labels"]), "none"):
        assert line in prompt, (experiment, prompt)


def test_knowledge_row_differs_from_the_baseline_by_the_knowledge_alone(breast_row):
    baseline, knowledge = prompt_of("vrft_baseline", breast_row), prompt_of("knowledge", breast_row)
    block = "Background knowledge:\n" + breast_row["extra_info"]["knowledge"] + "\n\n"
    assert block in knowledge and knowledge.replace(block, "", 1) == baseline


@pytest.mark.parametrize("name", available_cards())
def test_questions_presuppose_no_list_and_no_yes_no(name):
    question = load_card(name).question
    assert "listed" not in question.lower()
    assert question.split()[0].lower() not in ("is", "does", "do", "are", "can"), question


@pytest.mark.parametrize(
    ("style", "shown", "answer"),
    [("none", "grade (0-4)", "2"), ("number", "option (1-5)", "3"), ("letter", "option (A-E)", "C")],
)
def test_ordinal_answer_format_shows_the_scale_the_reward_reads(style, shown, answer):
    """ "2" is grade 2 only if the model knows grades start at 0; with numbered options "3" is the third option."""
    from data_preprocess.knowledge import task_spec
    from data_preprocess.prompts import RowBuilder
    from reward_fns import compute_score

    builder = RowBuilder(task_spec(load_card("retinamnist")), option_style=style)
    assert f"<answer>{shown}</answer>" in builder.prompt_text((28, 28))
    row = builder.row(split="test", index=0, image_png=b"", image_size=(28, 28), label=2)
    response = f"<think>Dot and blot haemorrhages.</think><answer>{answer}</answer>"
    assert (
        compute_score("verl_med/retinamnist", response, row["reward_model"]["ground_truth"], row["extra_info"])["acc"]
        == 1.0
    )


def test_loose_aliases_do_not_name_a_diagnosis():
    """'Hyperinflation' is not emphysema and 'lung infection' is not pneumonia (a wrong synonym would teach a wrong
    label)."""
    from data_preprocess.knowledge import task_spec
    from data_preprocess.prompts import RowBuilder
    from reward_fns import compute_score

    builder = RowBuilder(task_spec(load_card("chestmnist")))
    labels = builder.task.labels
    for loose, label in (("hyperinflation", "emphysema"), ("lung infection", "pneumonia")):
        row = builder.row(split="test", index=0, image_png=b"", image_size=(28, 28), label=[labels.index(label)])
        truth = row["reward_model"]["ground_truth"]
        assert (
            compute_score("verl_med/chestmnist", f"<think>x</think><answer>{label}</answer>", truth, row["extra_info"])[
                "acc"
            ]
            == 1.0
        )
        assert (
            compute_score("verl_med/chestmnist", f"<think>x</think><answer>{loose}</answer>", truth, row["extra_info"])[
                "acc"
            ]
            == 0.0
        )


def test_no_think_row_differs_from_the_baseline_by_the_instruction_alone(breast_row):
    """The control row trains on the baseline's parquet; its prompt swaps the think/answer instruction for the
    answer-only one and nothing else. Mutation checked: ``compose_messages`` skipping the swap (the prompts are then
    equal and still ask for a think block) fails here."""
    from data_preprocess.prompts import ANSWER_ONLY_INSTRUCTION, THINK_INSTRUCTION

    baseline, no_think = prompt_of("vrft_baseline", breast_row), prompt_of("no_think", breast_row)
    asked = THINK_INSTRUCTION.format(answer_format="class name")
    assert baseline.count(asked) == 1 and "<think>" not in no_think
    assert no_think == baseline.replace(asked, ANSWER_ONLY_INSTRUCTION.format(answer_format="class name"))


@pytest.mark.parametrize("template", ["vrft", "classlist", "knowledge"])
@pytest.mark.parametrize("card", ["bloodmnist", "breastmnist", "retinamnist", "chestmnist"])
def test_every_template_holds_the_instruction_the_control_row_swaps(template, card):
    """Every converter template writes ``THINK_INSTRUCTION`` once, so the no-think row can train on any prepared
    data; the answer example survives the swap, and a prompt holding it twice is ambiguous (refused). Mutations
    checked: a template rewording the sentence, or ``answer_only_prompt`` accepting two occurrences, fail here."""
    from data_preprocess.knowledge import task_spec
    from data_preprocess.prompts import RowBuilder, answer_only_prompt

    builder = RowBuilder(task_spec(load_card(card)), template=template)
    prompt = builder.prompt_text((28, 28))
    swapped = answer_only_prompt(prompt)
    assert swapped is not None and "<think>" not in swapped
    assert f"<answer>{builder._answer_format()}</answer>" in swapped
    assert answer_only_prompt(prompt + "\n" + prompt) is None and answer_only_prompt("<image>Which?") is None


def test_a_prompt_without_the_instruction_is_refused_in_the_control_row(breast_row):
    """The control row must never train on a prompt that asks for thinking (or has no instruction at all): one
    clear error naming the row. Mutation checked: returning the messages unchanged fails here."""
    from data_preprocess.errors import UserError

    prompt = [{"role": "user", "content": "<image>Which class? Think step by step."}]
    with pytest.raises(UserError, match="med.knowledge.think=forbidden: the prompt of row 7"):
        compose_messages(prompt, {"index": 7}, KnowledgeSettings(mode="none", think="forbidden"))
    assert compose_messages(prompt, {"index": 7}, KnowledgeSettings(mode="none")) == prompt
