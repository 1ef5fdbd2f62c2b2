"""Each check runs once: the reference answers of a dry run are scored by ``check_config`` alone (the dry run
reports them), and the med checks of a run verl-med's main started are not run again by ``MedSyncTrainer`` (main
marks the config; a plain ``verl.trainer.main_ppo`` run, unmarked, is still checked by the trainer). Main runs
in-process, as in tests/test_main_config.py; verl's trainer base is not built (its ``__init__`` needs workers)."""

from __future__ import annotations

import sys

import pyarrow.parquet as pq
import pytest
from fixtures_data import write_fixture_parquet
from fixtures_perception import compose_med_config, run_in_process


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("verl_med_data")
    for split in ("train", "val"):
        write_fixture_parquet(root / "retinamnist" / f"{split}.parquet", n=6)
    return root


def counted(monkeypatch, owner, name: str, calls: list) -> None:
    """Replace ``owner.name`` by a wrapper that appends to ``calls`` and calls the original."""
    original = getattr(owner, name)

    def wrapper(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapper)


def test_a_dry_run_scores_each_reference_answer_once(data_dir, tiny_model_dir, tmp_path, monkeypatch):
    """Every row of both files is sampled by check_config (fewer rows than ``REFERENCE_CHECK_ROWS``), so the
    reference answers built are exactly the rows, once each. Mutation checked: ``_score_reference_answers``
    scoring its rows again whatever ``check_config`` scored fails here (18 answers built for 12 rows)."""
    import reward_fns
    from verl_med_plugin.checks.data import REFERENCE_CHECK_ROWS

    rows = sum(pq.ParquetFile(data_dir / "retinamnist" / f"{s}.parquet").metadata.num_rows for s in ("train", "val"))
    assert rows <= 2 * REFERENCE_CHECK_ROWS
    built: list = []
    counted(monkeypatch, reward_fns, "reference_response", built)
    proc = run_in_process(
        "verl_med_plugin.main",
        ["med.dry_run=true", f"med.data_dir={data_dir}", f"actor_rollout_ref.model.path={tiny_model_dir}"],
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"{rows} scored (train/val rows sampled before Ray), acc=1 for all" in proc.stdout, proc.stdout[-3000:]
    assert len(built) == rows


@pytest.fixture
def med_checks(monkeypatch) -> list:
    """Calls of ``check_med_config``, from main's checks and from the trainer's."""
    from verl_med_plugin import med_settings, trainer

    calls: list = []
    counted(monkeypatch, med_settings, "check_med_config", calls)  # preflight calls med_settings.check_med_config
    counted(monkeypatch, trainer, "check_med_config", calls)
    # verl's trainer base: not built here (it starts workers); MedSyncTrainer's own __init__ runs in full
    monkeypatch.setattr(trainer._SyncTrainerBase, "__init__", lambda self, config: None)
    return calls


def test_main_runs_the_med_checks_once_for_the_trainer(med_checks, data_dir, tiny_model_dir, tmp_path, monkeypatch):
    """Main's checks, then verl's task runner building MedSyncTrainer from the config main hands over: one run of
    the med checks. Mutation checked: ``MedSyncTrainer.__init__`` ignoring the mark (checking every config) fails
    here with two calls; ``main`` not marking the config fails likewise."""
    from hydra.core.global_hydra import GlobalHydra

    import verl_med_plugin.main as entry
    from verl_med_plugin import trainer

    built: list = []
    monkeypatch.setattr(trainer, "run", lambda config: built.append(trainer.MedSyncTrainer(config)))
    monkeypatch.setattr(entry, "training_blockers", lambda config: [])  # a GPU host, as far as main can tell
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(
        sys,
        "argv",
        [entry.__file__, f"med.data_dir={data_dir}", f"actor_rollout_ref.model.path={tiny_model_dir}"],
    )
    try:
        entry.main()
    finally:
        GlobalHydra.instance().clear()
    assert len(built) == 1 and isinstance(built[0], trainer.MedSyncTrainer)
    assert len(med_checks) == 1


def test_a_plain_verl_run_is_checked_by_the_trainer(med_checks, data_dir):
    """No mark (``verl.trainer.main_ppo`` composed the config): the trainer runs the med checks, once, and refuses
    a bad setting with every problem listed."""
    from verl_med_plugin.trainer import MedSyncTrainer

    MedSyncTrainer(compose_med_config(f"med.data_dir={data_dir}"))
    assert len(med_checks) == 1
    with pytest.raises(ValueError, match="invalid med config:\n  - invalid value\\(s\\) med.knowledge.mode=.sideways."):
        MedSyncTrainer(compose_med_config(f"med.data_dir={data_dir}", "med.knowledge.mode=sideways"))
