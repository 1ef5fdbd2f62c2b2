"""``MedSyncTrainer`` on verl's real CPU-capable pieces: its ``_init_dataloader`` on top of verl's, and one training
step's data path through a real in-process TransferQueue: verl's ``prepare_step`` draws from our sampler,
``AgentLoopWorkerTQ`` stores the trajectories, verl's ``ReplayBuffer`` samples them, verl's ``PPOTrainer.step``
returns the ``KVBatchMeta``, padding is added as ``_balance_batch`` does, and our update reads it back. Only the
GPU stages (generation, log-probs, advantages, optimizer) are replaced: by scripted responses and rewards."""

from __future__ import annotations

import asyncio
import copy
import functools
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from fixtures_data import RETINA_LABELS
from fixtures_perception import classification_row, compose_med_config, grounding_row, model_dir, write_rows
from omegaconf import open_dict

from verl_med_plugin import verl_compat
from verl_med_plugin.med_settings import apply_chat_template_setting, check_med_config
from verl_med_plugin.preflight import registration_problems, trainer_mode_problems
from verl_med_plugin.register import MED_TRAINER_MODE
from verl_med_plugin.trainer import MedSyncTrainer

N_ROLLOUTS, BATCH = 2, 4
SOLVED, COIN_FLIP = RETINA_LABELS[0], RETINA_LABELS[1]  # always right / right on every other response


@functools.cache
def training_config(data_dir: str):
    rows = [classification_row(i) for i in range(10)] + [grounding_row(i) for i in range(2)]
    path = write_rows(Path(data_dir) / "train.parquet", rows)
    config = compose_med_config(
        f"actor_rollout_ref.model.path={model_dir('qwen2_5_vl')}",
        f"data.train_files={path}",
        f"data.val_files={path}",
        f"data.train_batch_size={BATCH}",
        f"actor_rollout_ref.rollout.n={N_ROLLOUTS}",
        "data.filter_overlong_prompts=false",
        "actor_rollout_ref.actor.ppo_mini_batch_size=2",
        "transfer_queue.backend.SimpleStorage.num_data_storage_units=1",
        f"trainer.default_local_dir={Path(data_dir) / 'checkpoints'}",
    )  # MedSyncTrainer logs outcomes there
    apply_chat_template_setting(config)
    return config


@functools.cache
def _rollout_model(model_path: str, template: str):
    config = compose_med_config(f"actor_rollout_ref.model.path={model_path}", f"med.template={template}")
    apply_chat_template_setting(config)
    return verl_compat.load_rollout_model(config)


def rollout_model(config):
    """Tokenizer and processor as HFModelConfig builds them for this config (loaded once per model)."""
    return _rollout_model(str(config.actor_rollout_ref.model.path), str(config.med.template))


def new_trainer(config, cls=MedSyncTrainer):
    """The trainer as far as ``PPOTrainer._setup`` gets before it asks Ray for GPUs."""
    trainer = cls.__new__(cls)
    trainer.config, trainer.trainer_mode, trainer.parameter_sync_step = config, MED_TRAINER_MODE, 1
    model = rollout_model(config)
    trainer.tokenizer, trainer.processor = model.tokenizer, model.processor
    trainer._init_dataloader()
    return trainer


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    return training_config(str(tmp_path_factory.mktemp("trainer")))


