"""Task cards: the per-dataset knowledge base (``knowledge/<dataset>.yaml``) and user task cards for new tasks:
loading, validation against the data's labels and rendering into prompts. Authoring a card for a MedMNIST dataset
(the LLM draft prompt, ``validate`` against ``medmnist.INFO``) is ``data_preprocess.knowledge``.

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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from reward_fns.labels import normalize  # the reward's spelling equivalence: the card must be unambiguous under it
from reward_fns.task_type import TaskType

from . import validate
from .common import ConversionError
from .errors import excerpt
from .prompts import TaskSpec

KNOWLEDGE_DIR = Path(__file__).parent / "knowledge"
# The task types a card may declare: the labelled kinds (a fixed label list), what the card converters write.
CARD_TASK_TYPES = TaskType.labelled()


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
    if TaskType.parse(task_type) not in CARD_TASK_TYPES:
        # a card describes a fixed label list: the converters that read cards write only these kinds (a VQA or
        # grounding kind would become rows the reward and the evaluation cannot grade)
        raise ConversionError(
            f"{path}: field 'task_type': {excerpt(task_type)} is not a task type a card can declare "
            f"{[t.value for t in CARD_TASK_TYPES]}"
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
    if task_type == TaskType.BINARY and len(labels) != 2:
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


def check_card(name_or_path: str | Path) -> TaskCard:
    """Any card, shipped or brought: its structure (``load_card``) and a finding for every class (the knowledge
    text and the recitation reward are built from the findings; a class without one is silently unexplained)."""
    card = load_card(name_or_path)
    empty = [c.name for c in card.labels if not c.findings]
    if empty:
        raise ConversionError(f"{card.path}: field 'labels': class(es) {empty} have no findings")
    return card
