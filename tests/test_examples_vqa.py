"""The medical-VQA example runs: one generic script (`examples/vqa/run.sh <benchmark>`) over the `vqa` preset
(`configs/med/experiment/vqa.yaml` with `med.dataset=<benchmark>`), reading what differs per benchmark from the
benchmark's registration (`data_preprocess/vqa/registry.py::ExampleRun`), so a new benchmark needs no preset or
script. Each benchmark's run composes and passes verl's validation; on a CPU host the script converts the
benchmark's release (tiny copies in its public layout, `tests/fixtures_vqa.py`), runs the dry run on the real rows
and says what training needs; without the release it names the variable to set and the download command. Each
script runs under bash with its ``python -m`` commands (converter, entry point) recorded, then replayed in-process
(``fixtures_perception.record_script``); their own processes are started by the converter's CLI test
(tests/test_convert_vqa.py) and the example scripts' smoke test (tests/test_examples_dry_run.py). The compositions
are checked in-process."""

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
RUN = SCRIPTS / "run.sh"
STUDY = SCRIPTS / "omnimedvqa_cross_modality.sh"
DRY_RUN_DONE = "verl-med dry run: everything up to training checked"
NO_GPU = shutil.which("nvidia-smi") is None


def benchmarks() -> list[str]:
    from data_preprocess.vqa import benchmark_names

    return benchmark_names()


def example_run(benchmark: str):
    from data_preprocess.vqa.registry import get_benchmark

    return get_benchmark(benchmark).run


def test_the_scripts_are_the_generic_run_and_the_study():
    """No script or preset per benchmark: the generic run reads the registry. Every script is listed in
    examples/README.md."""
    assert sorted(p.name for p in SCRIPTS.glob("*.sh")) == [STUDY.name, RUN.name]
    assert not (REPO / "configs" / "med" / "vqa").exists()
    readme = (REPO / "examples" / "README.md").read_text()
    missing = [p.name for p in SCRIPTS.glob("*.sh") if f"vqa/{p.name}" not in readme]
    assert not missing, f"examples/README.md does not list {missing}"


@pytest.mark.parametrize("benchmark", benchmarks())
def test_benchmark_run_composes_and_validates(benchmark):
    """The vqa preset with the benchmark's registered training overrides, as run.sh composes it.
    Mutation checked: MedXpertQA's ``data.max_response_length=1024`` registered as ``data.max_response_len=1024``
    fails here (Hydra: no such key), as would any override verl does not know."""
    from reward_fns.config import RewardConfig
    from verl_med_plugin.med_settings import check_med_config
    from verl_med_plugin.verl_compat import validate_verl_config

    overrides = example_run(benchmark).train
    cfg = compose_med_config("med/experiment=vqa", f"med.dataset={benchmark}", "med.data_dir=/data", *overrides)
    validate_verl_config(cfg)
    assert check_med_config(cfg) == []
    assert cfg.med.dataset == benchmark and cfg.trainer.experiment_name == f"{benchmark}_vqa"
    assert cfg.data.train_files == f"/data/{benchmark}/train.parquet"
    assert cfg.data.val_files == f"/data/{benchmark}/val.parquet"
    # The modality card is shown; VQA rows have no class list to add.
    assert (cfg.med.knowledge.mode, cfg.med.knowledge.classlist) == ("user", False)
    kwargs = dict(cfg.reward.custom_reward_function.reward_kwargs)
    config = RewardConfig(**kwargs)  # every key is a reward setting, within its bounds
    assert (config.format_weight, config.acc_weight, config.open_reward) == (1.0, 1.0, "recall")


def test_vqa_preset_extends_the_baseline_and_a_benchmark_overrides_it():
    """The benchmark's registered overrides come after the experiment preset, so its limits win; the run's data
    folder follows med.dataset (the cross-modality study trains from its own folder)."""
    from data_preprocess.vqa.example_run import generate_args

    experiment = yaml.safe_load((REPO / "configs" / "med" / "experiment" / "vqa.yaml").read_text())
    assert experiment["defaults"][0] == "vrft_baseline"
    overrides = example_run("medxpertqa_mm").train
    cfg = compose_med_config("med/experiment=vqa", "med.dataset=medxpertqa_mm", "med.data_dir=/data", *overrides)
    assert (cfg.data.max_prompt_length, cfg.data.max_response_length) == (4096, 1024)
    # the final generation answers as long as the rollouts did
    assert generate_args(overrides) == ["--max_tokens", "1024"]
    cfg = compose_med_config("med/experiment=vqa", "med.dataset=omnimedvqa_xmod_ct", "med.data_dir=/data")
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


