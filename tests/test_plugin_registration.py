"""The ``verl.plugins`` entry point: found by verl, loud when broken, and registering verl-med's trainer in verl's
registry (``tests/test_trainer_registry.py``: in Ray workers and inside verl's own task runner actor).

What ``import verl`` does depends on what the process imported before, so each case runs in a fresh interpreter;
the plain ``import verl`` case and the deferred registration share one."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

import pytest


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def test_entry_point_is_declared_for_verl():
    eps = {ep.name: ep.value for ep in entry_points(group="verl.plugins")}
    assert eps.get("verl_med") == "verl_med_plugin.register"


@pytest.fixture(scope="session")  # once per test process, even if other tests run between the two
def import_verl_then_its_trainers() -> subprocess.CompletedProcess:
    """A fresh interpreter: ``import verl``, then verl's trainer package (what a driver does)."""
    return _run(
        "import sys, verl\n"
        "print('LOADED', sys.modules['verl_med_plugin.register'].LOADED)\n"
        "print('after import verl:', 'verl_med_plugin.trainer' in sys.modules)\n"
        "from verl.trainer.ppo.v1 import get_trainer_cls\n"
        "cls = get_trainer_cls('med_sync')\n"
        "print('registered:', cls.__module__, cls.__qualname__, get_trainer_cls('sync').__qualname__)"
    )


# The two tests of that interpreter run in one test process (--dist loadgroup), which starts it once.
@pytest.mark.xdist_group("fresh_import_verl")
def test_import_verl_loads_the_plugin(import_verl_then_its_trainers):
    proc = import_verl_then_its_trainers
    assert "LOADED True" in proc.stdout, proc.stderr  # printed right after ``import verl``, before the trainers
    assert "verl-med plugin failed" not in proc.stderr


def test_broken_plugin_warns_with_cause_when_verl_is_imported():
    # A reward package that cannot be imported: verl itself would only log this at DEBUG level.
    proc = _run("import sys; sys.modules['reward_fns'] = None; import verl; print('verl imported')")
    assert proc.returncode == 0, proc.stderr
    assert "verl imported" in proc.stdout
    assert "verl-med plugin failed to load in this process" in proc.stderr
    assert "ModuleNotFoundError" in proc.stderr and "reward_fns" in proc.stderr


@pytest.mark.xdist_group("fresh_import_verl")
def test_trainer_is_registered_when_verls_trainers_are_imported_not_before(import_verl_then_its_trainers):
    """``import verl`` (every reward, agent-loop and FSDP worker) stays cheap; the first import of verl's trainer
    package, wherever it happens, also registers ours, before anything can look it up."""
    proc = import_verl_then_its_trainers
    assert proc.returncode == 0, proc.stderr
    assert "after import verl: False" in proc.stdout
    assert "registered: verl_med_plugin.trainer MedSyncTrainer PPOTrainerSync" in proc.stdout
    assert "could not register its trainer" not in proc.stderr


def test_trainer_registers_when_our_module_is_imported_first():
    """The other order: our trainer module imports verl's trainers while it is being defined."""
    proc = _run(
        "from verl_med_plugin.trainer import MedSyncTrainer\n"
        "from verl.trainer.ppo.v1 import get_trainer_cls\n"
        "print(get_trainer_cls('med_sync') is MedSyncTrainer)"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("True")
    assert "could not register its trainer" not in proc.stderr


def test_broken_trainer_warns_with_cause_and_leaves_verls_trainers_usable():
    proc = _run(
        "import sys; sys.modules['verl_med_plugin.sampler'] = None\n"
        "from verl.trainer.ppo.v1 import get_trainer_cls\n"
        "print('sync:', get_trainer_cls('sync').__qualname__)\n"
        "get_trainer_cls('med_sync')"
    )
    assert "sync: PPOTrainerSync" in proc.stdout  # verl's import went through
    assert "verl-med could not register its trainer (trainer.v1.trainer_mode=med_sync)" in proc.stderr
    assert "ModuleNotFoundError" in proc.stderr and "verl_med_plugin.sampler" in proc.stderr
    assert proc.returncode != 0 and "Unknown trainer 'med_sync'" in proc.stderr  # verl's own message follows


def test_entry_point_problems_name_the_fix():
    from verl_med_plugin.register import entry_point_problems

    assert entry_point_problems({}) == []
    assert entry_point_problems({"VERL_USE_EXTERNAL_PLUGINS": "auto"}) == []
    assert entry_point_problems({"VERL_USE_EXTERNAL_PLUGINS": "other, verl_med"}) == []
    for policy in ("none", "other_plugin"):
        (problem,) = entry_point_problems({"VERL_USE_EXTERNAL_PLUGINS": policy})
        assert problem.startswith(f"VERL_USE_EXTERNAL_PLUGINS={policy}: ") and "med_sync" in problem
