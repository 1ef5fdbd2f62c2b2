"""Hostile input, curriculum sampler: ``update`` and ``load_state_dict`` refuse bad input with a ``ValueError`` that
names the argument or key, before anything is changed (a refused call leaves the sampler exactly as it was)."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verl_med_plugin.med_settings import SamplerSettings
from verl_med_plugin.sampler import WEIGHT_SCALE, MedCurriculumSampler

N_ROWS, BATCH = 12, 4


def make_sampler() -> MedCurriculumSampler:
    class_ids = np.arange(N_ROWS) % 3
    settings = SamplerSettings.from_config({"seed": 5, "floor": 0.2})
    return MedCurriculumSampler(class_ids, ["d:a", "d:b", "d:c"], np.zeros(3, bool), settings, BATCH)


def trained_sampler() -> MedCurriculumSampler:
    """A sampler mid-epoch, after two fed-back steps: every state key has a non-trivial value."""
    sampler = make_sampler()
    iterator = iter(sampler)
    for step in range(2):
        batch = np.array([next(iterator) for _ in range(BATCH)])
        accuracy = ((batch + step) % 2).astype(float)
        sampler.update(batch, accuracy, np.arange(BATCH), accuracy)
    next(iterator)  # one row into the third batch: block_pos inside the block
    return sampler


def plain(state: dict) -> dict:
    return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in state.items()}


GOOD = {
    "sample_indices": [0, 1, 2, 3],
    "accuracy": [1.0, 0.0, 0.5, 1.0],
    "group_ids": [0, 0, 1, 1],
    "scores": [1.0, 0.0, 0.5, 1.0],
}

# (argument, bad value, words the message must contain) -- one row per example of the issue, and its relatives.
BAD_UPDATES = [
    ("accuracy", [1.0, math.nan, 0.5, 1.0], "accuracy"),
    ("accuracy", [1.0, None, 0.5, 1.0], "accuracy: contains None"),
    ("accuracy", [1.0, math.inf, 0.5, 1.0], "accuracy"),
    ("accuracy", [1.0, 1.5, 0.5, 1.0], "accuracy"),
    ("accuracy", [1.0, -0.1, 0.5, 1.0], "accuracy"),
    ("accuracy", [1.0, 0.0], "accuracy: 2 entries, expected 4"),
    ("accuracy", ["1", "0", "x", "1"], "accuracy"),
    ("accuracy", [True, False, True, True], "accuracy"),
    ("sample_indices", [0, -1, 2, 3], "sample_indices"),
    ("sample_indices", [0, 1.5, 2, 3], "sample_indices"),
    ("sample_indices", [0, N_ROWS, 2, 3], "sample_indices"),
    ("sample_indices", [0, None, 2, 3], "sample_indices: contains None"),
    ("sample_indices", [0, math.nan, 2, 3], "sample_indices"),
    ("sample_indices", [True, False, True, True], "sample_indices"),
    ("sample_indices", [[0, 1], [2, 3]], "sample_indices: expected a 1-D array"),
    ("sample_indices", ["0", "1", "2", "3"], "sample_indices"),
    ("scores", [1.0, math.nan, 0.5, 1.0], "scores"),
    ("scores", [1.0], "scores: 1 entries, expected 4"),
    ("group_ids", [0, 0, 1], "group_ids: 3 entries, expected 4"),
    ("group_ids", [0, "a", None, 1], "group_ids"),
]


@pytest.mark.parametrize(("argument", "value", "message"), BAD_UPDATES)
def test_update_refuses_bad_input_naming_the_argument(argument, value, message):
    sampler = make_sampler()
    before = plain(sampler.state_dict())
    with pytest.raises(ValueError, match=message.replace("[", r"\[")):
        sampler.update(**{**GOOD, argument: value})
    assert plain(sampler.state_dict()) == before  # refused before any change


def test_update_accepts_integral_float_indices_and_an_empty_step():
    sampler = make_sampler()
    sampler.update(np.array([0.0, 1.0, 2.0, 3.0]), GOOD["accuracy"], GOOD["group_ids"], GOOD["scores"])
    assert sampler._seen[:4].all() and not sampler._seen[4:].any()
    metrics = sampler.update([], [], [], [])  # every trajectory was padding
    assert metrics["med_sampler/batch_acc"] == 0.0


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.one_of(st.integers(-5, N_ROWS + 5), st.floats(allow_nan=True, allow_infinity=True), st.none()),
        min_size=1,
        max_size=8,
    ),
    st.lists(
        st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.none(), st.integers(-2, 2)), min_size=1, max_size=8
    ),
)
def test_update_either_refuses_or_keeps_every_weight_valid(indices, accuracy):
    """Property: whatever ``update`` is fed, it raises ValueError or leaves weights, EMAs and the tree valid."""
    sampler = make_sampler()
    n = len(indices)
    try:
        sampler.update(indices, accuracy, list(range(n)), [0.0] * len(accuracy))
    except ValueError as err:
        assert any(name in str(err) for name in ("sample_indices", "accuracy", "scores", "group_ids"))
        return
    assert np.isfinite(sampler._acc).all() and ((sampler._acc >= 0) & (sampler._acc <= 1)).all()
    assert ((sampler._weights > 0) & (sampler._weights <= WEIGHT_SCALE)).all()
    assert sampler._tree.prefix(np.array([N_ROWS]))[0] == sampler._weights.sum()
    assert len(sampler.draw(BATCH)) == BATCH


def test_a_valid_state_round_trips():
    saved = trained_sampler()
    state = copy.deepcopy(saved.state_dict())
    restored = make_sampler()
    restored.load_state_dict(state)
    assert plain(restored.state_dict()) == plain(saved.state_dict())
    assert restored.draw(BATCH).tolist() == saved.draw(BATCH).tolist()


def corrupt(key: str, value):
    def apply(state: dict) -> dict:
        state = dict(state)
        if value is DELETE:
            del state[key]
        else:
            state[key] = value(state[key]) if callable(value) else value
        return state

    return apply


DELETE = object()


def _set(index: int, new):
    def apply(array):
        array = np.array(array)
        array[index] = new
        return array

    return apply


# (state key, corruption, words the message must contain) -- wrong lengths, negative weights, out-of-range
# positions and counters, wrong types, missing and unknown keys.
BAD_STATES = [
    ("acc", lambda a: a[:-1], "'acc': 11 entries, expected 12"),
    ("acc", _set(0, np.nan), "'acc'"),
    ("acc", _set(0, 2.0), "'acc'"),
    ("seen", lambda a: np.concatenate([a, [True]]), "'seen': expected 12 booleans"),
    ("seen", lambda a: a.astype(float) + 0.5, "'seen'"),
    ("weights", _set(3, -5), "'weights'"),
    ("weights", _set(3, WEIGHT_SCALE + 1), "'weights'"),
    ("weights", lambda a: a[:5], "'weights': 5 entries"),
    ("weights", lambda a: a.astype(float) + 0.5, "'weights'"),
    ("class_acc", lambda a: np.append(a, 0.5), "'class_acc': 4 entries, expected 3"),
    ("class_acc", _set(1, -1.0), "'class_acc'"),
    ("class_seen", lambda a: a[:1], "'class_seen'"),
    ("block", _set(0, N_ROWS), "'block'"),
    ("block", _set(0, -1), "'block'"),
    ("block", lambda a: np.asarray(a, float) + 0.5, "'block'"),
    ("block_pos", 99, "'block_pos'=99"),
    ("block_pos", -1, "'block_pos'=-1"),
    ("yielded", N_ROWS + 1, "'yielded'=13"),
    ("yielded", -3, "'yielded'=-3"),
    ("yielded", 2.5, "'yielded'=2.5"),
    ("updates", -1, "'updates'=-1"),
    ("updates", "7", "'updates'='7'"),
    ("updates", True, "'updates'=True"),
    ("rng", {"bit_generator": "PCG64", "state": "garbage"}, "'rng'"),
    ("rng", None, "'rng'"),
    ("num_samples", N_ROWS + 1, "saw 13 rows, this dataset has 12"),
    ("fingerprint", -1, "'fingerprint'=-1"),
    ("version", 99, "version 99"),
    ("acc", DELETE, "missing key(s) ['acc']"),
    ("surprise", 1, "unknown key(s) ['surprise']"),
]


@pytest.mark.parametrize(
    ("key", "change", "message"), BAD_STATES, ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(BAD_STATES)]
)
def test_load_state_dict_refuses_a_damaged_state_naming_the_key(key, change, message):
    state = corrupt(key, change)(copy.deepcopy(trained_sampler().state_dict()))
    target = make_sampler()
    before = plain(target.state_dict())
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        target.load_state_dict(state)
    assert plain(target.state_dict()) == before


def test_load_state_dict_refuses_a_non_mapping():
    with pytest.raises(ValueError, match="sampler state: expected a mapping"):
        make_sampler().load_state_dict([1, 2, 3])


ARRAY_KEYS = ("acc", "seen", "weights", "class_acc", "class_seen", "block")


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(ARRAY_KEYS),
    st.integers(0, 20),
    st.one_of(
        st.floats(allow_nan=True, allow_infinity=True), st.integers(-2 * WEIGHT_SCALE, 2 * WEIGHT_SCALE), st.booleans()
    ),
)
def test_any_loaded_state_is_refused_or_usable(key, position, value):
    """Property: after one entry of any state array is overwritten, loading either raises ValueError naming that
    key or yields a sampler that iterates, draws and updates without error."""
    state = copy.deepcopy(trained_sampler().state_dict())
    array = np.array(state[key], dtype=object)
    if position < len(array):
        array[position] = value
    state[key] = array
    sampler = make_sampler()
    try:
        sampler.load_state_dict(state)
    except ValueError as err:
        assert repr(key) in str(err)
        return
    rows = list(sampler)
    assert all(0 <= r < N_ROWS for r in rows)
    batch = sampler.draw(BATCH)
    sampler.update(batch, np.ones(BATCH), np.arange(BATCH), np.ones(BATCH))
    assert np.isfinite(sampler._acc).all()
