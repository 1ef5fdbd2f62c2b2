"""Perception-driven policy refinement: a curriculum sampler for verl's train ``StatefulDataLoader``.

(a) Stages (``med.sampler.schedule``): the share of each batch drawn from localization (``grounding``) samples,
per training step, e.g. localization first, then classification, or a linear ramp between them.
(b) Re-weighting by what the policy still gets wrong: within a stage's pool a sample is drawn with probability
proportional to ``(1 - c) * max(floor, need(acc_sample)) + c * max(floor, need(acc_class))`` (EMAs of the rollouts'
accuracy; a prior until seen), ``need(p) = 1 - p`` (``weighting: error``, the default) or ``4 p (1 - p)``
(``learnability``: GRPO learns nothing from groups that are all right or all wrong), so solved samples and classes
fade but never starve, and no sample appears more than ``max_copies_per_batch`` times in a batch.

Cost per step is O(batch * log N + classes): per-sample weights live in a Fenwick tree of integers (exact sums,
so a resumed run draws exactly what an uninterrupted one would), classes are drawn first, then a sample within
the class. Pure numpy; verl is reached only through ``update`` (fed by ``verl_med_plugin.trainer``) and
``state_dict``/``load_state_dict`` (called by torchdata's ``StatefulDataLoader`` when verl checkpoints it).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from torch.utils.data import Sampler

from reward_fns.task_type import TaskType
from verl_med_plugin.advantage import zero_advantage_fraction
from verl_med_plugin.med_settings import SamplerSettings, SettingsError

WEIGHT_SCALE = 1 << 20  # weights are stored as integers in [floor * SCALE, SCALE]: exact sums, 1e-6 resolution
REJECTION_ROUNDS = 8  # redraws before the per-batch copy cap falls back to a uniform fill
STATE_VERSION = 1
METRIC_PREFIX = "med_sampler/"


class _FenwickTree:
    """Prefix sums of non-negative integers with vectorised point updates and searches, all O(log n)."""

    def __init__(self, weights: np.ndarray):
        self.n = len(weights)
        prefix = np.concatenate(([0], np.cumsum(weights, dtype=np.int64)))
        i = np.arange(1, self.n + 1)
        self.tree = np.zeros(self.n + 1, dtype=np.int64)
        self.tree[1:] = prefix[i] - prefix[i - (i & -i)]
        self._top = 1 << (self.n.bit_length() - 1) if self.n else 0

    def add(self, positions: np.ndarray, deltas: np.ndarray) -> None:
        i, deltas = positions.astype(np.int64) + 1, deltas.astype(np.int64)
        while i.size:
            np.add.at(self.tree, i, deltas)
            i = i + (i & -i)
            keep = i <= self.n
            i, deltas = i[keep], deltas[keep]

    def prefix(self, positions: np.ndarray) -> np.ndarray:
        """Sum of the weights before each position."""
        i, total = positions.astype(np.int64).copy(), np.zeros(len(positions), dtype=np.int64)
        while np.any(i > 0):
            total += self.tree[i]  # tree[0] == 0
            i -= i & -i
        return total

    def search(self, targets: np.ndarray) -> np.ndarray:
        """For each target t in [0, total), the position p with prefix(p) <= t < prefix(p + 1)."""
        position, rest, step = np.zeros(len(targets), dtype=np.int64), targets.astype(np.int64).copy(), self._top
        while step:
            nxt = position + step
            value = self.tree[np.minimum(nxt, self.n)]
            go = (nxt <= self.n) & (value <= rest)
            position[go] = nxt[go]
            rest[go] -= value[go]
            step >>= 1
        return position


def _first_copies(values: np.ndarray, k: int) -> np.ndarray:
    """``values`` without the (k+1)-th and later occurrences of any value, order kept."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    new_group = np.r_[True, ordered[1:] != ordered[:-1]]
    group_start = np.maximum.accumulate(np.where(new_group, np.arange(len(values)), 0))
    keep = np.empty(len(values), dtype=bool)
    keep[order] = np.arange(len(values)) - group_start < k
    return values[keep]


