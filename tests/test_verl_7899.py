"""verl issue #7899: TransferQueue re-nests equal-length mrope ``position_ids`` along the wrong dimension, and the
actor update crashes; verl-med's fix (``verl_compat.install_verl_7899_fix``) ships in the product.

The round trip is verl's own: trajectories put the way ``agent_loop_tq.py`` puts them (one ``(4, L)`` tensor per
trajectory, ``list_of_dict_to_tensordict`` → ``kv_batch_put``), read back through TransferQueue's real client and
storage unit (``kv_batch_get``), then what verl's engine worker does with them (``maybe_fix_3d_position_ids``,
``index_select_tensor_dict``). MedMNIST prompts have one token length per dataset, so equal lengths are the
common case, not a corner.
"""

from __future__ import annotations

import pytest
import torch

from verl_med_plugin import register, verl_compat

LENGTH, ROWS, BATCH = 7, 4, 3
PARTITION = "verl_7899"


def mrope_position_ids(i: int, length: int = LENGTH) -> torch.Tensor:
    """A distinct ``(4, L)`` block per trajectory, so a mix-up of rows or trajectories shows."""
    return torch.arange(ROWS * length, dtype=torch.int64).reshape(ROWS, length) + 1000 * i


def worker_select(batch, order: list[int]) -> list[torch.Tensor]:
    """What verl's engine worker does with a batch read from TransferQueue before the actor update."""
    from verl.utils.tensordict_utils import index_select_tensor_dict, maybe_fix_3d_position_ids

    maybe_fix_3d_position_ids(batch)
    return list(index_select_tensor_dict(batch, order)["position_ids"].unbind())


@pytest.fixture(scope="module")
def transfer_queue(local_ray):
    tq = verl_compat.transfer_queue()
    tq.init({"backend": {"SimpleStorage": {"num_data_storage_units": 1}}})
    yield tq
    tq.close()


def put_trajectories(tq, lengths: list[int], prefix: str) -> list[str]:
    from verl.utils.tensordict_utils import list_of_dict_to_tensordict

    keys = [f"{prefix}_{i}" for i in range(len(lengths))]
    fields = [
        {"position_ids": mrope_position_ids(i, n), "other_3d": mrope_position_ids(i, n)} for i, n in enumerate(lengths)
    ]
    tq.kv_batch_put(keys=keys, partition_id=PARTITION, fields=list_of_dict_to_tensordict(fields), tags=[{}] * len(keys))
    return keys


def test_the_fix_is_installed_by_the_entry_point_in_a_verl_process():
    """``import verl`` loads the entry point, which wraps TransferQueue's client read on verl 0.9.x.
    Mutation checked: ``_install_upstream_fixes`` returning before ``_call_after_import_once`` fails this."""
    import verl  # noqa: F401 - loads the verl.plugins entry points
    from transfer_queue.client import AsyncTransferQueueClient

    assert verl_compat.verl_7899_affected(register.VERL_VERSION)
    assert getattr(AsyncTransferQueueClient.async_get_data, "verl_7899_fix", False)


def test_version_gate_covers_the_releases_with_the_bug_only():
    """Mutation checked: a gate of ``>=0.9.0`` (no upper bound) fails the 0.10 line."""
    assert all(verl_compat.verl_7899_affected(v) for v in ("0.9.0", "0.9.1", "0.9.2"))
    assert not any(verl_compat.verl_7899_affected(v) for v in ("0.8.0", "0.10.0", "0.10.0.dev0", None))


def worker_gets_every_trajectory(batch, order: list[int], length: int) -> bool:
    """Whether verl's worker selection returns each trajectory's own ``(4, L)`` block (False if it raises)."""
    try:
        selected = worker_select(batch, order)
    except RuntimeError:  # torch's unbind on the mis-nested tensor (message depends on L, see below)
        return False
    return len(selected) == len(order) and all(
        torch.equal(got, mrope_position_ids(i, length)) for got, i in zip(selected, order, strict=True)
    )


