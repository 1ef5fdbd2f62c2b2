"""Multi-grade Fuzzy Reward Shaping (VRFT-Aug §2.4): partial credit by the distance between predicted and true grade.

The paper's exact kernel is unknown (its reviews quote 0.0625 and 1/10 for a two-grade miss), so the shape is a
setting: a table by distance (default 1, 0.25, 0.0625, 0, the "4^-d with a floor" reading) or a parametric decay
``exp(-g d)`` (``base^-d`` with g = ln base), ``exp(-g d^2)`` (``2^-d^2`` with g = ln 2) or ``max(0, 1 - g d)``.
Every shape is 1 at d = 0 and strictly decreasing until it reaches its floor.
"""

from __future__ import annotations

import math

_DEFAULT_GAMMA = {"exp": math.log(4.0), "gaussian": math.log(2.0)}


def mfrs_reward(
    distance: int,
    n_grades: int,
    shape: str = "table",
    table: tuple[float, ...] = (1.0, 0.25, 0.0625, 0.0),
    gamma: float | None = None,
) -> float:
    """Reward in [0, 1] for a prediction ``distance`` grades away from the truth on a scale of ``n_grades``."""
    d = abs(distance)
    if shape == "table":
        return table[min(d, len(table) - 1)]
    if shape == "linear":
        g = gamma if gamma is not None else 1.0 / max(1, n_grades - 1)
        return max(0.0, 1.0 - g * d)
    g = gamma if gamma is not None else _DEFAULT_GAMMA[shape]
    return math.exp(-g * (d * d if shape == "gaussian" else d))
