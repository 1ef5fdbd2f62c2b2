"""The one vocabulary of task types: every row's ``extra_info.task_type`` is a ``TaskType`` value.

Like verl's ``AdvantageEstimator``, a ``str`` enum: rows keep plain strings in parquet, comparisons with strings
work, and the predicates below replace the tuples of task names each caller used to keep.

>>> TaskType("ordinal").is_single_label
True
>>> TaskType.GROUNDING in TaskType.labelled()
False
>>> [t.value for t in TaskType.vqa()]
['mcq', 'closed', 'open']
"""

from __future__ import annotations

from enum import Enum


class TaskType(str, Enum):
    MULTICLASS = "multiclass"  # one label out of several (MedMNIST multi-class)
    BINARY = "binary"  # one label out of two
    ORDINAL = "ordinal"  # one grade out of ordered grades (MFRS applies)
    MULTILABEL = "multilabel"  # a set of labels (ChestMNIST)
    GROUNDING = "grounding"  # boxes around the findings (the localization stage)
    MCQ = "mcq"  # medical VQA: one option out of the row's own options, lettered A, B, ...
    CLOSED = "closed"  # medical VQA: yes / no
    OPEN = "open"  # medical VQA: free-text answer, graded against a reference text

    def __str__(self) -> str:
        return self.value

    @property
    def is_single_label(self) -> bool:
        """Graded as one label out of ``extra_info.labels`` (accuracy, confusion matrix, kappa)."""
        return self in (TaskType.MULTICLASS, TaskType.BINARY, TaskType.ORDINAL)

    @property
    def is_labelled(self) -> bool:
        """Has a fixed label list in ``extra_info.labels`` that knowledge cards and prompts enumerate."""
        return self.is_single_label or self is TaskType.MULTILABEL

    @property
    def is_vqa(self) -> bool:
        """A medical VQA question: its answer space is per row (options, yes/no or free text)."""
        return self in (TaskType.MCQ, TaskType.CLOSED, TaskType.OPEN)

    @classmethod
    def single_label(cls) -> tuple[TaskType, ...]:
        return tuple(t for t in cls if t.is_single_label)

    @classmethod
    def labelled(cls) -> tuple[TaskType, ...]:
        return tuple(t for t in cls if t.is_labelled)

    @classmethod
    def vqa(cls) -> tuple[TaskType, ...]:
        return tuple(t for t in cls if t.is_vqa)

    @classmethod
    def parse(cls, value: object) -> TaskType | None:
        """The task type a row names, or None for anything else (never raises: rows are data)."""
        try:
            return cls(value)
        except ValueError:
            return None


TASK_TYPES: tuple[str, ...] = tuple(t.value for t in TaskType)