# Without the fix, verl's worker meets three outcomes depending on L (B = 3 trajectories of 4 rows): L < 12 torch's
# length check fails ("Expected cond to be True"); L = 12 = 4·B the split succeeds and every trajectory silently
# gets a (12, 4) slice of the wrong rows; L > 12 "split_with_sizes expects split_sizes to sum exactly to L ... got
# [4, 4, 4]" (the crash of the upstream report).
EQUAL_LENGTHS = [7, ROWS * BATCH, 40]


@pytest.mark.xdist_group("local_ray")
@pytest.mark.parametrize("length", EQUAL_LENGTHS)
def test_equal_length_mrope_batch_survives_the_transfer_queue_round_trip(transfer_queue, length):
    """With verl-med's fix every trajectory comes back whole and in order, and ragged in the sequence dim.
    Mutation checked: ``install_verl_7899_fix`` made a no-op fails this test for every length."""
    keys = put_trajectories(transfer_queue, [length] * BATCH, f"equal{length}")
    try:
        batch = transfer_queue.kv_batch_get(keys=keys, partition_id=PARTITION)
        assert batch["position_ids"]._ragged_idx == 2  # verl's convention for 2-D components
        # Narrow: only position_ids is re-nested; another 3-D field keeps what TransferQueue made of it.
        assert batch["other_3d"]._ragged_idx == 1
        assert worker_gets_every_trajectory(batch, [2, 0, 1], length)
    finally:
        transfer_queue.kv_clear(keys=keys, partition_id=PARTITION)


@pytest.mark.xdist_group("local_ray")
@pytest.mark.parametrize("length", EQUAL_LENGTHS)
def test_negative_control_without_the_fix_the_same_read_breaks(transfer_queue, monkeypatch, length):
    """The condition is real in the installed TransferQueue and verl: with the client's unwrapped read, the same
    batch reaches verl's worker ragged in dim 1 and the selection raises or returns wrong rows. If TransferQueue or
    verl fixes the bug, this test fails, and ``VERL_7899_AFFECTED`` should then exclude the fixed release."""
    from transfer_queue.client import AsyncTransferQueueClient

    original = AsyncTransferQueueClient.async_get_data.__wrapped__
    monkeypatch.setattr(AsyncTransferQueueClient, "async_get_data", original)
    keys = put_trajectories(transfer_queue, [length] * BATCH, f"control{length}")
    try:
        batch = transfer_queue.kv_batch_get(keys=keys, partition_id=PARTITION)
        assert batch["position_ids"]._ragged_idx == 1
        assert not worker_gets_every_trajectory(batch, [2, 0, 1], length)
    finally:
        transfer_queue.kv_clear(keys=keys, partition_id=PARTITION)


@pytest.mark.xdist_group("local_ray")
def test_unequal_lengths_pass_through_unchanged(transfer_queue):
    """The common ragged case was never broken and must not be touched."""
    lengths = [5, 9, 6]
    keys = put_trajectories(transfer_queue, lengths, "unequal")
    try:
        batch = transfer_queue.kv_batch_get(keys=keys, partition_id=PARTITION)
        selected = worker_select(batch, [1, 2])
        assert [
            torch.equal(got, mrope_position_ids(i, lengths[i])) for got, i in zip(selected, [1, 2], strict=True)
        ] == [True] * 2
        assert batch["position_ids"]._ragged_idx == 2
    finally:
        transfer_queue.kv_clear(keys=keys, partition_id=PARTITION)


def test_test_bed_no_longer_patches_torch():
    """The fix lives in the product only, so the e2e runs exercise it: the CPU test bed's import hooks (read from
    the checkout, whatever copy is installed) do not touch TransferQueue, and torch's function is verl's own here.
    """
    import importlib.util

    from fixtures_data import REPO

    path = REPO / "tests" / "cpu_testbed" / "verl_med_cpu_testbed" / "startup.py"
    spec = importlib.util.spec_from_file_location("checked_cpu_testbed_startup", path)
    startup = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(startup)
    assert "transfer_queue" not in startup.AFTER_IMPORT
    assert not any("nested" in name for name in vars(startup))
    assert not getattr(torch.nested.as_nested_tensor, "_verl_med_cpu", False)
