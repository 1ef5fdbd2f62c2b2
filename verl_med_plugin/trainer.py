"""Training launch: verl's v1 synchronous trainer with the curriculum sampler wired in.

verl 0.8 removed the ``data.sampler`` hook, so nothing in verl feeds rewards back to a sampler any more.
``MedSyncTrainer`` puts the sampler into the train dataloader when verl builds it and updates it after each
step; ``MedTaskRunner`` is verl's TaskRunner building that trainer. Every verl name used here goes through
``verl_compat``.
"""

from __future__ import annotations

from pprint import pprint

import ray
from omegaconf import DictConfig, OmegaConf

from verl_med_plugin import verl_compat
from verl_med_plugin.med_settings import SamplerSettings, apply_chat_template_setting, check_med_config
from verl_med_plugin.sampler import MedCurriculumSampler


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
            outcomes = verl_compat.read_rollout_outcomes(batch, self.med_sampler.settings.signal_key)
            metrics.update(self.med_sampler.update(**outcomes))
        return batch


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


def run(config: DictConfig) -> None:
    """Start training (``python -m verl_med_plugin.main``): verl's ``run_ppo`` with ``MedTaskRunner``."""
    problems = check_med_config(config)
    if problems:
        raise ValueError("invalid med config:\n  - " + "\n  - ".join(problems))
    apply_chat_template_setting(config)
    verl_compat.run_ppo(config, task_runner_class=MedTaskRunner)
