"""Specifications for the survivors of the sampler's mutation run (mutmut 3.8.1 over verl_med_plugin/sampler.py,
``bash scripts/mutation.sh sampler``; benchmarks/results/mutation.md) in the validation of a loaded sampler state
(``_check_state`` and its helpers ``_array``, ``_index_array``, ``_number_array``, ``_group_array``,
``_state_int``, ``_state_flags``) and in the dry run's preview ``describe_first_indices``.

A state reaches ``load_state_dict`` from verl's ``data.pt`` (the ``StatefulDataLoader``'s checkpoint): a damaged
or foreign one is refused with ONE ``ValueError`` naming the key and the problem, every bound holds at its exact
edge (accepted at the bound, refused one past it), and an accepted one is restored in the sampler's dtypes so the
resumed run draws exactly what the uninterrupted one would.

Each test names, in its docstring, the mutants it kills (confirmed on the run's own mutants/ folder with
``MUTANT_UNDER_TEST=<name>``: the test fails; unmutated it passes).
"""

from __future__ import annotations

import copy
import re
from itertools import islice

import datasets
import numpy as np
import pytest

from verl_med_plugin.med_settings import SamplerSettings, SettingsError
from verl_med_plugin.preflight import DryRunPlan, print_plan
from verl_med_plugin.sampler import WEIGHT_SCALE, MedCurriculumSampler, describe_first_indices

N_ROWS, BATCH = 12, 4
KEYS = ["d:a", "d:b", "d:c"]
# the sampler's own dtypes for the restored arrays: int64 positions and weights (exact Fenwick sums)
DTYPES = {
    "block": np.int64,
    "acc": np.float64,
    "seen": bool,
    "weights": np.int64,
    "class_acc": np.float64,
    "class_seen": bool,
}


def make_sampler(n_rows: int = N_ROWS, **config) -> MedCurriculumSampler:
    settings = SamplerSettings.from_config({"seed": 5, "floor": 0.2, **config})
    return MedCurriculumSampler(np.arange(n_rows) % 3, KEYS, np.zeros(3, bool), settings, BATCH)


def trained_sampler(**config) -> MedCurriculumSampler:
    """Mid-epoch after two fed-back steps, one row into the third batch: every key has a non-trivial value."""
    sampler = make_sampler(**config)
    iterator = iter(sampler)
    for step in range(2):
        batch = np.array([next(iterator) for _ in range(BATCH)])
        accuracy = ((batch + step) % 2).astype(float)
        sampler.update(batch, accuracy, np.arange(BATCH), accuracy)
    next(iterator)
    return sampler


def plain(state: dict) -> dict:
    return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in state.items()}


def state_with(**changes) -> dict:
    state = copy.deepcopy(trained_sampler().state_dict())
    state.update(changes)
    return state


def refused(state, message: str, sampler: MedCurriculumSampler | None = None) -> None:
    """Loading ``state`` raises exactly ``message`` and leaves the sampler as it was."""
    sampler = sampler or make_sampler()
    before = plain(sampler.state_dict())
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        sampler.load_state_dict(state)
    assert plain(sampler.state_dict()) == before


def assert_restores(state: dict, saved: dict, **config) -> None:
    """``state`` (a converted or edge-case form of the checkpoint ``saved``) loads in the sampler's own dtypes, with
    the values of ``saved``, and the rest of the epoch plus the next draw are those of ``saved`` loaded as is."""
    reference, restored = make_sampler(**config), make_sampler(seed=99, **config)
    reference.load_state_dict(copy.deepcopy(saved))
    restored.load_state_dict(state)
    loaded = restored.state_dict()
    assert {key: loaded[key].dtype for key in DTYPES} == {key: np.dtype(t) for key, t in DTYPES.items()}
    assert plain(loaded) == plain(saved)
    assert list(restored) == list(reference)
    assert restored.draw(BATCH).tolist() == reference.draw(BATCH).tolist()


# ---------------------------------------------------------------------- counters and identity
def test_a_fresh_state_with_every_counter_at_zero_is_accepted():
    """A checkpoint saved before the first batch (verl saves at step 0 with ``save_freq``/a resumed-then-killed
    run) has ``updates``, ``yielded`` and ``block_pos`` at their lower bound 0 and an empty block: it loads and
    the run continues as the saved one. Mutants killed: ``_state_int``'s ``low <= value`` made ``low < value``
    (x__state_int__mutmut_6), the lower bound of ``updates``/``yielded``/``block_pos`` raised to 1
    (x__check_state__mutmut_81/95/131)."""
    saved = make_sampler()
    restored = make_sampler(seed=99)
    restored.load_state_dict(copy.deepcopy(saved.state_dict()))
    assert plain(restored.state_dict()) == plain(saved.state_dict())
    assert list(restored) == list(saved)


