"""Equal classification budgets: a row that adds a localization stage trains classification for exactly the steps
(and so the images) the V-RFT baseline does, in every hardware preset.

verl sizes a run as ``len(train rows) // batch * total_epochs`` steps. The baseline's rows are the classification
rows alone; a localization row's train files hold the grounding rows too, so the same formula would give it
another classification budget (on 8 GPUs BreastMNIST got 5 classification steps instead of 60). Here the stage is
sized in passes over the grounding rows (``{task: grounding, epochs: E}``, ``med_settings.Schedule.in_steps``) and
the run gets ``trainer.total_training_steps`` = stage steps + the baseline's classification steps.

Light on purpose (no verl, no torch): the driver calls it before the pre-flight checks and the dry run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from verl_med_plugin.checks.values import plain
from verl_med_plugin.med_settings import Schedule


@dataclass(frozen=True)
class Budget:
    """A run's steps by task: the grounding stage(s), then classification steps of ``batch`` rows each."""

    batch: int
    grounding_steps: int
    classification_steps: int
    epochs: int  # trainer.total_epochs verl needs to reach the last step (its loop also stops at the epoch count)

    @property
    def total_steps(self) -> int:
        return self.grounding_steps + self.classification_steps

    @property
    def classification_images(self) -> int:
        return self.classification_steps * self.batch


def baseline_steps(classification_rows: int, batch: int, epochs: int) -> int:
    """verl's own run length for the classification rows alone (drop_last: a partial batch is no step).

    Example:
        >>> baseline_steps(546, 128, 15)
        60
    """
    return classification_rows // batch * epochs


def plan_budget(config: DictConfig, grounding_rows: int, classification_rows: int) -> Budget | None:
    """The budget of a run whose schedule has stages sized in epochs and ends on classification alone; ``None``
    for every other run (verl's own formula applies, as in the baseline)."""
    if not OmegaConf.select(config, "med.sampler.enable"):
        return None
    schedule = Schedule.from_config(plain(OmegaConf.select(config, "med.sampler.schedule")))
    if not schedule.sized_in_epochs() or schedule.stages[-1].grounding_share != 0.0:
        return None
    batch = int(OmegaConf.select(config, "data.train_batch_size"))
    epochs = int(OmegaConf.select(config, "trainer.total_epochs"))
    steps = schedule.in_steps({"grounding": grounding_rows, "classification": classification_rows}, batch)
    staged = max(stage.until_step or 0 for stage in steps.stages)
    classification = baseline_steps(classification_rows, batch, epochs)
    per_epoch = max(1, (grounding_rows + classification_rows) // batch)  # a run smaller than a batch trains nothing
    return Budget(batch, staged, classification, max(epochs, math.ceil((staged + classification) / per_epoch)))


def apply_budget(config: DictConfig, grounding_rows: int, classification_rows: int) -> Budget | None:
    """Set ``trainer.total_training_steps`` (and, if verl's epoch loop would stop first, ``trainer.total_epochs``)
    from ``plan_budget``. A ``trainer.total_training_steps`` the user set is kept (and the budget not applied)."""
    budget = plan_budget(config, grounding_rows, classification_rows)
    if budget is None or OmegaConf.select(config, "trainer.total_training_steps") is not None:
        return None
    config.trainer.total_training_steps = budget.total_steps
    config.trainer.total_epochs = budget.epochs
    return budget


def train_rows_by_task(config: DictConfig) -> tuple[int, int] | None:
    """(grounding rows, other rows) of ``data.train_files``, from one nested column; ``None`` if a file is missing
    (the pre-flight checks report it). verl's length filter may drop overlong rows later: MedMNIST and BUSI
    prompts are far below ``data.max_prompt_length``, and the dry run reports the rows left."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    files = OmegaConf.select(config, "data.train_files")
    paths = [files] if isinstance(files, str) else list(files or [])
    grounding = other = 0
    for path in paths:
        file = Path(str(path)).expanduser()
        if not file.is_file():
            return None
        column = pq.read_table(file, columns=["extra_info.task_type"]).column(0)
        if str(column.type).startswith("struct"):
            column = pc.struct_field(column, "task_type")
        n_grounding = int(pc.sum(pc.equal(column, "grounding")).as_py() or 0)
        grounding, other = grounding + n_grounding, other + len(column) - n_grounding
    return grounding, other


def apply_budget_from_data(config: DictConfig) -> Budget | None:
    """``apply_budget`` with the row counts of the run's train files (nothing if they are not there yet)."""
    rows = train_rows_by_task(config) if OmegaConf.select(config, "med.sampler.enable") else None
    return None if rows is None else apply_budget(config, *rows)


def describe(budget: Budget) -> str:
    return (
        f"verl-med: budget: {budget.grounding_steps} localization steps, then {budget.classification_steps} "
        f"classification steps x {budget.batch} rows (the baseline's), trainer.total_training_steps="
        f"{budget.total_steps}"
    )
