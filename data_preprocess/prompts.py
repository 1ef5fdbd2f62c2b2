"""Prompt templates (YAML data in ``templates/``) and the row builder every converter uses.

A converter describes its task once (``TaskSpec``) and hands each sample's image, size and label to
``RowBuilder.row``; the prompt text, ``extra_info`` and ground-truth encoding are therefore identical across
converters."""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from reward_fns.task_type import TaskType
from reward_fns.zoom import LESION_KEY

from . import validate
from .common import ConversionError
from .schema import encode_ground_truth, make_extra_info, make_row

TEMPLATE_DIR = Path(__file__).parent / "templates"
ANSWER_FORMATS_FILE = TEMPLATE_DIR / "answer_formats.yaml"
PLACEHOLDERS = {"question", "options", "knowledge", "task_instruction", "answer_format"}
# The think/answer instruction every template writes ({answer_format}: the task's answer example), and the
# answer-only one the no-think control row's dataset class puts in its place at train time (``answer_only_prompt``),
# so that row trains on the baseline's parquet and its prompts differ from the baseline's in this sentence alone.
THINK_INSTRUCTION = (
    "Output the thinking process in <think> </think> and final answer in <answer> </answer> tags. "
    "The output answer format should be as follows: <think> ... </think> <answer>{answer_format}</answer>"
)
ANSWER_ONLY_INSTRUCTION = (
    "Output only the final answer in <answer> </answer> tags, with no thinking process. "
    "The output answer format should be as follows: <answer>{answer_format}</answer>"
)
_THINK_INSTRUCTION_RE = re.compile(
    re.escape(THINK_INSTRUCTION).replace(re.escape("{answer_format}"), "(?P<answer_format>[^<\n]*)")
)


@dataclass(frozen=True)
class TaskSpec:
    """What a prompt and the rewards need to know about a task; the same for every sample."""

    name: str  # dataset name: data_source suffix and extra_info.dataset
    task_type: str
    question: str
    labels: tuple[str, ...] = ()  # display names in label order
    label_aliases: tuple[tuple[str, ...], ...] = ()  # per label, other accepted spellings
    knowledge: str = ""
    box_format: str = "abs"


@dataclass(frozen=True)
class Template:
    name: str
    user: str  # with placeholders PLACEHOLDERS
    system: str | None  # literal text
    path: Path


def available_templates() -> list[str]:
    return sorted(p.stem for p in TEMPLATE_DIR.glob("*.yaml") if p != ANSWER_FORMATS_FILE)


