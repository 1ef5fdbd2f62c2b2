"""Specifications for the survivors of the sampler's mutation run (mutmut 3.8.1 over verl_med_plugin/sampler.py,
``bash scripts/mutation.sh sampler``; benchmarks/results/mutation.md).

Each test names, in its docstring, the mutant it kills (confirmed on the run's own mutants/ folder with
``MUTANT_UNDER_TEST=<name>``: the test fails; unmutated it passes).
"""

from __future__ import annotations

import re

import datasets
import numpy as np
import pytest
from scipy import stats

from verl_med_plugin.med_settings import SamplerSettings, SettingsError
from verl_med_plugin.sampler import MedCurriculumSampler, _first_copies, sample_groups_from_dataframe


@pytest.mark.parametrize(
    ("info", "missing"),
    [
        ({"dataset": "dermamnist"}, "task_type"),
        ({"task_type": "multiclass"}, "dataset"),
        ({"x": 1}, "dataset/task_type"),
    ],
)
def test_rows_without_the_fields_that_name_a_class_are_refused_by_name(info, missing):
    """A class is ``dataset:label`` (or ``dataset:task_type``): rows whose ``extra_info`` lacks either field are
    refused before training with one line naming the field(s), not an Arrow error from deep inside. Mutants
    killed: ``missing = {...} - {fields}`` replaced by None (the check skipped), the message set to None, its
    field list joined by "XX/XX" or built from None (a TypeError instead)."""
    rows = datasets.Dataset.from_list([{"extra_info": info, "reward_model": {"ground_truth": "melanoma"}}])
    message = f"med.sampler: rows lack extra_info.{missing} (data_preprocess.schema)"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        sample_groups_from_dataframe(rows)


# ---------------------------------------------------------------------- MedCurriculumSampler (half A of the run)
KEYS = ["d:a", "d:b", "d:grounding"]


def build(class_ids, keys=KEYS, grounding=(False, False, True), batch_size=4, **config):
    """A sampler over rows whose classes are ``class_ids`` (as MedSyncTrainer builds it from the dataframe)."""
    settings = SamplerSettings.from_config({"seed": 5, **config})
    return MedCurriculumSampler(np.asarray(class_ids), keys, np.asarray(grounding), settings, batch_size)


def comparable(state: dict) -> dict:
    """A sampler state with its arrays as (dtype, values): two checkpoints are equal only if torch.save would write
    the same arrays."""
    return {k: (str(v.dtype), v.tolist()) if isinstance(v, np.ndarray) else v for k, v in state.items()}


def test_every_batch_of_an_epoch_has_the_scheduled_split_and_cap():
    """The sampler yields ``len(dataset)`` indices per epoch, batch by batch, each batch drawn with the schedule's
    grounding share (``share * n`` rows, n the batch or the epoch's last, shorter remainder) and at most
    ``max_copies_per_batch`` copies of a row. verl cuts the yielded stream into batches of ``batch_size``, so each
    of them must be one draw. Mutants killed: ``_yielded = 1`` at the start of an epoch (a row short per epoch),
    the last draw sized ``num_samples + yielded`` (a full batch cut short: the remainder loses its split), and
    ``_block_pos += 2`` (a verl batch stitched from every other row of two draws)."""
    class_ids = np.array([0, 2, 1, 2, 0, 2, 1, 2, 0, 2])  # 5 classification rows, 5 grounding rows
    sampler = build(class_ids, batch_size=4, schedule=[{"grounding_share": 0.5}])
    for _ in range(8):
        epoch = np.array(list(sampler))
        assert len(epoch) == len(sampler) == 10
        batches = np.split(epoch, [4, 8])  # two full batches and the remainder of 2
        assert [int((class_ids[b] == 2).sum()) for b in batches] == [2, 2, 1]
        assert all(np.bincount(b).max() == 1 for b in batches)


def test_a_pool_smaller_than_the_batch_fills_the_batch_with_as_few_copies_as_possible():
    """A stage's pool can hold fewer rows than a batch (a small localization set in a ``task: grounding`` stage):
    the batch is still full, each row at most ceil(batch / pool) times, even when the weights are so peaked that
    the redraws keep hitting the heavy row (the uniform fill of free slots). Mutants killed: the raised cap computed
    as ``+(-n // pool)`` or ``-(+n // pool)`` (negative: the cap stays 1 and the fill has too few slots) and as a
    float ``n / pool`` (``np.repeat`` refuses float slot counts)."""
    sampler = build([0, 0, 2, 2], batch_size=8, floor=0.01, class_weight=0.0, schedule=[{"task": "grounding"}])
    rows = np.array([2, 3])
    sampler.update(rows, np.array([0.0, 1.0]), rows, np.zeros(2))  # row 3 solved: weight 0.01 against 1
    for _ in range(5):
        batch = sampler.draw(8)
        assert len(batch) == 8 and set(batch.tolist()) <= {2, 3}
        assert np.bincount(batch, minlength=4)[[2, 3]].tolist() == [4, 4]  # the cap, ceil(8 / 2), on both rows
    sampler = build([0, 0, 2, 2, 2], batch_size=5, floor=0.01, class_weight=0.0, schedule=[{"task": "grounding"}])
    rows = np.array([2, 3, 4])
    sampler.update(rows, np.array([0.0, 1.0, 1.0]), rows, np.zeros(3))
    for _ in range(5):
        counts = np.bincount(sampler.draw(5), minlength=5)
        assert counts.sum() == 5 and counts.max() <= 2 and counts[:2].sum() == 0  # ceil(5 / 3) = 2


