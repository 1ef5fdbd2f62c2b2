"""Knowledge cards for MedMNIST datasets, the paper's way: the prompt that asks any LLM to draft a card, and the
check of the card it returns against ``medmnist.INFO``. Cards themselves (fields, loading, validation, rendering)
are ``data_preprocess.cards``; this module re-exports that API under its old names.

The cards shipped here are written by us from the references they cite; the paper generated its knowledge text
with GPT-4o. To do it the paper's way, with any LLM::

    python -m data_preprocess.knowledge draft --dataset dermamnist > prompt.txt   # give prompt.txt to the LLM
    python -m data_preprocess.knowledge validate --card my_derma.yaml --dataset dermamnist
    python -m data_preprocess.medmnist --dataset dermamnist --card my_derma.yaml --output_dir ...

``validate`` refuses a card whose labels (official names) or their order differ from ``medmnist.INFO``, whose
task type differs, or that leaves a class without findings.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from reward_fns.task_type import TaskType

from . import validate
from .cards import (
    KNOWLEDGE_DIR,
    ClassCard,
    TaskCard,
    available_cards,
    check_card,
    class_findings,
    label_aliases,
    label_index,
    load_card,
    render_knowledge,
    task_spec,
    validate_card,
)
from .common import ConversionError
from .errors import excerpt

__all__ = [
    "KNOWLEDGE_DIR",
    "ClassCard",
    "TaskCard",
    "available_cards",
    "check_card",
    "check_card_for_dataset",
    "class_findings",
    "draft_prompt",
    "label_aliases",
    "label_index",
    "load_card",
    "render_knowledge",
    "task_spec",
    "validate_card",
]


DRAFT_PROMPT = """You are a radiologist / pathologist writing a knowledge card for an image classification task. The
card is shown to a vision-language model before each question, and its per-class findings must help it tell the
classes apart in one image.

Dataset: {title} (medmnist.INFO['{flag}'])
About the data (MedMNIST): {description}
Task type: {task_type}
Classes, in this exact order (index: official label):
{classes}

Write the card as YAML with exactly these fields, and nothing else in your answer:

name: {flag}
title: {title}
modality: <imaging modality, view and preparation, one line>
task_type: {task_type}
question: <one question about the image whose answer is one class name{multilabel}>
description: <one paragraph: what the images show and how the classes differ overall>
references: [<the sources your text is based on, as full citations>]
labels:
{label_skeleton}
Rules:
- Keep every `official:` value exactly as given and the classes in the given order; choose a short display `name`
  per class (what the model answers) and optional `aliases` (other names a clinician would use for that class
  only; never a broader or different finding).
- Findings describe what is visible in this kind of image at low resolution (as small as 28 x 28 pixels): colour,
  shape, texture, position. No patient history, no findings the modality cannot show.
- Describe position by the patient's side (patient's left/right) and by neighbouring structures, never by the side
  of the image: the orientation of the images is not verified.
- Do not invent statistics or references."""


def _medmnist_task(flag: str) -> tuple[dict, str, list[str]]:
    """INFO entry, card task type and official labels of a MedMNIST 2D dataset."""
    from .medmnist import DATASETS_2D, INFO, TASK_TYPES  # on use: only card authoring needs the medmnist package

    if flag not in DATASETS_2D:
        raise ConversionError(f"--dataset {flag!r}: not a MedMNIST 2D dataset; choose from {list(DATASETS_2D)}")
    info = INFO[flag]
    return info, TASK_TYPES[info["task"]], [info["label"][str(i)] for i in range(len(info["label"]))]


def draft_prompt(flag: str) -> str:
    """The prompt that asks an LLM to draft the knowledge card of MedMNIST dataset ``flag``."""
    info, task_type, official = _medmnist_task(flag)
    title = info.get("python_class", flag)
    skeleton = "".join(
        f"  - name: <display name>\n    official: {json.dumps(o)}\n"  # JSON strings are YAML
        f"    aliases: []\n    findings: <what distinguishes this class in the image>\n"
        for o in official
    )
    return DRAFT_PROMPT.format(
        flag=flag,
        title=title,
        description=" ".join(str(info.get("description", "")).split()),
        task_type=task_type,
        classes="\n".join(f"  {i}: {o}" for i, o in enumerate(official)),
        label_skeleton=skeleton,
        multilabel="; several classes may be present, so ask which findings are present"
        if task_type == TaskType.MULTILABEL
        else "",
    )


def check_card_for_dataset(card_path: str | Path, flag: str) -> TaskCard:
    """A user-brought card for MedMNIST dataset ``flag``: its structure (``load_card``), then its task type and
    labels (official names, in order) against ``medmnist.INFO``, its name, and a finding for every class."""
    _, task_type, official = _medmnist_task(flag)
    card = check_card(Path(card_path))
    validate_card(card, official, task_type, source=f"medmnist.INFO['{flag}']")
    if card.name != flag:
        raise ConversionError(f"{card.path}: field 'name': card says {excerpt(card.name)}, expected {flag!r}")
    return card


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m data_preprocess.knowledge",
        description="Draft a knowledge card with any LLM, and check the card it returns.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    draft = commands.add_parser("draft", help="print (or write) the prompt that asks an LLM for a card")
    draft.add_argument("--dataset", required=True, help="MedMNIST 2D flag, e.g. dermamnist")
    draft.add_argument("--out", default=None, help="write the prompt to this file instead of standard output")
    check = commands.add_parser(
        "validate", help="check any card (structure, findings); with --dataset also against medmnist.INFO"
    )
    check.add_argument("--card", required=True, help="the card YAML the LLM (or you) wrote, or a shipped card's name")
    check.add_argument(
        "--dataset", default=None, help="MedMNIST 2D flag the card is for (labels and their order checked)"
    )
    args = parser.parse_args(argv)
    if args.command == "draft":
        text = draft_prompt(args.dataset) + "\n"
        if args.out:
            validate.write_output_text(Path(args.out), text, "--out")
            print(
                f"wrote {args.out}: give it to an LLM, save its YAML answer, then run: python -m "
                f"data_preprocess.knowledge validate --card <answer>.yaml --dataset {args.dataset}",
                file=sys.stderr,
            )
        else:
            sys.stdout.write(text)
        return
    if args.dataset is None:
        card = check_card(args.card)
        print(
            f"ok: {card.path} is a valid {card.task_type} card ({len(card.labels)} classes, each with findings); "
            f"convert its images with: python -m data_preprocess.folder --card {card.path} --image_dir <folder> ..."
        )
        return
    card = check_card_for_dataset(args.card, args.dataset)
    print(
        f"ok: {card.path} matches medmnist.INFO['{args.dataset}'] ({len(card.labels)} classes in order, "
        f"task type {card.task_type}); use it with: python -m data_preprocess.medmnist --dataset {args.dataset} "
        f"--card {card.path} ..."
    )


if __name__ == "__main__":
    from .cli import run_cli

    run_cli(main)
