"""The example scripts evaluate the checkpoint verl saved last, not the alphabetically last folder."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from fixtures_data import REPO

COMMON = REPO / "examples" / "common.sh"


def _latest(checkpoints: Path) -> subprocess.CompletedProcess:
    script = f'source "{COMMON}"; latest_checkpoint "{checkpoints}"'
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def run_with_underscores(tmp_path) -> Path:
    checkpoints = tmp_path / "retinamnist_full_qwen2_5_vl_3b" / "checkpoints"
    for step in (50, 90, 100, 450, 495):
        (checkpoints / f"global_step_{step}").mkdir(parents=True)
    return checkpoints


def test_reads_verls_tracker_file(run_with_underscores):
    (run_with_underscores / "latest_checkpointed_iteration.txt").write_text("450")
    assert _latest(run_with_underscores).stdout.strip() == str(run_with_underscores / "global_step_450")


def test_without_tracker_sorts_step_numbers_not_paths(run_with_underscores):
    assert _latest(run_with_underscores).stdout.strip() == str(run_with_underscores / "global_step_495")


def test_no_checkpoint_is_a_clear_error(tmp_path):
    proc = _latest(tmp_path)
    assert proc.returncode != 0 and "no checkpoint" in proc.stderr and "save_freq" in proc.stderr


def test_base_config_saves_and_validates():
    from fixtures_perception import compose_med_config

    cfg = compose_med_config()
    assert cfg.trainer.save_freq > 0 and cfg.trainer.test_freq > 0
