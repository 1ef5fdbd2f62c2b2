"""Every paper row trains classification for the V-RFT baseline's budget (steps and images drawn), in every
hardware preset and on every dataset: a row differs from the baseline in its own component only.

The localization rows' train files hold the grounding rows too, so verl's run length (rows // batch x epochs) would
give them another classification budget (a fixed 100-step stage gave BreastMNIST on 8 GPUs 5 classification steps
against the baseline's 60). The presets are composed with Hydra; the localization rows' run is then walked step by
step as verl's trainer walks it (a drop_last dataloader over the real ``MedCurriculumSampler``, fed back after each
step, until ``trainer.total_training_steps`` or ``trainer.total_epochs`` ends it), counting the classification
steps and rows drawn.

Row counts: MedMNIST v3 ``INFO`` (BreastMNIST 546 train, RetinaMNIST 1080 train); BUSI has 780 images, all of
them in BreastMNIST (546/78/156), so after ``--exclude`` of BreastMNIST's val/test 546 remain, of which the
grounding converter's 70 % train split keeps 382; for RetinaMNIST all 780 stay, 546 in train.

Mutation checked: the stage written as a fixed ``until_step: 100`` again (the old block) fails every localization
combination; ``plan_budget`` returning verl's ``(grounding + classification rows) // batch * epochs`` fails too.
"""

from __future__ import annotations

import numpy as np
import pytest
from fixtures_data import paper_epochs, preset_options
from fixtures_perception import compose_med_config, preset_overrides

TRAIN_ROWS = {"breastmnist": (546, 2), "retinamnist": (1080, 5)}  # train rows, classes
GROUNDING_ROWS = {"breastmnist": 382, "retinamnist": 546}  # BUSI train rows left after --exclude
EPOCHS = paper_epochs()  # trainer.total_epochs of the paper rows (examples/common.sh: paper_row)
ROWS = [e for e in preset_options("experiment") if e != "vqa"]


def _composed(experiment: str, hardware: str, dataset: str):
    config = compose_med_config(*preset_overrides(experiment, "qwen2_5_vl_3b", hardware))
    config.med.dataset = dataset
    config.trainer.total_epochs = EPOCHS
    return config


def _walk(config, grounding_rows: int, classification_rows: int, classes: int) -> tuple[int, int, int]:
    """(classification steps, classification rows drawn, grounding steps) of the run as verl's loop drives it."""
    from omegaconf import OmegaConf

    from verl_med_plugin.med_settings import SamplerSettings
    from verl_med_plugin.sampler import MedCurriculumSampler

    batch = int(config.data.train_batch_size)
    if not config.med.sampler.enable:  # verl's RandomSampler over the classification rows, drop_last
        steps = config.trainer.total_training_steps or classification_rows // batch * config.trainer.total_epochs
        return steps, steps * batch, 0
    class_ids = np.concatenate([np.zeros(grounding_rows), 1 + np.arange(classification_rows) % classes])
    keys = ["busi:grounding", *(f"cls:{c}" for c in range(classes))]
    sampler = MedCurriculumSampler(
        class_ids.astype(np.int64),
        keys,
        np.array([True] + [False] * classes),
        SamplerSettings.from_config(OmegaConf.select(config, "med.sampler")),
        batch,
    )
    total = config.trainer.total_training_steps or len(sampler) // batch * config.trainer.total_epochs
    cls_steps = cls_rows = grounding_steps = step = 0
    for _ in range(config.trainer.total_epochs):
        indices = iter(sampler)  # lazily, as the dataloader pulls it: a batch is drawn after the last update
        for _ in range(len(sampler) // batch):
            drawn = np.fromiter(indices, dtype=np.int64, count=batch)
            step += 1
            is_cls = drawn >= grounding_rows
            cls_rows += int(is_cls.sum())
            cls_steps += int(is_cls.all())
            grounding_steps += int((~is_cls).all())
            ones = np.ones(batch)
            sampler.update(drawn, ones, np.arange(batch), ones)
            if step >= total:
                return cls_steps, cls_rows, grounding_steps
    return cls_steps, cls_rows, grounding_steps


@pytest.mark.parametrize("hardware", preset_options("hardware"))
@pytest.mark.parametrize("dataset", sorted(TRAIN_ROWS))
def test_every_row_keeps_the_baseline_classification_budget(hardware, dataset, monkeypatch):
    from verl_med_plugin.budget import apply_budget, baseline_steps

    monkeypatch.setenv("NNODES", "2")
    rows, classes = TRAIN_ROWS[dataset]
    baseline = _composed("vrft_baseline", hardware, dataset)
    assert apply_budget(baseline, GROUNDING_ROWS[dataset], rows) is None  # verl's own formula: nothing to set
    expected_steps = baseline_steps(rows, int(baseline.data.train_batch_size), EPOCHS)
    assert _walk(baseline, 0, rows, classes) == (expected_steps, expected_steps * baseline.data.train_batch_size, 0)
    for row in ROWS:
        config = _composed(row, hardware, dataset)
        grounding = GROUNDING_ROWS[dataset] if config.med.sampler.enable else 0
        apply_budget(config, grounding, rows)
        cls_steps, cls_rows, grounding_steps = _walk(config, grounding, rows, classes)
        assert (row, cls_steps, cls_rows) == (row, expected_steps, expected_steps * baseline.data.train_batch_size)
        if grounding:  # the stage: 5 passes over the grounding rows, whatever the batch
            batch = int(config.data.train_batch_size)
            assert grounding_steps == -(-5 * grounding // batch), row
            assert grounding_steps * batch >= 5 * grounding > (grounding_steps - 1) * batch


def test_a_user_set_run_length_is_kept():
    from verl_med_plugin.budget import apply_budget

    config = _composed("localization", "8gpu", "breastmnist")
    config.trainer.total_training_steps = 7
    assert apply_budget(config, 382, 546) is None
    assert config.trainer.total_training_steps == 7