def test_med_config_is_valid_and_selects_our_trainer(config):
    assert check_med_config(config) == [] and registration_problems(config) == []
    assert config.trainer.v1.trainer_mode == MED_TRAINER_MODE
    assert verl_compat.trainer_class(MED_TRAINER_MODE) is MedSyncTrainer  # what verl's TaskRunnerV1 builds
    bad = copy.deepcopy(config)
    bad.data.dataloader_num_workers = 4  # allowed: the sampler's loader runs without workers whatever this says
    bad.data.custom_cls.path = None
    bad.med.knowledge.mode = "context"
    bad.med.template = "qwen9"
    problems = "\n".join(check_med_config(bad))
    assert "dataloader_num_workers" not in problems
    for expected in (
        "data.custom_cls.path=pkg://verl_med_plugin.dataset",
        "med.knowledge.mode='context'",
        "med.template='qwen9'",
    ):
        assert expected in problems
    for mode in ("sync", "separate_async"):  # verl's own trainers would never feed the sampler
        bad.trainer.v1.trainer_mode = mode
        assert f"trainer.v1.trainer_mode={mode}: verl-med trains with its own sync trainer" in "".join(
            trainer_mode_problems(bad)
        )
        assert registration_problems(bad) == trainer_mode_problems(bad)


def test_another_class_under_our_mode_is_a_registration_problem(config, monkeypatch):
    """The check compares the registered class by qualified name (it never imports the trainer it checks): verl's own
    sync trainer put in verl's registry under ``med_sync`` is named as the problem, and an empty slot too. Mutation
    checked: ``registration_problems`` without its qualified-name comparison fails here."""
    from verl.trainer.ppo.v1 import trainer_base

    assert registration_problems(config) == []
    other = verl_compat.trainer_class("sync")
    monkeypatch.setitem(trainer_base.TRAINER_REGISTRY, MED_TRAINER_MODE, other)
    [problem] = registration_problems(config)
    assert f"registered to {other.__module__}.{other.__qualname__}, not verl-med's MedSyncTrainer" in problem
    monkeypatch.delitem(trainer_base.TRAINER_REGISTRY, MED_TRAINER_MODE)
    assert "is not registered" in registration_problems(config)[0]


def test_registered_under_its_own_mode_it_keeps_sync_semantics(config):
    """verl's ``PPOTrainer.__init__`` (run for real here) compares ``trainer_mode`` with "sync": under the name
    ``med_sync`` our trainer still gets the sync replay buffer, batch-sized refills and the ``trainer.v1.sync``
    section; a plain subclass registered under a new name would turn into an async trainer."""
    config = copy.deepcopy(config)
    with open_dict(config):
        config.trainer.v1.sync.parameter_sync_step = 2  # read from trainer.v1.<mode>: must be the sync section
    trainer = MedSyncTrainer(config)
    sync_buffer = trainer.replay_buffer
    assert (trainer.trainer_mode, trainer.selected_mode) == ("sync", MED_TRAINER_MODE)
    assert type(sync_buffer).__name__ == "ReplayBuffer" and sync_buffer.trainer_mode == "sync"
    assert sync_buffer.gen_batch_size == BATCH and trainer.parameter_sync_step == 2

    class Unpinned(verl_compat.sync_trainer_base()):  # PPOTrainerSync under a new name, nothing else
        pass

    unpinned = Unpinned(config)
    assert type(unpinned.replay_buffer).__name__ == "ReplayBufferAsync" and unpinned.parameter_sync_step == 1


def test_our_trainer_refuses_a_config_it_cannot_serve(config):
    """Plain ``python -m verl.trainer.main_ppo trainer.v1.trainer_mode=med_sync`` runs no verl-med check but this
    one, in verl's task runner before any worker starts."""
    without_sampler = copy.deepcopy(config)
    with open_dict(without_sampler):
        del without_sampler.med["sampler"]
    with pytest.raises(ValueError, match=r"add \+med.sampler.enable=true"):
        MedSyncTrainer(without_sampler)
    wrong_dataset = copy.deepcopy(config)
    wrong_dataset.data.custom_cls.path = None
    with pytest.raises(ValueError, match="med.sampler needs the verl-med dataset class"):
        MedSyncTrainer(wrong_dataset)