@pytest.mark.parametrize("benchmark", benchmarks())
def test_script_without_its_release_names_the_variable(benchmark, tmp_path, tiny_model_dir):
    """Mutation checked: ``prepare_vqa`` printing a fixed hint instead of the registered download command fails."""
    env = _script_env(tmp_path, tiny_model_dir)
    proc = subprocess.run(["bash", str(RUN), benchmark], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    # the training benchmark's release is asked for first when there is one
    asked = example_run(benchmark).train_on or benchmark
    assert f"set {asked.upper()}_DIR to it" in proc.stderr, proc.stderr
    assert example_run(asked).download in proc.stderr, proc.stderr


def test_script_without_a_benchmark_or_with_an_unknown_one_says_so(tmp_path, tiny_model_dir):
    env = _script_env(tmp_path, tiny_model_dir)
    proc = subprocess.run(["bash", str(RUN)], env=env, capture_output=True, text=True, timeout=120)
    assert (proc.returncode, proc.stderr.count("error: usage: bash examples/vqa/run.sh <benchmark>")) == (2, 1)
    proc = subprocess.run(["bash", str(RUN), "nope"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "verl-med: error: --benchmark 'nope': unknown; choose from" in proc.stderr
    assert "Traceback" not in proc.stderr
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


def script_runs() -> list:
    """run.sh once per registered benchmark, and the study."""
    return [pytest.param(RUN, (name,), id=name) for name in benchmarks()] + [pytest.param(STUDY, (), id=STUDY.stem)]


@pytest.mark.parametrize(("script", "args"), script_runs())
def test_script_dry_run_on_fixture_release(script, args, releases, tmp_path, tiny_model_dir):
    env = _script_env(tmp_path, tiny_model_dir)
    env.update({f"{name.upper()}_DIR": str(path) for name, path in releases.items()})
    proc, commands = record_script(script, env, tmp_path / "recorded", timeout=600, args=args)
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
    name = args[0] if args else script.stem
    if script == STUDY:
        folder = data / "omnimedvqa_xmod_ct_computed_tomography"
        assert run["med"]["dataset"] == folder.name
        assert _modalities(folder / "train.parquet") == {"CT(Computed Tomography)"}
        tested = _modalities(folder / "test.parquet")
        assert tested and "CT(Computed Tomography)" not in tested  # only modalities never trained on
        assert run["med"]["knowledge"]["mode"] == "none"  # no card naming the modality never trained on
    elif example_run(name).train_on:  # MedXpertQA-MM: trains and validates on PMC-VQA
        assert run["data"]["train_files"] == str(data / "pmc_vqa" / "train.parquet")
        assert run["data"]["val_files"] == str(data / "pmc_vqa" / "val.parquet")
    else:
        assert run["med"]["dataset"] == name and Path(run["data"]["train_files"]).parent == data / name
    if script == RUN:
        # The split the final evaluation reads was written. Mutation checked: PMC-VQA's evaluate_split "test"
        # (not converted: its converter flags name test_clean) fails here.
        assert (data / name / f"{example_run(name).evaluate_split}.parquet").is_file()
    assert Path(run["data"]["train_files"]).is_file() and Path(run["data"]["val_files"]).is_file()
    # The validation curve never reads a test split (the test split is read once, by the final evaluation).
    # Mutation checked: PMC-VQA's registered val_files=test_clean.parquet -> fails for pmc_vqa.
    assert Path(run["data"]["val_files"]).name == "val.parquet", run["data"]["val_files"]


# --- a contribution: a new benchmark is its module (plus its fixture): no preset, no script -----------------------

TOY_DOWNLOAD = "curl -o ~/downloads/toy_vqa.tar https://example.org/toy_vqa.tar"


def toy_module() -> str:
    """The throwaway benchmark of tests/test_convert_vqa.py with a val split and its example-run facts."""
    from test_convert_vqa import TOY_MODULE

    return (
        TOY_MODULE.replace(
            "from data_preprocess.vqa.registry import SplitItems, register",
            "from data_preprocess.vqa.registry import ExampleRun, SplitItems, register",
        )
        .replace(
            'layout="a folder with qa.json and its images")',
            f'layout="a folder with qa.json and its images", run=ExampleRun(download="{TOY_DOWNLOAD}"))',
        )
        .replace('for split in ("train", "test")', 'for split in ("train", "val", "test")')
    )


def write_toy_release(root: Path) -> Path:
    import json

    from fixtures_vqa import image_bytes

    root.mkdir(parents=True)
    records = []
    for k, split in enumerate(["train", "train", "val", "test"]):
        (root / f"img{k}.png").write_bytes(image_bytes(k))
        records.append({"split": split, "question": "Is there a lesion?", "answer": "yes", "image": f"img{k}.png"})
    (root / "qa.json").write_text(json.dumps(records))
    return root


def test_a_new_benchmark_runs_through_the_generic_script(tmp_path, tiny_model_dir, monkeypatch):
    """The contribution made as a newcomer would: one module dropped into ``data_preprocess/vqa/`` (here into a
    copy of the package, first on the script's PYTHONPATH; in-process, on the package's search path). With nothing
    else added, ``run.sh toy_vqa`` names its download command without the release, then converts it and runs the
    dry run on its rows. Mutation checked: ``data_preprocess.vqa._load_all`` importing a fixed tuple of the shipped
    modules fails here (``--benchmark 'toy_vqa': unknown``)."""
    import data_preprocess.vqa as vqa_package
    from data_preprocess.vqa import registry

    source = tmp_path / "src"
    shutil.copytree(REPO / "data_preprocess", source / "data_preprocess", ignore=shutil.ignore_patterns("__pycache__"))
    (source / "data_preprocess" / "vqa" / "toy_vqa.py").write_text(toy_module())
    env = _script_env(tmp_path, tiny_model_dir)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(source), os.environ.get("PYTHONPATH")]))
    monkeypatch.chdir(tmp_path)  # ``python -m`` puts the working folder first: not the checkout's own package
    proc = subprocess.run(["bash", str(RUN), "toy_vqa"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and TOY_DOWNLOAD in proc.stderr and "set TOY_VQA_DIR to it" in proc.stderr, proc

    contributed = tmp_path / "contributed"
    contributed.mkdir()
    (contributed / "toy_vqa.py").write_text(toy_module())
    monkeypatch.setattr(vqa_package, "__path__", [*vqa_package.__path__, str(contributed)])
    monkeypatch.setattr(registry, "BENCHMARKS", dict(registry.BENCHMARKS))
    monkeypatch.delitem(sys.modules, "data_preprocess.vqa.toy_vqa", raising=False)
    env["TOY_VQA_DIR"] = str(write_toy_release(tmp_path / "release"))
    try:
        proc, commands = record_script(RUN, env, tmp_path / "recorded", timeout=600, args=("toy_vqa",))
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-4000:]
        stdout = replay(commands)
    finally:
        sys.modules.pop("data_preprocess.vqa.toy_vqa", None)
    assert stdout.count(DRY_RUN_DONE) == 1 and "acc=1 for all" in stdout, stdout[-3000:]
    assert sorted(p.name for p in (tmp_path / "data" / "toy_vqa").glob("*.parquet")) == [
        "test.parquet",
        "train.parquet",
        "val.parquet",
    ]


# --- the zoom tool on a VQA benchmark (examples/zoom/run.sh <benchmark>) ------------------------------------------

ZOOM = REPO / "examples" / "zoom" / "run.sh"


def test_zoom_script_on_a_vqa_benchmark_dry_run(releases, tmp_path, tiny_model_dir):
    """``examples/zoom/run.sh slake``: SLAKE converted as run.sh converts it, the BUSI warm-start traces, the SFT
    dry run, then the ``zoom_vqa`` preset's dry run on SLAKE's rows. Mutation checked: the script picking
    ``zoom`` for every target (the classification preset: no VQA reward settings, no modality card) fails here."""
    from fixtures_data import write_busi_like_folder
    from test_examples_dry_run import _busi_with_more_lesions, _zoom_run_checks

    busi = _busi_with_more_lesions(write_busi_like_folder(tmp_path / "busi_base"), tmp_path / "busi")  # a val split
    env = _script_env(tmp_path, tiny_model_dir)
    env.update(SLAKE_DIR=str(releases["slake"]), BUSI_DIR=str(busi))
    proc, commands = record_script(ZOOM, env, tmp_path / "recorded", timeout=600, args=("slake",))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-4000:]
    assert [module for module, *_ in commands][0] == "data_preprocess.vqa", commands
    stdout = proc.stdout + replay(commands)
    _zoom_run_checks(tmp_path, stdout, commands, "slake", "zoom_vqa")
    from omegaconf import OmegaConf

    (run_config,) = (tmp_path / "runs").glob("slake_zoom_vqa_*/.hydra/config.yaml")
    run = OmegaConf.load(run_config)
    assert run.med.knowledge.mode == "user"  # the VQA row's modality card
    assert run.data.train_files == str(tmp_path / "data" / "slake" / "train.parquet")


def test_zoom_script_refuses_a_test_only_benchmark(tmp_path, tiny_model_dir):
    """A test-only benchmark (MedXpertQA-MM, trained on PMC-VQA by run.sh) has no training rows for zoom_vqa: one
    error naming the benchmark to train on, before any conversion."""
    name = next(b for b in benchmarks() if example_run(b).train_on)
    env = _script_env(tmp_path, tiny_model_dir)
    proc = subprocess.run(["bash", str(ZOOM), name], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and f"examples/zoom/run.sh {example_run(name).train_on}" in proc.stderr, proc.stderr
    assert not (tmp_path / "data").exists()
