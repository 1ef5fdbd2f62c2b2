"""verl-med's trainer: verl's v1 synchronous trainer with the curriculum sampler wired in, registered in verl's
trainer registry as ``trainer.v1.trainer_mode=med_sync``.

verl 0.8 removed the ``data.sampler`` hook, so nothing in verl feeds rewards back to a sampler any more.
``MedSyncTrainer`` puts the sampler into the train dataloader when verl builds it and updates it after each step.
verl's own ``TaskRunnerV1`` builds it: the ``verl.plugins`` entry point (``verl_med_plugin.register``) imports this
module wherever verl's trainers are imported, and the class decorator registers it, as verl registers its own
``sync`` trainer. Every verl name used here goes through ``verl_compat``; ``docs/plugin.md`` explains the design.
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Any, cast

import numpy as np
from omegaconf import DictConfig, OmegaConf

from verl_med_plugin import verl_compat
from verl_med_plugin.med_settings import (
    SamplerSettings,
    apply_chat_template_setting,
    check_med_config,
    checked_by_main,
)
from verl_med_plugin.register import ENTRY_POINT_VALUE as REGISTER_MODULE
from verl_med_plugin.sampler import MedCurriculumSampler
from verl_med_plugin.tools.settings import apply_tool_setting
from verl_med_plugin.verl_compat import MED_TRAINER_MODE

OUTCOMES_LOG = "med_sampler_outcomes.jsonl"
TRAJECTORIES_LOG = "med_trajectories.jsonl"


def check_med_settings(config: DictConfig) -> None:
    """The med checks for a run verl-med's main did not start; one ValueError listing every problem."""
    problems = check_med_config(config)
    if OmegaConf.select(config, "med.sampler") is None:  # verl's own config has no med: group
        problems.append(
            f"{verl_compat.TRAINER_MODE_KEY}={MED_TRAINER_MODE} trains with the curriculum sampler, "
            "configured by med.sampler: add +med.sampler.enable=true (every setting: "
            "configs/med/perception.yaml), or +med.sampler.enable=false for verl's sync trainer alone"
        )
    if problems:
        raise ValueError("invalid med config:\n  - " + "\n  - ".join(problems))


# A named base: mypy accepts no call expression as a base class; verl's class is resolved at import, typed Any.
_SyncTrainerBase: Any = verl_compat.sync_trainer_base()


