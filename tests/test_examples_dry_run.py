"""Every recipe preset composes and passes verl's config validation; every example script runs to the end of
its dry run on fixture data, so a renamed key or a broken path fails here, not on a user's cluster.

Speed: two scripts run for real, one process per command as a user runs them (the CLI smoke test of the
converters, ``verl_med_plugin.main`` and ``sft_preflight``); the others run under bash with a ``python`` on PATH that
records each ``python -m <entry point> ...`` they issue, and the test then runs those commands in order, in-process
(``run_in_process``), instead of paying a ~15 s verl/torch import per command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures_data import PAPER_ROWS, REPO, preset_options, write_busi_like_folder, write_fake_medmnist_npz
from fixtures_perception import composed_preset, experiment_params, preset_combinations, record_script, replay
from hydra import compose, initialize_config_module

EXAMPLES = sorted([REPO / "examples" / "retinamnist_grpo_1gpu.sh", *(REPO / "examples" / "paper").glob("*.sh")])
# One process per command, as a user runs them: every entry point the scripts call is started for real once.
REAL_RUNS = ("retinamnist_grpo_1gpu.sh", "sft_baseline.sh")
DONE = "verl-med dry run: everything up to training checked"


def test_every_paper_row_has_a_preset():
    assert set(PAPER_ROWS) <= set(preset_options("experiment"))


@pytest.mark.parametrize("experiment", experiment_params(default=True))
def test_every_preset_combination_composes_and_validates(experiment):
    from verl_med_plugin.verl_compat import validate_verl_config

    combinations = [c for c in preset_combinations("and default") if c[0] == experiment]
    assert len(combinations) == len(preset_options("model")) * len(preset_options("hardware"))
    for combination in combinations:
        cfg = composed_preset(*combination)  # composed once per process, shared with the other preset tests
        validate_verl_config(cfg)  # raises on a key verl's schema rejects
        assert cfg.reward.custom_reward_function.path == "pkg://reward_fns"
        assert "custom_reward_function" not in cfg or cfg.custom_reward_function.path is None  # legacy key unused
        assert cfg.reward.custom_reward_function.reward_kwargs.box_format in ("abs", "rel1000")


def test_sft_preset_composes_over_verl_sft_trainer():
    with initialize_config_module("verl_med_plugin.configs", version_base=None):
        cfg = compose("sft_med", overrides=["med.data_dir=/d"])
    assert cfg.data.train_files == "/d/retinamnist/sft_train.parquet"
    assert cfg.data.messages_key == "messages" and "engine" in cfg  # verl's sft_trainer_engine underneath


def _write_breastmnist_from_busi(path: Path, busi: Path) -> Path:
    """BreastMNIST as MedMNIST made it: its val/test images are BUSI images squashed to 28 px (4 + 4 of the fake
    BUSI folder's 10), so the localization rows' --exclude must find every one of them (data_preprocess.exclude)."""
    import numpy as np
    from PIL import Image

    write_fake_medmnist_npz(path, n_classes=2, channels=1, counts=(8, 4, 4), seed=3)
    arrays = dict(np.load(path))
    sources = sorted(p for p in busi.rglob("*.png") if "_mask" not in p.name)[:8]
    small = np.stack(
        [np.asarray(Image.open(p).convert("L").resize((28, 28), Image.Resampling.BICUBIC)) for p in sources]
    )
    arrays["val_images"], arrays["test_images"] = small[:4], small[4:]
    np.savez_compressed(path, **arrays)
    return path


@pytest.fixture(scope="module")
def example_env(tmp_path_factory, tiny_model_dir):
    root = tmp_path_factory.mktemp("examples")
    npz_dir = root / "npz"
    write_fake_medmnist_npz(npz_dir / "retinamnist.npz", n_classes=5, counts=(10, 5, 5), seed=1)
    write_fake_medmnist_npz(npz_dir / "bloodmnist.npz", n_classes=8, counts=(16, 8, 8), seed=2)
    busi = write_busi_like_folder(root / "busi")
    _write_breastmnist_from_busi(npz_dir / "breastmnist.npz", busi)
    env = dict(
        os.environ,
        VERL_MED_DRY_RUN="1",
        MEDMNIST_SIZE="28",
        MEDMNIST_NPZ_DIR=str(npz_dir),
        BUSI_DIR=str(busi),
        MODEL_PATH=str(tiny_model_dir),
        DATA_DIR=str(root / "data"),
        RUNS_DIR=str(root / "runs"),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    )
    return env


# The paper rows loop over $DATASETS (examples/common.sh). To keep this test's time, each row dry-runs one dataset of
# the task type it was written for; the full row runs the whole default list (multi-class, binary, ordinal).
ONE_DATASET = {
    "mfrs.sh": "retinamnist",
    "sft_baseline.sh": "retinamnist",
    "localization.sh": "breastmnist",
    "localization_curriculum.sh": "breastmnist",
    "vrft_baseline.sh": "bloodmnist",
    "knowledge.sh": "bloodmnist",
    "recite_pos.sh": "bloodmnist",
    "recite_neg.sh": "bloodmnist",
    "no_think.sh": "breastmnist",
}
DEFAULT_DATASETS = ("bloodmnist", "breastmnist", "retinamnist")


def _script_env(script: Path, example_env: dict[str, str]) -> tuple[dict[str, str], tuple[str, ...]]:
    env = dict(example_env)
    env.pop("DATASET", None)
    datasets = DEFAULT_DATASETS if script.name == "full.sh" else (ONE_DATASET.get(script.name, "retinamnist"),)
    if script.name in ONE_DATASET:
        env["DATASETS"] = ONE_DATASET[script.name]
    else:
        env.pop("DATASETS", None)
    return env, datasets


def _check_header(script: Path) -> None:
    header = script.read_text().splitlines()[1]
    assert header.startswith("# ") and ("Paper row" in header or "Main job" in header or "combination" in header)


def _check_output(stdout: str, script: Path, datasets: tuple[str, ...]) -> None:
    """One finished dry run per dataset, each with its own proof: the SFT row shows the text it trains on, an RL row
    its reference answers scored by the reward. Mutation checked: ``preflight._score_reference_answers`` running for
    the first dry run of a process only fails here on full.sh (three datasets, one scored); the former check, either
    marker anywhere in the output, passed it."""
    assert stdout.count(DONE) == len(datasets), stdout[-3000:]
    marker = "trained_text" if script.name == "sft_baseline.sh" else "acc=1 for all"
    assert stdout.count(marker) == len(datasets), stdout[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize("name", REAL_RUNS)
def test_example_script_dry_run_for_real(name, example_env):
    """The CLI smoke test: bash, the converters and the entry points each in their own process."""
    script = next(p for p in EXAMPLES if p.name == name)
    _check_header(script)
    env, datasets = _script_env(script, example_env)
    proc = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    _check_output(proc.stdout, script, datasets)


@pytest.mark.parametrize("script", [p for p in EXAMPLES if p.name not in REAL_RUNS], ids=lambda p: p.name)
def test_example_script_dry_run(script, example_env, tmp_path):
    """The script under bash records its ``python -m`` commands (``fixtures_perception.record_script``); each then
    runs in-process, in order, and must exit 0 (the script runs under ``set -e``)."""
    _check_header(script)
    env, datasets = _script_env(script, example_env)
    proc, commands = record_script(script, env, tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    entry_points = [c[0] for c in commands if c[0].startswith("verl_med_plugin.")]
    assert len(entry_points) == len(datasets), commands  # one dry run per dataset of the row
    _check_output(proc.stdout + replay(commands), script, datasets)


ZOOM = REPO / "examples" / "zoom" / "run.sh"


def _zoom_run_checks(tmp_path: Path, stdout: str, commands: list, target: str, experiment: str) -> None:
    """What examples/zoom/run.sh must have done in a dry run: the SFT dry run on zoom traces (verl's SFT dataset
    read them with verl-med's template of the model), then the GRPO dry run of the zoom preset on the target."""
    import pyarrow.parquet as pq
    from omegaconf import OmegaConf

    modules = [module for module, *_ in commands]
    assert modules.index("verl_med_plugin.sft_preflight") < modules.index("verl_med_plugin.main"), modules
    (sft,) = [argv for module, *argv in commands if module == "data_preprocess.sft"]
    assert sft[sft.index("--zoom_tool") + 1] == "qwen2_5_vl"  # the template of the default model preset
    assert stdout.count(DONE) == 2 and "acc=1 for all" in stdout, stdout[-3000:]
    assert "chat_template: qwen2_5_vl" in stdout, stdout[-3000:]  # sft_med.yaml's med.template, derived
    traces = pq.read_table(tmp_path / "data" / f"busi_abs_minus_{target}" / "sft_zoom_train.parquet").to_pylist()
    assert any(len(t["images"]) == 2 and any(m["role"] == "tool" for m in t["messages"]) for t in traces)
    (run_config,) = (tmp_path / "runs").glob(f"{target}_{experiment}_*/.hydra/config.yaml")
    run = OmegaConf.load(run_config)
    assert run.reward.custom_reward_function.name == "compute_zoom_score" and run.med.tool == "zoom"
    assert run.actor_rollout_ref.rollout.multi_turn.enable
    assert run.trainer.experiment_name == f"{target}_{experiment}"


def _busi_with_more_lesions(busi: Path, out: Path, per_class: int = 6) -> Path:
    """A copy of the fixture's BUSI folder plus new images with masks (BUSI's layout): BreastMNIST's val/test are
    8 of the fixture's 10 images, and the zoom traces need train and val rows after their exclusion."""
    import numpy as np
    from PIL import Image

    shutil.copytree(busi, out)
    rng = np.random.default_rng(7)
    for cls in ("benign", "malignant", "normal"):
        for i in range(per_class):
            stem = f"{cls} ({100 + i})"
            Image.fromarray(rng.integers(0, 255, (60, 80), dtype=np.uint8)).save(out / cls / f"{stem}.png")
            mask = np.zeros((60, 80), np.uint8)
            if cls != "normal":
                mask[5 + i : 40, 10 + i : 60] = 255
            Image.fromarray(mask).save(out / cls / f"{stem}_mask.png")
    return out


def test_zoom_example_dry_run_on_breastmnist(example_env, tmp_path):
    """examples/zoom/run.sh (default target BreastMNIST): BreastMNIST and BUSI converted (BUSI without
    BreastMNIST's val/test images), zoom traces written and read by the SFT dry run, the zoom preset's dry run.
    Mutations checked: the script's ``--zoom_tool`` dropped (plain SFT rows: no trace, no tools column) and
    ``med/experiment=vrft_baseline`` in place of ``zoom`` (no tool, reward compute_score) both fail here."""
    busi = _busi_with_more_lesions(Path(example_env["BUSI_DIR"]), tmp_path / "busi")
    env = dict(example_env, DATA_DIR=str(tmp_path / "data"), RUNS_DIR=str(tmp_path / "runs"), BUSI_DIR=str(busi))
    env.pop("DATASET", None)
    env.pop("DATASETS", None)
    proc, commands = record_script(ZOOM, env, tmp_path / "recorded")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    stdout = proc.stdout + replay(commands)
    _zoom_run_checks(tmp_path, stdout, commands, "breastmnist", "zoom")
    if shutil.which("nvidia-smi") is None:
        assert "No GPU visible" in proc.stdout and "scripts/setup.sh --gpu" in proc.stdout
