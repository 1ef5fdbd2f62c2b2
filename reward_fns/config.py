"""Reward settings read from verl's ``reward.custom_reward_function.reward_kwargs``.

verl merges ``dict(reward_kwargs)`` into every ``compute_score`` call, so nested values arrive as OmegaConf
``ListConfig``/``DictConfig``. ``RewardConfig`` is their OmegaConf structured schema (types and Hydra's conversions,
``reward_fns.settings``); ranges and cross-field rules are checked here. Settings are validated once per distinct
kwargs and cached; an invalid setting raises ``ValueError`` at the first call (a configuration error must stop the
run, unlike bad data, which only ever scores 0).
"""

from __future__ import annotations

import itertools
import logging
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from reward_fns.settings import merge_structured
from reward_fns.task_type import TASK_TYPES  # noqa: F401  (re-exported: the vocabulary callers import from here)

logger = logging.getLogger(__name__)

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
    # "required": a think block before the answer (every paper row); "forbidden": the answer block alone, and a think
    # tag anywhere voids format and answer (the no-think control row, whose prompt asks for the answer only).
    think: str = "required"
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
    # Multilabel task term: "balanced" (mean of per-label sensitivity and specificity), "f1" (set F1), "jaccard" or
    # "exact" (exact set match).
    multilabel_reward: str = "balanced"
    # Open (free-text) VQA task term: "recall" (recall x min(1, reference tokens / answer tokens), i.e.
    # min(precision, recall): the open-question recall the VQA-RAD / SLAKE / PathVQA papers report, length-penalised
    # so listing candidates never pays in expectation), "f1" (SQuAD token F1) or "exact" (normalised exact match).
    open_reward: str = "recall"
    # An open answer with more than this many times the reference's tokens is padding: task term 0.
    open_max_length_ratio: float = 3.0
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
    # Recitation: recite_delta * BLEU(span, knowledge lines as references); delta < 0 penalises copying them.
    recite_delta: float = 0.0
    recite_ngram: int = 4
    recite_smooth: str = "exp"  # sacrebleu smooth_method: "exp", "floor", "add-k", "none"
    recite_span: str = "think"  # "think" (the think block) or "response" (the whole response)
    # BLEU's brevity penalty (closest knowledge line); off = n-gram precision, which a one-word think maximises.
    recite_brevity_penalty: bool = True
    recite_requires_correct: bool = False
    recite_max_tokens: int = 1024  # longer reasoning is cut (bounds the cost of adversarial input)
    # References: "per_line" (each knowledge line, plus the whole card: a verbatim class line scores about 1) or
    # "whole_card" (the paper's literal reading, one BLEU against the whole card: a copied line pays the brevity
    # penalty against the card's length and scores about 0).
    recite_mode: str = "per_line"
    # Zoom tool (multi-turn, ``compute_zoom_score``): + zoom_iou_weight * IoU of the first zoom box with the row's
    # lesion box (0 without a call or without a lesion box; compute_score ignores it).
    zoom_iou_weight: float = 0.0

    def __post_init__(self) -> None:
        """Every setting within its meaningful range (``SETTING_BOUNDS``), then the cross-field rules; one error
        lists every bad setting with the range it must lie in."""
        if isinstance(self.mfrs_table, list):  # OmegaConf.to_object gives a tuple field as a list
            object.__setattr__(self, "mfrs_table", tuple(self.mfrs_table))
        bad = [
            f"{name}={getattr(self, name)!r} (expected {expected})"
            for name, (ok, expected) in SETTING_BOUNDS.items()
            if hasattr(self, name) and not _safe(ok, getattr(self, name))
        ]
        if self.think_tag == self.answer_tag:
            bad.append(f"think_tag/answer_tag={self.think_tag!r} (expected two different tags)")
        if self.think == "forbidden" and self.think_prefilled is True:
            bad.append("think=forbidden with think_prefilled=true (expected no think block the template opens)")
        if not bad and self.min_pixels > self.max_pixels:
            bad.append(f"min_pixels={self.min_pixels} > max_pixels={self.max_pixels} (expected min <= max)")
        if bad:
            raise ValueError("reward_fns: invalid reward kwarg " + "; ".join(bad))

    def score_bounds(self) -> tuple[float, float]:
        """Range of ``score`` for our rows: every component lies in [0, 1], each weight may be negative."""
        weights = (self.format_weight, self.acc_weight, self.recite_delta, self.zoom_iou_weight)
        return sum(min(0.0, w) for w in weights), sum(max(0.0, w) for w in weights)


