"""``compute_score``: verl's custom reward function for VRFT-Aug (paper §2.5).

    score = format_weight * format + acc_weight * task_term + recite_delta * recite

task_term: acc (multiclass, binary, mcq, closed), MFRS (ordinal, ``ordinal_reward="mfrs"``) or acc (``"exact"``),
set F1 / Jaccard / exact match (multilabel), matched (G)IoU (grounding), length-penalised token recall / token F1 /
normalised exact match (open, ``open_reward``; ``acc`` is the exact match, ``token_f1`` the F1 whatever the mode).
Every component is in [0, 1], so ``score`` lies in [sum of negative weights, sum of positive weights]: [0, 1.1]
with the defaults (``RewardConfig.score_bounds``). Medical VQA rewards: docs/rewards.md.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from reward_fns.accuracy import TaskScores, UngradableRow, score_task
from reward_fns.config import VERL_CALL_KWARGS, RewardConfig, reward_config
from reward_fns.parsing import as_text, parse_with
from reward_fns.recitation import recitation_bleu, tokenize
from reward_fns.task_info import TaskInfo

logger = logging.getLogger(__name__)

DATA_SOURCE_PREFIX = "verl_med/"
# Set to 1 by the test suite (tests/conftest.py): an exception inside our scorers then propagates instead of
# scoring 0, so a crash cannot pass a test as a zero reward. Training leaves it unset: a reward must never raise.
STRICT_ENV = "VERL_MED_REWARD_STRICT"
# The keys of every returned dict, whatever the row (verl takes the key list from the first sample).
# ``recite`` (BLEU of the think against the knowledge, ``recite_mode``) is computed for every row with knowledge, also
# when ``recite_delta`` is 0, and ``think_len`` (words in the think block) for every row: verl averages each key
# into the step's metrics, so every run logs how long its reasoning is and how much of the card it recites.
SCORE_KEYS = (
    "score",
    "acc",
    "format",
    "pred",
    "parsed",
    "mfrs",
    "recite",
    "iou",
    "set_f1",
    "token_f1",
    "think_len",
)

_WARNED: set[tuple[str, str]] = set()


def compute_score(
    data_source: Any, solution_str: Any, ground_truth: Any, extra_info: Any = None, **kwargs: Any
) -> dict[str, float | str]:
    """Score one response; verl's ``reward.custom_reward_function`` (``name: compute_score``).

    Args:
        data_source: the row's ``data_source`` (ours start with ``verl_med/``).
        solution_str: the decoded response (anything else scores as an empty response).
        ground_truth: the row's ``reward_model.ground_truth`` (a label, a JSON list of labels or boxes, a text).
        extra_info: the row's ``extra_info`` (task type, labels, knowledge: docs/contracts.md).
        **kwargs: ``reward.custom_reward_function.reward_kwargs`` (``RewardConfig`` fields); verl's own call
            arguments are ignored.

    Returns:
        A dict with the keys of ``SCORE_KEYS``, floats except ``pred`` (the answer read, a string); ``score`` is
        the reward verl trains on.

    Example:
        >>> info = {"task_type": "multiclass", "labels": ["benign", "malignant"]}
        >>> response = "<think>round, smooth</think><answer>benign</answer>"
        >>> good = compute_score("verl_med/demo", response, "benign", info)
        >>> good["score"], good["acc"], good["format"], good["pred"]
        (1.1, 1.0, 1.0, 'benign')
        >>> hedge = compute_score("verl_med/demo", "<think>?</think><answer>benign or malignant</answer>", "benign",
        ...                       info)
        >>> hedge["acc"], hedge["pred"]
        (0.0, '')

    Rows are ours when ``data_source`` starts with "verl_med/" or ``extra_info.task_type`` is set; others go to
    verl's ``default_compute_score`` (imported only then) and are mapped onto the same keys. Never raises on data:
    a row of ours that cannot be graded (unknown task type, no labels, ground truth outside the labels) scores
    all zeros (its group then carries no gradient) and logs one warning per data source and reason. Invalid
    ``kwargs`` raise ``ValueError`` at the first call. An internal error (a bug) also scores 0 with its
    traceback logged, unless ``VERL_MED_REWARD_STRICT=1`` (``strict_mode``, set by the test suite) re-raises it.
    """
    cfg = reward_config(kwargs)
    info = TaskInfo.from_extra_info(extra_info)
    if not (isinstance(data_source, str) and data_source.startswith(DATA_SOURCE_PREFIX)) and not info.task_type:
        return _verl_default(data_source, solution_str, ground_truth, extra_info, kwargs)
    try:
        return _score(as_text(solution_str), ground_truth, info, cfg)
    except UngradableRow as err:
        _warn_once(data_source, str(err))
    except Exception as err:  # a bug must not kill a training run; the log says where
        if strict_mode():
            raise
        _warn_once(data_source, f"internal error {type(err).__name__}: {err}", exc_info=True)
    return _result(0.0, 0.0, 0.0, "")


def _score(text: str, ground_truth: Any, info: TaskInfo, cfg: RewardConfig) -> dict[str, float | str]:
    parsed = parse_with(text, info, cfg)
    task = score_task(parsed, ground_truth, info, cfg)
    fmt = float(parsed.format_ok)
    recite = 0.0
    if info.knowledge and (task.acc or not cfg.recite_requires_correct):
        span = parsed.think if cfg.recite_span == "think" else text
        recite = recitation_bleu(
            span,
            info.knowledge,
            order=cfg.recite_ngram,
            smooth=cfg.recite_smooth,
            brevity_penalty=cfg.recite_brevity_penalty,
            max_tokens=cfg.recite_max_tokens,
            mode=cfg.recite_mode,
        )
    score = cfg.format_weight * fmt + cfg.acc_weight * task.task_term + cfg.recite_delta * recite
    think_len = float(len(tokenize(parsed.think, cfg.recite_max_tokens)))
    return _result(score, task.acc, fmt, parsed.pred, task, recite, think_len)


def strict_mode() -> bool:
    """Whether internal scorer errors propagate (``VERL_MED_REWARD_STRICT=1``); read per error, never per call."""
    return os.environ.get(STRICT_ENV, "") == "1"


def _result(
    score: float,
    acc: float,
    fmt: float,
    pred: str,
    task: TaskScores | None = None,
    recite: float = 0.0,
    think_len: float = 0.0,
) -> dict[str, float | str]:
    """The returned dict; ``parsed`` is 1.0 when a valid answer was read (``pred`` non-empty)."""
    return {
        "score": float(score),
        "acc": float(acc),
        "format": float(fmt),
        "pred": pred,
        "parsed": float(bool(pred)),
        "mfrs": task.mfrs if task else 0.0,
        "recite": recite,
        "iou": task.iou if task else 0.0,
        "set_f1": task.set_f1 if task else 0.0,
        "token_f1": task.token_f1 if task else 0.0,
        "think_len": think_len,
    }


def _verl_default(
    data_source: Any, solution_str: Any, ground_truth: Any, extra_info: Any, kwargs: Mapping[str, Any]
) -> dict[str, float | str]:
    """verl's own scorer for rows we do not own (e.g. geo3k in a mixed run), mapped onto ``SCORE_KEYS``.

    A failure inside verl (an unknown data source raises NotImplementedError) scores 0 in every mode: it is not
    our code. A result we cannot map scores 0 too, or raises in strict mode (``strict_mode``)."""
    try:
        from verl.utils.reward_score import default_compute_score

        verl_kwargs = {k: v for k, v in kwargs.items() if k in VERL_CALL_KWARGS}
        result = default_compute_score(data_source, solution_str, ground_truth, extra_info, **verl_kwargs)
    except Exception as err:  # unknown data source (NotImplementedError) or a failure inside verl's scorer
        _warn_once(data_source, f"verl default_compute_score failed: {type(err).__name__}: {err}")
        return _result(0.0, 0.0, 0.0, "")
    try:
        return _verl_result(result)
    except Exception as err:
        if strict_mode():
            raise
        _warn_once(data_source, f"verl default_compute_score returned {type(result).__name__}: {type(err).__name__}")
        return _result(0.0, 0.0, 0.0, "")


def _verl_result(result: Any) -> dict[str, float | str]:
    """verl's result on our keys: a scalar is both ``score`` and ``acc`` (verl's convention for scalar rewards)."""
    if isinstance(result, Mapping):
        score = float(result["score"])
        acc = float(result.get("acc", score))
        fmt = float(result.get("format", 0.0))
        pred = result.get("pred")
        return _result(score, acc, fmt, pred if isinstance(pred, str) else "")
    score = float(result)
    return _result(score, score, 0.0, "")


def _warn_once(data_source: Any, reason: str, exc_info: bool = False) -> None:
    """One warning per (data source, reason); at most 1,000 distinct ones per process."""
    key = (str(data_source)[:200], reason[:200])
    if key not in _WARNED and len(_WARNED) < 1000:
        _WARNED.add(key)
        logger.warning("reward_fns: %s scores 0: %s", key[0], key[1], exc_info=exc_info)
