"""The medical-VQA presets and example scripts: every benchmark the converter registers has a preset
(`configs/med/vqa/<name>.yaml` over `configs/med/experiment/vqa.yaml`) that composes and passes verl's validation,
and a script (`examples/vqa/<name>.sh`) that, on a CPU host, converts the benchmark's release (tiny copies in its
public layout, `tests/fixtures_vqa.py`), runs the dry run on the real rows and says what training needs; without
the release it says which variable to set (bash alone, before any Python starts). Each script runs under bash
with its ``python -m`` commands (converter, entry point) recorded, then replayed in-process
(``fixtures_perception.record_script``); their own processes are started by the converter's CLI test
(tests/test_convert_vqa.py) and the example scripts' smoke test (tests/test_examples_dry_run.py). The presets are
checked in-process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from fixtures_data import REPO
from fixtures_perception import compose_med_config, record_script, replay
from fixtures_vqa import WRITERS

SCRIPTS = REPO / "examples" / "vqa"
PRESETS = REPO / "configs" / "med" / "vqa"
STUDY = "omnimedvqa_cross_modality"
DRY_RUN_DONE = "verl-med dry run: everything up to training checked"
NO_GPU = shutil.which("nvidia-smi") is None


def benchmarks() -> list[str]:
    from data_preprocess.vqa import benchmark_names

    return benchmark_names()


def test_every_benchmark_has_a_preset_and_a_script():
    names = benchmarks()
    assert sorted(p.stem for p in PRESETS.glob("*.yaml")) == names
    assert sorted(p.stem for p in SCRIPTS.glob("*.sh")) == sorted([*names, STUDY])
    readme = (REPO / "examples" / "README.md").read_text()
    missing = [p.name for p in SCRIPTS.glob("*.sh") if f"vqa/{p.name}" not in readme]
    assert not missing, f"examples/README.md does not list {missing}"


@pytest.mark.parametrize("benchmark", benchmarks())
def test_benchmark_preset_composes_and_validates(benchmark):
    from reward_fns.config import RewardConfig
    from verl_med_plugin.med_settings import check_med_config
    from verl_med_plugin.verl_compat import validate_verl_config

    cfg = compose_med_config("med/experiment=vqa", f"+med/vqa={benchmark}", "med.data_dir=/data")
    validate_verl_config(cfg)
    assert check_med_config(cfg) == []
    assert cfg.med.dataset == benchmark and cfg.trainer.experiment_name == f"{benchmark}_vqa"
    assert cfg.data.train_files == f"/data/{benchmark}/train.parquet"
    assert str(cfg.data.val_files).startswith(f"/data/{benchmark}/")
    # The modality card is shown; VQA rows have no class list to add.
    assert (cfg.med.knowledge.mode, cfg.med.knowledge.classlist) == ("user", False)
    kwargs = dict(cfg.reward.custom_reward_function.reward_kwargs)
    config = RewardConfig(**kwargs)  # every key is a reward setting, within its bounds
    assert (config.format_weight, config.acc_weight, config.open_reward) == (1.0, 1.0, "recall")


def test_vqa_preset_extends_the_baseline_and_a_benchmark_overrides_it():
    """The benchmark file comes after the experiment preset, so its limits win; the run's data folder follows
    med.dataset (the cross-modality study trains from its own folder)."""
    experiment = yaml.safe_load((REPO / "configs" / "med" / "experiment" / "vqa.yaml").read_text())
    assert experiment["defaults"][0] == "vrft_baseline"
    cfg = compose_med_config("med/experiment=vqa", "+med/vqa=medxpertqa_mm", "med.data_dir=/data")
    assert (cfg.data.max_prompt_length, cfg.data.max_response_length) == (4096, 1024)
    cfg = compose_med_config(
        "med/experiment=vqa", "+med/vqa=omnimedvqa", "med.data_dir=/data", "med.dataset=omnimedvqa_xmod_ct"
    )
    assert (cfg.data.train_files, cfg.data.val_files) == (
        "/data/omnimedvqa_xmod_ct/train.parquet",
        "/data/omnimedvqa_xmod_ct/val.parquet",
    )


def _script_env(root: Path, model_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_DIR") and k not in ("DATASET", "DATASETS")}
    env.update(
        VERL_MED_DRY_RUN="1",
        MODEL_PATH=str(model_dir),
        DATA_DIR=str(root / "data"),
        RUNS_DIR=str(root / "runs"),
        VERL_MED_EXTRA_OVERRIDES="med.dry_run_rows=2",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    )
    return env


@pytest.mark.parametrize("script", sorted(SCRIPTS.glob("*.sh")), ids=lambda p: p.name)
def test_script_without_its_release_names_the_variable(script, tmp_path, tiny_model_dir):
    env = _script_env(tmp_path, tiny_model_dir)
    proc = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "_DIR to it" in proc.stderr and "download" in proc.stderr, proc.stderr
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").rglob("*.parquet"))


@pytest.fixture(scope="module")
def releases(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("vqa_releases")
    out = {name: write(root / name) for name, write in WRITERS.items() if name != "omnimedvqa"}
    # Five questions per modality and question type, so the script's seeded 70/10/20 split (rounded per stratum)
    # gives every split a question.
    out["omnimedvqa"] = WRITERS["omnimedvqa"](root / "omnimedvqa", per_dataset=15)
    # The real PMC-VQA release also ships test_clean.csv (the split it is reported on), which the script converts.
    shutil.copy(out["pmc_vqa"] / "test.csv", out["pmc_vqa"] / "test_clean.csv")
    return out


def _modalities(path: Path) -> set[str]:
    return {info["modality"] for info in pq.read_table(path, columns=["extra_info"]).column(0).to_pylist()}


@pytest.mark.parametrize("script", sorted(SCRIPTS.glob("*.sh")), ids=lambda p: p.name)
def test_script_dry_run_on_fixture_release(script, releases, tmp_path, tiny_model_dir):
    env = _script_env(tmp_path, tiny_model_dir)
    env.update({f"{name.upper()}_DIR": str(path) for name, path in releases.items()})
    proc, commands = record_script(script, env, tmp_path / "recorded", timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-4000:]
    assert [module for module, *_ in commands].count("verl_med_plugin.main") == 1, commands
    stdout = proc.stdout + replay(commands)  # the converter(s), then the dry run, in the script's order
    log = stdout[-3000:] + proc.stderr[-4000:]
    assert stdout.count(DRY_RUN_DONE) == 1, log
    assert "acc=1 for all" in stdout, log  # every reference answer scored correct by the configured reward
    if NO_GPU:
        assert "No GPU visible" in stdout and "scripts/setup.sh --gpu" in stdout, log
    from omegaconf import OmegaConf

    run = OmegaConf.to_container(OmegaConf.load(next((tmp_path / "runs").glob("*/.hydra/config.yaml"))), resolve=True)
    data = tmp_path / "data"
    name = script.stem
    if name == STUDY:
        folder = data / "omnimedvqa_xmod_ct_computed_tomography"
        assert run["med"]["dataset"] == folder.name
        assert _modalities(folder / "train.parquet") == {"CT(Computed Tomography)"}
        tested = _modalities(folder / "test.parquet")
        assert tested and "CT(Computed Tomography)" not in tested  # only modalities never trained on
        assert run["med"]["knowledge"]["mode"] == "none"  # no card naming the modality never trained on
    elif name == "medxpertqa_mm":
        assert run["data"]["train_files"] == str(data / "pmc_vqa" / "train.parquet")
        assert run["data"]["val_files"] == str(data / "pmc_vqa" / "val.parquet")
    else:
        assert run["med"]["dataset"] == name and Path(run["data"]["train_files"]).parent == data / name
    assert Path(run["data"]["train_files"]).is_file() and Path(run["data"]["val_files"]).is_file()
    # The validation curve never reads a test split (the test split is read once, by the final evaluation).
    # Mutation checked: PMC-VQA's val_files back to test_clean.parquet -> fails for pmc_vqa.sh.
    assert Path(run["data"]["val_files"]).name == "val.parquet", run["data"]["val_files"]
