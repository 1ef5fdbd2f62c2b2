"""Configs come from the same checkout as the code: a second clone run from its own folder, while this checkout is
the one installed editable, composes its own presets (a preset only the clone has is found)."""

from __future__ import annotations

import shutil
import subprocess
import sys

from fixtures_data import REPO

PROBE = """
import importlib.resources, json, verl_med_plugin, verl_med_plugin.configs as configs
preset = importlib.resources.files("verl_med_plugin.configs") / "med" / "experiment" / "clone_only.yaml"
print(json.dumps([verl_med_plugin.__file__, list(configs.__path__), preset.is_file()]))
"""


def test_a_clone_reads_its_own_configs_not_the_installed_checkouts(tmp_path):
    """Mutation checked: without ``verl_med_plugin._configs_of_this_checkout`` the clone's code reads the installed
    checkout's configs (the editable finder's mapping) and the clone-only preset is missing, failing here."""
    import json

    clone = tmp_path / "clone"
    shutil.copytree(REPO / "verl_med_plugin", clone / "verl_med_plugin", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "configs", clone / "configs", ignore=shutil.ignore_patterns("__pycache__"))
    (clone / "configs" / "med" / "experiment" / "clone_only.yaml").write_text("# @package _global_\n")
    proc = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=clone, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    code, config_path, found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert code == str(clone / "verl_med_plugin" / "__init__.py")
    assert config_path == [str(clone / "configs")] and found