def sample_groups_from_dataframe(dataframe) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Per row of verl's (HF ``datasets``) dataframe: class id; and per class: key and whether it is a
    localization class. A class is ``dataset:label`` for single-label tasks, ``dataset:task_type`` otherwise."""
    import pyarrow as pa
    import pyarrow.compute as pc

    table = dataframe.select_columns(["extra_info", "reward_model"]).with_format("arrow")[:]
    info = table.column("extra_info").combine_chunks()
    missing = {"task_type", "dataset"} - {info.type.field(i).name for i in range(info.type.num_fields)}
    if missing:
        raise ValueError(f"med.sampler: rows lack extra_info.{'/'.join(sorted(missing))} (data_preprocess.schema)")
    task = pc.struct_field(info, "task_type").cast(pa.string())
    name = pc.struct_field(info, "dataset").cast(pa.string())
    truth = pc.struct_field(table.column("reward_model").combine_chunks(), "ground_truth").cast(pa.string())
    single_label = pc.is_in(task, value_set=pa.array([t.value for t in TaskType.single_label()]))
    keys = pc.binary_join_element_wise(name, pc.if_else(single_label, truth, task), ":")
    if keys.null_count:
        first = pc.index(pc.is_null(keys), True).as_py()
        raise ValueError(
            f"med.sampler: row {first} has no class: its extra_info.dataset, extra_info.task_type or (single-label "
            f"tasks) reward_model.ground_truth is null ({keys.null_count} of {len(keys)} rows; data_preprocess.schema)"
        )
    encoded = pc.dictionary_encode(keys)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    class_keys = encoded.dictionary.to_pylist()
    class_ids = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    grounding_rows = pc.equal(task, "grounding").to_numpy(zero_copy_only=False)
    class_is_grounding = np.zeros(len(class_keys), dtype=bool)
    class_is_grounding[class_ids[grounding_rows]] = True
    return class_ids, class_keys, class_is_grounding


class MedCurriculumSampler(Sampler[int]):
    """Yields ``len(dataset)`` indices per epoch, drawn batch by batch with the weights of that moment."""

    def __init__(
        self,
        class_ids: np.ndarray,
        class_keys: Sequence[str],
        class_is_grounding: np.ndarray,
        settings: SamplerSettings,
        batch_size: int,
    ):
        self.settings, self.batch_size = settings, int(batch_size)
        self.class_keys = list(class_keys)
        class_ids = np.asarray(class_ids, dtype=np.int64)
        self.num_samples = len(class_ids)
        is_grounding = np.asarray(class_is_grounding, dtype=bool)
        if is_grounding.shape != (len(self.class_keys),):
            raise ValueError(f"class_is_grounding: {is_grounding.shape[0]} entries for {len(self.class_keys)} classes")
        # Positions in the tree: sorted by (pool, class), so every pool and every class is one contiguous range.
        self._order = np.lexsort((class_ids, ~is_grounding[class_ids])).astype(np.int64)
        self._position = np.empty(self.num_samples, dtype=np.int64)
        self._position[self._order] = np.arange(self.num_samples)
        self._class_of = class_ids
        counts = np.bincount(class_ids, minlength=len(self.class_keys))
        order_of_classes = np.lexsort((np.arange(len(counts)), ~is_grounding))
        starts = np.zeros(len(counts), dtype=np.int64)
        starts[order_of_classes] = np.concatenate(([0], np.cumsum(counts[order_of_classes])[:-1]))
        self._class_start, self._class_size = starts, counts.astype(np.int64)
        present = counts > 0
        self._pools = {
            "grounding": np.flatnonzero(present & is_grounding),
            "classification": np.flatnonzero(present & ~is_grounding),
            None: np.flatnonzero(present),
        }
        for task in settings.schedule.needs_tasks():
            if self._pools[task].size == 0:
                raise SettingsError(f"med.sampler.schedule draws {task} samples, but the training data has none")
        # Stages sized in epochs of their pool become step counts here, where the pool sizes are known.
        pool_rows = {task: int(self._class_size[self._pools[task]].sum()) for task in ("grounding", "classification")}
        self.schedule = settings.schedule.in_steps(pool_rows, self.batch_size)
        self._fingerprint = zlib.crc32(class_ids.tobytes() + "\n".join(self.class_keys).encode())
        self._reset_state()

    @classmethod
    def from_dataset(cls, dataset, settings: SamplerSettings, batch_size: int) -> MedCurriculumSampler:
        """Reads each row's task type and class from the dataset's dataframe once (after verl's length filter)."""
        return cls(*sample_groups_from_dataframe(dataset.dataframe), settings=settings, batch_size=batch_size)

    def _reset_state(self) -> None:
        s = self.settings
        self._rng = np.random.default_rng(s.seed)
        self._acc = np.full(self.num_samples, s.unseen_accuracy)
        self._seen = np.zeros(self.num_samples, dtype=bool)
        self._class_acc = np.full(len(self.class_keys), s.unseen_accuracy)
        self._class_seen = np.zeros(len(self.class_keys), dtype=bool)
        self._weights = np.full(self.num_samples, self._to_int(s.need(s.unseen_accuracy)), dtype=np.int64)
        self._tree = _FenwickTree(self._weights)
        self._updates = 0  # finished training steps fed back; the next draw serves step _updates + 1
        self._yielded, self._block, self._block_pos, self._resume = 0, np.empty(0, dtype=np.int64), 0, False

    def _to_int(self, raw: np.ndarray | float) -> np.ndarray:
        return np.rint(np.maximum(self.settings.floor, raw) * WEIGHT_SCALE).astype(np.int64)

    # ------------------------------------------------------------------ iteration
    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[int]:
        resume, self._resume = self._resume, False
        if not resume:
            self._yielded, self._block, self._block_pos = 0, np.empty(0, dtype=np.int64), 0
        while self._yielded < self.num_samples:
            if self._block_pos == len(self._block):
                self._block = self.draw(min(self.batch_size, self.num_samples - self._yielded))
                self._block_pos = 0
            index = int(self._block[self._block_pos])
            self._block_pos += 1
            self._yielded += 1
            yield index

    def stage(self) -> tuple[int, float | None]:
        """Stage index and grounding share of the next training step."""
        return self.schedule.at(self._updates + 1)

    def draw(self, n: int) -> np.ndarray:
        """``n`` dataset indices for the next training step, split between the task pools per the schedule."""
        _, share = self.stage()
        if share is None:
            positions = self._draw_capped(self._pools[None], n)
        else:
            expected = share * n
            n_grounding = int(expected) + int(self._rng.random() < expected - int(expected))
            positions = np.concatenate(
                [
                    self._draw_capped(self._pools["grounding"], n_grounding),
                    self._draw_capped(self._pools["classification"], n - n_grounding),
                ]
            )
            positions = self._rng.permutation(positions)
        return self._order[positions]

    def _draw_capped(self, classes: np.ndarray, n: int) -> np.ndarray:
        if n == 0:
            return np.empty(0, dtype=np.int64)
        pool_size = int(self._class_size[classes].sum())
        k = max(self.settings.max_copies_per_batch, -(-n // pool_size))  # a tiny pool cannot honour the cap
        drawn = np.empty(0, dtype=np.int64)
        for _ in range(REJECTION_ROUNDS):
            drawn = _first_copies(np.concatenate([drawn, self._draw_weighted(classes, n - len(drawn))]), k)
            if len(drawn) == n:
                return drawn
        # Weights so peaked that redraws keep hitting capped samples: fill uniformly from the free slots.
        members = np.concatenate(
            [np.arange(self._class_start[c], self._class_start[c] + self._class_size[c]) for c in classes]
        )
        used = np.zeros(self.num_samples, dtype=np.int64)
        np.add.at(used, drawn, 1)
        slots = np.repeat(members, k - used[members])
        return np.concatenate([drawn, self._rng.choice(slots, n - len(drawn), replace=False)])

    def _class_masses(self, classes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per class: prefix of its range in the tree, its weight sum, and its draw mass."""
        c = self.settings.class_weight
        start = self._tree.prefix(self._class_start[classes])
        sums = self._tree.prefix(self._class_start[classes] + self._class_size[classes]) - start
        class_term = np.maximum(self.settings.floor, self.settings.need(self._class_acc[classes]))
        mass = (1 - c) * sums / WEIGHT_SCALE + c * self._class_size[classes] * class_term
        return start, sums, mass

    def _draw_weighted(self, classes: np.ndarray, n: int) -> np.ndarray:
        """``n`` tree positions, i.i.d. with probability proportional to a sample's weight (see module doc)."""
        start, sums, mass = self._class_masses(classes)
        cdf = np.cumsum(mass)
        pick = np.minimum(np.searchsorted(cdf, self._rng.random(n) * cdf[-1], side="right"), len(classes) - 1)
        by_sample = self._rng.random(n) * mass[pick] < (1 - self.settings.class_weight) * sums[pick] / WEIGHT_SCALE
        weighted = self._tree.search(start[pick] + self._rng.integers(0, sums[pick]))
        uniform = self._class_start[classes[pick]] + self._rng.integers(0, self._class_size[classes[pick]])
        return np.where(by_sample, weighted, uniform)

    # ------------------------------------------------------------------ feedback
    def update(
        self, sample_indices: np.ndarray, accuracy: np.ndarray, group_ids: np.ndarray, scores: np.ndarray
    ) -> dict[str, float]:
        """Feed back one finished step, one entry per trajectory: the dataset index it was prompted with, its
        accuracy in [0, 1], its GRPO group (prompt draw) and its reward. Returns ``med_sampler/*`` metrics."""
        s = self.settings
        sample_indices = _index_array("sample_indices", sample_indices, self.num_samples)
        n = len(sample_indices)
        accuracy = _number_array("accuracy", accuracy, n, low=0.0, high=1.0)
        scores = _number_array("scores", scores, n)
        group_ids = _group_array(group_ids, n)
        stage_index, share = self.stage()

        samples, inverse = np.unique(sample_indices, return_inverse=True)
        mean = np.bincount(inverse, accuracy) / np.bincount(inverse)
        seen = self._seen[samples]
        self._acc[samples] = np.where(seen, s.ema_decay * self._acc[samples] + (1 - s.ema_decay) * mean, mean)
        self._seen[samples] = True
        new_weights = self._to_int(s.need(self._acc[samples]))
        positions = self._position[samples]
        self._tree.add(positions, new_weights - self._weights[positions])
        self._weights[positions] = new_weights

        classes = self._class_of[sample_indices]
        count = np.bincount(classes, minlength=len(self.class_keys))
        touched = count > 0
        class_mean = np.bincount(classes, accuracy, minlength=len(self.class_keys))[touched] / count[touched]
        old = self._class_acc[touched]
        decay = s.class_ema_decay
        self._class_acc[touched] = np.where(
            self._class_seen[touched], decay * old + (1 - decay) * class_mean, class_mean
        )
        self._class_seen[touched] = True
        self._updates += 1

        metrics = {
            "stage": float(stage_index),
            "zero_adv_group_frac": zero_advantage_fraction(group_ids, scores),
            "batch_acc": float(accuracy.mean()) if n else 0.0,
            "seen_frac": float(self._seen.mean()),
        }
        if share is not None:
            metrics["grounding_share"] = float(share)
        metrics.update(self._class_metrics())
        return {METRIC_PREFIX + key: value for key, value in metrics.items()}

    def class_shares(self) -> dict[str, float]:
        """Each class's probability per draw within its stage pool, as the next batch will be drawn."""
        _, share = self.stage()
        result: dict[str, float] = {}
        pools = (
            [(self._pools[None], 1.0)]
            if share is None
            else [(self._pools["grounding"], share), (self._pools["classification"], 1.0 - share)]
        )
        for classes, pool_share in pools:
            if classes.size:
                _, _, mass = self._class_masses(classes)
                result.update(zip((self.class_keys[c] for c in classes), pool_share * mass / mass.sum(), strict=True))
        return result

    def _class_metrics(self) -> dict[str, float]:
        metrics = {f"class_share/{metric_name(key)}": float(v) for key, v in self.class_shares().items()}
        metrics.update(
            {
                f"class_acc/{metric_name(key)}": float(self._class_acc[c])
                for c, key in enumerate(self.class_keys)
                if self._class_seen[c]
            }
        )
        return metrics

    # ------------------------------------------------------------------ checkpointing
    def state_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "num_samples": self.num_samples,
            "fingerprint": self._fingerprint,
            "rng": self._rng.bit_generator.state,
            "updates": self._updates,
            "yielded": self._yielded,
            "block": self._block.copy(),
            "block_pos": self._block_pos,
            "acc": self._acc.copy(),
            "seen": self._seen.copy(),
            "weights": self._weights.copy(),
            "class_acc": self._class_acc.copy(),
            "class_seen": self._class_seen.copy(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a checkpointed state after checking every key (a damaged or foreign state fails here, naming
        the key, instead of steps later inside a draw)."""
        state = _check_state(state, self.num_samples, len(self.class_keys), self._fingerprint)
        rng = np.random.default_rng()
        try:
            rng.bit_generator.state = state["rng"]
        except (TypeError, ValueError, KeyError) as err:
            raise ValueError(f"sampler state key 'rng': not a numpy PCG64 generator state ({err})") from None
        self._rng = rng
        self._updates, self._yielded, self._block_pos = state["updates"], state["yielded"], state["block_pos"]
        self._block = state["block"]
        self._acc, self._seen = state["acc"], state["seen"]
        self._class_acc, self._class_seen = state["class_acc"], state["class_seen"]
        self._weights = state["weights"]
        self._tree = _FenwickTree(self._weights)  # integer sums: identical to the incrementally updated tree
        self._resume = True


def metric_name(class_key: str) -> str:
    """``retinamnist:no DR`` -> ``retinamnist.no_DR``: loggers (TensorBoard, MLflow, wandb panels) choke on spaces
    and colons in metric names."""
    return re.sub(r"[^A-Za-z0-9_.\-]+", "_", class_key.replace(":", "."))


# ---------------------------------------------------------------------- input and state validation
def _array(name: str, values: Any) -> np.ndarray:
    """``values`` as a 1-D numpy array; ``None`` entries, ragged or nested input are refused, naming ``name``."""
    try:
        array = np.asarray(values)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name}: not a 1-D array ({err})") from None
    if array.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {array.shape}")
    if array.dtype == object and any(v is None for v in array.tolist()):
        raise ValueError(f"{name}: contains None")
    return array


def _index_array(name: str, values: Any, upper: int) -> np.ndarray:
    """Integer positions in ``[0, upper)``: negative (would wrap), fractional (would truncate), boolean, text, NaN or
    out-of-range entries are refused rather than silently reinterpreted."""
    array = _array(name, values)
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    if array.dtype == bool or not (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating) or array.dtype == object
    ):
        raise ValueError(f"{name}: expected integer indices, got dtype {array.dtype}")
    try:
        as_float = array.astype(np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected integer indices, got {array.tolist()[:5]}") from None
    if array.dtype == object and any(isinstance(v, bool) for v in array.tolist()):
        raise ValueError(f"{name}: expected integer indices, got booleans")
    if array.dtype == object and any(isinstance(v, (str, bytes)) for v in array.tolist()):
        raise ValueError(f"{name}: expected integer indices, got text")  # as an array of strings is
    bad = ~np.isfinite(as_float) | (as_float != np.round(as_float)) | (as_float < 0) | (as_float >= upper)
    if bad.any():
        first = array.tolist()[int(np.flatnonzero(bad)[0])]
        raise ValueError(f"{name}: {int(bad.sum())} entries are not integers in [0, {upper}) (first: {first!r})")
    return array.astype(np.int64) if np.issubdtype(array.dtype, np.integer) else as_float.astype(np.int64)


def _number_array(name: str, values: Any, length: int, low: float = -np.inf, high: float = np.inf) -> np.ndarray:
    """Finite floats in ``[low, high]``, one per trajectory; NaN/None/inf would poison the EMAs and the tree."""
    array = _array(name, values)
    if len(array) != length:
        raise ValueError(f"{name}: {len(array)} entries, expected {length} (one per trajectory)")
    if array.dtype == bool or (array.dtype == object and any(isinstance(v, bool) for v in array.tolist())):
        raise ValueError(f"{name}: expected numbers, got booleans")
    try:
        array = array.astype(np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected numbers, got {array.tolist()[:5]}") from None
    bad = ~np.isfinite(array) | (array < low) | (array > high)
    if bad.any():
        first = array[int(np.flatnonzero(bad)[0])]
        raise ValueError(
            f"{name}: {int(bad.sum())} entries are not finite numbers in [{low}, {high}] (first: {first!r})"
        )
    return array


def _group_array(values: Any, length: int) -> np.ndarray:
    """GRPO group ids (any comparable, hashable ids of one type), one per trajectory."""
    array = _array("group_ids", values)
    if len(array) != length:
        raise ValueError(f"group_ids: {len(array)} entries, expected {length} (one per trajectory)")
    try:
        np.unique(array)
    except TypeError as err:
        raise ValueError(f"group_ids: ids of mixed or unorderable types ({err})") from None
    return array


_STATE_KEYS = (
    "version",
    "num_samples",
    "fingerprint",
    "rng",
    "updates",
    "yielded",
    "block",
    "block_pos",
    "acc",
    "seen",
    "weights",
    "class_acc",
    "class_seen",
)


def _state_int(state: Mapping[str, Any], key: str, low: int, high: float = np.inf) -> int:
    value = state[key]
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise ValueError(f"sampler state key {key!r}={value!r}: expected an integer in [{low}, {high}]")
    return int(value)


def _state_flags(state: Mapping[str, Any], key: str, length: int) -> np.ndarray:
    array = _array(f"sampler state key {key!r}", state[key])
    if len(array) != length or not (
        array.dtype == bool or (np.issubdtype(array.dtype, np.integer) and np.isin(array, (0, 1)).all())
    ):
        raise ValueError(f"sampler state key {key!r}: expected {length} booleans, got {len(array)} of {array.dtype}")
    return array.astype(bool)


def _check_state(state: Mapping[str, Any], num_samples: int, num_classes: int, fingerprint: int) -> dict[str, Any]:
    """Every key of a checkpointed sampler state, type-, length- and range-checked; the returned arrays are copies
    in the sampler's dtypes. Raises ``ValueError`` naming the key."""
    if not isinstance(state, Mapping):
        # ValueError, not TypeError: callers handle one error type for every damaged state
        raise ValueError(f"sampler state: expected a mapping, got {type(state).__name__}")  # noqa: TRY004
    if state.get("version") != STATE_VERSION:
        raise ValueError(f"sampler state version {state.get('version')!r}, expected {STATE_VERSION}")
    missing = [key for key in _STATE_KEYS if key not in state]
    unknown = sorted(str(key) for key in state if key not in _STATE_KEYS)
    if missing or unknown:
        raise ValueError(f"sampler state: missing key(s) {missing}, unknown key(s) {unknown}")
    checked: dict[str, Any] = {"version": STATE_VERSION, "rng": state["rng"]}
    checked["num_samples"] = _state_int(state, "num_samples", 0)
    checked["fingerprint"] = _state_int(state, "fingerprint", 0, 2**32 - 1)
    if (checked["num_samples"], checked["fingerprint"]) != (num_samples, fingerprint):
        raise ValueError(
            f"the checkpointed sampler saw {checked['num_samples']} rows, this dataset has {num_samples} "
            "(or other classes): resume with the same data.train_files and length filter; to start a new "
            "stage on new data, start from the stage-1 weights (actor_rollout_ref.model.path) instead"
        )
    checked["updates"] = _state_int(state, "updates", 0)
    checked["yielded"] = _state_int(state, "yielded", 0, num_samples)
    where = "sampler state key {!r}".format
    checked["block"] = _index_array(where("block"), state["block"], max(num_samples, 1)).copy()
    checked["block_pos"] = _state_int(state, "block_pos", 0, min(len(checked["block"]), checked["yielded"]))
    checked["acc"] = _number_array(where("acc"), state["acc"], num_samples, 0.0, 1.0).copy()
    checked["class_acc"] = _number_array(where("class_acc"), state["class_acc"], num_classes, 0.0, 1.0).copy()
    checked["seen"] = _state_flags(state, "seen", num_samples)
    checked["class_seen"] = _state_flags(state, "class_seen", num_classes)
    # at least 1: the floor keeps every weight >= 1 (a 0 would starve its sample, and a class of them break draws)
    weights = _number_array(where("weights"), state["weights"], num_samples, 1, WEIGHT_SCALE)
    if (weights != np.round(weights)).any():
        raise ValueError(f"sampler state key 'weights': expected integers in [1, {WEIGHT_SCALE}]")
    checked["weights"] = weights.astype(np.int64)
    return checked


def describe_first_indices(
    dataset, sampler_config: Mapping | None, batch_size: int, num_batches: int = 1
) -> dict[str, Any]:
    """The dry run's view of the sampler: its stage and the first ``num_batches`` batches it would draw (dataset
    indices, and per batch how many rows of each class). Does not touch the trainer's sampler."""
    sampler = MedCurriculumSampler.from_dataset(dataset, SamplerSettings.from_config(sampler_config), batch_size)
    stage_index, share = sampler.stage()
    batches = [sampler.draw(min(batch_size, len(sampler))) for _ in range(num_batches)]
    classes = [
        dict(zip(*np.unique([sampler.class_keys[c] for c in sampler._class_of[b]], return_counts=True), strict=True))
        for b in batches
    ]
    return {
        "stage": stage_index,
        "grounding_share": share,
        "first_indices": [b.tolist() for b in batches],
        "classes_per_batch": [{str(k): int(v) for k, v in c.items()} for c in classes],
        "class_shares": {k: round(float(v), 4) for k, v in sampler.class_shares().items()},
    }
