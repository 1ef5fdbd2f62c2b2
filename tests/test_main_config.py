"""``python -m verl_med_plugin.main``: Hydra composition over verl's own config, dry run, readable errors.

The entry point runs in-process (``run_in_process``: its hydra main, checks and exit status as the shell sees them,
without a ~15 s verl import per command); its own process is started by the CLI smoke tests (the example script
of tests/test_examples_dry_run.py, and the training path of tests/test_training_launch.py)."""

from __future__ import annotations

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


def test_dry_run_ends_with_the_plan(med_main, data_dir, tiny_model_dir):
    proc = med_main("med.dry_run=true", f"med.data_dir={data_dir}", f"actor_rollout_ref.model.path={tiny_model_dir}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "verl-med dry run: everything up to training checked" in out
    assert "train_rows: 6" in out and "val_rows: 6" in out
    assert IMAGE_PAD in out  # the first prompt, through the chat template
    assert "acc=1 for all" in out  # reference answers scored by the configured reward
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
