"""Training launch: verl's v1 synchronous trainer with the curriculum sampler wired in.

verl 0.8 removed the ``data.sampler`` hook, so nothing in verl feeds rewards back to a sampler any more.
``MedSyncTrainer`` puts the sampler into the train dataloader when verl builds it and updates it after each
step; ``MedTaskRunner`` is verl's TaskRunner building that trainer. Every verl name used here goes through
``verl_compat``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from pprint import pprint

import numpy as np
import ray
from omegaconf import DictConfig, OmegaConf

from verl_med_plugin import verl_compat
from verl_med_plugin.med_settings import SamplerSettings, apply_chat_template_setting, check_med_config
from verl_med_plugin.sampler import MedCurriculumSampler

OUTCOMES_LOG = "med_sampler_outcomes.jsonl"


class MedSyncTrainer(verl_compat.sync_trainer_base()):
    """``PPOTrainerSync`` whose train dataloader draws from ``MedCurriculumSampler`` (``med.sampler``)."""

    med_sampler: MedCurriculumSampler | None = None

    def _init_dataloader(self):
        super()._init_dataloader()
        sampler_config = OmegaConf.select(self.config, "med.sampler")
        settings = SamplerSettings.from_config(sampler_config) if sampler_config is not None else None
        if settings is None or not settings.enable:
            return
        loader = self.train_dataloader
        self.med_sampler = MedCurriculumSampler.from_dataset(self.train_dataset, settings, loader.batch_size)
        # verl's _load_checkpoint runs after this and restores the sampler through the loader's state_dict.
        self.train_dataloader = verl_compat.train_dataloader_with_sampler(loader, self.med_sampler)

    def step(self, metrics: dict, timing_raw: dict):
        batch = super().step(metrics, timing_raw)
        if self.med_sampler is not None:
            start = time.perf_counter()
            outcomes = verl_compat.read_rollout_outcomes(batch, self.med_sampler.settings.signal_key,
                                                         self._score_bounds())
            metrics.update(self.med_sampler.update(**outcomes))
            self._record_outcomes(batch, outcomes)
            # The sampler's share of the step: verl reports timing_raw entries as timing_s/<name>.
            timing_raw["med_sampler"] = time.perf_counter() - start
        return batch

    def _score_bounds(self) -> tuple[float, float]:
        """The range of verl-med's ``score`` under this run's reward kwargs (used when ``signal_key`` is null)."""
        from reward_fns.config import reward_config

        kwargs = OmegaConf.select(self.config, "reward.custom_reward_function.reward_kwargs") or {}
        return reward_config(OmegaConf.to_container(kwargs, resolve=True)).score_bounds()

    def _record_outcomes(self, batch, outcomes: dict) -> None:
        """Append this step's draws and outcomes to ``<trainer.default_local_dir>/med_sampler_outcomes.jsonl``: which
        samples the curriculum drew and how the policy did on them (for analysis, and to replay the sampler's
        weights), plus the first trajectory's prompt ids as the rollout sent them. A resumed run appends; the last
        line of a step wins."""
        path = Path(str(self.config.trainer.default_local_dir)) / OUTCOMES_LOG
        first_index, first_prompt_ids = verl_compat.read_first_prompt_ids(batch)
        record = {"step": int(self.global_steps), **{k: np.asarray(v).tolist() for k, v in outcomes.items()},
                  "first_sampler_index": first_index, "first_prompt_ids": first_prompt_ids}
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as log:
            log.write(json.dumps(record) + "\n")


class _MedTaskRunner(verl_compat.task_runner_base()):
    """verl's ``TaskRunnerV1.run`` with ``MedSyncTrainer`` in place of the registry's trainer class."""

    def run(self, config: DictConfig):
        verl_compat.configure_logging()
        tq = verl_compat.transfer_queue()
        config.transfer_queue.enable = True
        pprint(OmegaConf.to_container(config, resolve=True))
        OmegaConf.resolve(config)
        self.config = config
        tq.init(config.transfer_queue)
        succeeded = False
        try:
            self.trainer = MedSyncTrainer(config=config)
            self.trainer.init()
            self.init_agent_loop_manager()
            self.trainer.fit(self.agent_loop_manager)
            succeeded = True
        finally:
            try:
                tracking = getattr(self.trainer, "logger", None)
                if tracking is not None:
                    tracking.finish(exit_code=0 if succeeded else 1)
            finally:
                tq.close()


MedTaskRunner = ray.remote(_MedTaskRunner)


# Packages verl's workers import by pkg:// path (reward loop, dataset class); shipped to every node of a multi-node run.
SHIPPED_PACKAGES = ("reward_fns", "verl_med_plugin", "data_preprocess")


def prepare_for_ray(config: DictConfig) -> DictConfig:
    """The config exactly as the Ray actors must see it, made in the driver.

    - The chat template named by ``med.template`` is filled in.
    - Interpolations are resolved here: ``${oc.env:NNODES}`` read inside a Ray actor sees the actor's environment,
      not the user's shell, and would fall back to its default in silence.
    - With several nodes, verl-med's packages travel in Ray's ``runtime_env.py_modules``, so reward and
      agent-loop workers on nodes where verl-med is not installed still import ``pkg://reward_fns`` and
      ``pkg://verl_med_plugin.dataset``.
    """
    import importlib

    apply_chat_template_setting(config)
    OmegaConf.resolve(config)
    if int(config.trainer.nnodes) > 1:
        runtime_env = OmegaConf.select(config, "ray_kwargs.ray_init.runtime_env")
        shipped = list(runtime_env.get("py_modules") or []) if runtime_env is not None else []
        for name in SHIPPED_PACKAGES:
            path = str(Path(importlib.import_module(name).__file__).parent)
            if path not in shipped:
                shipped.append(path)
        OmegaConf.update(config, "ray_kwargs.ray_init.runtime_env.py_modules", shipped, force_add=True)
    return config


def run(config: DictConfig) -> None:
    """Start training (``python -m verl_med_plugin.main``): verl's ``run_ppo`` with ``MedTaskRunner``."""
    problems = check_med_config(config)
    if problems:
        raise ValueError("invalid med config:\n  - " + "\n  - ".join(problems))
    verl_compat.run_ppo(prepare_for_ray(config), task_runner_class=MedTaskRunner)
