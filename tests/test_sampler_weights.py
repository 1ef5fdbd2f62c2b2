"""Curriculum sampler: draw probabilities, re-weighting from rewards, floor, per-batch cap, stage schedule."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verl_med_plugin.med_settings import SamplerSettings, Schedule, SettingsError
from verl_med_plugin.sampler import (
    MedCurriculumSampler,
    _FenwickTree,
    _first_copies,
    describe_first_indices,
    sample_groups_from_dataframe,
)


def make_sampler(class_sizes=(4, 4, 4), grounding=None, batch_size=6, **overrides):
    grounding = grounding or (False,) * len(class_sizes)
    class_ids = np.repeat(np.arange(len(class_sizes)), class_sizes)
    np.random.default_rng(7).shuffle(class_ids)  # classes interleaved in the dataset, as in real files
    keys = [f"set:c{i}" for i in range(len(class_sizes))]
    config = {"seed": 3, **overrides}
    return MedCurriculumSampler(class_ids, keys, np.array(grounding), SamplerSettings.from_config(config), batch_size)


def expected_probabilities(sampler: MedCurriculumSampler) -> np.ndarray:
    """The documented weight, computed densely: (1-c)*max(floor, 1-acc_i) + c*max(floor, 1-acc_class)."""
    s = sampler.settings
    sample_term = np.maximum(s.floor, 1 - sampler._acc)
    class_term = np.maximum(s.floor, 1 - sampler._class_acc[sampler._class_of])
    weight = (1 - s.class_weight) * sample_term + s.class_weight * class_term
    return weight / weight.sum()


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 1000), min_size=1, max_size=60), st.data())
def test_fenwick_tree_matches_cumsum(weights, data):
    weights = np.array(weights, dtype=np.int64)
    tree = _FenwickTree(weights)
    positions = np.array(data.draw(st.lists(st.integers(0, len(weights) - 1), max_size=10)), dtype=np.int64)
    deltas = np.array([data.draw(st.integers(0, 50)) for _ in positions], dtype=np.int64)
    tree.add(positions, deltas)
    np.add.at(weights, positions, deltas)
    prefix = np.concatenate(([0], np.cumsum(weights)))
    assert np.array_equal(tree.prefix(np.arange(len(weights) + 1)), prefix)
    if prefix[-1]:
        targets = np.arange(prefix[-1])
        assert np.array_equal(tree.search(targets), np.searchsorted(prefix, targets, side="right") - 1)


def test_first_copies_keeps_order_and_caps():
    assert _first_copies(np.array([5, 3, 5, 5, 3, 1]), 1).tolist() == [5, 3, 1]
    assert _first_copies(np.array([5, 3, 5, 5, 3, 1]), 2).tolist() == [5, 3, 5, 3, 1]


def test_draws_follow_the_documented_weights():
    sampler = make_sampler(max_copies_per_batch=10**6)
    rows = np.arange(sampler.num_samples)
    accuracy = np.where(sampler._class_of == 0, 1.0, (rows % 3) / 2)  # class 0 solved, others mixed
    sampler.update(rows, accuracy, rows, accuracy)
    n = 200_000
    frequency = np.bincount(sampler.draw(n), minlength=sampler.num_samples) / n
    expected = expected_probabilities(sampler)
    assert np.abs(frequency - expected).max() < 4 * np.sqrt(expected.max() / n)


def test_learnability_weighting_draws_p_times_1_minus_p():
    """``weighting: learnability``: weights 4 p (1 - p) (floored), computed densely here; a sample the group always
    solves and one it never solves both fall to the floor, a half-solved one keeps the maximum.

    Mutation checked: ``need`` returning 1 - p for learnability fails the frequency check (the never-solved
    samples would get the most draws)."""
    sampler = make_sampler(max_copies_per_batch=10**6, weighting="learnability", class_weight=0.0, floor=0.05)
    rows = np.arange(sampler.num_samples)
    accuracy = (rows % 3) / 2  # 0, 0.5, 1
    sampler.update(rows, accuracy, rows, accuracy)
    weight = np.maximum(0.05, 4 * accuracy * (1 - accuracy))
    expected = weight / weight.sum()
    n = 200_000
    frequency = np.bincount(sampler.draw(n), minlength=sampler.num_samples) / n
    assert np.abs(frequency - expected).max() < 4 * np.sqrt(expected.max() / n)
    assert frequency[rows % 3 == 1].sum() > 0.9  # the half-solved third gets almost every draw
    with pytest.raises(SettingsError, match="weighting"):
        SamplerSettings.from_config({"weighting": "hardest"})


def test_uniform_weighting_ignores_accuracy():
    """``weighting: uniform``: every sample draws alike whatever its accuracy (the control arm of the weighting
    comparison, same sampler and batch cap).

    Mutation checked: ``need`` falling through to 1 - p for uniform fails (the solved class would fade)."""
    sampler = make_sampler(max_copies_per_batch=10**6, weighting="uniform", floor=0.05)
    rows = np.arange(sampler.num_samples)
    accuracy = np.where(sampler._class_of == 0, 1.0, 0.0)  # class 0 always solved, the others never
    sampler.update(rows, accuracy, rows, accuracy)
    n = 200_000
    frequency = np.bincount(sampler.draw(n), minlength=sampler.num_samples) / n
    expected = 1 / sampler.num_samples
    assert np.abs(frequency - expected).max() < 4 * np.sqrt(expected / n)


def test_solved_class_loses_weight_but_the_floor_holds():
    sampler = make_sampler(class_sizes=(6, 6), floor=0.1, class_weight=0.5)
    before = sampler.class_shares()["set:c0"]
    assert before == pytest.approx(0.5)
    for _ in range(5):  # class 0 always answered correctly, class 1 never
        rows = np.arange(sampler.num_samples)
        accuracy = (sampler._class_of == 0).astype(float)
        metrics = sampler.update(rows, accuracy, rows, accuracy)
    after = sampler.class_shares()["set:c0"]
    # Every weight of class 0 is at the floor, every weight of class 1 at the maximum (1).
    assert after == pytest.approx(6 * 0.1 / (6 * 0.1 + 6 * 1.0), rel=1e-5)
    assert metrics["med_sampler/class_share/set.c0"] == pytest.approx(after)
    assert metrics["med_sampler/class_acc/set.c0"] == 1.0 and metrics["med_sampler/class_acc/set.c1"] == 0.0
    probabilities = expected_probabilities(sampler)
    assert probabilities.min() == pytest.approx(0.1 / (6 * 0.1 + 6 * 1.0))  # nothing starves


def test_unseen_samples_use_the_prior_and_seen_ones_their_ema():
    sampler = make_sampler(class_sizes=(4,), ema_decay=0.5, unseen_accuracy=0.2)
    sampler.update(np.array([0, 0, 1]), np.array([1.0, 0.0, 1.0]), np.array([0, 0, 1]), np.zeros(3))
    sampler.update(np.array([0]), np.array([1.0]), np.array([0]), np.zeros(1))
    assert sampler._acc[[0, 1, 2]] == pytest.approx([0.75, 1.0, 0.2])  # 0.5 then EMA; 1.0; prior


def test_no_sample_exceeds_its_per_batch_cap():
    sampler = make_sampler(class_sizes=(3, 3), batch_size=6, floor=0.01, class_weight=0.0)
    rows = np.arange(6)
    sampler.update(rows, (rows != 0).astype(float), rows, np.zeros(6))  # row 0 carries almost all the weight
    batch = sampler.draw(6)
    assert sorted(batch.tolist()) == list(range(6))  # pool size == batch: a permutation, not six copies of row 0
    sampler = make_sampler(class_sizes=(10,), batch_size=8, floor=0.01, max_copies_per_batch=2)
    sampler.update(np.arange(10), (np.arange(10) != 4).astype(float), np.arange(10), np.zeros(10))
    for _ in range(20):
        assert np.bincount(sampler.draw(8)).max() <= 2


def test_stage_schedule_switches_from_localization_to_classification():
    schedule = [
        {"task": "grounding", "until_step": 2},
        {"grounding_share": [1.0, 0.0], "until_step": 6},
        {"task": "classification"},
    ]
    sampler = make_sampler(class_sizes=(8, 8, 8), grounding=(True, False, False), batch_size=8, schedule=schedule)
    grounding_per_step, stages = [], []
    for _ in range(8):
        batch = sampler.draw(8)
        grounding_per_step.append(int((sampler._class_of[batch] == 0).sum()))
        metrics = sampler.update(batch, np.ones(8), batch, np.ones(8))
        stages.append(metrics["med_sampler/stage"])
    # steps 1-2 localization only; 3-6 ramp 1 -> 0 (shares 0.75, 0.5, 0.25, 0); then classification only.
    assert grounding_per_step == [8, 8, 6, 4, 2, 0, 0, 0]
    assert stages == [0, 0, 1, 1, 1, 1, 2, 2]
    assert metrics["med_sampler/grounding_share"] == 0.0


def test_schedule_validation_names_the_problem():
    with pytest.raises(SettingsError, match="only the last stage may be open-ended"):
        Schedule.from_config([{"task": "grounding"}, {"task": "classification"}])
    with pytest.raises(SettingsError, match="ramp needs an until_step"):
        Schedule.from_config([{"grounding_share": [1, 0]}])
    with pytest.raises(SettingsError, match=r"until_step=5: expected an integer step > 10"):
        Schedule.from_config([{"task": "grounding", "until_step": 10}, {"task": "all", "until_step": 5}])
    with pytest.raises(SettingsError, match="floor"):
        SamplerSettings.from_config({"floor": 0})
    with pytest.raises(SettingsError, match="draws grounding samples, but the training data has none"):
        make_sampler(schedule=[{"task": "grounding", "until_step": 3}, {"task": "all"}])


def test_zero_advantage_groups_are_counted():
    sampler = make_sampler()
    rows = np.array([0, 0, 1, 1, 2, 2])
    groups = np.array([0, 0, 1, 1, 2, 2])
    scores = np.array([1.0, 1.0, 0.0, 1.0, 0.5, 0.5])  # groups 0 and 2 all-equal: zero advantage
    metrics = sampler.update(rows, scores, groups, scores)
    assert metrics["med_sampler/zero_adv_group_frac"] == pytest.approx(2 / 3)
    assert all(key.startswith("med_sampler/") for key in metrics)


def test_groups_are_read_from_the_filtered_dataframe():
    import datasets
    from fixtures_perception import classification_row, grounding_row

    rows = [classification_row(i) for i in range(5)] + [grounding_row(0)]
    # Filtered like verl's length filter does it: the dataframe gets an indices mapping.
    frame = datasets.Dataset.from_list(rows).filter(lambda row: row["extra_info"]["index"] != 1)
    class_ids, keys, is_grounding = sample_groups_from_dataframe(frame)
    assert [keys[c] for c in class_ids] == [
        "retinamnist:no DR",
        "retinamnist:moderate NPDR",
        "retinamnist:severe NPDR",
        "retinamnist:proliferative DR",
        "lesions:grounding",
    ]
    assert is_grounding.tolist() == [key == "lesions:grounding" for key in keys]

    class Frame:  # what describe_first_indices needs from verl's dataset
        dataframe = frame

    preview = describe_first_indices(
        Frame(), {"schedule": [{"task": "grounding", "until_step": 1}, {"task": "all"}]}, batch_size=1, num_batches=1
    )
    assert preview["stage"] == 0 and preview["first_indices"] == [[4]]
    assert preview["classes_per_batch"] == [{"lesions:grounding": 1}]


def test_metric_names_have_no_spaces_or_colons():
    from verl_med_plugin.sampler import metric_name

    assert metric_name("retinamnist:no DR") == "retinamnist.no_DR"
    assert metric_name("busi:grounding") == "busi.grounding"
