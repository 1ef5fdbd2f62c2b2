"""The fields of a row's ``extra_info`` the rewards read, coerced defensively.

verl hands ``extra_info`` over as stored in parquet (lists may arrive as numpy arrays, keys may be missing in rows
we do not own), so every field falls back to an empty value instead of raising.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TaskInfo:
    task_type: str
    labels: tuple[str, ...]
    aliases: tuple[tuple[str, ...], ...]
    option_style: str
    knowledge: str
    image_size: tuple[float, float] | None  # (width, height) of the stored image
    box_format: str
    options: tuple[str, ...] = ()  # mcq: the option texts in prompt order (lettered A, B, ...)
    question: str = ""  # VQA: the benchmark's question (open answers: the alternatives it offers)

    @classmethod
    def from_extra_info(cls, extra_info: Any) -> TaskInfo:
        info = extra_info if isinstance(extra_info, Mapping) else {}
        return cls(
            task_type=_text(info.get("task_type")),
            labels=_string_list(info.get("labels")),
            aliases=tuple(_aliases(a) for a in _items(info.get("label_aliases"))),
            option_style=_text(info.get("option_style")) or "none",
            knowledge=_text(info.get("knowledge")),
            image_size=_size(info.get("image_size")),
            box_format=_text(info.get("box_format")) or "abs",
            options=_string_list(info.get("options")),
            question=_text(info.get("question")),
        )


def json_or_list(value: Any) -> Any:
    """A value that may be JSON text, decoded; numpy arrays become lists; anything else is returned as is.

    Ground truths are JSON strings in our parquet, decoded lists when another pipeline built the row, and numpy
    arrays after a pandas round trip; answers may hold a JSON list. Undecodable text (or nesting deep enough to
    exhaust the recursion limit) gives None, never an exception.

    >>> json_or_list('["a", "b"]'), json_or_list("not json"), json_or_list(("x",))
    (['a', 'b'], None, ('x',))
    """
    if isinstance(value, (str, bytes, bytearray)):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return None
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _items(value: Any) -> list:
    """A list from a list, tuple or numpy array; [] for anything else (a bare string is not a list)."""
    if type(value) is list:
        return value
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        value = value.tolist()
    return list(value) if isinstance(value, (list, tuple)) else []


def _string_list(value: Any) -> tuple[str, ...]:
    """All-or-nothing: one non-string entry would shift every later label index."""
    items = _items(value)
    return tuple(items) if all(isinstance(v, str) for v in items) else ()


def _aliases(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):  # a single alias given as a bare string
        return (value,)
    items = _items(value)
    return tuple(items) if all(isinstance(v, str) for v in items) else tuple(v for v in items if isinstance(v, str))


def _size(value: Any) -> tuple[float, float] | None:
    items = _items(value)
    if len(items) != 2 or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and 1 <= v <= 1e6
        for v in items  # rejects NaN
    ):
        return None
    return float(items[0]), float(items[1])
