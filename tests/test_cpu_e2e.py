"""verl-med inside verl's real trainer, end to end on CPU: GRPO steps with vLLM's CPU build as rollout and FSDP2
over gloo as actor and reference, on a tiny random-weight Qwen2.5-VL and fixture MedMNIST data.

Start-up (Ray, workers, vLLM) costs minutes, so each verl start is a module fixture and several tests read what
it left: the file logger, ``med_sampler_outcomes.jsonl``, checkpoints and validation dumps. A failed run raises
with the relevant lines of its log (the whole log stays in the run folder).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from cpu_e2e import (
    CPU_OVERRIDES,
    SMALL_RUN,
    cpu_env,
    metrics_by_step,
    outcomes_by_step,
    run_logged,
)
from fixtures_data import REPO, write_fake_medmnist_npz
from fixtures_model import build_tiny_qwen_vl_dir
from omegaconf import OmegaConf

pytestmark = pytest.mark.e2e

STEPS = 3
SHAPED_REWARD = str(REPO / "tests" / "e2e_reward.py")  # real reward + a term that varies within a group


def _testbed_ready() -> str | None:
    try:
        import importlib.metadata as md

        md.version("verl-med-cpu-testbed")
        md.version("vllm")
    except Exception:  # noqa: BLE001
        return "the CPU test bed is not installed (bash scripts/setup.sh --cpu)"
    return None


if _testbed_ready():
    pytest.skip(_testbed_ready(), allow_module_level=True)


@pytest.fixture(scope="module")
def e2e(tmp_path_factory):
    """A tiny trainable Qwen2.5-VL (random weights, real tokenizer and processor) and RetinaMNIST-layout data
    converted by our own converter."""
    root = tmp_path_factory.mktemp("e2e")
    model = build_tiny_qwen_vl_dir(root / "model", weights=True)
    npz = write_fake_medmnist_npz(root / "npz" / "retinamnist.npz", n_classes=5, counts=(10, 5, 5), seed=1)
    data = root / "data"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "data_preprocess.medmnist",
            "--dataset",
            "retinamnist",
            "--size",
            "28",
            "--npz",
            str(npz),
            "--image_size",
            "56",
            "--output_dir",
            str(data / "retinamnist"),
        ],
        check=True,
        cwd=REPO,
        capture_output=True,
    )
    return {"root": root, "model": model, "data": data}


def _train(e2e: dict, name: str, *extra: str, module: str = "verl_med_plugin.main") -> Path:
    run = e2e["root"] / name
    run.mkdir()
    common = [
        f"actor_rollout_ref.model.path={e2e['model']}",
        f"trainer.default_local_dir={run / 'ckpt'}",
        f"trainer.validation_data_dir={run / 'val'}",
        f"trainer.rollout_data_dir={run / 'rollout'}",
        "trainer.val_before_train=false",
        *CPU_OVERRIDES,
        *SMALL_RUN,
    ]
    if module == "verl_med_plugin.main":
        common += [f"med.data_dir={e2e['data']}", "med.dataset=retinamnist", f"hydra.run.dir={run}"]
    run_logged(
        [sys.executable, "-m", module, *common, *extra],
        run / "train.log",
        env=cpu_env({"VERL_FILE_LOGGER_PATH": str(run / "metrics.jsonl")}),
        cwd=run,
    )
    return run


@pytest.fixture(scope="module")
def grpo_run(e2e) -> Path:
    """3 GRPO steps: knowledge in the user turn, MFRS, curriculum sampler; a checkpoint every step, validation at
    the end."""
    return _train(
        e2e,
        "grpo",
        f"reward.custom_reward_function.path={SHAPED_REWARD}",
        "med.knowledge.mode=user",
        "+med.reward.ordinal_reward=mfrs",
        "med.sampler.enable=true",
        f"trainer.total_training_steps={STEPS}",
        "trainer.save_freq=1",
        f"trainer.test_freq={STEPS}",
        "actor_rollout_ref.actor.optim.lr=1e-3",
    )


def _sampler_state(obj):
    """The curriculum sampler's ``state_dict`` inside verl's ``data.pt`` (the dataloader's state)."""
    if isinstance(obj, dict):
        if {"weights", "fingerprint", "rng"} <= set(obj):
            return obj
        for value in obj.values():
            found = _sampler_state(value)
            if found is not None:
                return found
    return None


def _run_config(run: Path):
    return OmegaConf.load(run / ".hydra" / "config.yaml")


def _train_dataset(config):
    from verl_med_plugin import verl_compat

    model = verl_compat.load_rollout_model(config)
    dataset = verl_compat.create_dataset([config.data.train_files], config.data, model.tokenizer, model.processor)
    return dataset, model


def test_grpo_steps_update_the_actor(grpo_run, e2e):
    metrics = metrics_by_step(grpo_run / "metrics.jsonl")
    assert sorted(metrics) == list(range(1, STEPS + 1))
    # Rewards vary within groups (shaping term): non-zero advantages and gradients, and from step 2 on the policy
    # has moved away from the reference (KL > 0) while vLLM samples from the synced weights (tiny prob diff).
    assert all(m["critic/advantages/max"] > 0 and m["actor/grad_norm"] > 0 for m in metrics.values())
    assert all(metrics[step]["actor/kl_loss"] > 0 for step in range(2, STEPS + 1))
    assert all(m["training/rollout_probs_diff_max"] < 1e-3 for m in metrics.values())
    # Every step left a checkpoint; the trained weights differ from the initial ones.
    tracker = (grpo_run / "ckpt" / "latest_checkpointed_iteration.txt").read_text().strip()
    assert tracker == str(STEPS)
    from safetensors.torch import load_file

    initial = load_file(str(e2e["model"] / "model.safetensors"))
    shard = torch.load(
        grpo_run / "ckpt" / f"global_step_{STEPS}" / "actor" / "model_world_size_1_rank_0.pt",
        weights_only=False,
        map_location="cpu",
    )
    changed = [
        name
        for name, tensor in shard.items()
        if name.endswith("layers.0.mlp.down_proj.weight")
        and not torch.equal(
            tensor.to_local().float() if hasattr(tensor, "to_local") else tensor.float(),
            next(v for k, v in initial.items() if k.endswith("layers.0.mlp.down_proj.weight")).float(),
        )
    ]
    assert changed, "the actor's weights did not change"


def test_every_trajectory_carried_the_sampler_fields_and_metrics_reached_the_logger(grpo_run):
    outcomes = outcomes_by_step(grpo_run / "ckpt" / "med_sampler_outcomes.jsonl")
    assert sorted(outcomes) == list(range(1, STEPS + 1))
    for record in outcomes.values():
        # 2 prompts x 4 samples: sampler_index, uid (group), rm_scores and reward_extra_info.acc per trajectory.
        assert len(record["sample_indices"]) == len(record["accuracy"]) == len(record["scores"]) == 8
        assert sorted(np.bincount(record["group_ids"]).tolist()) == [4, 4]
        assert all(0 <= i < 10 for i in record["sample_indices"])
        assert any(s > 0 for s in record["scores"])  # the shaping term reached rm_scores
    metrics = metrics_by_step(grpo_run / "metrics.jsonl")
    for step, data in metrics.items():
        assert {
            "med_sampler/batch_acc",
            "med_sampler/zero_adv_group_frac",
            "med_sampler/seen_frac",
            "timing_s/med_sampler",
        } <= set(data)
        assert not [k for k in data if k.startswith("med_sampler/") and (" " in k or ":" in k)]  # loggers choke
        assert data["med_sampler/batch_acc"] == pytest.approx(np.mean(outcomes[step]["accuracy"]))


def test_sampler_weights_after_each_checkpoint_equal_the_replayed_outcomes(grpo_run):
    from verl_med_plugin.med_settings import SamplerSettings
    from verl_med_plugin.sampler import MedCurriculumSampler

    config = _run_config(grpo_run)
    dataset, _ = _train_dataset(config)
    settings = SamplerSettings.from_config(config.med.sampler)
    replay = MedCurriculumSampler.from_dataset(dataset, settings, int(config.data.train_batch_size))
    outcomes = outcomes_by_step(grpo_run / "ckpt" / "med_sampler_outcomes.jsonl")
    for step in range(1, STEPS + 1):
        record = outcomes[step]
        replay.update(
            np.array(record["sample_indices"]),
            np.array(record["accuracy"]),
            np.array(record["group_ids"]),
            np.array(record["scores"]),
        )
        saved = _sampler_state(torch.load(grpo_run / "ckpt" / f"global_step_{step}" / "data.pt", weights_only=False))
        assert saved is not None, f"no sampler state in global_step_{step}/data.pt"
        np.testing.assert_array_equal(np.asarray(saved["weights"]), replay.state_dict()["weights"])
        np.testing.assert_allclose(np.asarray(saved["acc"]), replay.state_dict()["acc"])


def test_rollout_prompt_ids_equal_the_dry_run_rendering(grpo_run):
    from verl_med_plugin.dataset import render_prompt

    config = _run_config(grpo_run)
    dataset, model = _train_dataset(config)
    first = outcomes_by_step(grpo_run / "ckpt" / "med_sampler_outcomes.jsonl")[1]
    rendered = render_prompt(
        dataset, model.processor, index=first["first_sampler_index"], hf_model_type=model.hf_config.model_type
    )
    assert rendered.num_image_tokens > 0 and "Background knowledge" in rendered.text
    assert first["first_prompt_ids"] == rendered.token_ids


def test_validation_dump_is_read_by_verl_med_eval(grpo_run, e2e):
    dumps = sorted((grpo_run / "val").glob("*.jsonl"))
    assert [p.name for p in dumps] == [f"{STEPS}.jsonl"]
    report = grpo_run / "report"
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "verl-med-eval"),
            f"grpo={grpo_run / 'val'}",
            "--data",
            str(e2e["data"] / "retinamnist" / "val.parquet"),
            "--reward_kwargs",
            f"grpo={grpo_run / '.hydra' / 'config.yaml'}",
            "--out",
            str(report),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (report / "metrics.json").is_file() and (report / "summary.md").is_file()
    assert any(report.glob("*.png"))


