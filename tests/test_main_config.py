"""``python -m verl_med_plugin.main``: Hydra composition over verl's own config, dry run, readable errors.

The entry point runs in-process (``run_in_process``: its hydra main, checks and exit status as the shell sees them,
without a ~15 s verl import per command); its own process is started by the CLI smoke tests (the example script
of tests/test_examples_dry_run.py, and the training path of tests/test_training_launch.py)."""

from __future__ import annotations

import sys

import pyarrow.parquet as pq
import pytest
from fixtures_data import IMAGE_PAD, write_fixture_parquet
from fixtures_perception import compose_med_config, run_in_process


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("verl_med_data")
    for split in ("train", "val"):
        write_fixture_parquet(root / "retinamnist" / f"{split}.parquet", n=6)
    return root


@pytest.fixture
def med_main(tmp_path):
    """``python -m verl_med_plugin.main ARGS`` in-process, run from a temporary folder (Hydra's outputs/ go there)."""
    return lambda *args: run_in_process("verl_med_plugin.main", list(args), cwd=tmp_path)


def test_config_extends_verl_ppo_trainer_with_med_group():
    cfg = compose_med_config("med.data_dir=/data", "actor_rollout_ref.rollout.n=4")
    # verl's own keys, with verl's defaults where we do not override them
    assert cfg.actor_rollout_ref.actor.clip_ratio == 0.2
    assert cfg.trainer.use_v1 is True
    assert cfg.trainer.v1.trainer_mode == "med_sync"  # verl's own task runner builds verl-med's trainer
    assert cfg.actor_rollout_ref.rollout.n == 4  # a plain verl override still works
    # ours, wired into verl's keys by interpolation
    assert cfg.algorithm.adv_estimator == "grpo"
    assert cfg.reward.custom_reward_function.path == "pkg://reward_fns"
    assert cfg.data.train_files == "/data/retinamnist/train.parquet"
    assert cfg.data.dataloader_num_workers == 8  # verl's default; only the sampler's loader runs without workers


def test_cfg_job_prints_verl_and_med_keys(med_main):
    proc = med_main("--cfg", "job")
    assert proc.returncode == 0, proc.stderr
    for key in ("med:", "dry_run:", "actor_rollout_ref:", "custom_reward_function:", "pkg://reward_fns"):
        assert key in proc.stdout


def test_dry_run_ends_with_the_plan(med_main, data_dir, tiny_model_dir, monkeypatch):
    """The plan, and each reference answer scored once: every row of both files is sampled by check_config (fewer
    rows than ``REFERENCE_CHECK_ROWS``), so the answers built are exactly the rows, once each, and the dry run
    reports them. Mutation checked: ``_score_reference_answers`` scoring its rows again whatever ``check_config``
    scored fails here (18 answers built for 12 rows)."""
    import reward_fns
    from verl_med_plugin.checks.data import REFERENCE_CHECK_ROWS

    rows = sum(pq.ParquetFile(data_dir / "retinamnist" / f"{s}.parquet").metadata.num_rows for s in ("train", "val"))
    assert rows <= 2 * REFERENCE_CHECK_ROWS
    built: list = []
    counted(monkeypatch, reward_fns, "reference_response", built)
    proc = med_main("med.dry_run=true", f"med.data_dir={data_dir}", f"actor_rollout_ref.model.path={tiny_model_dir}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "verl-med dry run: everything up to training checked" in out
    assert "train_rows: 6" in out and "val_rows: 6" in out
    assert IMAGE_PAD in out  # the first prompt, through the chat template
    # reference answers scored by the configured reward, once
    assert f"{rows} scored (train/val rows sampled before Ray), acc=1 for all" in out
    assert len(built) == rows
    for mode in ("none", "classlist", "system", "user"):  # the first prompt in every knowledge mode
        assert f"knowledge mode {mode}" in out
    assert "[first prompt (configured): knowledge mode user]" in out
    assert "[sampler]" in out and "first_indices: [[" in out
    assert "[trainer]" in out and "verl_builds: verl_med_plugin.trainer.MedSyncTrainer" in out  # verl's registry
    assert "[training needs]" in out


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("med.dataset=nosuchmnist", "data.train_files: "),
        ("+custom_reward_function.path=pkg://reward_fns", "ignored by verl >= 0.9"),
        ("actor_rollout_ref.model.path=/nonexistent/model", "actor_rollout_ref.model.path=/nonexistent/model"),
        ("trainer.v1.trainer_mode=sync", "trainer.v1.trainer_mode=sync: verl-med trains with its own sync trainer"),
    ],
)
def test_broken_config_is_one_readable_error(med_main, data_dir, override, expected):
    proc = med_main("med.dry_run=true", f"med.data_dir={data_dir}", override)
    assert proc.returncode == 2
    assert proc.stderr.count("verl-med: error:") == 1
    assert expected in proc.stderr
    assert "Traceback" not in proc.stderr


def test_training_without_gpu_says_what_is_missing_before_ray_starts(med_main, data_dir):
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    proc = med_main(f"med.data_dir={data_dir}")  # in-process: getting to training (Ray) raises ReachedTraining
    assert proc.returncode == 2
    assert "training cannot start on this machine" in proc.stderr
    assert "no CUDA GPU visible" in proc.stderr and "med.dry_run=true" in proc.stderr
    assert "ray init kwargs" not in proc.stdout  # stopped before verl's run_ppo


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("+med.reward.ordinal_reward=mfr", "invalid reward kwarg ordinal_reward"),
        ("+med.reward.recite_detla=0.5", "unknown key(s) ['recite_detla']"),
    ],
)
def test_bad_reward_kwargs_are_config_errors_before_ray(data_dir, override, expected):
    from verl_med_plugin.preflight import ConfigError, check_config

    with pytest.raises(ConfigError, match="med.reward") as err:
        check_config(compose_med_config(f"med.data_dir={data_dir}", override))
    assert expected in str(err.value)


def test_preset_reward_kwargs_pass_the_check(data_dir):
    from verl_med_plugin.preflight import reward_kwargs_problems

    for experiment in ("full", "knowledge", "localization", "mfrs", "recite_neg", "recite_pos", "vrft_baseline"):
        assert reward_kwargs_problems(compose_med_config(f"med/experiment={experiment}")) == [], experiment


# --- each check once (the reference answers: test_dry_run_ends_with_the_plan): the med checks of a run main
# started are not run again by MedSyncTrainer (main marks the config; a plain verl.trainer.main_ppo run, unmarked,
# is still checked by the trainer). verl's trainer base is not built here (its __init__ needs workers).


def counted(monkeypatch, owner, name: str, calls: list) -> None:
    """Replace ``owner.name`` by a wrapper that appends to ``calls`` and calls the original."""
    original = getattr(owner, name)

    def wrapper(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapper)


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
