"""``python -m verl_med_plugin.main``: verl's PPO/GRPO entry point with verl-med's config and checks.

The config is ``configs/med_grpo.yaml`` (verl's ``ppo_trainer`` + the ``med:`` group); any verl override works.
Everything that can be checked without a GPU is checked before Ray starts; ``med.dry_run=true`` stops there
and prints the plan. Training is then verl's own ``run_ppo`` and ``TaskRunnerV1``, which builds verl-med's trainer
from verl's trainer registry (``trainer.v1.trainer_mode=med_sync``, ``docs/plugin.md``).
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from data_preprocess.common import ERROR_PREFIX, USER_ERROR_EXIT
from verl_med_plugin.budget import apply_budget_from_data, describe
from verl_med_plugin.checks.errors import ConfigError
from verl_med_plugin.checks.machine import training_blockers
from verl_med_plugin.checks.trainer_mode import check_registration
from verl_med_plugin.med_settings import mark_checked
from verl_med_plugin.preflight import check_config, check_verl_config, print_plan, run_dry_run


@hydra.main(config_path="pkg://verl_med_plugin.configs", config_name="med_grpo", version_base=None)
def main(config: DictConfig) -> None:
    try:
        references = check_config(config)
        budget = apply_budget_from_data(config)  # the localization rows' equal classification budget
        if budget is not None:
            print(describe(budget))
        if config.med.dry_run:
            print_plan(run_dry_run(config, references))
            return
        blockers = training_blockers(config)
        if blockers:
            raise ConfigError(
                "training cannot start on this machine:\n  - "
                + "\n  - ".join(blockers)
                + "\nRun with med.dry_run=true to check everything up to training."
            )
        check_verl_config(config)  # verl's own validation, as verl's main runs it before Ray starts
        check_registration(config)  # the trainer verl's task runner will build
        mark_checked(config)  # the trainer does not run the med checks again
    except ConfigError as err:
        print(f"{ERROR_PREFIX} {err}", file=sys.stderr)
        sys.exit(USER_ERROR_EXIT)
    from verl_med_plugin.trainer import run

    run(config)


if __name__ == "__main__":
    main()
