"""Checks that run before Ray starts, and the dry run (``med.dry_run=true``).

Everything a training run would fail on and that needs no GPU is checked here, so a typo or a missing file
costs seconds on the login node instead of a queued multi-GPU job.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig, OmegaConf

from verl_med_plugin import med_settings, verl_compat
from verl_med_plugin.checks.config import composed_config_problems
from verl_med_plugin.checks.data import (
    REFERENCE_CHECK_ROWS,
    ReferenceCheck,
    check_data_files,
    check_reference_answers,
    data_file_problems,
    missing_data_files,
    reference_answer_problems,
)
from verl_med_plugin.checks.errors import ConfigError
from verl_med_plugin.checks.machine import ROLLOUT_PACKAGES, training_blockers
from verl_med_plugin.checks.trainer_mode import check_registration, registration_problems, trainer_mode_problems
from verl_med_plugin.checks.values import as_list
from verl_med_plugin.tools.settings import apply_tool_setting

# Checks that live in verl_med_plugin.checks, importable from here as before.
__all__ = [
    "REFERENCE_CHECK_ROWS",
    "ROLLOUT_PACKAGES",
    "check_data_files",
    "reference_answer_problems",
    "ConfigError",
    "check_config",
    "check_registration",
    "registration_problems",
    "run_dry_run",
    "trainer_mode_problems",
    "training_blockers",
]


@dataclass
class DryRunPlan:
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, section: str, **items: Any) -> None:
        self.sections.setdefault(section, {}).update(items)


def check_config(config: DictConfig) -> ReferenceCheck | None:
    """Cheap static checks of the composed config; raises one ``ConfigError`` listing every problem. Returns the
    reference answers scored (None when the reward function is not verl-med's, whose answers it cannot build)."""
    problems: list[str] = composed_config_problems(config)  # unresolvable/mistyped values: stop here
    if problems:
        raise ConfigError("\n  - ".join(["invalid config:"] + problems))
    legacy = OmegaConf.select(config, verl_compat.LEGACY_REWARD_FN_KEY + ".path")
    if legacy:
        problems.append(
            f"{verl_compat.LEGACY_REWARD_FN_KEY}.path={legacy} is ignored by verl >= 0.9; "
            f"set {verl_compat.REWARD_FN_KEY}.path instead"
        )
    reward_path = OmegaConf.select(config, verl_compat.REWARD_FN_KEY + ".path")
    if not reward_path:
        problems.append(f"{verl_compat.REWARD_FN_KEY}.path is not set (verl-med uses pkg://reward_fns)")
    elif str(reward_path).startswith("pkg://") and importlib.util.find_spec(str(reward_path)[6:]) is None:
        problems.append(f"{verl_compat.REWARD_FN_KEY}.path={reward_path}: module is not installed")
    if reward_path == "pkg://reward_fns":
        problems += reward_kwargs_problems(config)
    problems += missing_data_files(config)
    problems += data_file_problems(config)
    references = None
    if reward_path == "pkg://reward_fns" and not problems:
        references = check_reference_answers(config)
        problems += references.problems
    problems += med_settings.check_med_config(config)
    problems += trainer_mode_problems(config)
    if problems:
        raise ConfigError("\n  - ".join(["invalid config:"] + problems))
    med_settings.apply_chat_template_setting(config)
    apply_tool_setting(config)
    return references


def reward_kwargs_problems(config: DictConfig) -> list[str]:
    """verl-med's reward kwargs (``med.reward``), validated as ``reward_fns`` will: a bad value would otherwise only
    raise inside a Ray reward worker, and a misspelt key would be silently ignored there (only logged)."""
    from reward_fns.config import reward_kwargs_problems as problems_of

    key = f"{verl_compat.REWARD_FN_KEY}.reward_kwargs (med.reward)"
    kwargs = OmegaConf.select(config, verl_compat.REWARD_FN_KEY + ".reward_kwargs")
    kwargs = OmegaConf.to_container(kwargs, resolve=True) if OmegaConf.is_config(kwargs) else kwargs
    return [] if kwargs is None else [f"{key}: {problem}" for problem in problems_of(kwargs)]


def check_verl_config(config: DictConfig) -> list[str]:
    """verl's own ``validate_config`` (batch sizes, micro-batches, strategies), with its message as a ConfigError.
    Returns the checks that could not run here (see ``verl_compat.validate_verl_config``)."""
    try:
        return verl_compat.validate_verl_config(config)
    except (AssertionError, ValueError, TypeError, KeyError) as err:
        raise ConfigError(f"verl's config validation: {err}") from err


def run_dry_run(config: DictConfig, references: ReferenceCheck | None = None) -> DryRunPlan:
    """Everything up to training: verl's config validation, tokenizer/processor, datasets (with the length
    filter), the first batch, and the configured reward on reference answers (``references``: those
    ``check_config`` scored, reported, not scored again). No Ray, no GPU."""
    plan = DryRunPlan()
    try:
        skipped = verl_compat.validate_verl_config(config)
    except Exception as err:  # verl raises assorted types; the message names the key
        raise ConfigError(f"verl rejects the config: {err}") from err
    plan.add(
        "verl config",
        validated=f"verl {verl_compat.verl_version()} validate_config passed",
        skipped_checks=skipped or "none",
    )
    _check_trainer_registry(plan, config)

    model_path = str(config.actor_rollout_ref.model.path)
    try:
        model = verl_compat.load_rollout_model(config)
    except Exception as err:
        raise ConfigError(
            f"actor_rollout_ref.model.path={model_path}: cannot load its config/tokenizer/processor "
            f"({type(err).__name__}: {err}). Download the model or point the key at a local copy."
        ) from err
    tokenizer, processor = model.tokenizer, model.processor
    plan.add(
        "model",
        path=model_path,
        model_type=model.hf_config.model_type,
        processor=type(processor).__name__ if processor else None,
        chat_template=OmegaConf.select(config, "med.template") or "the model's own",
    )

    datasets = {}
    for split, key in (("train", "train_files"), ("val", "val_files")):
        files = as_list(config.data[key])
        try:
            datasets[split] = verl_compat.create_dataset(files, config.data, tokenizer, processor, split == "train")
        except Exception as err:
            raise ConfigError(f"data.{key}={files}: cannot build the dataset ({type(err).__name__}: {err})") from err
        plan.add("data", **{f"{split}_rows": len(datasets[split]), f"{split}_files": files})
    if len(datasets["train"]) == 0:
        raise ConfigError(f"data.train_files={config.data.train_files}: no rows left (after the length filter?)")

    rows = [datasets["train"][i] for i in range(min(int(config.med.dry_run_rows), len(datasets["train"])))]
    plan.add("data", task_types=sorted({str(r["extra_info"]["task_type"]) for r in rows if r.get("extra_info")}))
    _render_first_prompts(plan, config, datasets["train"], rows[0], processor, tokenizer, model.hf_config.model_type)
    if OmegaConf.select(config, "med.sampler.enable"):
        from verl_med_plugin.sampler import describe_first_indices

        batch_size = int(config.data.get("gen_batch_size") or config.data.train_batch_size)
        plan.add("sampler", **describe_first_indices(datasets["train"], config.med.sampler, batch_size))
    else:
        plan.add("sampler", sampler="verl's own (uniform random; med.sampler.enable=false)")
    _score_reference_answers(plan, config, rows, references)
    plan.add(
        "training needs",
        gpus=f"{config.trainer.nnodes} node(s) x {config.trainer.n_gpus_per_node} GPU(s)",
        rollout=str(config.actor_rollout_ref.rollout.name),
        missing_here=training_blockers(config) or "nothing",
    )
    return plan


def _check_trainer_registry(plan: DryRunPlan, config: DictConfig) -> None:
    """The class verl's own task runner will build, looked up in verl's trainer registry as it looks it up."""
    check_registration(config)
    mode = OmegaConf.select(config, verl_compat.TRAINER_MODE_KEY)
    cls = verl_compat.trainer_class(mode)
    plan.add(
        "trainer",
        **{
            verl_compat.TRAINER_MODE_KEY: mode,
            "verl_builds": f"{cls.__module__}.{cls.__qualname__}",
            "behaves_as": f"trainer_mode={verl_compat.SYNC_MODE} plus the curriculum sampler",
        },
    )


def _render_first_prompts(
    plan: DryRunPlan, config: DictConfig, dataset: Any, row: dict, processor: Any, tokenizer: Any, model_type: str
) -> None:
    """The first prompt as the rollout's prompt builder renders it: for verl-med's dataset class in every
    knowledge mode (the configured one first), for another dataset class as it is."""
    from verl_med_plugin.dataset import MedRLHFDataset, render_first_prompt

    if not isinstance(dataset, MedRLHFDataset):
        text = (processor or tokenizer).apply_chat_template(
            row["raw_prompt"], add_generation_prompt=True, tokenize=False
        )
        plan.add("first prompt", dataset_class=type(dataset).__name__, text=text)
        return
    configured = str(OmegaConf.select(config, "med.knowledge.mode"))
    for mode in sorted(med_settings.KNOWLEDGE_MODES, key=lambda m: m != configured):
        prompt = render_first_prompt(dataset, processor, mode, hf_model_type=model_type)
        label = "first prompt" + (" (configured)" if mode == configured else "")
        plan.add(
            f"{label}: knowledge mode {mode}",
            tokens=len(prompt.token_ids),
            image_tokens=prompt.num_image_tokens,
            text=prompt.text,
        )


def _score_reference_answers(
    plan: DryRunPlan, config: DictConfig, rows: list[dict], references: ReferenceCheck | None
) -> None:
    """The reward function as verl's reward loop loads it; the reference answers ``check_config`` scored with it
    reported, else (another reward function, which check_config does not score) each row's scored here."""
    from reward_fns import reference_response

    try:
        reward_fn = verl_compat.load_custom_reward_fn(config)
    except Exception as err:
        raise ConfigError(f"{verl_compat.REWARD_FN_KEY}: cannot load the reward function ({err})") from err
    scores = list(references.scores) if references is not None else []
    where = "train/val rows sampled before Ray"
    if not scores:
        where = "first train rows"
        think = str(OmegaConf.select(config, verl_compat.REWARD_FN_KEY + ".reward_kwargs.think", default="required"))
        for i, row in enumerate(rows):
            gt = row["reward_model"]["ground_truth"]
            extra_info = dict(row.get("extra_info") or {})
            result = reward_fn(
                data_source=row["data_source"],
                solution_str=reference_response(gt, extra_info, think),
                ground_truth=gt,
                extra_info=extra_info,
            )
            result = result if isinstance(result, dict) else {"score": float(result), "acc": float(result)}
            if float(result.get("acc", 0.0)) != 1.0:
                raise ConfigError(
                    f"{verl_compat.REWARD_FN_KEY}: the reference answer of train row {i} "
                    f"({row['data_source']}, ground_truth={gt!r}) is not scored correct: {result}. "
                    "The reward and the data disagree (labels, task_type or reward kwargs)."
                )
            scores.append(float(result["score"]))
    plan.add(
        "reward",
        function=f"{OmegaConf.select(config, verl_compat.REWARD_FN_KEY + '.path')}:"
        f"{OmegaConf.select(config, verl_compat.REWARD_FN_KEY + '.name')}",
        kwargs=OmegaConf.to_container(config.med.reward, resolve=True),
        reference_answers=f"{len(scores)} scored ({where}), acc=1 for all, "
        f"mean score {sum(scores) / max(1, len(scores)):.3f}",
    )


def print_plan(plan: DryRunPlan) -> None:
    print("verl-med dry run: everything up to training checked")
    for section, items in plan.sections.items():
        print(f"[{section}]")
        for key, value in items.items():
            if isinstance(value, str) and "\n" in value:
                print(f"  {key}:")
                print("\n".join("    | " + line for line in value.splitlines()))
            elif isinstance(value, list) and value and all(isinstance(v, str) for v in value) and key == "missing_here":
                print(f"  {key}:")
                print("\n".join(f"    - {v}" for v in value))
            else:
                print(f"  {key}: {value}")
