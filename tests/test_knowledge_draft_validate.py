"""Knowledge cards: organ cards word laterality by the patient's side and neighbouring organs (the
orientation of the MedMNIST organ crops is not verified), and the paper's way of writing a card is offered: a
command that writes the prompt to draft a card with any LLM, and one that checks the card brought back."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import yaml
from fixtures_data import REPO
from fixtures_perception import run_in_process
from medmnist import INFO

from data_preprocess.common import USER_ERROR_EXIT, ConversionError
from data_preprocess.knowledge import KNOWLEDGE_DIR, available_cards, check_card_for_dataset, draft_prompt

ORGAN_CARDS = sorted(KNOWLEDGE_DIR.glob("organ*mnist.yaml"))
IMAGE_SIDE = re.compile(r"image (left|right)|(left|right) (side|half|of the image)|(left|right) of the image", re.I)


def _cli(*args: str) -> subprocess.CompletedProcess:
    """``python -m data_preprocess.knowledge ARGS``, in-process (``test_the_command_runs_in_its_own_process``
    starts it once for real)."""
    return run_in_process("data_preprocess.knowledge", list(args), cwd=REPO)


def test_the_command_runs_in_its_own_process():
    proc = subprocess.run(
        [sys.executable, "-m", "data_preprocess.knowledge", "draft", "--dataset", "retinamnist"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0 and 'official: "4"' in proc.stdout and "task_type: ordinal" in proc.stdout


@pytest.mark.parametrize("path", ORGAN_CARDS, ids=lambda p: p.stem)
def test_organ_cards_use_patient_side_and_neighbours_not_image_side(path):
    card = yaml.safe_load(path.read_text())
    texts = [card["description"], *(c.get("findings", "") for c in card["labels"])]
    for text in texts:
        assert not IMAGE_SIDE.search(text.replace("patient's left side", "").replace("patient's right side", "")), text
    assert "neighbouring organs" in card["description"] and "not" in card["description"]
    for label in card["labels"]:
        if label["name"].startswith(("left ", "right ")):
            side = label["name"].split()[0]
            assert f"patient's {side}" in label["findings"], label["name"]


def test_draft_prompt_lists_the_official_labels_in_order_and_the_rules():
    text = draft_prompt("dermamnist")
    official = [INFO["dermamnist"]["label"][str(i)] for i in range(7)]
    positions = [text.index(f'official: "{o}"') for o in official]
    assert positions == sorted(positions)
    assert "name: dermamnist" in text and "task_type: multiclass" in text and "patient's side" in text
    proc = _cli("draft", "--dataset", "retinamnist")
    assert proc.returncode == 0 and 'official: "4"' in proc.stdout and "task_type: ordinal" in proc.stdout
    assert _cli("draft", "--dataset", "nosuchmnist").returncode == USER_ERROR_EXIT


@pytest.mark.parametrize("name", [n for n in available_cards() if n in INFO])
def test_every_shipped_card_validates_against_medmnist_info(name):
    card = check_card_for_dataset(KNOWLEDGE_DIR / f"{name}.yaml", name)
    assert card.name == name


def test_validate_refuses_a_card_whose_labels_or_order_differ(tmp_path):
    data = yaml.safe_load((KNOWLEDGE_DIR / "bloodmnist.yaml").read_text())
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(data))
    proc = _cli("validate", "--card", str(good), "--dataset", "bloodmnist")
    assert proc.returncode == 0 and proc.stdout.startswith("ok:"), proc.stderr
    swapped = dict(data, labels=[data["labels"][1], data["labels"][0], *data["labels"][2:]])
    (tmp_path / "swapped.yaml").write_text(yaml.safe_dump(swapped))
    with pytest.raises(ConversionError, match=r"labels\[0\].official.*class order must match"):
        check_card_for_dataset(tmp_path / "swapped.yaml", "bloodmnist")
    proc = _cli("validate", "--card", str(tmp_path / "swapped.yaml"), "--dataset", "bloodmnist")
    assert proc.returncode == USER_ERROR_EXIT and "class order must match" in proc.stderr + proc.stdout
    renamed = dict(data, labels=[dict(data["labels"][0], official="basophil cell"), *data["labels"][1:]])
    (tmp_path / "renamed.yaml").write_text(yaml.safe_dump(renamed))
    with pytest.raises(ConversionError, match=r"labels\[0\].official"):
        check_card_for_dataset(tmp_path / "renamed.yaml", "bloodmnist")
    with pytest.raises(ConversionError, match=r"card has 8 classes.*has 7"):
        check_card_for_dataset(good, "dermamnist")
    bare = dict(data, labels=[{k: v for k, v in data["labels"][0].items() if k != "findings"}, *data["labels"][1:]])
    (tmp_path / "bare.yaml").write_text(yaml.safe_dump(bare))
    with pytest.raises(ConversionError, match=r"have no findings"):
        check_card_for_dataset(tmp_path / "bare.yaml", "bloodmnist")
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(dict(data, name="blood")))
    with pytest.raises(ConversionError, match=r"field 'name'"):
        check_card_for_dataset(tmp_path / "other.yaml", "bloodmnist")
