"""The localization row changes one thing against V-RFT, the stage: samples are drawn uniformly within a stage
(a fair comparison); error re-weighting is its own row (localization_curriculum)."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures_perception import compose_med_config
from omegaconf import OmegaConf

from verl_med_plugin.med_settings import SamplerSettings
from verl_med_plugin.sampler import MedCurriculumSampler


def sampler_of(experiment: str) -> MedCurriculumSampler:
    cfg = compose_med_config(f"med/experiment={experiment}")
    values = OmegaConf.to_container(cfg.med.sampler, resolve=True)
    values["schedule"] = [{"task": "all"}]  # the weights, not the stage, are under test here
    class_ids = np.repeat(np.arange(2), 6)
    return MedCurriculumSampler(
        class_ids, ["set:c0", "set:c1"], np.zeros(2, bool), SamplerSettings.from_config(values), 4
    )


@pytest.mark.parametrize(
    ("experiment", "uniform"), [("localization", True), ("full", True), ("localization_curriculum", False)]
)
def test_class_shares_after_rewards(experiment, uniform):
    sampler = sampler_of(experiment)
    rows = np.arange(sampler.num_samples)
    for _ in range(5):  # class 0 always solved, class 1 never
        accuracy = (sampler._class_of == 0).astype(float)
        sampler.update(rows, accuracy, rows, accuracy)
    share = sampler.class_shares()["set:c0"]
    assert share == pytest.approx(0.5) if uniform else share < 0.2
