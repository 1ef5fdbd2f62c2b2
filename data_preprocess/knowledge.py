"""Task cards: the per-dataset knowledge base (``knowledge/<dataset>.yaml``) and user task cards for new tasks.

A card names the task, its question and labels (display name, official name, aliases) and, per class, the visual
findings that distinguish it. The loader checks a card against the labels of the data it describes, so a card
written for a different label order fails loudly instead of silently mislabelling every sample.

Card fields (YAML)::

    name: retinamnist            # dataset name (data_source suffix)
    title: RetinaMNIST           # optional
    modality: colour fundus photograph
    task_type: ordinal           # multiclass | binary | ordinal | multilabel
    question: What is the diabetic retinopathy grade of this fundus photograph?
    description: one paragraph on the modality and task
    references: [citations]
    labels:                      # in label order (grade order for ordinal)
      - name: no DR              # display name: the answer the model gives and the ground truth
        official: "0"            # the label as the source data spells it (default: name)
        aliases: [grade 0]       # other accepted answers
        findings: No abnormalities.
    positive: [moderate NPDR, severe NPDR, proliferative DR]  # optional: the clinically positive class(es) (a
                                 # name or a list of names) for sensitivity/specificity/PPV/NPV in the evaluation

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
from dataclasses import dataclass
from pathlib import Path

from reward_fns.labels import normalize  # the reward's spelling equivalence: the card must be unambiguous under it

from . import validate
from .common import ConversionError
from .errors import excerpt
from .prompts import TaskSpec
from .schema import TASK_TYPES

KNOWLEDGE_DIR = Path(__file__).parent / "knowledge"


@dataclass(frozen=True)
class ClassCard:
    """One class of a task card: its display name, the dataset's official name, the other spellings the reward
    accepts, and the findings that tell it apart in the image."""

    name: str
    official: str
    aliases: tuple[str, ...]
    findings: str


@dataclass(frozen=True)
class TaskCard:
    name: str
    task_type: str
    question: str
    labels: tuple[ClassCard, ...]
    path: Path
    title: str = ""
    modality: str = ""
    description: str = ""
    references: tuple[str, ...] = ()
    positive: tuple[str, ...] = ()  # clinically positive class(es), by display name; () = none declared

    @property
    def label_names(self) -> list[str]:
        return [c.name for c in self.labels]


def available_cards() -> list[str]:
    return sorted(p.stem for p in KNOWLEDGE_DIR.glob("*.yaml"))


def _text(value: object, path: Path, field: str, required: bool = False) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, (str, int, float)) or isinstance(value, bool) or not str(value).strip():
        raise ConversionError(f"{path}: field '{field}': expected a non-empty string, got {excerpt(value)}")
    return " ".join(str(value).split())


def load_card(name_or_path: str | Path) -> TaskCard:
    """A card by dataset name (``knowledge/<name>.yaml``) or by path; checks its structure."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = KNOWLEDGE_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise ConversionError(f"{path}: no such task card (knowledge base has: {available_cards()})")
    data = validate.parse_document(
        validate.read_text(path, "task card"), str(path), expect=dict, what="a mapping of card fields"
    )
    task_type = _text(data.get("task_type"), path, "task_type", required=True)
    if task_type not in TASK_TYPES or task_type == "grounding":
        raise ConversionError(
            f"{path}: field 'task_type': {excerpt(task_type)} is not a classification task type "
            f"{[t for t in TASK_TYPES if t != 'grounding']}"
        )
    raw_labels = data.get("labels")
    if not isinstance(raw_labels, list) or len(raw_labels) < 2:
        raise ConversionError(f"{path}: field 'labels': expected a list of at least 2 classes")
    labels = []
    for i, item in enumerate(raw_labels):
        where = f"labels[{i}]"
        if not isinstance(item, dict):
            raise ConversionError(f"{path}: field '{where}': expected a mapping with at least 'name'")
        name = _text(item.get("name"), path, f"{where}.name", required=True)
        aliases = item.get("aliases") or []
        if not isinstance(aliases, list):
            raise ConversionError(f"{path}: field '{where}.aliases': expected a list of strings")
        labels.append(
            ClassCard(
                name=name,
                official=_text(item.get("official"), path, f"{where}.official") or name,
                aliases=tuple(_text(a, path, f"{where}.aliases") for a in aliases),
                findings=_text(item.get("findings"), path, f"{where}.findings"),
            )
        )
    spellings: dict[str, str] = {}
    for c in labels:  # every accepted spelling must point to one class, or the reward drops it as ambiguous
        for spelling in {c.name, c.official, *c.aliases}:
            owner = spellings.setdefault(normalize(spelling), c.name)
            if owner != c.name:
                raise ConversionError(
                    f"{path}: field 'labels': {excerpt(spelling)} names both {excerpt(owner)} and {excerpt(c.name)}"
                )
    if task_type == "binary" and len(labels) != 2:
        raise ConversionError(f"{path}: field 'labels': a binary task has 2 classes, got {len(labels)}")
    refs = data.get("references") or []
    positive = data.get("positive") or []
    positive = [positive] if isinstance(positive, str) else positive
    if not isinstance(positive, list) or any(p not in [c.name for c in labels] for p in positive):
        raise ConversionError(
            f"{path}: field 'positive': expected a label name or a list of label names among "
            f"{[c.name for c in labels]}, got {excerpt(data.get('positive'))}"
        )
    return TaskCard(
        name=_text(data.get("name"), path, "name", required=True),
        task_type=task_type,
        question=_text(data.get("question"), path, "question", required=True),
        labels=tuple(labels),
        path=path,
        title=_text(data.get("title"), path, "title"),
        modality=_text(data.get("modality"), path, "modality"),
        description=_text(data.get("description"), path, "description"),
        references=tuple(_text(r, path, "references") for r in (refs if isinstance(refs, list) else [refs])),
        positive=tuple(positive),
    )