def test_draws_follow_the_weights_down_to_the_floor_resolution():
    """Weights are integers at 2**-20 resolution, so ``floor: 1e-6`` leaves a solved sample a weight of one unit:
    it still gets its documented share of the draws (never starves), here with every sample solved so every weight
    is the floor and draws are uniform (chi-square test against the dense formula). Mutant killed: the position
    inside a class drawn from ``integers(1, sums)`` (a class's first sample loses its only unit: never drawn, and a
    one-sample class makes numpy refuse the empty range)."""
    sampler = build([0, 1, 1, 1], keys=KEYS[:2], grounding=(False, False), floor=1e-6, max_copies_per_batch=10**6)
    rows = np.arange(4)
    sampler.update(rows, np.ones(4), rows, np.ones(4))
    assert sampler.state_dict()["weights"].tolist() == [1, 1, 1, 1]
    counts = np.bincount(sampler.draw(20_000), minlength=4)
    assert counts.min() > 0
    assert stats.chisquare(counts, np.full(4, 5_000)).pvalue > 1e-4


def test_a_checkpoint_taken_before_the_first_batch_resumes_into_the_full_first_epoch():
    """verl may checkpoint the dataloader before the first step (``save_freq`` hit at step 0, or a crash right after
    building the trainer). Resuming from that state must give exactly the uninterrupted run's first epoch, and
    saving again at once must write the same state (dtypes included: a resumed run's checkpoints equal the
    uninterrupted run's). Mutants killed: a fresh sampler with ``_yielded = 1`` (the epoch a row short), a pending
    one-row block (``np.empty(1)``: an uninitialised index, refused or yielded), ``_block_pos = 1`` (refused by the
    state check), and a float64 empty block (the re-saved state differs from the uninterrupted one)."""
    class_ids = np.arange(11) % 3
    fresh = build(class_ids, batch_size=4)
    state = fresh.state_dict()
    resumed = build(class_ids, batch_size=4)
    resumed.load_state_dict(state)
    assert comparable(resumed.state_dict()) == comparable(state)
    assert list(resumed) == list(build(class_ids, batch_size=4))


def test_an_empty_training_set_gives_empty_epochs_and_checkpoints():
    """verl's length filter can drop every row of a small file: the sampler then has no rows, yields empty epochs and
    its checkpoint resumes (the state check admits ``num_samples = 0``), with the same state written again. Mutants
    killed: the Fenwick tree's top step computed for an empty tree (``1 << -1``: construction fails) and the
    epoch's reset block made float64 (a re-saved checkpoint differs in dtype)."""
    sampler = build(np.zeros(0, dtype=np.int64), keys=[], grounding=np.zeros(0, dtype=bool))
    assert len(sampler) == 0 and list(sampler) == [] and list(sampler) == []
    state = sampler.state_dict()
    resumed = build(np.zeros(0, dtype=np.int64), keys=[], grounding=np.zeros(0, dtype=bool))
    resumed.load_state_dict(state)
    assert list(resumed) == []
    assert comparable(resumed.state_dict()) == comparable(state)


def test_class_ids_and_flags_are_read_whatever_their_dtype():
    """Callers build the sampler from what they have: class ids as pandas category codes (int8) or Arrow indices
    (int32), localization flags as a 0/1 float column. The sampler must draw exactly as with int64 ids and boolean
    flags, and its checkpoint fingerprint must be the same (a run checkpointed by one resumes in the other).
    Mutants killed: the ids kept in their own dtype (another fingerprint: the checkpoint is refused as another
    dataset's) and the flags kept as floats (``~flags`` fails: no sampler)."""
    class_ids = np.arange(12) % 3
    reference = build(class_ids, schedule=[{"grounding_share": 0.25}])
    for ids, flags in [
        (class_ids.astype(np.int8), np.array([0.0, 0.0, 1.0])),
        (class_ids.astype(np.int32), [False, False, True]),
    ]:
        sampler = build(ids, grounding=flags, schedule=[{"grounding_share": 0.25}])
        sampler.load_state_dict(reference.state_dict())
        assert sampler.state_dict()["fingerprint"] == reference.state_dict()["fingerprint"]
        assert sampler.class_shares() == reference.class_shares()
    assert np.array_equal(sampler.draw(8), reference.draw(8))