def test_an_empty_datasets_state_round_trips_with_num_samples_at_zero():
    """``num_samples`` is bounded below by 0, the size of an empty (fully length-filtered) dataset: its own state
    loads. Mutant killed: the bound raised to 1 (x__check_state__mutmut_38)."""
    saved = make_sampler(n_rows=0)
    restored = make_sampler(n_rows=0)
    restored.load_state_dict(copy.deepcopy(saved.state_dict()))
    assert plain(restored.state_dict()) == plain(saved.state_dict())
    assert list(restored) == []


MISMATCH = (
    "the checkpointed sampler saw {} rows, this dataset has 12 (or other classes): resume with the same "
    "data.train_files and length filter; to start a new stage on new data, start from the stage-1 weights "
    "(actor_rollout_ref.model.path) instead"
)


def test_a_checkpoint_of_an_empty_dataset_is_refused_as_another_dataset():
    """``num_samples=0`` is a valid count (accepted by the range check), so a 0-row checkpoint loaded into a
    12-row run gets the other-dataset message, not a range error. Mutant killed: the bound raised to 1
    (x__check_state__mutmut_38)."""
    refused(state_with(num_samples=0), MISMATCH.format(0))


@pytest.mark.parametrize("fingerprint", [0, 2**32 - 1])
def test_a_fingerprint_inside_the_crc32_range_but_not_this_datasets_is_another_dataset(fingerprint):
    """The fingerprint is a CRC-32: any integer in [0, 2**32 - 1] is well-formed, and one that is not this
    dataset's (same row count, other classes or order) gets the full other-dataset message telling what to do.
    Mutants killed: the lower bound raised to 1 (x__check_state__mutmut_52), the upper bound lowered to
    2**32 - 2 (..._57), the message's second and third lines changed (..._66/68/69)."""
    refused(state_with(fingerprint=fingerprint), MISMATCH.format(N_ROWS))


@pytest.mark.parametrize("fingerprint", [-1, 2**32])
def test_a_fingerprint_outside_the_crc32_range_is_refused_as_malformed(fingerprint):
    """One past either edge of [0, 2**32 - 1] is not a CRC-32 at all: a malformed key, named with its range.
    Mutants killed: the upper bound dropped (x__check_state__mutmut_49) or raised to 2**32 + 1, 3**32 - 1 or
    2**33 - 1 (..._53/55/56)."""
    refused(
        state_with(fingerprint=fingerprint),
        f"sampler state key 'fingerprint'={fingerprint!r}: expected an integer in [0, {2**32 - 1}]",
    )


def test_a_non_mapping_state_is_refused_naming_its_type():
    """Mutant killed: the message names ``type(None)`` ("NoneType") instead of the state's type
    (x__check_state__mutmut_3)."""
    refused([1, 2, 3], "sampler state: expected a mapping, got list")


def test_block_pos_is_bounded_by_the_rows_left_in_the_block_and_by_yielded():
    """``block_pos`` may equal ``min(len(block), yielded)`` (the block's last row handed out) but not exceed it."""
    saved = trained_sampler()
    state = copy.deepcopy(saved.state_dict())
    edge = min(len(state["block"]), state["yielded"])
    make_sampler().load_state_dict({**state, "block_pos": edge})
    refused(
        {**state, "block_pos": edge + 1},
        f"sampler state key 'block_pos'={edge + 1}: expected an integer in [0, {edge}]",
    )


# ---------------------------------------------------------------------- the block (dataset indices)
def test_block_entries_out_of_range_are_refused_showing_the_first():
    """Mutant killed: the first bad entry shown as None (x__index_array__mutmut_51)."""
    block = [3, 12, 5, 13]
    refused(
        state_with(block=np.array(block)),
        "sampler state key 'block': 2 entries are not integers in [0, 12) (first: 12)",
    )