@pytest.fixture(scope="module")
def resumed_run(grpo_run, e2e) -> Path:
    """A new process resumed from the first checkpoint of ``grpo_run`` (as after a crash there)."""
    return _train(
        e2e,
        "resumed",
        f"reward.custom_reward_function.path={SHAPED_REWARD}",
        "+med.reward.ordinal_reward=mfrs",
        f"trainer.total_training_steps={STEPS}",
        "trainer.save_freq=-1",
        "trainer.test_freq=-1",
        "actor_rollout_ref.actor.optim.lr=1e-3",
        "trainer.resume_mode=resume_path",
        f"trainer.resume_from_path={grpo_run / 'ckpt' / 'global_step_1'}",
    )


def test_resumed_run_draws_what_the_uninterrupted_run_drew(grpo_run, resumed_run):
    uninterrupted = outcomes_by_step(grpo_run / "ckpt" / "med_sampler_outcomes.jsonl")
    resumed = outcomes_by_step(resumed_run / "ckpt" / "med_sampler_outcomes.jsonl")
    assert sorted(resumed) == list(range(2, STEPS + 1))  # steps after the checkpoint only
    for step in resumed:  # the same prompts, n samples each (trajectories come back in any order)
        assert sorted(resumed[step]["sample_indices"]) == sorted(uninterrupted[step]["sample_indices"]), step


