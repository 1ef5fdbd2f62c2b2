"""Exact resume: stop after step k, save the dataloader as verl does, load it into a new loader and sampler, and
every later batch and weight equals the uninterrupted run's."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset
from torchdata.stateful_dataloader import StatefulDataLoader

from verl_med_plugin import verl_compat
from verl_med_plugin.med_settings import SamplerSettings
from verl_med_plugin.sampler import MedCurriculumSampler

N_ROWS, BATCH, STEPS = 22, 4, 14  # 5 batches per epoch (2 rows dropped): the run crosses two epoch ends
CLASS_IDS = np.arange(N_ROWS) % 4  # class 3 is localization
SCHEDULE = [{"task": "grounding", "until_step": 3}, {"grounding_share": [0.5, 0.0], "until_step": 8}, {"task": "all"}]


class Rows(Dataset):
    def __len__(self):
        return N_ROWS

    def __getitem__(self, index):
        return {verl_compat.SAMPLER_INDEX_FIELD: index, "dummy_tensor": torch.tensor([0], dtype=torch.uint8)}


def new_loader(weighting: str = "error") -> tuple[StatefulDataLoader, MedCurriculumSampler]:
    """The loader verl builds (PPOTrainer._init_dataloader), with the sampler swapped in as MedSyncTrainer does."""
    settings = SamplerSettings.from_config({"seed": 11, "schedule": SCHEDULE, "floor": 0.2, "weighting": weighting})
    sampler = MedCurriculumSampler(
        CLASS_IDS, ["d:a", "d:b", "d:c", "d:grounding"], np.array([0, 0, 0, 1], bool), settings, BATCH
    )
    verl_loader = StatefulDataLoader(
        dataset=Rows(), batch_size=BATCH, num_workers=0, drop_last=True, collate_fn=verl_compat.dataset_collate_fn()
    )
    return verl_compat.train_dataloader_with_sampler(verl_loader, sampler), sampler


def fake_rewards(indices: np.ndarray, step: int) -> np.ndarray:
    return ((indices * 7 + step) % 5 < 2).astype(float)  # varies per sample and step


class Run:
    """verl's fetch loop (PPOTrainer._fetch_one_gen_batch: restart the iterator at epoch end) plus the update."""

    def __init__(self, loader, sampler):
        self.loader, self.sampler, self.iterator = loader, sampler, None

    def step(self, step: int) -> list[int]:
        try:
            if self.iterator is None:
                self.iterator = iter(self.loader)
            batch = next(self.iterator)
        except StopIteration:
            self.iterator = iter(self.loader)
            batch = next(self.iterator)
        indices = np.array(list(batch[verl_compat.SAMPLER_INDEX_FIELD]))
        groups = np.arange(len(indices))
        accuracy = fake_rewards(indices, step)
        self.sampler.update(indices, accuracy, groups, accuracy)
        return indices.tolist()


def comparable(state: dict) -> dict:
    return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in state.items()}


@pytest.fixture(scope="module")
def uninterrupted():
    run = Run(*new_loader())
    batches = [run.step(step) for step in range(1, STEPS + 1)]
    return batches, comparable(run.sampler.state_dict())


@pytest.mark.parametrize("k", [1, 3, 5, 7, 10])  # 5 and 10: saved exactly at an epoch end; 3 and 8: stage ends
def test_resume_after_step_k_is_exact(tmp_path, uninterrupted, k):
    expected_batches, expected_state = uninterrupted
    run = Run(*new_loader())
    for step in range(1, k + 1):
        assert run.step(step) == expected_batches[step - 1]
    torch.save(run.loader.state_dict(), tmp_path / "data.pt")  # PPOTrainer._save_checkpoint
    del run

    loader, sampler = new_loader()  # a new process: new loader, new sampler
    loader.load_state_dict(torch.load(tmp_path / "data.pt", weights_only=False))  # PPOTrainer._load_checkpoint
    resumed = Run(loader, sampler)
    assert [resumed.step(step) for step in range(k + 1, STEPS + 1)] == expected_batches[k:]
    assert comparable(sampler.state_dict()) == expected_state


def test_the_schedule_shows_in_the_batches(uninterrupted):
    batches, _ = uninterrupted
    localization = [sum(CLASS_IDS[i] == 3 for i in batch) for batch in batches]
    assert localization[:3] == [BATCH] * 3  # steps 1-3: localization only
    assert localization[7] == 0  # step 8: end of the ramp to classification


def test_state_of_another_dataset_is_refused(tmp_path):
    loader, _ = new_loader()
    next(iter(loader))
    state = loader.state_dict()
    settings = SamplerSettings.from_config({"schedule": SCHEDULE})
    other = MedCurriculumSampler(
        np.arange(N_ROWS + 1) % 4, ["d:a", "d:b", "d:c", "d:grounding"], np.array([0, 0, 0, 1], bool), settings, BATCH
    )
    with pytest.raises(ValueError, match=r"resume with the same data\.train_files"):
        other.load_state_dict(state["_sampler_iter_state"]["sampler_state"])


@pytest.mark.parametrize("k", [3, 5, 8])
def test_resume_is_exact_under_the_learnability_weighting(tmp_path, k):
    """Mutation checked: a weighting not applied on resume (the restored weights recomputed with ``1 - acc``)
    breaks the equality of the later batches."""
    run = Run(*new_loader("learnability"))
    expected = [run.step(step) for step in range(1, STEPS + 1)]
    expected_state = comparable(run.sampler.state_dict())
    error_run = Run(*new_loader("error"))
    assert expected != [error_run.step(step) for step in range(1, STEPS + 1)]  # the weighting changes the draws
    run = Run(*new_loader("learnability"))
    for step in range(1, k + 1):
        run.step(step)
    torch.save(run.loader.state_dict(), tmp_path / "data.pt")
    loader, sampler = new_loader("learnability")
    loader.load_state_dict(torch.load(tmp_path / "data.pt", weights_only=False))
    resumed = Run(loader, sampler)
    assert [resumed.step(step) for step in range(k + 1, STEPS + 1)] == expected[k:]
    assert comparable(sampler.state_dict()) == expected_state