def test_a_one_row_datasets_block_may_hold_only_row_zero():
    """For a 1-row dataset the only valid index is 0: ``[0]`` loads, ``[1]`` is refused. Mutant killed: the upper
    bound ``max(num_samples, 1)`` made ``max(num_samples, 2)`` (x__check_state__mutmut_117)."""
    state = copy.deepcopy(make_sampler(n_rows=1).state_dict())
    make_sampler(n_rows=1).load_state_dict({**state, "block": np.array([0])})
    refused(
        {**state, "block": np.array([1])},
        "sampler state key 'block': 1 entries are not integers in [0, 1) (first: 1)",
        make_sampler(n_rows=1),
    )


def test_a_ragged_block_is_refused_as_not_an_array():
    """Mutant killed: the message of ``_array``'s conversion failure replaced by None (x__array__mutmut_3)."""
    ragged = [[0, 1], [2]]
    with pytest.raises(ValueError) as numpy_error:
        np.asarray(ragged)
    refused(state_with(block=ragged), f"sampler state key 'block': not a 1-D array ({numpy_error.value})")


def test_a_block_of_non_numbers_is_refused_showing_its_first_five_entries():
    """Mutants killed: the message replaced by None (x__index_array__mutmut_34), six entries shown instead of
    five (..._35)."""
    block = np.array([0, 1, 2, 3, 4, 5, "x"], dtype=object)
    refused(state_with(block=block), "sampler state key 'block': expected integer indices, got [0, 1, 2, 3, 4]")


def test_booleans_among_the_block_are_refused():
    """True is not row 1. Mutant killed: the check for booleans in object arrays made ``dtype != object``
    (x__index_array__mutmut_37)."""
    block = np.array([0, True, 2, 3], dtype=object)
    refused(state_with(block=block), "sampler state key 'block': expected integer indices, got booleans")


def test_whole_numbers_stored_as_floats_are_restored_as_integers():
    """A block and weights saved as float32/float64 whole numbers (a converted checkpoint) load as int64, and the
    run resumes exactly. Mutants killed: float32 not recognised as floating (x__index_array__mutmut_27), the
    weights restored as float64 (x__check_state__mutmut_223)."""
    saved = trained_sampler().state_dict()
    state = copy.deepcopy(saved)
    state["block"] = state["block"].astype(np.float32)
    state["weights"] = state["weights"].astype(np.float64)
    assert_restores(state, saved)


def test_numbers_in_object_arrays_are_read_as_numbers():
    """A state whose numeric arrays hold plain Python numbers in object arrays (re-assembled from lists) loads
    in the sampler's dtypes, and the run resumes exactly. Mutants killed: every object array refused as
    "contains None" (x__array__mutmut_7/10), as "got booleans" by the index check (x__index_array__mutmut_36)
    or by the number check (x__number_array__mutmut_10)."""
    saved = trained_sampler().state_dict()
    state = copy.deepcopy(saved)
    for key in ("block", "acc", "weights", "class_acc"):
        state[key] = np.array(state[key].tolist(), dtype=object)
    assert_restores(state, saved)


def test_text_among_the_block_is_refused_as_an_array_of_strings_is():
    """Numbers spelt as text are not indices: ``["3"]`` as an object array (a state re-assembled from JSON) is
    refused like the same array of strings, instead of being read as row 3. Makes the integer path's
    ``or True`` mutant (x__index_array__mutmut_58, which failed with numpy's message on such arrays) equivalent."""
    for values in (["3", "1"], [b"3", b"1"]):
        refused(
            state_with(block=np.array(values, dtype=object)),
            "sampler state key 'block': expected integer indices, got text",
        )
    refused(
        state_with(block=np.array(["3", "1"])), "sampler state key 'block': expected integer indices, got dtype <U1"
    )


# ---------------------------------------------------------------------- accuracies and weights
def test_booleans_among_the_accuracies_are_refused():
    """Mutant killed: the check for booleans in object arrays made ``dtype != object``
    (x__number_array__mutmut_11)."""
    acc = np.array([True] + [0.5] * (N_ROWS - 1), dtype=object)
    refused(state_with(acc=acc), "sampler state key 'acc': expected numbers, got booleans")


def test_accuracies_that_are_not_numbers_are_refused_showing_the_first_five():
    """Mutant killed: six entries shown instead of five (x__number_array__mutmut_17)."""
    acc = np.array([0.0, 0.25, 0.5, 0.75, 1.0, 0.5, "x"] + [0.5] * (N_ROWS - 7), dtype=object)
    refused(state_with(acc=acc), "sampler state key 'acc': expected numbers, got [0.0, 0.25, 0.5, 0.75, 1.0]")


