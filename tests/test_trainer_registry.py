"""verl's own task runner builds verl-med's trainer: in a local Ray worker (the ``TaskRunnerV1`` actor, a process
of its own), verl's trainer registry resolves ``trainer.v1.trainer_mode=med_sync`` to ``MedSyncTrainer``, which
only the ``verl.plugins`` entry point can have put there; and verl's real ``TaskRunnerV1.run`` constructs it. Also
the entry point in a plain Ray worker. One Ray start (conftest's ``local_ray``) and one task runner actor for the
module: its tests share a test process (``xdist_group``, ``--dist loadgroup`` of scripts/test.sh)."""

from __future__ import annotations

import os

import pytest
from fixtures_perception import compose_med_config

from verl_med_plugin import verl_compat
from verl_med_plugin.register import MED_TRAINER_MODE

pytestmark = pytest.mark.xdist_group("local_ray")


@pytest.fixture(scope="session")
def ray(local_ray):
    return local_ray


@pytest.fixture(scope="session")
def task_runner(ray):
    """verl's ``TaskRunnerV1`` actor (its own process, where ``import verl`` loads the entry points), shared by the
    lookup and the ``run`` test: starting one costs an interpreter with verl imported."""
    runner = verl_compat.task_runner().remote()
    yield runner
    ray.kill(runner)


def test_plugin_is_registered_inside_a_ray_worker(ray):
    """A plain Ray task that imports verl (as every verl worker does) has verl-med's entry point loaded."""

    @ray.remote
    def probe():
        import os
        import sys

        import verl  # noqa: F401  (loads the verl.plugins entry points, as in every verl worker)

        register = sys.modules.get("verl_med_plugin.register")
        return os.getpid(), register is not None and register.LOADED

    worker_pid, loaded = ray.get(probe.remote(), timeout=240)
    assert worker_pid != os.getpid()
    assert loaded is True


def test_verls_task_runner_finds_our_trainer_in_its_own_process(ray, task_runner):
    def registry_lookup(task_runner, mode: str) -> dict:
        """Runs inside verl's ``TaskRunnerV1`` actor (``__ray_call__``; defined here so that Ray ships the code,
        not a reference to this test module): what verl's registry holds for ``mode``."""
        import os
        import sys

        from verl_med_plugin import verl_compat

        trainer = verl_compat.trainer_class(mode)  # verl's get_trainer_cls, as TaskRunnerV1.run calls it
        try:
            verl_compat.trainer_class("no_such_mode")
        except ValueError as err:
            modes = str(err).split("Available trainers: ", 1)[1].rstrip(".").split(", ")
        return {
            "pid": os.getpid(),
            "runner": f"{type(task_runner).__module__}.{type(task_runner).__qualname__}",
            "trainer": f"{trainer.__module__}.{trainer.__qualname__}",
            "bases": [cls.__qualname__ for cls in trainer.__mro__],
            "modes": modes,
            "plugin_loaded": sys.modules["verl_med_plugin.register"].LOADED,
        }

    found = ray.get(task_runner.__ray_call__.remote(registry_lookup, MED_TRAINER_MODE), timeout=600)
    assert found["pid"] != os.getpid()  # not this test's process: the actor's
    assert found["runner"] == "verl.trainer.main_ppo.TaskRunnerV1"  # verl's own task runner, not a copy
    assert found["trainer"] == "verl_med_plugin.trainer.MedSyncTrainer"
    assert "PPOTrainerSync" in found["bases"]
    assert {"sync", "colocate_async", "separate_async", MED_TRAINER_MODE} <= set(found["modes"])  # verl's stay
    assert found["plugin_loaded"] is True


def test_verls_own_run_constructs_our_trainer(ray, task_runner):
    """``TaskRunnerV1.run`` itself, as ``run_ppo`` calls it, up to the trainer's constructor: a config our trainer
    refuses (sampler without our dataset class) fails inside ``MedSyncTrainer.__init__``, called by verl's
    ``run``, before any worker or GPU is asked for."""
    config = compose_med_config(
        "med.data_dir=/nonexistent",
        "data.custom_cls.path=null",
        "transfer_queue.backend.SimpleStorage.num_data_storage_units=1",
    )
    with pytest.raises(ray.exceptions.RayTaskError) as err:
        ray.get(task_runner.run.remote(config), timeout=400)
    remote = str(err.value)
    assert "invalid med config" in remote and "med.sampler needs the verl-med dataset class" in remote
    frames = [line.strip() for line in remote.splitlines() if line.strip().startswith("File ")]
    assert any("verl/trainer/main_ppo.py" in f and "in run" in f for f in frames)  # verl's TaskRunnerV1.run
    assert any("verl_med_plugin/trainer.py" in f and "in __init__" in f for f in frames)  # MedSyncTrainer()