def test_plain_verl_main_ppo_with_the_readme_overrides(e2e):
    """``python -m verl.trainer.main_ppo`` with only the README's overrides (plus the CPU ones): our dataset class and
    reward inside verl's own entry point, no verl-med entry point."""
    import json

    from test_plain_verl_command import README_OVERRIDES

    data = e2e["data"] / "retinamnist"
    run = _train(
        e2e,
        "plain_verl",
        *README_OVERRIDES,
        f"data.train_files={data / 'train.parquet'}",
        f"data.val_files={data / 'val.parquet'}",
        "algorithm.adv_estimator=grpo",
        "trainer.total_training_steps=1",
        "trainer.save_freq=-1",
        "trainer.test_freq=1",
        module="verl.trainer.main_ppo",
    )
    assert list(metrics_by_step(run / "metrics.jsonl")) == [1]
    rollout = [json.loads(line) for line in (run / "rollout" / "1.jsonl").read_text().splitlines()]
    assert all("Background knowledge:" in r["input"] for r in rollout)  # MedRLHFDataset injected the card
    validation = [json.loads(line) for line in (run / "val" / "1.jsonl").read_text().splitlines()]
    assert validation and {"acc", "format", "mfrs", "pred"} <= set(validation[0])  # reward_fns.compute_score's keys
    # trainer.v1.trainer_mode=med_sync: verl's own TaskRunnerV1 built MedSyncTrainer from its registry inside the Ray
    # actor (registered by our verl.plugins entry point there), and its curriculum sampler saw the step's outcomes.
    outcomes = outcomes_by_step(run / "ckpt" / "med_sampler_outcomes.jsonl")
    assert list(outcomes) == [1] and outcomes[1]["sample_indices"]


