"""Specification of a row's ``image_size`` as ``reward_fns.task_info`` reads it: two numbers, each in [1, 1e6],
booleans excluded. Names the mutants of ``task_info._size`` it kills (a run of the expensive task_info mutants
found its bounds untested)."""

from __future__ import annotations

import pytest

from reward_fns.task_info import TaskInfo


@pytest.mark.parametrize(
    ("size", "read"),
    [
        ([1, 1000000], (1.0, 1e6)),  # both ends of the range are sizes
        ([True, 224], None),  # a bool is no size
        ([0, 224], None),
        ([224, 1e6 + 1], None),
        ([float("nan"), 224], None),
    ],
    ids=["bounds", "bool", "zero", "above", "nan"],
)
def test_an_image_size_is_two_numbers_from_1_to_a_million(size, read):
    """Kills: the check's ``and`` made ``or`` at either link (a bool, 0 or any number would pass) and the low
    bound raised to 2."""
    assert TaskInfo.from_extra_info({"task_type": "grounding", "image_size": size}).image_size == read
