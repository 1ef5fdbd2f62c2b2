"""``+med.sampler.enable=true`` is never dropped silently: under any trainer verl 0.9.1 can start other than
``trainer.v1.trainer_mode=med_sync``, the driver stops with one ``verl-med: error:`` line naming the mode, exit
status 2, before Ray (so before any worker) starts.

verl 0.9.1's modes, read from the installed source: ``trainer.v1.trainer_mode`` = ``sync``, ``colocate_async``,
``separate_async`` (``@register_trainer`` in ``verl/trainer/ppo/v1/trainer_*.py``); ``trainer.use_v1=false``
(``main_ppo_v0.TaskRunner``, ``verl/trainer/main_ppo.py`` l.183-192); and the recipes with their own mains,
``verl.experimental.fully_async_policy.fully_async_main`` and ``verl.experimental.one_step_off_policy.main_ppo``.
Each launcher's own ``main`` runs here with its own composed config; two run as the real command in a fresh
process (``python -m ...``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from verl_med_plugin import verl_compat
from verl_med_plugin.med_settings import dropped_curriculum_problem

RAY_STARTED = "Started a local Ray instance"
ERROR = "verl-med: error:"


def the_error_line(stderr: str, *named: str) -> str:
    errors = [line for line in stderr.splitlines() if line.startswith(ERROR)]
    assert len(errors) == 1, stderr[-3000:]
    assert "+med.sampler.enable=true is ignored by" in errors[0]
    for text in named:
        assert text in errors[0], errors[0]
    return errors[0]


# What verl's own validate_config (main() runs it before run_ppo) needs on top of its defaults: a GRPO run.
VALID = (
    "algorithm.adv_estimator=grpo",
    "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=1",
    "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=1",
    "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=1",
)


def compose_launcher_config(config_module: str, config_name: str, *overrides: str):
    """The launcher's own config (``config_module``: its ``config_path`` as a dotted name, a package or not)."""
    import importlib.util

    from hydra import compose, initialize_config_dir

    parent, _, leaf = config_module.rpartition(".")
    config_dir = Path(importlib.util.find_spec(parent).submodule_search_locations[0]) / leaf
    with initialize_config_dir(str(config_dir), version_base=None):
        return compose(config_name, overrides=["+med.sampler.enable=true", *VALID, *overrides])


@pytest.fixture
def ray_tripwire(monkeypatch):
    """Fails loudly if a launcher gets as far as starting Ray (so a missing guard cannot start a real run here)."""
    import ray

    def reached(*args, **kwargs):
        raise AssertionError("ray.init reached: the run was not stopped before Ray and its workers")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", reached)


def run_launcher(main, config, capsys) -> str:
    """A verl launcher's own hydra ``main`` called with its composed config (hydra passes a given config through),
    in this process, where ``import verl`` loaded the entry point."""
    with pytest.raises(SystemExit) as stopped:
        main(config)
    assert stopped.value.code == 2
    return capsys.readouterr().err


# Mutation checked for each launcher test: with ``_install_curriculum_guard()`` removed from register.py every
# launcher goes on past the check and trips ``ray.init`` (AssertionError), or exits with another status.
@pytest.mark.parametrize("mode", ["sync", "colocate_async", "separate_async"])
def test_main_ppo_v1_mode(mode, ray_tripwire, capsys):
    from verl.trainer import main_ppo

    config = compose_launcher_config("verl.trainer.config", "ppo_trainer", f"trainer.v1.trainer_mode={mode}")
    the_error_line(run_launcher(main_ppo.main, config, capsys), f"trainer.v1.trainer_mode={mode}")


def test_main_ppo_v0(ray_tripwire, capsys):
    from verl.trainer import main_ppo

    config = compose_launcher_config(
        "verl.trainer.config", "ppo_trainer", "trainer.v1.trainer_mode=med_sync", "trainer.use_v1=false"
    )
    the_error_line(run_launcher(main_ppo.main, config, capsys), "main_ppo_v0", verl_compat.V0_TASK_RUNNER)


