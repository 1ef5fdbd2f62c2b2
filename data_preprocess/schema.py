"""The verl parquet row every converter writes and every reader (dataset class, rewards, evaluation) expects.

One schema for all tasks, so parquet files of different tasks (localization and classification) can be
concatenated by verl's ``RLHFDataset`` (HF ``datasets`` refuses to concatenate differing struct types):
every ``extra_info`` key is present in every row, and ``ground_truth`` is always a string.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

# The rewards define what they can score; the rows are written to match.
from reward_fns.composite import DATA_SOURCE_PREFIX
from reward_fns.config import BOX_FORMATS, TASK_TYPES
from reward_fns.task_type import TaskType
from reward_fns.zoom import LESION_KEY

OPTION_STYLES = ("none", "letter", "number")

# extra_info key -> default. Order is the column order in parquet.
EXTRA_INFO_DEFAULTS: dict[str, Any] = {
    "split": "",
    "index": 0,
    "dataset": "",  # task name, e.g. "retinamnist"; also the data_source suffix
    "task_type": "",  # one of TASK_TYPES: the rewards dispatch on it
    "labels": [],  # display names in label order (grade order for ordinal); [] for grounding
    "label_aliases": [],  # per label, extra accepted spellings (official MedMNIST names, synonyms)
    "option_style": "none",  # the prompt lists options as "A. name" (letter) or "1. name" (number)
    "question": "",  # the task question shown to the model
    "knowledge": "",  # the prior-knowledge text the dataset class injects and the recitation reward reads
    "template": "",  # name of the prompt template used (see data_preprocess/templates/)
    "image_size": [],  # [width, height] of the stored image (box coordinates refer to it)
    "box_format": "abs",  # one of BOX_FORMATS: convention of grounding ground truth and expected answers
    # A classification row's lesion boxes, as a grounding row's ground truth (JSON [[x1, y1, x2, y2], ...] in
    # box_format) when the converter knows them (folder --mask_suffix / --lesion_column), "[]" for none, "" when
    # unknown: the zoom reward's grounding term reads them (reward_fns.zoom).
    LESION_KEY: "",
    # Medical VQA (task types mcq / closed / open); empty for MedMNIST and localization rows.
    "options": [],  # mcq: the option texts in order, shown lettered A, B, ...
    "modality": "",  # imaging modality (CT, MRI, X-ray, ...): selects the modality knowledge card, splits studies
    "organ": "",  # body part / organ where the benchmark names one (SLAKE's location)
    "question_type": "",  # the benchmark's own question category (OmniMedVQA's question type, SLAKE's content type)
    "answer": "",  # the benchmark's own answer as released (an option letter, "yes", a free text)
}


def data_source_for(dataset: str) -> str:
    """``data_source`` column value; verl groups validation metrics by it."""
    return f"{DATA_SOURCE_PREFIX}{dataset}"


def encode_ground_truth(task_type: str, value: Any) -> str:
    """Ground truth as a string: a label name, or JSON for label sets and boxes."""
    if task_type in (TaskType.MULTILABEL, TaskType.GROUNDING):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def make_extra_info(**fields: Any) -> dict[str, Any]:
    """``extra_info`` with every key of the schema; unknown keys are an error (they would break concatenation)."""
    unknown = set(fields) - set(EXTRA_INFO_DEFAULTS)
    if unknown:
        raise KeyError(f"extra_info: unknown field(s) {sorted(unknown)}; known: {list(EXTRA_INFO_DEFAULTS)}")
    info = {k: (list(v) if isinstance(v, list) else v) for k, v in EXTRA_INFO_DEFAULTS.items()}
    info.update(fields)
    if info["task_type"] not in TASK_TYPES:
        raise ValueError(f"extra_info.task_type={info['task_type']!r}: expected one of {TASK_TYPES}")
    if info["option_style"] not in OPTION_STYLES:
        raise ValueError(f"extra_info.option_style={info['option_style']!r}: expected one of {OPTION_STYLES}")
    if info["box_format"] not in BOX_FORMATS:
        raise ValueError(f"extra_info.box_format={info['box_format']!r}: expected one of {BOX_FORMATS}")
    return info


def make_row(
    *,
    dataset: str,
    prompt_text: str,
    image_bytes: Sequence[bytes],
    ground_truth: Any,
    extra_info: dict[str, Any],
    system_prompt: str | None = None,
) -> dict[str, Any]:
    """One verl row: ``prompt_text`` must hold one ``<image>`` placeholder per image."""
    n_placeholders = prompt_text.count("<image>")
    if n_placeholders != len(image_bytes):
        raise ValueError(f"prompt has {n_placeholders} <image> placeholder(s) but {len(image_bytes)} image(s)")
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    messages.append({"role": "user", "content": prompt_text})
    return {
        "data_source": data_source_for(dataset),
        "prompt": messages,
        "images": [{"bytes": b, "path": None} for b in image_bytes],
        "ability": "medical_" + extra_info["task_type"],
        "reward_model": {"style": "rule", "ground_truth": encode_ground_truth(extra_info["task_type"], ground_truth)},
        "extra_info": extra_info,
    }


def arrow_schema():
    """The parquet schema of a row, fixed rather than inferred: inference types an empty list as ``list<null>``,
    so a file of grounding rows (``labels == []``) would not concatenate with a classification file."""
    import pyarrow as pa

    text_list = pa.list_(pa.string())
    extra_info_types = {
        "split": pa.string(),
        "index": pa.int64(),
        "dataset": pa.string(),
        "task_type": pa.string(),
        "labels": text_list,
        "label_aliases": pa.list_(text_list),
        "option_style": pa.string(),
        "question": pa.string(),
        "knowledge": pa.string(),
        "template": pa.string(),
        "image_size": pa.list_(pa.int64()),
        "box_format": pa.string(),
        LESION_KEY: pa.string(),
        "options": text_list,
        "modality": pa.string(),
        "organ": pa.string(),
        "question_type": pa.string(),
        "answer": pa.string(),
    }
    assert list(extra_info_types) == list(EXTRA_INFO_DEFAULTS), "arrow_schema() out of sync with EXTRA_INFO_DEFAULTS"
    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    return pa.schema(
        [
            ("data_source", pa.string()),
            ("prompt", pa.list_(message)),
            ("images", pa.list_(pa.struct([("bytes", pa.binary()), ("path", pa.string())]))),
            ("ability", pa.string()),
            ("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.string())])),
            ("extra_info", pa.struct(list(extra_info_types.items()))),
        ]
    )