def test_init_dataloader_installs_the_sampler_and_resumes_it(config, tmp_path):
    trainer = new_trainer(config)
    loader, sampler = trainer.train_dataloader, trainer.med_sampler
    assert loader.sampler is sampler and loader.batch_size == BATCH and loader.num_workers == 0 and loader.drop_last
    assert type(trainer.train_dataset).__name__ == "MedRLHFDataset" and len(sampler) == len(trainer.train_dataset) == 12
    assert trainer.steps_per_epoch == 12 // BATCH  # verl's own bookkeeping untouched

    batch = trainer._fetch_one_gen_batch()  # verl's fetch: collate, uid, TensorDict
    indices = list(batch[verl_compat.SAMPLER_INDEX_FIELD])
    assert len(indices) == BATCH and len(set(batch["uid"])) == BATCH
    sampler.update(np.array(indices), np.ones(BATCH), np.arange(BATCH), np.ones(BATCH))
    torch.save(trainer.train_dataloader.state_dict(), tmp_path / "data.pt")  # _save_checkpoint
    expected = list(trainer._fetch_one_gen_batch()[verl_compat.SAMPLER_INDEX_FIELD])

    resumed = new_trainer(config)
    resumed.train_dataloader.load_state_dict(torch.load(tmp_path / "data.pt", weights_only=False))  # _load_checkpoint
    assert list(resumed._fetch_one_gen_batch()[verl_compat.SAMPLER_INDEX_FIELD]) == expected
    assert resumed.med_sampler.state_dict()["updates"] == 1


def test_sampler_off_leaves_verls_dataloader(config):
    off = copy.deepcopy(config)
    off.med.sampler.enable = False
    trainer = new_trainer(off)
    assert trainer.med_sampler is None
    assert type(trainer.train_dataloader.sampler).__name__ == "RandomSampler"  # verl's create_rl_sampler


# ------------------------------------------------------------------ one step through a real TransferQueue
def scripted_accuracy(prompt: dict, session_id: int) -> float:
    truth = prompt["reward_model"]["ground_truth"]
    return 1.0 if truth == SOLVED else float(session_id % 2) if truth == COIN_FLIP else 0.0


def rollout_worker(config):
    """verl's ``AgentLoopWorkerTQ`` with the LLM call replaced: it answers with a scripted reward, and verl's own
    ``_run_prompt`` / ``_agent_loop_postprocess`` write the trajectories and their tags to TransferQueue."""
    from verl.experimental.agent_loop.agent_loop import AgentLoopMetrics, AgentLoopOutput
    from verl.trainer.ppo.v1.agent_loop_tq import AgentLoopWorkerTQ

    class ScriptedWorker(AgentLoopWorkerTQ.__ray_actor_class__):
        async def _run_agent_loop(self, sampling_params, trajectory, *, agent_name, trace=True, **kwargs):
            acc = scripted_accuracy(kwargs, kwargs["session_id"])
            output = AgentLoopOutput(
                prompt_ids=[1, 2, 3],
                response_ids=[4, 5, 6],
                response_mask=[1, 1, 1],
                reward_score=acc + 0.5,
                num_turns=2,
                metrics=AgentLoopMetrics(),
                extra_fields={
                    "reward_extra_info": {"acc": acc, "score": acc + 0.5},
                    "min_global_steps": kwargs["global_steps"],
                    "max_global_steps": kwargs["global_steps"],
                },
            )
            return await self._agent_loop_postprocess(output, trajectory["validate"], **kwargs)

    worker = ScriptedWorker.__new__(ScriptedWorker)  # skips the LLM server / tokenizer setup of __init__
    worker.config, worker.processor, worker.tokenizer = config, None, None
    worker.reward_loop_worker_handles, worker.distillation_enabled, worker.mm_processor_kwargs = None, False, {}
    worker.background_tasks = set()
    return worker


class ScriptedRollout:
    """Stands in for ``AgentLoopManagerTQ`` (``generate_sequences(batch)``); finishes every prompt before returning."""

    def __init__(self, worker):
        self.worker = worker

    def generate_sequences(self, batch) -> None:
        async def run():
            await self.worker.generate_sequences(batch)
            await asyncio.gather(*self.worker.background_tasks)

        asyncio.run(run())


