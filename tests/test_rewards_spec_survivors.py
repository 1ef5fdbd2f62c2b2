"""Specifications for the survivors of the second mutation run (mutmut 3.8.1 over reward_fns accuracy, boxes,
labels, parsing, vqa, recitation and the small modules; benchmarks/results/mutation.md).

Each test names, in its docstring, the mutant it kills (confirmed by re-running that mutant with
``MUTATION_RESUME=1 bash scripts/mutation.sh rewards <mutant>``) and the behaviour it specifies. Expected values
come from the documents that define them (the row contract in data_preprocess.schema, the docstrings' bounds) or
from independent computations, never from the code under test.
"""

from __future__ import annotations

from reward_fns.task_type import TaskType

# --- task types -----------------------------------------------------------------------------------------------


def test_task_type_groups_are_the_documented_ones():
    """The groups callers branch on (the dataset's labelled tasks, the evaluation's VQA tasks): labelled = the
    single-label tasks and multilabel; VQA = mcq, closed, open, in declaration order. Mutants killed:
    ``labelled`` and ``vqa`` returning ``tuple(None)`` (a TypeError; no reward test called them at test time)."""
    assert TaskType.single_label() == (TaskType.MULTICLASS, TaskType.BINARY, TaskType.ORDINAL)
    assert TaskType.labelled() == (*TaskType.single_label(), TaskType.MULTILABEL)
    assert TaskType.vqa() == (TaskType.MCQ, TaskType.CLOSED, TaskType.OPEN)