def test_an_accuracy_out_of_range_is_refused_showing_the_first():
    """Mutant killed: the first bad entry shown as None (x__number_array__mutmut_25)."""
    acc = np.full(N_ROWS, 0.5)
    acc[[4, 7]] = [1.5, -2.0]
    refused(
        state_with(acc=acc),
        f"sampler state key 'acc': 2 entries are not finite numbers in [0.0, 1.0] (first: {np.float64(1.5)!r})",
    )


def test_class_accuracies_are_accepted_at_0_and_1_and_refused_just_above_1():
    """Mutants killed: the upper bound dropped (x__check_state__mutmut_170) or raised to 2.0 (..._177)."""
    sampler = make_sampler()
    sampler.load_state_dict(state_with(class_acc=np.array([0.0, 1.0, 0.5])))
    assert sampler.state_dict()["class_acc"].tolist() == [0.0, 1.0, 0.5]
    above = np.nextafter(1.0, 2.0)
    refused(
        state_with(class_acc=np.array([0.5, above, 0.5])),
        f"sampler state key 'class_acc': 1 entries are not finite numbers in [0.0, 1.0] (first: {above!r})",
    )


def test_weights_are_accepted_at_1_and_at_the_scale_and_refused_one_past_either():
    """The smallest floor (1e-6) keeps a solved sample's weight at 1 (weights are kept to 2**-20), and WEIGHT_SCALE
    is that of a sample always wrong (``need = 1``): such a state resumes exactly. One past either edge is refused:
    a saved weight 0 would starve its sample and, for a whole class, end the draw with an error. Mutant killed:
    the lower bound changed (x__check_state__mutmut_216, which raised it from 0 to 1 before the floor fix)."""
    saved = trained_sampler(floor=1e-6).state_dict()
    assert saved["weights"].min() == 1 and saved["weights"].max() == WEIGHT_SCALE
    assert_restores(copy.deepcopy(saved), saved, floor=1e-6)
    for bad in (0, WEIGHT_SCALE + 1):
        weights = trained_sampler().state_dict()["weights"]
        weights[5] = bad
        refused(
            state_with(weights=weights),
            f"sampler state key 'weights': 1 entries are not finite numbers in [1, {WEIGHT_SCALE}] "
            f"(first: {np.float64(bad)!r})",
        )


def test_a_floor_below_the_weight_resolution_is_refused_and_the_smallest_one_never_starves():
    """A floor under 2**-20 rounded a solved sample's weight to 0: once a drawn class held only such samples,
    ``draw`` failed in numpy (``high <= 0``) in the middle of training. The settings refuse it by key, and at the
    smallest floor a class whose every sample is solved is still drawn from."""
    with pytest.raises(SettingsError, match=r"floor.*\[1e-6, 1\]"):
        SamplerSettings.from_config({"floor": 1e-7})
    settings = SamplerSettings.from_config({"seed": 3, "floor": 1e-6, "schedule": [{"task": "all"}]})
    sampler = MedCurriculumSampler(np.arange(8) % 2, ["d:a", "d:b"], np.zeros(2, bool), settings, 4)
    sampler.update(np.arange(8), np.ones(8), np.arange(8), np.ones(8))
    assert sampler.state_dict()["weights"].min() == 1
    assert len(sampler.draw(4)) == 4


# ---------------------------------------------------------------------- flags
def test_flags_saved_as_integers_0_and_1_are_restored_as_booleans():
    """``seen``/``class_seen`` as int 0/1 arrays (a converted checkpoint) load as booleans with the same values.
    Mutants killed: integer arrays not recognised (x__state_flags__mutmut_12/13/16/17), ``np.isin`` called
    without its test values (..._18/19) or with (1, 1) / (0, 2) (..._20/21), the flags restored as float64
    (..._23)."""
    saved = trained_sampler().state_dict()
    assert saved["seen"].any() and not saved["seen"].all() and saved["class_seen"].all()
    state = {**copy.deepcopy(saved), "seen": saved["seen"].astype(np.int64), "class_seen": np.ones(3, np.int8)}
    assert_restores(state, saved)


def test_integer_flags_other_than_0_and_1_are_refused():
    """Mutants killed: ``is integer and in {0, 1}`` made ``or`` (x__state_flags__mutmut_11), {0, 2} accepted
    (..._21)."""
    seen = np.zeros(N_ROWS, dtype=np.int64)
    seen[3] = 2
    refused(state_with(seen=seen), "sampler state key 'seen': expected 12 booleans, got 12 of int64")