def _safe(ok: Callable[[Any], bool], value: Any) -> bool:
    try:
        return bool(ok(value))
    except (TypeError, ValueError, OverflowError):
        return False


def _number_in(low: float, high: float, low_open: bool = False) -> Callable[[Any], bool]:
    """A finite number in [low, high] (or (low, high]); NaN and inf fail every comparison or the finite test."""
    return lambda v: (
        not isinstance(v, bool)
        and isinstance(v, (int, float))
        and math.isfinite(v)
        and (low < v if low_open else low <= v)
        and v <= high
    )


def _one_of(*choices: Any) -> Callable[[Any], bool]:
    return lambda v: v in choices


def _mfrs_table_ok(table: Any) -> bool:
    """At least two entries: the last is the floor of every farther grade, so ``[1]`` would credit any grade."""
    return (
        len(table) >= 2
        and table[0] == 1.0
        and all(0.0 <= v <= 1.0 for v in table)
        and all(a > b for a, b in itertools.pairwise(table))
    )


_TAG = re.compile(r"[A-Za-z][A-Za-z0-9_.:-]{0,31}")


def _tag_ok(value: Any) -> bool:
    """A tag name (a str the pattern matches whole); a named helper so the bounds table stays typed."""
    return isinstance(value, str) and _TAG.fullmatch(value) is not None


MAX_WEIGHT = 100.0  # |weight| above this makes one term drown the others; surely a typo
MAX_PIXELS_BOUND = 1 << 31  # a 46k x 46k image; far beyond any VLM processor

# Setting -> (check, the meaningful range as told to the user). The single place bounds live: a test checks that
# every RewardConfig field has an entry.
SETTING_BOUNDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "think_tag": (_tag_ok, "a tag name: a letter, then up to 31 letters, digits, _ . : -"),
    "answer_tag": (_tag_ok, "a tag name: a letter, then up to 31 letters, digits, _ . : -"),
    "think_prefilled": (_one_of(True, False), "true or false"),
    "think": (_one_of("required", "forbidden"), "required or forbidden"),
    "format_weight": (_number_in(-MAX_WEIGHT, MAX_WEIGHT), f"a finite number in [-{MAX_WEIGHT:g}, {MAX_WEIGHT:g}]"),
    "acc_weight": (_number_in(0.0, MAX_WEIGHT), f"a finite number in [0, {MAX_WEIGHT:g}]"),
    "acc_requires_format": (_one_of(True, False), "true or false"),
    "ordinal_reward": (_one_of("mfrs", "exact"), "mfrs or exact"),
    "mfrs_shape": (_one_of("table", "exp", "gaussian", "linear"), "table, exp, gaussian or linear"),
    "mfrs_table": (_mfrs_table_ok, "a list of 2 or more starting at 1 and strictly decreasing within [0, 1]"),
    "mfrs_gamma": (lambda v: v is None or _number_in(0.0, 100.0, low_open=True)(v), "null or a number in (0, 100]"),
    "multilabel_reward": (_one_of("balanced", "f1", "jaccard", "exact"), "balanced, f1, jaccard or exact"),
    "open_reward": (_one_of("recall", "f1", "exact"), "recall, f1 or exact"),
    "open_max_length_ratio": (_number_in(1.0, 100.0), "a number in [1, 100]: below 1 a correct answer is padding"),
    "box_format": (_one_of(None, *BOX_FORMATS), f"null or one of {', '.join(BOX_FORMATS)}"),
    "abs_frame": (_one_of("qwen", "stored"), "qwen or stored"),
    "min_pixels": (_number_in(1, MAX_PIXELS_BOUND), f"an integer in [1, {MAX_PIXELS_BOUND}]"),
    "max_pixels": (_number_in(1, MAX_PIXELS_BOUND), f"an integer in [1, {MAX_PIXELS_BOUND}]"),
    "image_factor": (_number_in(1, 1024), "an integer in [1, 1024] (28 for Qwen2.5-VL, 32 for Qwen3-VL)"),
    "iou_type": (_one_of("iou", "giou"), "iou or giou"),
    "iou_threshold": (_number_in(0.0, 1.0, low_open=True), "a number in (0, 1]: 0 credits non-overlapping boxes"),
    "recite_delta": (_number_in(-MAX_WEIGHT, MAX_WEIGHT), f"a finite number in [-{MAX_WEIGHT:g}, {MAX_WEIGHT:g}]"),
    "recite_ngram": (_number_in(1, 8), "an integer in [1, 8]"),
    "recite_smooth": (_one_of("exp", "floor", "add-k", "none"), "exp, floor, add-k or none"),
    "recite_span": (_one_of("think", "response"), "think or response"),
    "recite_brevity_penalty": (_one_of(True, False), "true or false"),
    "recite_requires_correct": (_one_of(True, False), "true or false"),
    "recite_max_tokens": (_number_in(1, 1_000_000), "an integer in [1, 1000000]"),
    "recite_mode": (_one_of("per_line", "whole_card"), "per_line or whole_card"),
    "zoom_iou_weight": (_number_in(0.0, MAX_WEIGHT), f"a finite number in [0, {MAX_WEIGHT:g}]"),
}


