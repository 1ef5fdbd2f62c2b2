"""Seeds: every paper row runs SEEDS seeds (default 3) as runs ``<row>@<seed>``, which the paper table aggregates
(mean ± sd over seeds, ``evaluation.table``), and a run's seed reaches the data order (``data.seed``, which verl
leaves unset: an unseeded shuffle), the curriculum sampler and the rollout."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from fixtures_data import REPO, paper_epochs
from fixtures_perception import compose_med_config
from omegaconf import OmegaConf

PAPER = sorted((REPO / "examples" / "paper").glob("*.sh"))


def _bash(script: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("SEEDS", "SEED", "VERL_MED_DRY_RUN")}
    return subprocess.run(
        ["bash", "-c", f"source examples/common.sh && {script}"],
        cwd=REPO,
        env={**clean, "VERL_PLATFORM": "cpu", **env},  # the CPU test bed stands in for a GPU: no forced dry run
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("seed", [1, 7])
def test_the_runs_seed_reaches_data_order_sampler_and_rollout(seed):
    """Mutation checked: without ``data.seed: ${med.seed}`` in configs/med_grpo.yaml data.seed is None (verl's
    unseeded shuffle) and this fails."""
    config = compose_med_config("med/experiment=localization", f"med.seed={seed}")
    resolved = OmegaConf.to_container(config, resolve=True)
    assert resolved["data"]["seed"] == seed
    assert resolved["med"]["sampler"]["seed"] == seed
    assert resolved["actor_rollout_ref"]["rollout"]["seed"] == seed


def test_seeds_default_to_three_and_a_run_is_named_row_at_seed():
    """``train`` inside a seed loop passes the seed and names the run ``<row>@<seed>`` (its folder and verl's
    experiment name), and ``evaluate`` names it so in the report: the table's rows group by the part before @.

    Mutation checked: ``seeds`` returning one seed, or ``train`` without ``med.seed``, fails."""
    stub = 'python() { printf "ARG %s\\n" "$@"; }'  # records train's command instead of running it
    proc = _bash(f'seeds; {stub}; SEED=2 train vrft_baseline breastmnist; echo "DIR $RUN_DIR"')
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:3] == ["1", "2", "3"]
    args = [line[4:] for line in lines if line.startswith("ARG ")]
    assert "med.seed=2" in args and "trainer.experiment_name=breastmnist_vrft_baseline@2" in args
    assert lines[-1].endswith("/breastmnist_vrft_baseline_qwen2_5_vl_3b@2")
    assert _bash("seeds", SEEDS="5").stdout.split() == ["1", "2", "3", "4", "5"]
    refused = _bash("seeds", SEEDS="two")
    assert refused.returncode == 2 and "SEEDS=two" in refused.stderr


def test_a_seed_named_run_joins_its_row():
    from verl_med_plugin.evaluation.statistics import row_and_seed

    proc = _bash("SEED=3 run_name recite_neg; run_name recite_neg")
    assert proc.stdout.split() == ["recite_neg@3", "recite_neg"]
    assert row_and_seed("recite_neg@3") == ("recite_neg", "3")


# The steps of a paper row, recorded: these functions of examples/common.sh echo their call instead of running.
STEPS = ("prepare_medmnist", "prepare_localization", "train", "train_sft", "evaluate", "paper_table")


def _recorded_steps(script: Path, folder: Path, **env: str) -> list[str]:
    """``bash SCRIPT x=1`` from a copy of examples/ whose common.sh is the real one plus recording stubs of
    ``STEPS`` (the paper scripts call them through ``paper_row``); one line per call, with the seed."""
    shutil.copytree(REPO / "examples", folder / "examples")
    common = folder / "examples" / "common.sh"
    stubs = "".join(f'{name}() {{ echo "{name} $* SEED=${{SEED:-}}"; }}\n' for name in STEPS)
    common.write_text(common.read_text() + "\n" + stubs)
    proc = _bash_file(folder / "examples" / "paper" / script.name, "x=1", **env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.splitlines()


def _bash_file(path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("SEEDS", "SEED", "VERL_MED_DRY_RUN", "DATASET")}
    return subprocess.run(
        ["bash", str(path), *args],
        cwd=REPO,
        env={**clean, "VERL_PLATFORM": "cpu", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _expected_steps(experiment: str, datasets: list[str], seeds: int, epochs: int) -> list[str]:
    """The row's steps as the paper table needs them: each dataset prepared (with BUSI's localization data when
    the row's preset has the localization stage), each seed trained and evaluated as the row, then one table."""
    schedule = [] if experiment == "sft" else compose_med_config(f"med/experiment={experiment}").med.sampler.schedule
    localization = any(stage.task == "grounding" for stage in schedule or [])
    steps = []
    for dataset in datasets:
        steps.append(f"prepare_medmnist {dataset} SEED=")
        if localization:
            steps.append(f"prepare_localization {dataset} SEED=")
        for seed in range(1, seeds + 1):
            if experiment == "sft":
                steps.append(f"train_sft {dataset} x=1 SEED={seed}")
            else:
                steps.append(f"train {experiment} {dataset} trainer.total_epochs={epochs} x=1 SEED={seed}")
            steps.append(f"evaluate {experiment} {dataset} SEED={seed}")
    return [*steps, "paper_table  SEED="]


@pytest.mark.parametrize("script", PAPER, ids=lambda p: p.name)
def test_every_paper_row_trains_and_evaluates_every_seed_then_tables_them(script, tmp_path):
    """What each paper script runs, recorded (not read from its text). Mutations checked: ``paper_row`` evaluating
    once per dataset after its seed loop, or tabling inside the dataset loop, fails every script; full.sh without
    ``--localization`` fails here (its preset has the localization stage)."""
    experiment = {"sft_baseline": "sft"}.get(script.stem, script.stem)
    epochs = paper_epochs()
    steps = _recorded_steps(script, tmp_path, DATASETS="breastmnist retinamnist", SEEDS="2")
    assert steps == _expected_steps(experiment, ["breastmnist", "retinamnist"], 2, epochs)
