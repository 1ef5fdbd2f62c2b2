"""What the driver does between the checks and Ray: the config the Ray actors receive, and verl's own validation
on the training path (not only in the dry run). The driver's steps run in-process; one test starts the entry point
in its own process (the CLI smoke test of the training path: the CPU platform is chosen as verl is imported)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fixtures_data import write_fixture_parquet
from fixtures_perception import compose_med_config, run_med_main
from omegaconf import OmegaConf


def test_multinode_config_is_resolved_in_the_driver(monkeypatch):
    from verl_med_plugin.trainer import SHIPPED_PACKAGES, prepare_for_ray

    monkeypatch.setenv("NNODES", "4")
    cfg = prepare_for_ray(compose_med_config("med/hardware=multinode", "med.data_dir=/d"))
    monkeypatch.setenv("NNODES", "7")  # what a Ray actor's environment holds no longer matters
    assert cfg.trainer.nnodes == 4
    assert "${" not in OmegaConf.to_yaml(cfg)  # nothing left to resolve inside the actor
    shipped = cfg.ray_kwargs.ray_init.runtime_env.py_modules
    assert [Path(p).name for p in shipped] == list(SHIPPED_PACKAGES)
    assert all((Path(p) / "__init__.py").is_file() for p in shipped)
    # Nodes without verl-med's entry point import the registration when verl is imported there.
    assert cfg.ray_kwargs.ray_init.runtime_env.env_vars.VERL_USE_EXTERNAL_MODULES == "verl_med_plugin.register"
    assert cfg.actor_rollout_ref.model.custom_chat_template.startswith("{")  # med.template filled in


def test_single_node_ships_nothing():
    from verl_med_plugin.trainer import prepare_for_ray

    cfg = prepare_for_ray(compose_med_config("med.data_dir=/d"))
    assert not OmegaConf.select(cfg, "ray_kwargs.ray_init.runtime_env.py_modules")
    assert not OmegaConf.select(cfg, "ray_kwargs.ray_init.runtime_env.env_vars")  # the entry point does it


def test_multinode_keeps_the_users_external_modules(monkeypatch):
    from verl_med_plugin.trainer import prepare_for_ray

    monkeypatch.setenv("NNODES", "2")
    monkeypatch.setenv("VERL_USE_EXTERNAL_MODULES", "my_platform")
    cfg = prepare_for_ray(compose_med_config("med/hardware=multinode", "med.data_dir=/d"))
    env_vars = cfg.ray_kwargs.ray_init.runtime_env.env_vars
    assert env_vars.VERL_USE_EXTERNAL_MODULES == "my_platform,verl_med_plugin.register"


@pytest.mark.slow
def test_training_path_runs_verls_validation_before_ray(tmp_path, tiny_model_dir):
    """A batch setting verl rejects stops the real training path with one line, before any Ray start (the CPU
    platform of the test bed lets the path past the GPU check). A process of its own: ``VERL_PLATFORM=cpu`` takes
    effect when verl is imported; also the entry point's exit status 2 and stderr as the shell sees them."""
    for split in ("train", "val"):
        write_fixture_parquet(tmp_path / "retinamnist" / f"{split}.parquet", n=6)
    proc = run_med_main(
        f"med.data_dir={tmp_path}",
        f"actor_rollout_ref.model.path={tiny_model_dir}",
        "trainer.device=cpu",
        "trainer.n_gpus_per_node=1",
        "data.train_batch_size=2",
        "actor_rollout_ref.actor.ppo_mini_batch_size=3",
        f"hydra.run.dir={tmp_path / 'run'}",
        env=dict(os.environ, VERL_PLATFORM="cpu"),
    )
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "verl-med: error: verl's config validation" in proc.stderr
    assert "ray init kwargs" not in proc.stdout + proc.stderr  # verl prints this as it starts Ray


def test_training_hands_verls_own_task_runner_the_prepared_config(monkeypatch):
    """``trainer.run`` (the end of ``python -m verl_med_plugin.main``) calls verl's ``run_ppo`` with verl's own
    ``TaskRunnerV1``, which builds ``MedSyncTrainer`` from the registry; verl's launcher is recorded, not run."""
    import verl.trainer.main_ppo as verl_main

    from verl_med_plugin.trainer import run

    launched = []
    monkeypatch.setattr(
        verl_main, "run_ppo", lambda config, task_runner_class: launched.append((config, task_runner_class))
    )
    monkeypatch.setenv("NNODES", "2")
    run(compose_med_config("med/hardware=multinode", "med.data_dir=/d"))
    ((config, runner),) = launched
    assert runner is verl_main.TaskRunnerV1
    assert config.trainer.v1.trainer_mode == "med_sync" and config.trainer.nnodes == 2  # resolved in the driver
    assert config.actor_rollout_ref.model.custom_chat_template.startswith("{")


def test_training_refuses_verls_own_trainer_modes_before_ray(monkeypatch):
    """``main`` checks the trainer verl will build once, before ``trainer.run`` (which checks nothing again)."""
    from verl_med_plugin.preflight import ConfigError, check_registration

    check_registration(compose_med_config("med.data_dir=/d"))
    with pytest.raises(ConfigError, match="trainer.v1.trainer_mode=colocate_async: verl-med trains with its own"):
        check_registration(compose_med_config("med.data_dir=/d", "trainer.v1.trainer_mode=colocate_async"))
    monkeypatch.setenv("VERL_USE_EXTERNAL_PLUGINS", "none")  # verl's actors would never register med_sync
    with pytest.raises(ConfigError, match="VERL_USE_EXTERNAL_PLUGINS=none: verl will not load verl-med's entry"):
        check_registration(compose_med_config("med.data_dir=/d"))


def test_sampler_refuses_verl_settings_it_cannot_follow():
    from verl_med_plugin.med_settings import check_med_config

    colocated = compose_med_config("med.data_dir=/d", "reward.reward_model.enable=true")
    assert any("colocated reward model" in p for p in check_med_config(colocated))
    assert not any(
        "colocated" in p
        for p in check_med_config(
            compose_med_config("med.data_dir=/d", "reward.reward_model.enable=true", "med.sampler.signal_key=null")
        )
    )
    filtered = compose_med_config("med.data_dir=/d", "algorithm.filter_groups.enable=true")
    assert any("gen_batch_size=1" in p for p in check_med_config(filtered))
    assert not any(
        "gen_batch_size" in p
        for p in check_med_config(
            compose_med_config("med.data_dir=/d", "algorithm.filter_groups.enable=true", "med.sampler.enable=false")
        )
    )


def test_total_reward_signal_uses_the_rewards_own_bounds():
    from reward_fns.config import reward_config

    low, high = reward_config({"format_weight": 0.5, "acc_weight": 1.0}).score_bounds()
    assert (low, high) == (0.0, 1.5)  # a formatted wrong answer (0.5) is a third of the way, not "solved"


def test_length_filter_workers_scale_with_the_dataset():
    from verl_med_plugin.dataset import length_filter_workers

    assert [length_filter_workers(n, 8) for n in (10, 2000, 2001, 9000, 100_000)] == [1, 1, 2, 5, 8]
    assert length_filter_workers(100_000, 1) == 1  # the configured bound wins
    assert compose_med_config("med.data_dir=/d").data.filter_overlong_prompts_workers == 8