@verl_compat.register_trainer(MED_TRAINER_MODE)
class MedSyncTrainer(_SyncTrainerBase):
    """``PPOTrainerSync`` whose train dataloader draws from ``MedCurriculumSampler`` (``med.sampler``), with
    exactly the sync trainer's behaviour under its own mode name (see ``trainer_mode``)."""

    med_sampler: MedCurriculumSampler | None = None
    # The name verl selected this trainer by (trainer.v1.trainer_mode, normally MED_TRAINER_MODE).
    selected_mode: str | None = None

    def __init__(self, config: DictConfig):
        # The med checks, once: verl-med's main ran them and marked the config; a plain
        # `python -m verl.trainer.main_ppo` run reaches only this.
        if not checked_by_main(config):
            check_med_settings(config)
        super().__init__(config)

    @property
    def trainer_mode(self) -> str:
        """Always ``"sync"``: verl's ``PPOTrainer`` compares ``self.trainer_mode`` with ``"sync"`` to pick the
        replay buffer, the refill size, the TransferQueue checkpointing and the ``trainer.v1.sync`` config section
        (``verl_compat.SYNC_MODE`` lists the lines). Registered under our own name, the base class would otherwise
        treat this trainer as an async one."""
        return verl_compat.SYNC_MODE

    @trainer_mode.setter
    def trainer_mode(self, selected: str) -> None:
        # PPOTrainer.__init__ assigns trainer.v1.trainer_mode here; keep it for the record, not for behaviour.
        self.selected_mode = selected

    def _init_dataloader(self):
        super()._init_dataloader()
        settings = SamplerSettings.from_config(OmegaConf.select(self.config, "med.sampler"))
        if not settings.enable:
            return
        warn_ignored_workers(self.config)
        loader = self.train_dataloader
        self.med_sampler = MedCurriculumSampler.from_dataset(self.train_dataset, settings, loader.batch_size)
        # verl's _load_checkpoint runs after this and restores the sampler through the loader's state_dict.
        self.train_dataloader = verl_compat.train_dataloader_with_sampler(loader, self.med_sampler)

    def step(self, metrics: dict, timing_raw: dict):
        batch = super().step(metrics, timing_raw)
        if OmegaConf.select(self.config, verl_compat.MULTI_TURN_KEY):
            metrics.update(self._record_trajectories(batch))
        if self.med_sampler is not None:
            start = time.perf_counter()
            outcomes = verl_compat.read_rollout_outcomes(
                batch, self.med_sampler.settings.signal_key, self._score_bounds()
            )
            metrics.update(self.med_sampler.update(**outcomes))
            self._record_outcomes(batch, outcomes)
            # The sampler's share of the step: verl reports timing_raw entries as timing_s/<name>.
            timing_raw["med_sampler"] = time.perf_counter() - start
        return batch

    def _score_bounds(self) -> tuple[float, float]:
        """The range of verl-med's ``score`` under this run's reward kwargs (used when ``signal_key`` is null)."""
        from reward_fns.config import reward_config

        kwargs = OmegaConf.select(self.config, "reward.custom_reward_function.reward_kwargs") or {}
        # cast: to_container is annotated with every container kind; a DictConfig converts to a dict
        return reward_config(cast(dict[str, Any], OmegaConf.to_container(kwargs, resolve=True))).score_bounds()

    def _record_trajectories(self, batch) -> dict[str, float]:
        """Multi-turn runs: append each trajectory's dataset row, turns, images, score and advantage to
        ``<trainer.default_local_dir>/med_trajectories.jsonl`` (whether the images a tool returned reached the
        actor, per step); returns the step's ``med_tool/*`` metrics."""
        shapes = verl_compat.read_trajectory_shapes(batch)
        record = {"step": int(self.global_steps), **{k: np.asarray(v).tolist() for k, v in shapes.items()}}
        path = Path(str(self.config.trainer.default_local_dir)) / TRAJECTORIES_LOG
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as log:
            log.write(json.dumps(record) + "\n")
        images = shapes["images"]
        return {
            "med_tool/images_per_trajectory": float(np.mean(images)) if len(images) else 0.0,
            "med_tool/turns_per_trajectory": float(np.mean(shapes["turns"])) if len(images) else 0.0,
        }

    def _record_outcomes(self, batch, outcomes: dict) -> None:
        """Append this step's draws and outcomes to ``<trainer.default_local_dir>/med_sampler_outcomes.jsonl``: which
        samples the curriculum drew and how the policy did on them (for analysis, and to replay the sampler's
        weights), plus the first trajectory's prompt ids as the rollout sent them. A resumed run appends; the last
        line of a step wins."""
        path = Path(str(self.config.trainer.default_local_dir)) / OUTCOMES_LOG
        first_index, first_prompt_ids = verl_compat.read_first_prompt_ids(batch)
        record = {
            "step": int(self.global_steps),
            **{k: np.asarray(v).tolist() for k, v in outcomes.items()},
            "first_sampler_index": first_index,
            "first_prompt_ids": first_prompt_ids,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as log:
            log.write(json.dumps(record) + "\n")


def warn_ignored_workers(config: Any) -> str | None:
    """Say once, naming the key, that ``data.dataloader_num_workers`` is not used with the sampler on (its loader
    has no worker processes: ``verl_compat.train_dataloader_with_sampler``); returns the warning, if any."""
    workers = OmegaConf.select(config, "data.dataloader_num_workers", default=0) or 0
    if int(workers) <= 0:
        return None
    message = (
        f"data.dataloader_num_workers={workers} is not used with med.sampler.enable=true: the train loader runs "
        "without worker processes, which would prefetch batches drawn before the sampler saw the last rewards"
    )
    warnings.warn(message, UserWarning, stacklevel=2)
    return message


# Packages verl's workers import by pkg:// path (reward loop, dataset class); shipped to every node of a multi-node run.
SHIPPED_PACKAGES = ("reward_fns", "verl_med_plugin", "data_preprocess")


def prepare_for_ray(config: DictConfig) -> DictConfig:
    """The config exactly as the Ray actors must see it, made in the driver.

    - The chat template named by ``med.template`` is filled in.
    - Interpolations are resolved here: ``${oc.env:NNODES}`` read inside a Ray actor sees the actor's environment,
      not the user's shell, and would fall back to its default in silence.
    - With several nodes, verl-med's packages travel in Ray's ``runtime_env.py_modules``, so reward and
      agent-loop workers on nodes where verl-med is not installed still import ``pkg://reward_fns`` and
      ``pkg://verl_med_plugin.dataset``. Such nodes have no ``verl.plugins`` entry point either, so verl's
      ``VERL_USE_EXTERNAL_MODULES`` makes ``import verl`` there import ``verl_med_plugin.register``, which
      registers ``MedSyncTrainer`` for the task runner wherever Ray places it.
    """
    import importlib
    import os

    apply_chat_template_setting(config)
    apply_tool_setting(config)
    OmegaConf.resolve(config)
    if int(config.trainer.nnodes) > 1:
        runtime_env = OmegaConf.select(config, "ray_kwargs.ray_init.runtime_env")
        shipped = list(runtime_env.get("py_modules") or []) if runtime_env is not None else []
        for name in SHIPPED_PACKAGES:
            module_file = importlib.import_module(name).__file__
            assert module_file is not None, f"{name} is a regular package, which has a __file__"
            path = str(Path(module_file).parent)
            if path not in shipped:
                shipped.append(path)
        OmegaConf.update(config, "ray_kwargs.ray_init.runtime_env.py_modules", shipped, force_add=True)
        env_key = f"ray_kwargs.ray_init.runtime_env.env_vars.{verl_compat.EXTERNAL_MODULES_ENV}"
        modules = str(OmegaConf.select(config, env_key) or os.environ.get(verl_compat.EXTERNAL_MODULES_ENV, ""))
        imported = [name for name in modules.split(",") if name]
        if REGISTER_MODULE not in imported:
            OmegaConf.update(config, env_key, ",".join([*imported, REGISTER_MODULE]), force_add=True)
    return config


def run(config: DictConfig) -> None:
    """Start training (``python -m verl_med_plugin.main``): verl's own ``run_ppo`` and ``TaskRunnerV1``, which
    builds ``MedSyncTrainer`` from verl's trainer registry (``trainer.v1.trainer_mode=med_sync``). The config was
    checked once by ``main`` (``preflight.check_config``, ``check_registration``); nothing is checked again here."""
    verl_compat.run_ppo(prepare_for_ray(config))