@cache
def load_template(name_or_path: str) -> Template:
    """A template by name (``vrft``, ``classlist``, ``knowledge``) or by path to a YAML file of the same shape."""
    path = Path(name_or_path) if name_or_path.endswith((".yaml", ".yml")) else TEMPLATE_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise ConversionError(f"{path}: no such prompt template (available: {available_templates()})")
    try:
        data = validate.load_yaml(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise ConversionError(f"{path}: not a readable YAML prompt template: {err}") from err
    if not isinstance(data, dict) or not isinstance(data.get("user"), str):
        raise ConversionError(f"{path}: field 'user': a template needs a 'user' string")
    unknown = {f for _, f, _, _ in string.Formatter().parse(data["user"]) if f} - PLACEHOLDERS
    if unknown:
        raise ConversionError(
            f"{path}: field 'user': unknown placeholder(s) {sorted(unknown)}; known: {sorted(PLACEHOLDERS)}"
        )
    if data["user"].count("<image>") != 1:
        raise ConversionError(f"{path}: field 'user': needs exactly one <image> placeholder")
    return Template(name=str(data.get("name", path.stem)), user=data["user"], system=data.get("system"), path=path)


@cache
def answer_formats() -> dict[str, dict[str, Any]]:
    """``templates/answer_formats.yaml`` by task type (cached; do not modify). The one reader of that file: the
    converters' prompts and the dataset class's class lists (``verl_med_plugin.dataset``) both use it."""
    return validate.load_yaml(ANSWER_FORMATS_FILE.read_text(encoding="utf-8"))


def answer_only_prompt(user: str) -> str | None:
    """``user`` with its think/answer instruction (``THINK_INSTRUCTION``) replaced by the answer-only one, the
    answer example kept; None unless the instruction occurs exactly once (nothing to replace, or ambiguous).

    Example:
        >>> answer_only_prompt("<image>Which class? " + THINK_INSTRUCTION.format(answer_format="class name"))
        '<image>Which class? Output only the final answer in <answer> </answer> tags, with no thinking process. \
The output answer format should be as follows: <answer>class name</answer>'
    """
    matches = list(_THINK_INSTRUCTION_RE.finditer(user))
    if len(matches) != 1:
        return None
    match = matches[0]
    replacement = ANSWER_ONLY_INSTRUCTION.format(answer_format=match["answer_format"])
    return user[: match.start()] + replacement + user[match.end() :]


def render_options(labels: Iterable[str], option_style: str) -> list[str]:
    """Class list lines: ``- name``, ``A. name`` or ``1. name``."""
    labels = list(labels)
    if option_style == "letter":
        if len(labels) > 26:
            raise ConversionError(f"option_style 'letter': {len(labels)} labels, at most 26")
        return [f"{string.ascii_uppercase[i]}. {name}" for i, name in enumerate(labels)]
    if option_style == "number":
        return [f"{i + 1}. {name}" for i, name in enumerate(labels)]
    return [f"- {name}" for name in labels]


def _tidy(text: str) -> str:
    """Whitespace left by empty placeholders: single spaces, no spaces around line breaks, <= 1 blank line."""
    text = re.sub(r"[ \t]+", " ", text)
    text = re.sub(r" ?\n ?", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


class RowBuilder:
    """Builds verl rows of one task with one template (see ``data_preprocess.schema``)."""

    def __init__(
        self, task: TaskSpec, template: str = "vrft", option_style: str = "none", system_prompt: str | None = None
    ):
        self.task, self.template, self.option_style = task, load_template(template), option_style
        self.system_prompt = system_prompt if system_prompt is not None else self.template.system
        formats = answer_formats()
        if task.task_type not in formats:
            raise ConversionError(f"{ANSWER_FORMATS_FILE}: no entry for task_type {task.task_type!r}")
        self._formats = formats[task.task_type]
        if task.task_type != TaskType.GROUNDING and not task.labels:
            raise ConversionError(f"task {task.name!r}: a {task.task_type} task needs labels")
        validate.check_option_style(task.labels, option_style, f"task {task.name!r}")
        used = {f for _, f, _, _ in string.Formatter().parse(self.template.user) if f}
        if "knowledge" in used and not task.knowledge:
            raise ConversionError(
                f"{self.template.path}: the template shows task knowledge, but task {task.name!r} "
                "has none (no task card with a description or findings)"
            )
        if "options" in used and not task.labels:
            raise ConversionError(f"{self.template.path}: the template lists classes, but task {task.name!r} has none")
        self._prompts: dict[tuple[int, int], str] = {}

    def prompt_text(self, image_size: tuple[int, int]) -> str:
        """The user turn; only grounding prompts depend on the image size (pixel coordinates)."""
        key = image_size if self.task.task_type == TaskType.GROUNDING else (0, 0)
        if key not in self._prompts:
            instruction = self._formats["task_instruction"]
            if isinstance(instruction, dict):  # grounding: per box format
                instruction = instruction[self.task.box_format]
            options = ""
            if self.task.labels:
                options = "\n".join(
                    [self._formats["options_intro"], *render_options(self.task.labels, self.option_style)]
                )
            fields = {
                "question": self.task.question,
                "options": options,
                "knowledge": self.task.knowledge,
                "task_instruction": instruction.format(width=image_size[0], height=image_size[1]),
                "answer_format": self._answer_format(),
            }
            self._prompts[key] = _tidy(self.template.user.format(**fields))
        return self._prompts[key]

    def _answer_format(self) -> str:
        """The answer example; for grades with the scale, so "2" is read as the grade the model means."""
        text = self._formats["answer_format"]
        if self.task.task_type != TaskType.ORDINAL or "{scale}" not in text:
            return text
        k = len(self.task.labels)
        if self.option_style in ("letter", "number"):
            text = self._formats.get("answer_format_options", text)
            scale = f"A-{chr(ord('A') + k - 1)}" if self.option_style == "letter" else f"1-{k}"
        else:
            scale = f"0-{k - 1}"
        return text.replace("{scale}", scale)

    def row(
        self,
        *,
        split: str,
        index: int,
        image_png: bytes,
        image_size: tuple[int, int],
        label: Any,
        lesions: list[list[float]] | None = None,
    ) -> dict:
        """One row. ``label``: a label index (multiclass/binary/ordinal), an iterable of label indices
        (multilabel) or a list of ``[x1, y1, x2, y2]`` boxes in ``task.box_format`` (grounding). ``lesions``: the
        image's lesion boxes in ``task.box_format`` when known (``extra_info.lesion_boxes``)."""
        task = self.task
        if task.task_type == TaskType.GROUNDING:
            ground_truth: Any = label
        elif task.task_type == TaskType.MULTILABEL:
            ground_truth = [task.labels[i] for i in label]
        else:
            ground_truth = task.labels[label]
        extra_info = make_extra_info(
            split=split,
            index=int(index),
            dataset=task.name,
            task_type=task.task_type,
            labels=list(task.labels),
            label_aliases=[list(a) for a in task.label_aliases],
            option_style=self.option_style,
            question=task.question,
            knowledge=task.knowledge,
            template=self.template.name,
            image_size=[int(image_size[0]), int(image_size[1])],
            box_format=task.box_format,
            **({LESION_KEY: encode_ground_truth(TaskType.GROUNDING, lesions)} if lesions is not None else {}),
        )
        return make_row(
            dataset=task.name,
            prompt_text=self.prompt_text(image_size),
            image_bytes=[image_png],
            ground_truth=ground_truth,
            extra_info=extra_info,
            system_prompt=self.system_prompt,
        )