def validate_card(card: TaskCard, official_labels: Sequence[str], task_type: str, source: str) -> None:
    """The card must list exactly the data's labels, in the data's order, for the data's task type."""
    if card.task_type != task_type:
        raise ConversionError(
            f"{card.path}: field 'task_type': card says {excerpt(card.task_type)}, {source} is {excerpt(task_type)}"
        )
    if len(card.labels) != len(official_labels):
        raise ConversionError(
            f"{card.path}: field 'labels': card has {len(card.labels)} classes, {source} has "
            f"{len(official_labels)} ({list(official_labels)})"
        )
    for i, (c, official) in enumerate(zip(card.labels, official_labels, strict=True)):
        if c.official != " ".join(str(official).split()):
            raise ConversionError(
                f"{card.path}: field 'labels[{i}].official': card says {excerpt(c.official)}, {source} "
                f"has {excerpt(official)} at index {i} (class order must match the data)"
            )


def render_knowledge(card: TaskCard) -> str:
    """The knowledge text injected into prompts and read by the recitation reward: modality, task, and per
    class its distinguishing findings. Dataset-level only: nothing in it depends on a sample or its label."""
    lines = []
    if card.modality:
        lines.append(f"Modality: {card.modality}.")
    if card.description:
        lines.append(f"Task: {card.description}")
    findings = [f"- {c.name}: {c.findings}" for c in card.labels if c.findings]
    if findings:
        lines += ["Distinguishing findings per class:", *findings]
    return "\n".join(lines)


def label_aliases(card: TaskCard) -> list[list[str]]:
    """Per label, the official spelling (when it differs from the display name) and the card's aliases."""
    out = []
    for c in card.labels:
        seen = [c.name]
        aliases = []
        for a in (c.official, *c.aliases):
            if a not in seen:
                seen.append(a)
                aliases.append(a)
        out.append(aliases)
    return out


def label_index(card: TaskCard, value: str) -> int | None:
    """Index of the label that ``value`` (a folder name or CSV label) spells, as the reward would read it."""
    key = normalize(value)
    return next(
        (i for i, c in enumerate(card.labels) for s in (c.name, c.official, *c.aliases) if normalize(s) == key), None
    )


def task_spec(card: TaskCard) -> TaskSpec:
    return TaskSpec(
        name=card.name,
        task_type=card.task_type,
        question=card.question,
        labels=tuple(card.label_names),
        label_aliases=tuple(tuple(a) for a in label_aliases(card)),
        knowledge=render_knowledge(card),
    )


def class_findings(knowledge: str, label: str) -> str:
    """The findings of ``label`` in a knowledge text made by ``render_knowledge`` ("" when it has none)."""
    prefix = f"- {label}: "
    return next((line[len(prefix) :] for line in knowledge.splitlines() if line.startswith(prefix)), "")


# --- drafting a card with an LLM, and checking the card it returns -------------------------------------------------

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
    from .medmnist import DATASETS_2D, INFO, TASK_TYPES  # deferred: medmnist.py imports this module

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
        if task_type == "multilabel"
        else "",
    )


def check_card_for_dataset(card_path: str | Path, flag: str) -> TaskCard:
    """A user-brought card for MedMNIST dataset ``flag``: its structure (``load_card``), then its task type and
    labels (official names, in order) against ``medmnist.INFO``, its name, and a finding for every class."""
    _, task_type, official = _medmnist_task(flag)
    card = load_card(Path(card_path))
    validate_card(card, official, task_type, source=f"medmnist.INFO['{flag}']")
    if card.name != flag:
        raise ConversionError(f"{card.path}: field 'name': card says {excerpt(card.name)}, expected {flag!r}")
    empty = [c.name for c in card.labels if not c.findings]
    if empty:
        raise ConversionError(f"{card.path}: field 'labels': class(es) {empty} have no findings")
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
    check = commands.add_parser("validate", help="check a card against medmnist.INFO (labels and their order)")
    check.add_argument("--card", required=True, help="the card YAML the LLM (or you) wrote")
    check.add_argument("--dataset", required=True, help="MedMNIST 2D flag the card is for")
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
    card = check_card_for_dataset(args.card, args.dataset)
    print(
        f"ok: {card.path} matches medmnist.INFO['{args.dataset}'] ({len(card.labels)} classes in order, "
        f"task type {card.task_type}); use it with: python -m data_preprocess.medmnist --dataset {args.dataset} "
        f"--card {card.path} ..."
    )


if __name__ == "__main__":
    from .cli import run_cli

    run_cli(main)
