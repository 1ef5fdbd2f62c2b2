"""``data.custom_cls`` for verl-med: verl's ``RLHFDataset`` plus prior-knowledge injection (VRFT-Aug's explicit
perception augmentation).

Converters write a baseline prompt (``<image>`` + question + think/answer instruction) and keep the knowledge
and labels in ``extra_info``. This class adds them per ``med.knowledge.mode`` (``data.med_knowledge``) inside
``_build_messages``, which verl calls both in the length filter and in ``__getitem__`` (whose ``raw_prompt``
the rollout renders), so the filter counts exactly the tokens the rollout sends.

Modes: ``none`` (baseline prompt), ``classlist`` (the label list after the question), ``system`` (knowledge as
the system message, replacing the template's default one), ``user`` (knowledge in the user turn before the
question; the default: the paper expands the prompt itself, and the model's own system prompt stays as trained).
The knowledge text is ``extra_info.knowledge``, the same field the recitation reward reads.

Medical VQA rows (task types mcq / closed / open) carry the card of their imaging modality
(``data_preprocess.modality_knowledge``, chosen per row by ``extra_info.modality``) and get it in the ``system`` and
``user`` modes like any row; they never get a class list (``classlist`` mode or flag): only labelled tasks
(``TaskType.is_labelled``) have one, and an MCQ's options are already part of its question.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any

from data_preprocess.errors import UserError
from data_preprocess.prompts import answer_formats, answer_only_prompt, render_options
from reward_fns.task_type import TaskType
from verl_med_plugin import verl_compat
from verl_med_plugin.med_settings import KnowledgeSettings

LABELLED_TASKS = tuple(t.value for t in TaskType.labelled())


@functools.lru_cache(maxsize=1)
def _options_intros() -> dict[str, str]:
    return {task: spec.get("options_intro", "") for task, spec in answer_formats().items()}


@functools.lru_cache(maxsize=4096)
def _class_list(task_type: str, labels: tuple[str, ...], option_style: str) -> tuple[tuple[str, ...], str]:
    """Option lines and the whole block, as the converters' ``classlist`` template writes them (same letters or
    numbers, which the reward parses). Cached: every row of a dataset shares them."""
    if not labels or task_type not in LABELLED_TASKS:  # VQA: yes/no and options belong to the question itself
        return (), ""
    lines = tuple(render_options(labels, option_style or "none"))
    intro = _options_intros().get(task_type, "")
    return lines, "\n".join([intro, *lines] if intro else lines)


def _shown(lines, texts: list[str]) -> bool:
    """True when every line is already in the prompt (a converter template baked the block in)."""
    return bool(lines) and all(any(line in text for text in texts) for line in lines)


def _question_span(content: str, question: str) -> tuple[int, int]:
    """Where the question sits in the user text; without it, right after the last ``<image>`` placeholder."""
    question = question.strip()
    start = content.find(question) if question else -1
    if start >= 0:
        return start, start + len(question)
    after_image = content.rfind("<image>")
    position = after_image + len("<image>") if after_image >= 0 else 0
    return position, position


def compose_messages(messages: list[dict], extra_info: dict | None, settings: KnowledgeSettings) -> list[dict]:
    """The row's messages with the knowledge / class list injected per ``settings.mode`` (new dicts; the row's
    own messages are not modified). Content must be text (the parquet contract), placeholders untouched.
    ``settings.think == "forbidden"`` also swaps the think/answer instruction for the answer-only one."""
    messages = [dict(m) for m in messages]
    if settings.think == "forbidden":
        _ask_answer_only(messages, extra_info)
    if settings.mode == "none":
        return messages
    user = next((m for m in reversed(messages) if m.get("role") == "user"), None)
    if user is None or not isinstance(user.get("content"), str):
        raise TypeError("verl-med dataset: the prompt needs a user message with text content (data_preprocess.schema)")
    first = messages[0]
    system = first if first.get("role") == "system" and isinstance(first.get("content"), str) else None
    info = extra_info or {}
    labels = info.get("labels")
    user["content"], system_text = _inject(
        user["content"],
        system["content"] if system else None,
        str(info.get("question") or ""),
        str(info.get("knowledge") or "").strip(),
        str(info.get("task_type") or ""),
        tuple(labels) if labels is not None else (),
        str(info.get("option_style") or "none"),
        settings,
    )
    if system is not None:
        system["content"] = system_text
    elif system_text is not None:
        messages.insert(0, {"role": "system", "content": system_text})
    return messages


def _ask_answer_only(messages: list[dict], extra_info: dict | None) -> None:
    """The last user message with the answer-only instruction (in place, on the copied messages); a prompt without
    the think/answer instruction is an error: the control row must never train on a prompt asking to think."""
    user = next((m for m in reversed(messages) if m.get("role") == "user"), None)
    text = user.get("content") if user is not None else None
    rewritten = _answer_only_cached(text) if isinstance(text, str) else None
    if rewritten is None:
        index = (extra_info or {}).get("index")
        raise UserError(
            f"med.knowledge.think=forbidden: the prompt of row {index!r} does not hold the think/answer instruction "
            "exactly once (data_preprocess.prompts.THINK_INSTRUCTION), so it cannot be made answer-only; "
            "prepare the data with a data_preprocess template"
        )
    assert user is not None
    user["content"] = rewritten


_answer_only_cached = functools.lru_cache(maxsize=4096)(answer_only_prompt)


@functools.lru_cache(maxsize=4096)
def _inject(
    user: str,
    system: str | None,
    question: str,
    knowledge: str,
    task_type: str,
    labels: tuple[str, ...],
    option_style: str,
    settings: KnowledgeSettings,
) -> tuple[str, str | None]:
    """New user and system text. Cached: the rows of a dataset share question, knowledge and labels, so this runs
    once per dataset (per image size for grounding prompts), not once per item."""
    texts = [user] if system is None else [user, system]
    if settings.mode in ("system", "user") and knowledge and not _shown((knowledge,), texts):
        block = f"{settings.header}\n{knowledge}"
    else:
        block = ""
    classes = ""
    if settings.mode == "classlist" or settings.classlist:
        lines, classes = _class_list(task_type, labels, option_style)
        classes = "" if _shown(lines, texts) else classes
    start, end = _question_span(user, question)
    if classes:
        rest = user[end:].lstrip(" ")
        user = user[:end] + "\n" + classes + ("\n" + rest if rest else "")
    if block and settings.mode == "user":
        user = user[:start] + block + "\n\n" + user[start:]
    if block and settings.mode == "system":
        system = block if system is None else system.rstrip() + "\n\n" + block
    return user, system


ROWS_PER_FILTER_WORKER = 2000


def train_task_types(data_files: Any, config: Any) -> tuple[str, ...] | None:
    """``data.med_train_task_types`` (``med.train_task_types``) when ``data_files`` are the train files, else None:
    the VQA preset trains on closed and multiple-choice questions only, as Med-R1 and MedVLM-R1 do, and keeps the
    open questions of the validation and test files for evaluation."""
    wanted = config.get("med_train_task_types")
    if wanted is None:
        return None

    def files(value: Any) -> list[str]:
        return [str(value)] if isinstance(value, str) else [str(v) for v in (value or [])]

    return tuple(str(t) for t in wanted) if files(data_files) == files(config.get("train_files")) else None


def keep_task_types(dataframe: Any, task_types: tuple[str, ...], data_files: Any) -> Any:
    """The rows of ``dataframe`` (a ``datasets.Dataset``) whose ``extra_info.task_type`` is one of ``task_types``;
    none left is an error naming the files and the switch."""
    kept = dataframe.filter(lambda info: (info or {}).get("task_type") in task_types, input_columns=["extra_info"])
    if len(kept) == 0:
        raise UserError(
            f"data.train_files {data_files}: no row of task type {list(task_types)} to train on "
            "(med.train_task_types; null trains on every row)"
        )
    return kept


def length_filter_workers(num_rows: int, upper_bound: int) -> int:
    """Processes for the length filter: one per ``ROWS_PER_FILTER_WORKER`` rows, at least 1, at most the bound."""
    return max(1, min(upper_bound, -(-num_rows // ROWS_PER_FILTER_WORKER)))


# A named base: mypy accepts no call expression as a base class; verl's class is resolved at import, typed Any.
_RLHFDatasetBase: Any = verl_compat.rlhf_dataset_base()


class MedRLHFDataset(_RLHFDatasetBase):
    """verl's ``RLHFDataset`` with prior-knowledge injection; also tags each row with the index the sampler drew
    (``sampler_index``), so rewards can be traced back to dataframe rows when several files are concatenated."""

    def __init__(self, data_files, tokenizer, config, processor=None, max_samples: int = -1):
        # Before super(): its constructor runs the length filter, which calls _build_messages.
        self.knowledge = KnowledgeSettings.from_config(config.get("med_knowledge"), key="data.med_knowledge")
        self.task_types = train_task_types(data_files, config)
        super().__init__(data_files, tokenizer, config, processor=processor, max_samples=max_samples)

    def _build_messages(self, example: dict, key: str):
        example[key] = compose_messages(example[key], example.get("extra_info"), self.knowledge)
        return super()._build_messages(example, key)

    def maybe_filter_out_long_prompts(self, dataframe=None):
        """verl's length filter with as many processes as the data is worth: ``filter_overlong_prompts_workers`` is
        the upper bound, one process per ``ROWS_PER_FILTER_WORKER`` rows (a few-shot set is filtered in this
        process; a 100k-row set is worth all of them)."""
        if dataframe is not None and self.task_types is not None:
            dataframe = keep_task_types(dataframe, self.task_types, self.data_files)
        if dataframe is not None and self.num_workers:
            workers = length_filter_workers(len(dataframe), int(self.num_workers))
            # None, not 1: datasets >= 5 starts a process pool for num_proc=1 too, and forking a process that
            # already runs torch/tokenizer threads can deadlock.
            self.num_workers = workers if workers > 1 else None
        return super().maybe_filter_out_long_prompts(dataframe)

    def __getitem__(self, item):
        row = super().__getitem__(item)
        row[verl_compat.SAMPLER_INDEX_FIELD] = int(item)
        return row


@dataclass(frozen=True)
class RenderedPrompt:
    """A prompt as the rollout builds it: template text (one ``<|image_pad|>`` per image) and token ids (expanded)."""

    mode: str
    text: str
    token_ids: list[int]
    num_image_tokens: int

    def __str__(self) -> str:
        return self.text


def render_prompt(
    dataset: MedRLHFDataset, processor: Any, mode: str | None = None, index: int = 0, hf_model_type: str | None = None
) -> RenderedPrompt:
    """Row ``index`` of ``dataset`` rendered by verl's rollout-side prompt builder (the continuous-token builder
    the agent loop uses), with knowledge mode ``mode`` (default: the dataset's own). ``processor`` must carry
    the training chat template (``verl_compat.load_rollout_model(config).processor`` does)."""
    knowledge = dataset.knowledge if mode is None else dataclasses.replace(dataset.knowledge, mode=mode)
    KnowledgeSettings.from_config(dataclasses.asdict(knowledge))  # validates ``mode``
    row = dataset.dataframe[index]
    row[dataset.prompt_key] = compose_messages(row[dataset.prompt_key], row.get("extra_info"), knowledge)
    messages = verl_compat.rlhf_dataset_base()._build_messages(dataset, row, dataset.prompt_key)
    # The agent loop (AgentLoopBase.process_multi_modal_info) takes the patch size from the processor.
    patch_size = getattr(getattr(processor, "image_processor", None), "patch_size", 14)
    images, videos, _ = type(dataset)._process_multi_modal_info(messages, patch_size, dataset.config)
    builder = verl_compat.continuous_token_builder(dataset.tokenizer, processor, hf_model_type, dataset.config)
    tools = getattr(dataset, "tool_schemas", None)  # data.tool_config_path: the tool list the agent loop sends too
    token_ids = builder.build_initial_tokens(messages, tools=tools, images=images, videos=videos, mm_inputs_out={})
    image_pad = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    return RenderedPrompt(
        mode=knowledge.mode,
        text=verl_compat.render_chat_text(processor, messages, dataset.config, tools=tools),
        token_ids=list(token_ids),
        num_image_tokens=sum(t == image_pad for t in token_ids),
    )


def render_first_prompt(
    dataset: MedRLHFDataset, processor: Any, mode: str, hf_model_type: str | None = None
) -> RenderedPrompt:
    """The dry run's view of knowledge mode ``mode``: the first row as the rollout would prompt the model."""
    return render_prompt(dataset, processor, mode=mode, index=0, hf_model_type=hf_model_type)