def test_fully_async_recipe(ray_tripwire, capsys):
    from verl.experimental.fully_async_policy import fully_async_main

    config = compose_launcher_config(
        "verl.experimental.fully_async_policy.config", "fully_async_ppo_trainer", "trainer.v1.trainer_mode=med_sync"
    )
    the_error_line(run_launcher(fully_async_main.main, config, capsys), "FullyAsyncTaskRunner")


def test_one_step_off_recipe(ray_tripwire, capsys, monkeypatch):
    """Its config finds verl's ``ppo_trainer`` by ``file://verl/trainer/config`` (relative to the working
    directory: verl's repository root), so compose it from the installed verl's parent directory."""
    import verl
    from verl.experimental.one_step_off_policy import main_ppo as one_step_off

    monkeypatch.chdir(Path(verl.__file__).parent.parent)
    config = compose_launcher_config(
        "verl.experimental.one_step_off_policy.config", "one_step_off_ppo_trainer", "trainer.v1.trainer_mode=med_sync"
    )
    the_error_line(run_launcher(one_step_off.main, config, capsys), "OneStepTaskRunner")


def run_command(module: str, *overrides: str, sampler: str = "+med.sampler.enable=true") -> subprocess.CompletedProcess:
    env = dict(os.environ, HYDRA_FULL_ERROR="1", RAY_USAGE_STATS_ENABLED="0")
    env.pop("VERL_USE_EXTERNAL_PLUGINS", None)
    return subprocess.run(
        [sys.executable, "-m", module, sampler, *VALID, *overrides],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )


@pytest.mark.slow
def test_python_m_verl_trainer_main_ppo():
    """The command users type: ``main_ppo`` runs as ``__main__``, out of reach of the ``run_ppo`` wrapper; the
    ``validate_config`` guard stops it. Mutation checked: ``guard_validate_config`` not installed (only
    ``guard_run_ppo``) lets this command start Ray (status 1 after a long failure, no verl-med line)."""
    result = run_command("verl.trainer.main_ppo", "trainer.v1.trainer_mode=colocate_async")
    assert result.returncode == 2, result.stderr[-3000:]
    the_error_line(result.stderr, "trainer.v1.trainer_mode=colocate_async")
    assert RAY_STARTED not in result.stdout + result.stderr


@pytest.mark.slow
def test_python_m_verl_med_plugin_main():
    """verl-med's own entry point stops in its pre-flight check (``preflight.trainer_mode_problems``)."""
    result = run_command(
        "verl_med_plugin.main", "trainer.v1.trainer_mode=separate_async", sampler="med.sampler.enable=true"
    )
    errors = [line for line in result.stderr.splitlines() if line.startswith(ERROR)]
    assert result.returncode == 2 and len(errors) == 1, result.stderr[-3000:]
    assert "trainer.v1.trainer_mode=separate_async" in result.stderr and "curriculum sampler" in result.stderr
    assert RAY_STARTED not in result.stdout + result.stderr


def test_med_sync_and_a_disabled_sampler_pass():
    """The one consumer of ``med.sampler`` passes, and without the sampler nothing is checked.
    Mutation checked: comparing the mode with ``"sync"`` instead of ``med_sync`` fails the first assertion."""
    on = OmegaConf.create({"med": {"sampler": {"enable": True}}, "trainer": {"v1": {"trainer_mode": "med_sync"}}})
    assert dropped_curriculum_problem(on, verl_compat.V1_TASK_RUNNER) is None
    off = OmegaConf.create({"med": {"sampler": {"enable": False}}, "trainer": {"v1": {"trainer_mode": "sync"}}})
    for runner in (verl_compat.V1_TASK_RUNNER, verl_compat.V0_TASK_RUNNER, "x.FullyAsyncTaskRunner"):
        assert dropped_curriculum_problem(off, runner) is None
    assert dropped_curriculum_problem(OmegaConf.create({}), verl_compat.V0_TASK_RUNNER) is None