def test_flags_with_none_are_refused_naming_the_key():
    """Mutant killed: ``_array`` given no name, so the message starts with "None" (x__state_flags__mutmut_2)."""
    seen = np.array([True, None] + [False] * (N_ROWS - 2), dtype=object)
    refused(state_with(seen=seen), "sampler state key 'seen': contains None")


# ---------------------------------------------------------------------- group ids fed back by update
GOOD = {"sample_indices": [0, 1, 2, 3], "accuracy": [1.0, 0.0, 0.5, 1.0], "scores": [1.0, 0.0, 0.5, 1.0]}


def test_group_ids_with_none_are_refused_naming_the_argument():
    """Mutant killed: ``_array`` given the name "XXgroup_idsXX" (x__group_array__mutmut_6)."""
    with pytest.raises(ValueError, match=f"^{re.escape('group_ids: contains None')}$"):
        make_sampler().update(group_ids=np.array([0, None, 1, 1], dtype=object), **GOOD)


def test_group_ids_of_mixed_types_are_refused():
    """Ids that cannot be ordered (an int among strings) cannot be grouped. Mutants killed: ``np.unique(None)``
    checked instead of the ids (x__group_array__mutmut_10), the message replaced by None (..._11)."""
    ids = np.array(["u1", 0, "u2", "u2"], dtype=object)
    with pytest.raises(TypeError) as numpy_error:
        np.unique(ids)
    message = f"group_ids: ids of mixed or unorderable types ({numpy_error.value})"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        make_sampler().update(group_ids=ids, **GOOD)


# ---------------------------------------------------------------------- the dry run's preview
def test_the_dry_runs_sampler_section_shows_the_first_batch_and_four_decimal_shares(capsys):
    """What ``verl_med_plugin.preflight`` prints under ``[sampler]`` (it calls ``describe_first_indices`` without
    ``num_batches``): the stage, its grounding share, ONE first batch -- exactly the one the trainer's fresh
    sampler yields first -- its rows per class, and each class's share of the next draw rounded to 4 decimals.
    Mutants killed: ``num_batches`` defaulting to 2 (x_describe_first_indices__mutmut_1), the keys
    ``grounding_share``/``class_shares`` renamed (..._31/32/39/40), the shares rounded to integers, to 5 decimals
    or replaced by 4 (..._42/43/44/46)."""
    rows = [("lesions", "grounding", "[1, 2, 3, 4]"), ("derm", "multiclass", "a"), ("derm", "multiclass", "b")]
    rows.append(("derm", "multiclass", "a"))
    frame = datasets.Dataset.from_list(
        [{"extra_info": {"dataset": d, "task_type": t}, "reward_model": {"ground_truth": g}} for d, t, g in rows]
    )

    class Rows:  # what describe_first_indices reads of verl's dataset
        dataframe = frame

    config = {"seed": 3, "schedule": [{"grounding_share": 0.5}]}
    trainer_sampler = MedCurriculumSampler.from_dataset(Rows(), SamplerSettings.from_config(config), 2)
    first = list(islice(iter(trainer_sampler), 2))
    classes = {rows[i][0] + ":" + (rows[i][1] if rows[i][1] == "grounding" else rows[i][2]) for i in first}
    assert classes == {"lesions:grounding", "derm:a"} or classes == {"lesions:grounding", "derm:b"}

    plan = DryRunPlan()
    plan.add("sampler", **describe_first_indices(Rows(), config, batch_size=2))
    print_plan(plan)
    counts = ", ".join(f"'{key}': 1" for key in sorted(classes))
    assert capsys.readouterr().out.splitlines()[1:] == [
        "[sampler]",
        "  stage: 0",
        "  grounding_share: 0.5",
        f"  first_indices: [{first}]",
        f"  classes_per_batch: [{{{counts}}}]",
        "  class_shares: {'lesions:grounding': 0.5, 'derm:a': 0.3333, 'derm:b': 0.1667}",
    ]


def test_fractional_weights_are_refused_naming_the_range():
    """Weights are integers (exact tree sums): a fractional one in range (a state edited or converted by hand) is
    refused with one line naming the key and the integer range. Mutant killed: that message set to None
    (x__check_state__mutmut_219)."""
    weights = trained_sampler().state_dict()["weights"].astype(np.float64)
    weights[2] += 0.5
    refused(state_with(weights=weights), f"sampler state key 'weights': expected integers in [1, {WEIGHT_SCALE}]")
