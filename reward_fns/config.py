"""Reward settings read from verl's ``reward.custom_reward_function.reward_kwargs``.

verl merges ``dict(reward_kwargs)`` into every ``compute_score`` call, so nested values arrive as OmegaConf
``ListConfig``/``DictConfig``: anything that is a ``Sequence``/``Mapping`` is accepted. Settings are validated
once per distinct kwargs and cached; an invalid setting raises ``ValueError`` at the first call (a configuration
error must stop the run, unlike bad data, which only ever scores 0).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

logger = logging.getLogger(__name__)

TASK_TYPES = ("multiclass", "binary", "ordinal", "multilabel", "grounding")
BOX_FORMATS = ("abs", "rel1000", "rel1")

# Keyword arguments verl itself may add to the call (reward model / sandbox plumbing): accepted and ignored.
VERL_CALL_KWARGS = frozenset(
    {"reward_router_address", "reward_model_tokenizer", "sandbox_fusion_url", "concurrent_semaphore", "memory_limit_mb"}
)


@dataclass(frozen=True)
class RewardConfig:
    """Every reward kwarg with its default. Field names are the ``reward_kwargs`` keys."""

    # Response layout: <think_tag>...</think_tag><answer_tag>...</answer_tag>.
    think_tag: str = "think"
    answer_tag: str = "answer"
    # The chat template already opened the think block (Qwen3-style), so the response starts inside it.
    think_prefilled: bool = False
    # Composite: format_weight * format + acc_weight * task term + recite_delta * recite.
    format_weight: float = 0.1
    acc_weight: float = 1.0
    # When true an answer only counts inside a strictly formatted response (else the answer block alone counts).
    acc_requires_format: bool = False
    # Ordinal task term: "mfrs" (graded partial credit) or "exact" (the V-RFT 0/1 baseline).
    ordinal_reward: str = "mfrs"
    mfrs_shape: str = "table"  # "table" | "exp" (e^-gd) | "gaussian" (e^-gd^2) | "linear" (1 - gd)
    mfrs_table: tuple[float, ...] = (1.0, 0.25, 0.0625, 0.0)  # reward by grade distance; last entry = floor
    mfrs_gamma: float | None = None  # decay g; None: ln 4 (exp), ln 2 (gaussian), 1/(grades-1) (linear)
    # Multilabel task term: "f1" (set F1), "jaccard" or "exact" (exact set match).
    multilabel_reward: str = "f1"
    # Grounding: convention of predicted boxes (None: the row's extra_info.box_format).
    box_format: str | None = None
    # Frame of "abs" predictions: "qwen" = the image after Qwen2.5-VL smart_resize (what the model saw),
    # "stored" = extra_info.image_size. The three numbers below must match the rollout's image processing.
    abs_frame: str = "qwen"
    min_pixels: int = 4 * 28 * 28
    max_pixels: int = 16384 * 28 * 28
    image_factor: int = 28
    iou_type: str = "iou"  # "iou" or "giou" (mapped to [0, 1] as (giou + 1) / 2)
    iou_threshold: float = 0.5  # grounding acc: same box count and every matched IoU >= threshold
    # Recitation: recite_delta * BLEU(span, extra_info.knowledge); delta < 0 penalises copying the knowledge.
    recite_delta: float = 0.0
    recite_ngram: int = 4
    recite_smooth: str = "exp"  # sacrebleu smooth_method: "exp", "floor", "add-k", "none"
    recite_span: str = "think"  # "think" (the think block) or "response" (the whole response)
    recite_brevity_penalty: bool = False
    recite_requires_correct: bool = False
    recite_max_tokens: int = 1024  # longer reasoning is cut (bounds the cost of adversarial input)

    def __post_init__(self) -> None:
        _check(self.think_tag and self.answer_tag and self.think_tag != self.answer_tag, "think_tag/answer_tag")
        _check(self.ordinal_reward in ("mfrs", "exact"), "ordinal_reward")
        _check(self.mfrs_shape in ("table", "exp", "gaussian", "linear"), "mfrs_shape")
        table = self.mfrs_table
        _check(
            len(table) >= 1
            and table[0] == 1.0
            and all(0.0 <= v <= 1.0 for v in table)
            and all(a > b for a, b in zip(table, table[1:], strict=False)),
            "mfrs_table (must start at 1 and strictly decrease within [0, 1])",
        )
        _check(self.mfrs_gamma is None or (math.isfinite(self.mfrs_gamma) and self.mfrs_gamma > 0), "mfrs_gamma")
        _check(self.multilabel_reward in ("f1", "jaccard", "exact"), "multilabel_reward")
        _check(self.box_format is None or self.box_format in BOX_FORMATS, "box_format")
        _check(self.abs_frame in ("qwen", "stored"), "abs_frame")
        _check(0 < self.min_pixels <= self.max_pixels and self.image_factor > 0, "min_pixels/max_pixels/image_factor")
        _check(self.iou_type in ("iou", "giou"), "iou_type")
        _check(0.0 <= self.iou_threshold <= 1.0, "iou_threshold")
        _check(1 <= self.recite_ngram <= 8, "recite_ngram")
        _check(self.recite_smooth in ("exp", "floor", "add-k", "none"), "recite_smooth")
        _check(self.recite_span in ("think", "response"), "recite_span")
        _check(self.recite_max_tokens > 0, "recite_max_tokens")
        for name in ("format_weight", "acc_weight", "recite_delta"):
            _check(math.isfinite(getattr(self, name)), name)

    def score_bounds(self) -> tuple[float, float]:
        """Range of ``score`` for our rows: every component lies in [0, 1], each weight may be negative."""
        weights = (self.format_weight, self.acc_weight, self.recite_delta)
        return sum(min(0.0, w) for w in weights), sum(max(0.0, w) for w in weights)


def _check(ok: Any, what: str) -> None:
    if not ok:
        raise ValueError(f"reward_fns: invalid reward kwarg {what}")


_FIELD_TYPES = {f.name: f.type for f in fields(RewardConfig)}
_WARNED_UNKNOWN: set[str] = set()
_CACHE: dict[tuple, tuple[RewardConfig, list]] = {}


def reward_config(kwargs: Mapping[str, Any]) -> RewardConfig:
    """The validated ``RewardConfig`` for these kwargs, cached: verl passes the same values on every call.

    Plain values are keyed by value; other containers (verl's OmegaConf ``ListConfig``/``DictConfig``, which are
    slow to iterate and never mutated) by identity, kept alive in the cache so an id cannot be reused.
    """
    key = tuple((k, _freeze(v)) for k, v in kwargs.items())
    entry = _CACHE.get(key)
    if entry is None:
        if len(_CACHE) > 256:
            _CACHE.clear()
        entry = _CACHE[key] = (_build(kwargs), list(kwargs.values()))
    return entry[0]


def _freeze(value: Any) -> Any:
    if isinstance(value, (str, bytes, int, float, type(None))):
        return value
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple((k, _freeze(v)) for k, v in value.items())
    return ("id", id(value))


def _build(kwargs: Mapping[str, Any]) -> RewardConfig:
    values: dict[str, Any] = {}
    for name, raw in kwargs.items():
        if name in VERL_CALL_KWARGS:
            continue
        kind = _FIELD_TYPES.get(name)
        if kind is None:
            if name not in _WARNED_UNKNOWN:
                _WARNED_UNKNOWN.add(name)
                logger.warning("reward_fns: ignoring unknown reward kwarg %r", name)
            continue
        values[name] = _coerce(name, kind, raw)
    return RewardConfig(**values)


def _coerce(name: str, kind: str, raw: Any) -> Any:
    try:
        if raw is None and "None" in kind:
            return None
        if kind == "bool":
            if not isinstance(raw, (bool, int)) or raw not in (0, 1):
                raise TypeError
            return bool(raw)
        if kind == "int":
            if isinstance(raw, bool) or int(raw) != raw:
                raise TypeError
            return int(raw)
        if kind.startswith("float"):
            if isinstance(raw, bool):
                raise TypeError
            return float(raw)
        if kind.startswith("tuple"):
            if isinstance(raw, (str, bytes)) or not isinstance(raw, Sequence):
                raise TypeError
            return tuple(float(v) for v in raw)
        if not isinstance(raw, str):
            raise TypeError
        return raw.strip().strip("<>/") if name.endswith("_tag") else raw
    except (TypeError, ValueError):
        raise ValueError(f"reward_fns: invalid reward kwarg {name}={raw!r} (expected {kind})") from None
