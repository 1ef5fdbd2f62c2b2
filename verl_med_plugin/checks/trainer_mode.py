"""Trainer-mode checks: verl's task runner must build verl-med's ``MedSyncTrainer`` (the mode, the entry point
verl's Ray actors load, the class in verl's registry, compared by qualified name so the trainer is never imported
here)."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from verl_med_plugin import verl_compat
from verl_med_plugin.checks.errors import ConfigError


def trainer_mode_problems(config: DictConfig) -> list[str]:
    """verl's task runner builds ``MedSyncTrainer`` only for ``trainer.v1.trainer_mode=med_sync``, and only where
    verl loads verl-med's entry point (which registers it); any other mode trains without the curriculum sampler.
    Cheap: the registry itself is looked up in ``registration_problems``."""
    from verl_med_plugin.register import MED_TRAINER_MODE, entry_point_problems

    mode = OmegaConf.select(config, verl_compat.TRAINER_MODE_KEY)
    if mode != MED_TRAINER_MODE:
        return [
            f"{verl_compat.TRAINER_MODE_KEY}={mode}: verl-med trains with its own sync trainer "
            f"({verl_compat.TRAINER_MODE_KEY}={MED_TRAINER_MODE}, MedSyncTrainer); verl's {mode!r} trainer "
            "never feeds the curriculum sampler"
        ]
    return entry_point_problems()


def registration_problems(config: DictConfig) -> list[str]:
    """Why verl's task runner would not build ``MedSyncTrainer`` for this config: another
    ``trainer.v1.trainer_mode``, an entry point verl's Ray actors will not load (they register the trainer through
    it, not through this process), or another class under our mode name. The class is compared by qualified name,
    so this check never imports the trainer it checks (looking the mode up imports verl's trainer package, whose
    import registers ours through the entry point)."""
    problems = trainer_mode_problems(config)
    try:
        registered = verl_compat.trainer_class(verl_compat.MED_TRAINER_MODE)
    except ValueError as err:
        return [*problems, f"{verl_compat.TRAINER_MODE_KEY}={verl_compat.MED_TRAINER_MODE} is not registered: {err}"]
    name = f"{registered.__module__}.{registered.__qualname__}"
    if name != verl_compat.MED_TRAINER_CLASS:
        problems.append(
            f"{verl_compat.TRAINER_MODE_KEY}={verl_compat.MED_TRAINER_MODE} is registered to {name}, "
            "not verl-med's MedSyncTrainer"
        )
    return problems


def check_registration(config: DictConfig) -> None:
    """The trainer verl's task runner will build, checked once before training starts (a real run: ``main``; a dry
    run: its plan). Costs verl's trainer package import (~10 s), so it is not among ``check_config``'s cheap checks."""
    problems = registration_problems(config)
    if problems:
        raise ConfigError("\n  - ".join(["verl would not build verl-med's trainer:"] + problems))