@pytest.fixture(scope="module")
def transfer_queue(config, local_ray):
    tq = verl_compat.transfer_queue()
    tq.init(config.transfer_queue)
    yield tq
    tq.close()


@pytest.mark.xdist_group("local_ray")
def test_step_feeds_the_finished_batch_to_the_sampler(config, transfer_queue):
    from verl.trainer.ppo.padding_utils import upsample_batch_to_divisible_size

    class CPUStepTrainer(MedSyncTrainer):
        def _step_once(self, metrics, timing_raw, sample_batch_size):
            # verl's stage 1 (replay-buffer sample) and the padding of stage 3 (_balance_batch); the GPU stages
            # (log-probs, advantages, actor update) only add tensor fields we do not read.
            batch, buffer_metrics = self.replay_buffer.sample(
                global_steps=self.global_steps, partition_id="train", batch_size=sample_batch_size
            )
            metrics.update(buffer_metrics)
            return upsample_batch_to_divisible_size(batch, 3, self.tokenizer.eos_token_id)

    trainer = new_trainer(config, CPUStepTrainer)
    trainer.replay_buffer = trainer._build_replay_buffer()
    trainer.agent_loop_manager = ScriptedRollout(rollout_worker(config))
    sampler = trainer.med_sampler

    for step in (1, 2, 3):
        trainer.global_steps = step
        metrics: dict = {}
        batch = trainer.step(metrics, {})
        real = [not tag.get("is_padding", False) for tag in batch.tags]
        assert sum(real) == BATCH * N_ROLLOUTS and not all(real)  # padding present, and skipped below

        outcomes = verl_compat.read_rollout_outcomes(batch, "acc")
        data = transfer_queue.kv_batch_get(
            keys=[k for k, r in zip(batch.keys, real, strict=True) if r],
            partition_id="train",
            select_fields=["reward_model", "session_id"],
        )
        truths = [rm["ground_truth"] for rm in data["reward_model"]]
        expected_acc = [
            scripted_accuracy({"reward_model": {"ground_truth": t}}, s)
            for t, s in zip(truths, data["session_id"], strict=True)
        ]
        assert outcomes["accuracy"].tolist() == expected_acc
        assert outcomes["scores"].tolist() == pytest.approx([a + 0.5 for a in expected_acc])  # rm_scores summed
        assert np.bincount(outcomes["group_ids"]).tolist() == [N_ROLLOUTS] * BATCH  # one GRPO group per prompt
        rows = outcomes["sample_indices"]
        frame = trainer.train_dataset.dataframe
        assert [frame[int(i)]["reward_model"]["ground_truth"] for i in rows] == truths  # traced back to their rows

        # The update happened inside step(): metrics logged, the drawn rows marked seen.
        assert sampler._seen[rows].all() and sampler.state_dict()["updates"] == step
        coin_flip_groups = len({int(g) for g, t in zip(outcomes["group_ids"], truths, strict=True) if t == COIN_FLIP})
        assert metrics["med_sampler/zero_adv_group_frac"] == pytest.approx(1 - coin_flip_groups / BATCH)
        assert metrics["med_sampler/batch_acc"] == pytest.approx(np.mean(expected_acc))
        # The step's draws and outcomes are logged for analysis and replay; padding is not.
        log = Path(str(config.trainer.default_local_dir)) / "med_sampler_outcomes.jsonl"
        record = json.loads(log.read_text().splitlines()[-1])
        assert record["step"] == step and record["accuracy"] == outcomes["accuracy"].tolist()
        assert record["first_sampler_index"] in record["sample_indices"] and record["first_prompt_ids"]
        transfer_queue.kv_clear(keys=batch.keys, partition_id=batch.partition_id)  # what fit() does next
