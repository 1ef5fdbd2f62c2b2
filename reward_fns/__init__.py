"""Pure reward functions for medical VLM fine-tuning (no verl import).

verl: ``reward.custom_reward_function.path=pkg://reward_fns``, ``name=compute_score``; settings go to
``reward.custom_reward_function.reward_kwargs`` (see ``reward_fns.config.RewardConfig``).
"""

from reward_fns.composite import SCORE_KEYS, compute_score
from reward_fns.config import RewardConfig
from reward_fns.parsing import ParsedAnswer, parse_answer
from reward_fns.reference import reference_answer, reference_response
from reward_fns.task_type import TaskType
from reward_fns.zoom import ZOOM_SCORE_KEYS, compute_zoom_score

__all__ = [
    "SCORE_KEYS",
    "ParsedAnswer",
    "RewardConfig",
    "ZOOM_SCORE_KEYS",
    "TaskType",
    "compute_score",
    "compute_zoom_score",
    "parse_answer",
    "reference_answer",
    "reference_response",
]
