"""Specifications for the survivors of the sampler's mutation run (mutmut 3.8.1 over verl_med_plugin/sampler.py,
``bash scripts/mutation.sh sampler``; benchmarks/results/mutation.md).

Each test names, in its docstring, the mutant it kills (confirmed on the run's own mutants/ folder with
``MUTANT_UNDER_TEST=<name>``: the test fails; unmutated it passes).
"""

from __future__ import annotations

import re

import datasets
import pytest

from verl_med_plugin.sampler import sample_groups_from_dataframe


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