def test_a_flag_per_class_is_required():
    """``class_is_grounding`` has one flag per class key; a list of another length (flags per row, or for another
    class list) is refused with one line naming both counts. Mutants killed: the message replaced by None, and the
    count read from ``shape[1]`` (an IndexError instead of the message)."""
    with pytest.raises(ValueError, match=r"^class_is_grounding: 2 entries for 3 classes$"):
        build([0, 1, 2], grounding=(False, True))


def test_declared_classes_without_rows_are_neither_drawn_nor_reported():
    """A class list may name classes absent from the training rows (a fixed label vocabulary; a split without one
    label). Such a class has no share of the draws and no ``class_share`` metric, and a stage that draws
    localization rows when the only localization class has none is refused up front, not with a division by zero
    in the first draw. Mutants killed: the class counts without ``minlength`` (a trailing empty class breaks
    construction), and every class counted as present (``counts >= 0``: the empty class reported with share 0,
    the empty localization pool accepted)."""
    sampler = build([0, 1, 0, 1, 0], keys=["d:a", "d:b", "d:unused"], grounding=(False, False, False))
    assert sampler.class_shares() == pytest.approx({"d:a": 0.6, "d:b": 0.4})
    assert set(sampler.draw(5).tolist()) == set(range(5))
    message = "med.sampler.schedule draws grounding samples, but the training data has none"
    with pytest.raises(SettingsError, match=f"^{re.escape(message)}$"):
        build([0, 1, 0, 1], schedule=[{"task": "grounding", "until_step": 2}, {"task": "all"}])


def test_a_stage_sized_in_epochs_lasts_ceil_epochs_times_pool_rows_over_batch_steps():
    """``{task: grounding, epochs: 2}``: the stage lasts ceil(2 * grounding rows / batch) steps, so its length
    follows the data and the preset's batch size (6 localization rows, batch 4: 3 steps), then the next stage
    starts. Mutants killed: the pool sizes or the batch size not passed to ``Schedule.in_steps`` (construction
    fails)."""
    class_ids = np.array([2, 0, 2, 1, 2, 0, 2, 1, 2, 2])
    sampler = build(class_ids, schedule=[{"task": "grounding", "epochs": 2}, {"task": "all"}])
    stages = []
    for _ in range(5):
        batch = sampler.draw(4)
        stages.append(sampler.stage()[0])
        sampler.update(batch, np.ones(4), batch, np.ones(4))
    assert stages == [0, 0, 0, 1, 1]


def test_the_fingerprint_of_a_version_1_checkpoint_is_stable():
    """A checkpoint written by this release (``STATE_VERSION = 1``) must resume after the plugin is reinstalled: the
    dataset fingerprint it stores (CRC32 of the int64 class ids and the newline-joined class keys) is pinned for a
    fixed dataset, here recorded from the released code. Mutant killed: the keys joined by another separator
    (every saved checkpoint refused as another dataset's)."""
    class_ids = [0, 1, 2, 0, 1, 2, 2]
    keys = ["dermamnist:melanoma", "dermamnist:nevus", "lesions:grounding"]
    sampler = build(class_ids, keys=keys, batch_size=2)
    assert sampler.state_dict()["fingerprint"] == 3714032052
    state = {**sampler.state_dict(), "fingerprint": 3714032052}
    build(class_ids, keys=keys, batch_size=2).load_state_dict(state)


def test_update_logs_the_batch_accuracy_the_seen_fraction_and_each_class_ema():
    """The ``med_sampler/*`` metrics verl logs per step: ``batch_acc`` (mean accuracy of the step's trajectories),
    ``seen_frac`` (share of rows seen so far) and, per class seen, ``class_acc`` — the class EMA (decay
    ``class_ema_decay``) of its per-step mean, starting at the first step's mean, for a class with one trajectory in
    the step too. Mutants killed: ``batch_acc`` always 0, the ``seen_frac`` key renamed, classes with a single
    trajectory not updated (``count > 1``), and the class EMA replaced by the latest mean."""
    sampler = build([0, 0, 1, 1], keys=KEYS[:2], grounding=(False, False), class_ema_decay=0.9)
    metrics = sampler.update(np.array([0, 2, 3]), np.array([1.0, 0.0, 0.5]), np.arange(3), np.zeros(3))
    assert metrics["med_sampler/batch_acc"] == pytest.approx(0.5)
    assert metrics["med_sampler/seen_frac"] == pytest.approx(0.75)
    assert metrics["med_sampler/class_acc/d.a"] == pytest.approx(1.0)  # one trajectory of class d:a
    assert metrics["med_sampler/class_acc/d.b"] == pytest.approx(0.25)
    metrics = sampler.update(np.array([0, 1]), np.array([0.0, 0.0]), np.arange(2), np.zeros(2))
    assert metrics["med_sampler/class_acc/d.a"] == pytest.approx(0.9 * 1.0 + 0.1 * 0.0)
    assert metrics["med_sampler/class_acc/d.b"] == pytest.approx(0.25)  # not in this step: unchanged
    assert metrics["med_sampler/seen_frac"] == pytest.approx(1.0)
    assert metrics["med_sampler/batch_acc"] == pytest.approx(0.0)


