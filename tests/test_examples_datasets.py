"""The paper rows share one list of datasets, so their reports form one table, and the list holds an
ordinal dataset (MFRS does nothing on a binary one); the time estimates in the scripts' headers follow from the
step counts: steps = floor(train rows / batch) x epochs, plus for the localization rows a stage of ceil(stage epochs x
grounding rows / batch) steps (the baseline's classification budget on top: verl_med_plugin/budget.py), time = steps
x the stated seconds per step."""

from __future__ import annotations

import os
import re
import subprocess

import medmnist
import pytest
import yaml
from fixtures_data import REPO, paper_epochs

PAPER = sorted((REPO / "examples" / "paper").glob("*.sh"))
LOOPING = [p for p in PAPER if "exec bash" not in p.read_text()]  # localization_curriculum.sh runs localization.sh
TRAIN_ROWS = {flag: info["n_samples"]["train"] for flag, info in medmnist.INFO.items()}
LINE = re.compile(r"^#\s+(\w+)\s+(?:(\d+)\+)?(\d+) rows:(.*)$")
ESTIMATE = re.compile(r"(\d+) steps ~([\d.]+) h \(([\w=]+)\)")


def _datasets(**env: str) -> list[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("DATASET", "DATASETS")}
    proc = subprocess.run(
        ["bash", "-c", 'source examples/common.sh && echo "$DATASETS"'],
        cwd=REPO,
        env={**clean, "VERL_MED_DRY_RUN": "1", **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout.split()


def test_one_default_dataset_list_with_an_ordinal_dataset_overridable_by_env():
    default = _datasets()
    assert len(default) >= 3 and len(set(default)) == len(default)
    tasks = {medmnist.INFO[flag]["task"] for flag in default}
    assert {"ordinal-regression", "binary-class", "multi-class"} <= tasks
    assert _datasets(DATASETS="dermamnist retinamnist") == ["dermamnist", "retinamnist"]
    assert _datasets(DATASET="dermamnist") == ["dermamnist"]


@pytest.mark.parametrize("script", PAPER, ids=lambda p: p.name)
def test_every_paper_row_keeps_no_dataset_list_of_its_own(script):
    """The rows run on ``$DATASETS`` through ``paper_row`` (recorded per dataset: test_examples_seeds.py); none
    sets a default of its own."""
    assert not re.search(r"DATASETS?=\$\{DATASETS?:-", script.read_text()), "a row must not keep its own default"


def _batch(hardware: str) -> int:
    preset = yaml.safe_load((REPO / "configs" / "med" / "hardware" / f"{hardware}.yaml").read_text())
    base = yaml.safe_load((REPO / "configs" / "med_grpo.yaml").read_text())
    return preset.get("data", {}).get("train_batch_size", base["data"]["train_batch_size"])


def _stage_epochs() -> int:
    block = yaml.safe_load((REPO / "configs/med/experiment/blocks/localization_stage.yaml").read_text())
    return int(block["med"]["sampler"]["schedule"][0]["epochs"])


def _hours(stated: str, steps: int, seconds: int) -> None:
    hours = steps * seconds / 3600
    assert abs(float(stated) - hours) <= max(0.05, 0.05 * hours), (stated, steps, seconds)


@pytest.mark.parametrize("script", LOOPING, ids=lambda p: p.name)
def test_time_estimates_follow_from_the_step_counts(script):
    text = script.read_text()
    seconds = int(re.search(r"assumed (\d+) s/step", text).group(1))
    lines = [m for m in map(LINE.match, text.splitlines()) if m]
    assert {m.group(1) for m in lines} >= set(_datasets()), "an estimate for every dataset of the default list"
    if script.name == "sft_baseline.sh":
        sft = yaml.safe_load((REPO / "configs" / "sft_med.yaml").read_text())
        batch, epochs = sft["data"]["train_batch_size"], sft["trainer"]["total_epochs"]
    else:
        epochs = paper_epochs()
    for m in lines:
        flag, extra, rows = m.group(1), int(m.group(2) or 0), int(m.group(3))
        assert rows == TRAIN_ROWS[flag], (flag, rows)
        estimates = ESTIMATE.findall(m.group(4))
        assert estimates, m.group(0)
        for steps, hours, where in estimates:
            if script.name != "sft_baseline.sh":
                batch = _batch(where)
            stage = -(-_stage_epochs() * extra // batch) if extra else 0
            assert int(steps) == stage + rows // batch * epochs, m.group(0)
            _hours(hours, int(steps), seconds)