_FIELDS = frozenset(f.name for f in fields(RewardConfig))
_EXPECTED = {name: expected for name, (_, expected) in SETTING_BOUNDS.items()}  # told on a value of the wrong type
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


def reward_kwargs_problems(kwargs: Any) -> list[str]:
    """What ``compute_score`` would refuse or silently drop in these reward kwargs: not a mapping, unknown keys (only
    logged by the reward), values outside a setting's range. The one validator of training's preflight and of the
    evaluation's ``--reward_kwargs``; it needs neither verl nor Hydra.

    >>> reward_kwargs_problems({"format_weight": 0.5})
    []
    >>> reward_kwargs_problems({"answer_tags": "final"})[0].startswith("unknown key(s) ['answer_tags']")
    True
    """
    if not isinstance(kwargs, Mapping):
        return [f"expected a mapping, got {kwargs!r}"]
    known = {f.name for f in fields(RewardConfig)}
    unknown = sorted(str(k) for k in set(kwargs) - known - VERL_CALL_KWARGS)
    problems = [f"unknown key(s) {unknown}; known (reward_fns/config.py): {sorted(known)}"] if unknown else []
    try:
        reward_config({k: v for k, v in kwargs.items() if k not in unknown})
    except (ValueError, TypeError) as err:
        problems.append(str(err))
    return problems


def _freeze(value: Any) -> Any:
    if isinstance(value, (str, bytes, int, float, type(None))):
        return value
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple((k, _freeze(v)) for k, v in value.items())
    return ("id", id(value))


def _build(kwargs: Mapping[str, Any]) -> RewardConfig:
    """Types by OmegaConf (``reward_fns.settings``), ranges by ``RewardConfig.__post_init__``; only the known keys
    are merged (verl's own call kwargs are skipped, unknown ones logged once)."""
    values: dict[str, Any] = {}
    for name, raw in kwargs.items():
        if name in VERL_CALL_KWARGS:
            continue
        if name not in _FIELDS:
            if name not in _WARNED_UNKNOWN:
                _WARNED_UNKNOWN.add(name)
                logger.warning("reward_fns: ignoring unknown reward kwarg %r", name)
            continue
        values[name] = raw.strip().strip("<>/") if name.endswith("_tag") and isinstance(raw, str) else raw
    return merge_structured(
        RewardConfig,
        values,
        expected=_EXPECTED,
        error=lambda message: ValueError(f"reward_fns: invalid reward kwarg {message}"),
    )