def test_class_shares_split_the_draw_between_the_stage_pools():
    """``class_shares`` (logged as ``class_share/*``): each class's probability per draw under the current stage, so
    with ``grounding_share: 0.25`` the localization classes share 0.25 and the classification classes 0.75, each
    pool split by its classes' documented masses (here all rows unseen: by class size). Mutants killed: the stage
    split ignored (one pool), and the classification pool given ``1 + share`` or ``2 - share``."""
    sampler = build([0, 0, 0, 1, 2, 2], schedule=[{"grounding_share": 0.25}])
    assert sampler.class_shares() == pytest.approx({"d:a": 0.75 * 3 / 4, "d:b": 0.75 / 4, "d:grounding": 0.25})


def test_sample_groups_flags_are_a_boolean_mask_over_the_class_keys():
    """``sample_groups_from_dataframe`` returns, per class, whether it is a localization class: callers select and
    negate with it (``keys[flags]``, ``~flags``), so it is a boolean array. Mutant killed: the flags built as
    float64 zeros and ones (``~`` and mask indexing fail)."""
    rows = [
        {"extra_info": {"task_type": "multiclass", "dataset": "derma"}, "reward_model": {"ground_truth": "nevus"}},
        {"extra_info": {"task_type": "grounding", "dataset": "lesions"}, "reward_model": {"ground_truth": "[1, 2]"}},
    ]
    class_ids, keys, is_grounding = sample_groups_from_dataframe(datasets.Dataset.from_list(rows))
    assert np.asarray(keys)[is_grounding].tolist() == ["lesions:grounding"]
    assert np.asarray(keys)[~is_grounding].tolist() == ["derma:nevus"]
    assert class_ids.tolist() == [0, 1]


def test_first_copies_keeps_the_earliest_copies_of_a_batch_sized_draw():
    """The per-batch cap keeps, of each row, its first ``k`` draws in draw order and drops the later ones, the
    batch keeping the order in which rows were drawn; checked on a batch of 200 draws (numpy sorts arrays of more
    than 16 entries with an unstable quicksort) against a plain Python reference. Mutants killed: the grouping sort
    without ``kind="stable"`` (a later copy kept in place of an earlier one: the batch reordered)."""
    values = np.random.default_rng(0).integers(0, 7, size=200)
    for k in (1, 2, 5):
        seen: dict[int, int] = {}
        expected = []
        for v in values.tolist():
            seen[v] = seen.get(v, 0) + 1
            if seen[v] <= k:
                expected.append(v)
        assert _first_copies(values, k).tolist() == expected


@pytest.mark.parametrize(
    ("row", "field"),
    [
        (
            {"extra_info": {"dataset": None, "task_type": "multiclass"}, "reward_model": {"ground_truth": "a"}},
            "dataset",
        ),
        ({"extra_info": {"dataset": "d", "task_type": None}, "reward_model": {"ground_truth": "a"}}, "task_type"),
        ({"extra_info": {"dataset": "d", "task_type": "multiclass"}, "reward_model": {"ground_truth": None}}, "truth"),
    ],
)
def test_a_row_whose_class_fields_are_null_is_refused_by_row(row, field):
    """A null ``dataset``, ``task_type`` or single-label ``ground_truth`` gives a row no class: it is refused with
    the row's position, before numpy would turn Arrow's null into class id -2**63 (an IndexError, or a wrong
    class). Makes ``zero_copy_only=True`` for the class ids (x_sample_groups_from_dataframe__mutmut_80, which
    differed only on nulls) equivalent."""
    good = {"extra_info": {"dataset": "d", "task_type": "multiclass"}, "reward_model": {"ground_truth": "b"}}
    rows = datasets.Dataset.from_list([good, good, row])
    message = (
        "med.sampler: row 2 has no class: its extra_info.dataset, extra_info.task_type or (single-label tasks) "
        "reward_model.ground_truth is null (1 of 3 rows; data_preprocess.schema)"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        sample_groups_from_dataframe(rows)
