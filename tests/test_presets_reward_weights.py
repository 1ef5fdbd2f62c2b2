"""Every preset uses the same format and accuracy weights: no paper row differs from another by a
weight it is not about. The shared value is Visual-RFT's 1:1 (format reward + accuracy reward, equal weights),
documented in examples/README.md."""

from __future__ import annotations

import pytest
from fixtures_data import preset_options
from fixtures_perception import composed_preset, experiment_params

SHARED = {"format_weight": 1.0, "acc_weight": 1.0}
# Rows whose subject is a weight would be listed here with the weights they vary; none is today.
ABOUT_A_WEIGHT: dict[str, set[str]] = {}
MODELS = preset_options("model")
HARDWARE = preset_options("hardware")


def _weights(experiment: str | None, model: str, hardware: str) -> dict[str, float]:
    kwargs = composed_preset(experiment, model, hardware).reward.custom_reward_function.reward_kwargs
    from reward_fns.config import RewardConfig  # what compute_score uses for a key the preset leaves out

    return {key: float(kwargs.get(key, getattr(RewardConfig(), key))) for key in SHARED}


@pytest.mark.parametrize("experiment", experiment_params())  # shares the compositions of the other preset tests
def test_every_experiment_preset_uses_the_shared_weights(experiment):
    expected = {k: v for k, v in SHARED.items() if k not in ABOUT_A_WEIGHT.get(experiment, set())}
    # A model or hardware preset must not change a row's reward either.
    combos = [(model, HARDWARE[0]) for model in MODELS] + [(MODELS[0], hardware) for hardware in HARDWARE[1:]]
    for model, hardware in combos:
        weights = _weights(experiment, model, hardware)
        assert {k: weights[k] for k in expected} == expected, (experiment, model, hardware)


@pytest.mark.xdist_group("preset_default")
def test_the_default_run_uses_the_shared_weights():
    """The run without an experiment preset (examples/retinamnist_grpo_1gpu.sh) weighs format like every row."""
    assert _weights(None, MODELS[0], HARDWARE[0]) == SHARED
