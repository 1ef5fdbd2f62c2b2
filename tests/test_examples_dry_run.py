"""Every recipe preset composes and passes verl's config validation; every example script runs to the end of
its dry run on fixture data, so a renamed key or a broken path fails here, not on a user's cluster."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures_data import write_busi_like_folder, write_fake_medmnist_npz
from hydra import compose, initialize_config_module

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs" / "med"
EXAMPLES = sorted([REPO / "examples" / "retinamnist_grpo_1gpu.sh", *(REPO / "examples" / "paper").glob("*.sh")])


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONFIGS / group).glob("*.yaml"))


def test_every_preset_combination_composes_and_validates():
    from verl_med_plugin.verl_compat import validate_verl_config

    experiments, models, hardware = _options("experiment"), _options("model"), _options("hardware")
    rows = {"vrft_baseline", "knowledge", "localization", "mfrs", "recite_pos", "recite_neg", "full"}
    assert rows <= set(experiments)
    with initialize_config_module("verl_med_plugin.configs", version_base=None):
        for experiment, model, hw in itertools.product([None, *experiments], models, hardware):
            overrides = [f"med/model={model}", f"med/hardware={hw}"]
            overrides += [f"med/experiment={experiment}"] if experiment else []
            cfg = compose("med_grpo", overrides=overrides)
            validate_verl_config(cfg)  # raises on a key verl's schema rejects
            assert cfg.reward.custom_reward_function.path == "pkg://reward_fns"
            assert "custom_reward_function" not in cfg or cfg.custom_reward_function.path is None  # legacy key unused
            assert cfg.reward.custom_reward_function.reward_kwargs.box_format in ("abs", "rel1000")


def test_sft_preset_composes_over_verl_sft_trainer():
    with initialize_config_module("verl_med_plugin.configs", version_base=None):
        cfg = compose("sft_med", overrides=["med.data_dir=/d"])
    assert cfg.data.train_files == "/d/retinamnist/sft_train.parquet"
    assert cfg.data.messages_key == "messages" and "engine" in cfg  # verl's sft_trainer_engine underneath


@pytest.fixture(scope="module")
def example_env(tmp_path_factory, tiny_model_dir):
    root = tmp_path_factory.mktemp("examples")
    npz_dir = root / "npz"
    write_fake_medmnist_npz(npz_dir / "retinamnist.npz", n_classes=5, counts=(10, 5, 5), seed=1)
    write_fake_medmnist_npz(npz_dir / "bloodmnist.npz", n_classes=8, counts=(16, 8, 8), seed=2)
    write_fake_medmnist_npz(npz_dir / "breastmnist.npz", n_classes=2, channels=1, counts=(8, 4, 4), seed=3)
    env = dict(os.environ, VERL_MED_DRY_RUN="1", MEDMNIST_SIZE="28", MEDMNIST_NPZ_DIR=str(npz_dir),
               BUSI_DIR=str(write_busi_like_folder(root / "busi")), MODEL_PATH=str(tiny_model_dir),
               DATA_DIR=str(root / "data"), RUNS_DIR=str(root / "runs"),
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return env


# The paper rows loop over $DATASETS (examples/common.sh). To keep this test's time, each row dry-runs one dataset of
# the task type it was written for; the full row runs the whole default list (multi-class, binary, ordinal).
ONE_DATASET = {"mfrs.sh": "retinamnist", "sft_baseline.sh": "retinamnist", "localization.sh": "breastmnist",
               "localization_curriculum.sh": "breastmnist", "vrft_baseline.sh": "bloodmnist",
               "knowledge.sh": "bloodmnist", "recite_pos.sh": "bloodmnist", "recite_neg.sh": "bloodmnist"}
DEFAULT_DATASETS = ("bloodmnist", "breastmnist", "retinamnist")


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_script_dry_run(script, example_env):
    header = script.read_text().splitlines()[1]
    assert header.startswith("# ") and ("Paper row" in header or "Main job" in header or "combination" in header)
    env = dict(example_env)
    env.pop("DATASET", None)
    datasets = DEFAULT_DATASETS if script.name == "full.sh" else (ONE_DATASET.get(script.name, "retinamnist"),)
    if script.name in ONE_DATASET:
        env["DATASETS"] = ONE_DATASET[script.name]
    else:
        env.pop("DATASETS", None)
    proc = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    done = proc.stdout.count("verl-med dry run: everything up to training checked")
    assert done == len(datasets), proc.stdout[-3000:]
    assert "acc=1 for all" in proc.stdout or "trained_text" in proc.stdout
