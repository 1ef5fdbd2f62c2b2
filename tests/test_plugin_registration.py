"""The ``verl.plugins`` entry point: found by verl, loaded in Ray workers, loud when broken."""

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


def test_import_verl_loads_the_plugin():
    proc = _run("import sys, verl; m = sys.modules['verl_med_plugin.register']; print('LOADED', m.LOADED)")
    assert proc.returncode == 0, proc.stderr
    assert "LOADED True" in proc.stdout
    assert "verl-med plugin failed" not in proc.stderr


def test_broken_plugin_warns_with_cause_when_verl_is_imported():
    # A reward package that cannot be imported: verl itself would only log this at DEBUG level.
    proc = _run("import sys; sys.modules['reward_fns'] = None; import verl; print('verl imported')")
    assert proc.returncode == 0, proc.stderr
    assert "verl imported" in proc.stdout
    assert "verl-med plugin failed to load in this process" in proc.stderr
    assert "ModuleNotFoundError" in proc.stderr and "reward_fns" in proc.stderr


def test_plugin_is_registered_inside_a_ray_worker():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    try:

        @ray.remote
        def probe():
            import os
            import sys

            import verl  # noqa: F401  (loads the verl.plugins entry points, as in every verl worker)

            register = sys.modules.get("verl_med_plugin.register")
            return os.getpid(), register is not None and register.LOADED

        worker_pid, loaded = ray.get(probe.remote(), timeout=240)
    finally:
        ray.shutdown()
    import os

    assert worker_pid != os.getpid()
    assert loaded is True