def test_example_script_chain_data_train_merge_generate_evaluate(e2e):
    """The main job's script as users run it (``examples/retinamnist_grpo_1gpu.sh``): prepare RetinaMNIST, train,
    merge the last checkpoint, generate on the test split, evaluate; only the CPU overrides are added, by
    environment variable. The evaluated model is the trained one."""
    runs, data = e2e["root"] / "chain_runs", e2e["root"] / "chain_data"
    overrides = [
        *CPU_OVERRIDES,
        *SMALL_RUN,
        "trainer.total_training_steps=2",
        "trainer.save_freq=2",
        "trainer.test_freq=-1",
        "trainer.val_before_train=false",
        f"reward.custom_reward_function.path={SHAPED_REWARD}",
        "actor_rollout_ref.actor.optim.lr=1e-3",
    ]
    env = cpu_env(
        {
            "MEDMNIST_SIZE": "28",
            "MEDMNIST_NPZ_DIR": str(e2e["root"] / "npz"),
            "MODEL_PATH": str(e2e["model"]),
            "DATA_DIR": str(data),
            "RUNS_DIR": str(runs),
            "HARDWARE": "8gpu",
            "VERL_MED_EXTRA_OVERRIDES": " ".join(overrides),
            "VERL_MED_GENERATE_ARGS": "--max_tokens 16 --limit 4",
        }
    )
    runs.mkdir()
    run_logged(["bash", str(REPO / "examples" / "retinamnist_grpo_1gpu.sh")], runs / "chain.log", env=env, cwd=runs)
    run = runs / "retinamnist_default_qwen2_5_vl_3b"
    assert (data / "retinamnist" / "test.parquet").is_file()
    assert (run / "checkpoints" / "latest_checkpointed_iteration.txt").read_text().strip() == "2"
    from safetensors.torch import load_file

    merged = {}
    for shard in sorted((run / "hf_model").glob("*.safetensors")):
        merged.update(load_file(str(shard)))
    initial = load_file(str(e2e["model"] / "model.safetensors"))
    key = next(k for k in initial if k.endswith("layers.0.mlp.down_proj.weight"))
    merged_key = next(k for k in merged if k.endswith("layers.0.mlp.down_proj.weight"))
    assert not torch.equal(merged[merged_key].float(), initial[key].float()), "evaluated the untrained weights"
    generations = (run / "test_generations.jsonl").read_text().splitlines()
    assert len(generations) == 4
    assert (run / "report" / "metrics.json").is_file() and (run / "report" / "summary.md").is_file()
