"""The ``med.knowledge``, ``med.template`` and ``med.sampler`` settings: parsed once, validated with messages that
name the key, and shared by the dataset class, the sampler, the trainer and the pre-flight checks.

Light on purpose (no verl, no torch): the pre-flight checks import it on the login node.
"""

from __future__ import annotations

import importlib.resources
import logging
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from omegaconf import DictConfig, OmegaConf

from reward_fns.config import TASK_TYPES
from reward_fns.settings import merge_structured
from verl_med_plugin.checks.values import plain

logger = logging.getLogger(__name__)

KNOWLEDGE_MODES = ("none", "classlist", "system", "user")
# A curriculum stage draws from a pool (rows of the grounding task type, or every other row) or from all rows.
POOLS = ("grounding", "classification")
STAGE_TASKS = (*POOLS, "all")
CHAT_TEMPLATES = ("qwen2_5_vl", "qwen3_vl")
SAMPLER_WEIGHTINGS = ("error", "learnability", "uniform")
DATASET_CLS = ("pkg://verl_med_plugin.dataset", "MedRLHFDataset")


class SettingsError(ValueError):
    """A ``med.*`` value is invalid; the message names the key."""


_Settings = TypeVar("_Settings")


def _any(value: Any) -> bool:
    """A bounds-table check for a setting with no range beyond its type (which OmegaConf checked)."""
    return True


def _parse_group(
    cls: type[_Settings], cfg: Any, key: str, bounds: Mapping[str, tuple[Callable[[Any], bool], str]]
) -> _Settings:
    """A ``med.*`` group as ``cls``: unknown keys and types by OmegaConf (``reward_fns.settings``, which converts
    what Hydra converts: "3" to 3, "yes" to true), then the ranges of ``bounds`` on the typed values."""
    expected = {name: text for name, (_, text) in bounds.items()}
    settings = merge_structured(cls, plain(cfg) or {}, key, expected=expected, error=SettingsError)
    bad = [
        f"{key}.{name}={getattr(settings, name)!r} (expected {text})"
        for name, (ok, text) in bounds.items()
        if not ok(getattr(settings, name))
    ]
    if bad:
        raise SettingsError("invalid value(s) " + ", ".join(bad))
    return settings


@dataclass(frozen=True)
class KnowledgeSettings:
    """How the dataset class injects ``extra_info.knowledge`` / the class list (``med.knowledge``)."""

    mode: str = "user"
    classlist: bool = False  # also list the classes in the system/user modes ("context + class list")
    header: str = "Background knowledge:"
    # "forbidden": the think/answer instruction becomes the answer-only one (the no-think control row); follows
    # med.reward.think (configs/med/perception.yaml), so prompt and reward ask for the same layout.
    think: str = "required"

    @classmethod
    def from_config(cls, cfg: Mapping | None, key: str = "med.knowledge") -> KnowledgeSettings:
        return _parse_group(cls, cfg, key, KNOWLEDGE_BOUNDS)


# med.knowledge key -> (range check of the typed value, what it must hold as told to the user).
KNOWLEDGE_BOUNDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "mode": (lambda v: v in KNOWLEDGE_MODES, f"one of {KNOWLEDGE_MODES}"),
    "classlist": (_any, "true or false"),
    "header": (lambda v: v.strip() != "", "a non-empty string"),
    "think": (lambda v: v in ("required", "forbidden"), "required or forbidden"),
}


@dataclass(frozen=True)
class Stage:
    """One curriculum stage: until ``until_step`` (inclusive; ``None`` = open-ended), draw ``grounding_share`` of
    each batch from localization samples. A ``(start, end)`` pair ramps linearly from ``start`` (at the previous
    stage's last step) to ``end`` (at ``until_step``); ``None`` = no task split, every sample competes on its
    weight alone."""

    grounding_share: float | tuple[float, float] | None
    until_step: int | None
    # A single-task stage may be sized in passes over its pool instead (``{task: grounding, epochs: 5}``): the
    # stage then lasts ceil(epochs * pool rows / batch) steps, so its length follows the data and the batch size
    # of the hardware preset, not a step count written for one of them (Schedule.in_steps).
    epochs: float | None = None


def stage_steps(epochs: float, pool_rows: int, batch_size: int) -> int:
    """Steps of a stage of ``epochs`` passes over ``pool_rows`` rows at ``batch_size`` rows a step (at least one).

    Example:
        >>> stage_steps(5, 382, 128)
        15
    """
    return max(1, math.ceil(epochs * pool_rows / batch_size))


@dataclass(frozen=True)
class Schedule:
    stages: tuple[Stage, ...] = (Stage(grounding_share=None, until_step=None),)

    def sized_in_epochs(self) -> bool:
        return any(stage.epochs is not None for stage in self.stages)

    def in_steps(self, pool_rows: Mapping[str, int], batch_size: int) -> Schedule:
        """The schedule with every ``epochs`` stage turned into an ``until_step`` (``pool_rows``: rows per task pool,
        ``grounding`` / ``classification``). Raises ``SettingsError`` if a later ``until_step`` falls inside it."""
        stages, previous = [], 0
        for i, stage in enumerate(self.stages):
            until = stage.until_step
            if stage.epochs is not None:
                pool = "grounding" if stage.grounding_share == 1.0 else "classification"
                until = previous + stage_steps(stage.epochs, int(pool_rows.get(pool, 0)), batch_size)
            elif until is not None and until <= previous:
                raise SettingsError(
                    f"med.sampler.schedule[{i}].until_step={until}: the stages before it end at step {previous}"
                )
            stages.append(Stage(stage.grounding_share, until))
            previous = until if until is not None else previous
        return Schedule(tuple(stages))

    def at(self, step: int) -> tuple[int, float | None]:
        """Stage index and grounding share for training step ``step`` (1-based, as verl counts)."""
        if self.sized_in_epochs():
            raise SettingsError("a schedule with epochs stages needs Schedule.in_steps (the pool sizes) first")
        start = 0
        for index, stage in enumerate(self.stages):
            if stage.until_step is None or step <= stage.until_step or index == len(self.stages) - 1:
                share = stage.grounding_share
                if isinstance(share, tuple):
                    span = max(1, (stage.until_step or step) - start)
                    progress = min(1.0, max(0.0, (step - start) / span))
                    share = share[0] + (share[1] - share[0]) * progress
                return index, share
            start = stage.until_step
        raise AssertionError("unreachable: a schedule has at least one stage")

    def needs_tasks(self) -> set[str]:
        """Which task pools some stage draws from on purpose (an empty pool there is a config error)."""
        needed = set()
        for stage in self.stages:
            shares = stage.grounding_share if isinstance(stage.grounding_share, tuple) else (stage.grounding_share,)
            if any(s is not None and s > 0 for s in shares):
                needed.add("grounding")
            if any(s is not None and s < 1 for s in shares):
                needed.add("classification")
        return needed

    @classmethod
    def from_config(cls, entries: Any, key: str = "med.sampler.schedule") -> Schedule:
        if not isinstance(entries, (list, tuple)) or not entries:
            raise SettingsError(f"{key}: expected a non-empty list of stages, e.g. [{{task: all}}]")
        stages, previous = [], 0
        for i, entry in enumerate(entries):
            where = f"{key}[{i}]"
            if not isinstance(entry, Mapping):
                raise SettingsError(f"{where}: expected a mapping like {{task: grounding, until_step: 200}}")
            unknown = set(entry) - {"task", "grounding_share", "until_step", "epochs"}
            if unknown:
                raise SettingsError(
                    f"{where}: unknown key(s) {sorted(unknown)}; known: task, grounding_share, until_step, epochs"
                )
            if ("task" in entry) == ("grounding_share" in entry):
                raise SettingsError(
                    f"{where}: give exactly one of 'task' ({'/'.join(STAGE_TASKS)}) or 'grounding_share'"
                )
            until, epochs = entry.get("until_step"), _parse_epochs(entry, where)
            if until is not None and (not isinstance(until, int) or isinstance(until, bool) or until <= previous):
                raise SettingsError(f"{where}.until_step={until!r}: expected an integer step > {previous}")
            if until is None and epochs is None and i < len(entries) - 1:
                raise SettingsError(f"{where}: only the last stage may be open-ended (no until_step or epochs)")
            share = _parse_share(entry, where, until if epochs is None else 1)
            stages.append(Stage(share, until, epochs))
            # after an epochs stage the step count is known only with the pool sizes (Schedule.in_steps checks)
            previous = until if until is not None else (0 if epochs is not None else previous)
        return cls(tuple(stages))


def _parse_epochs(entry: Mapping, where: str) -> float | None:
    """A stage's length in passes over its task pool: only for ``task: grounding`` / ``task: classification``
    stages, instead of ``until_step``, and never on the last (open-ended) stage."""
    if "epochs" not in entry:
        return None
    epochs = entry["epochs"]
    if isinstance(epochs, bool) or not isinstance(epochs, (int, float)) or not 0 < epochs < 1e6:
        raise SettingsError(f"{where}.epochs={epochs!r}: expected a positive number of passes over the stage's pool")
    if entry.get("task") not in POOLS or "until_step" in entry:
        raise SettingsError(
            f"{where}: epochs sizes a task: grounding or task: classification stage, instead of until_step"
        )
    return float(epochs)


def _parse_share(entry: Mapping, where: str, until: int | None) -> float | tuple[float, float] | None:
    if "task" in entry:
        if entry["task"] not in STAGE_TASKS:
            raise SettingsError(f"{where}.task={entry['task']!r}: expected one of {STAGE_TASKS}")
        return {"grounding": 1.0, "classification": 0.0, "all": None}[entry["task"]]
    share = entry["grounding_share"]
    values = list(share) if isinstance(share, (list, tuple)) else [share]
    if len(values) not in (1, 2) or not all(isinstance(v, (int, float)) and 0 <= v <= 1 for v in values):
        raise SettingsError(f"{where}.grounding_share={share!r}: expected a number in [0, 1] or a [start, end] pair")
    if len(values) == 2 and until is None:
        raise SettingsError(f"{where}: a [start, end] grounding_share ramp needs an until_step")
    return (float(values[0]), float(values[1])) if len(values) == 2 else float(values[0])


@dataclass(frozen=True)
class SamplerSettings:
    """The curriculum sampler (``med.sampler``): stage schedule plus re-weighting by what the policy gets wrong.

    A sample's weight is ``(1 - class_weight) * max(floor, 1 - acc_sample) + class_weight * max(floor,
    1 - acc_class)``, accuracies being EMAs of the rollouts' ``signal_key`` (``unseen_accuracy`` until seen).
    """

    enable: bool = True
    seed: int = 0
    # A Schedule. OmegaConf cannot type its stages (a share, a [start, end] pair or null), so the schema holds the
    # yaml's list of stages as Any and __post_init__ parses it (Schedule.from_config).
    schedule: Any = field(default_factory=lambda: [{"task": "all"}])
    ema_decay: float = 0.5  # per-sample EMA; a sample is seen about once per epoch
    class_ema_decay: float = 0.9  # per-class EMA; updated every step
    class_weight: float = 0.5
    floor: float = 0.1
    unseen_accuracy: float = 0.5
    max_copies_per_batch: int = 1
    signal_key: str | None = "acc"  # reward_extra_info key; null = the trajectory's total reward clipped to [0, 1]
    # What an accuracy p asks of the sampler: "error" = 1 - p (what the policy still gets wrong), "learnability" =
    # 4 p (1 - p) (largest where a GRPO group's answers disagree, 0 where all are right or all wrong: such groups
    # carry no gradient), "uniform" = 1 (every sample alike: the control arm of a weighting comparison, drawn by the
    # same sampler so only the weighting differs). All in [0, 1], then max(floor, .).
    weighting: str = "error"

    def need(self, accuracy: Any) -> Any:
        """The raw weight of an accuracy (array or float) under ``weighting``, before the floor."""
        if self.weighting == "uniform":
            return accuracy * 0.0 + 1.0  # same shape and type as ``accuracy``
        return 4.0 * accuracy * (1.0 - accuracy) if self.weighting == "learnability" else 1.0 - accuracy

    def __post_init__(self) -> None:
        if not isinstance(self.schedule, Schedule):
            object.__setattr__(self, "schedule", Schedule.from_config(self.schedule))

    @classmethod
    def from_config(cls, cfg: Mapping | None, key: str = "med.sampler") -> SamplerSettings:
        return _parse_group(cls, cfg, key, SAMPLER_BOUNDS)


def _number_in(low: float, high: float, low_open: bool = False, high_open: bool = False) -> Callable[[Any], bool]:
    """A check for a finite real number in the interval (NaN fails every comparison; bools are refused)."""

    def ok(value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return False
        return (low < value if low_open else low <= value) and (value < high if high_open else value <= high)

    return ok


# med.sampler key -> (range check of the typed value, its meaningful range as told to the user, also when OmegaConf
# refuses the type: "ema_decay=abc" is reported by key like "ema_decay=2"). The schedule is checked by Schedule.
SAMPLER_BOUNDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "enable": (_any, "true or false"),
    "seed": (lambda v: 0 <= v < 2**63, "a non-negative integer"),
    "ema_decay": (_number_in(0, 1, high_open=True), "a number in [0, 1)"),
    "class_ema_decay": (_number_in(0, 1, high_open=True), "a number in [0, 1)"),
    "class_weight": (_number_in(0, 1), "a number in [0, 1]"),
    # the sampler keeps weights to 2**-20 (sampler.WEIGHT_SCALE): a smaller floor would round a solved sample's
    # weight to 0, so it would starve and a class of such samples would end the draw with an error
    "floor": (_number_in(1e-6, 1), "a number in [1e-6, 1]"),
    "unseen_accuracy": (_number_in(0, 1), "a number in [0, 1]"),
    "max_copies_per_batch": (lambda v: 1 <= v <= 1_000_000, "an integer >= 1"),
    "signal_key": (lambda v: v is None or v.strip() != "", "null or a reward key name"),
    "weighting": (lambda v: v in SAMPLER_WEIGHTINGS, f"one of {SAMPLER_WEIGHTINGS}"),
}


def chat_template_text(name_or_path: str) -> str:
    """A chat template shipped in ``configs/chat_templates/`` (``qwen2_5_vl``, ``qwen3_vl``) or a ``.jinja`` path."""
    if name_or_path in CHAT_TEMPLATES:
        shipped = importlib.resources.files("verl_med_plugin.configs") / "chat_templates" / f"{name_or_path}.jinja"
        return shipped.read_text()
    path = Path(name_or_path).expanduser()
    if path.suffix != ".jinja" or not path.is_file():
        raise SettingsError(
            f"med.template={name_or_path!r}: expected one of {CHAT_TEMPLATES}, a path to a .jinja "
            "file, or null (the model's own template)"
        )
    return path.read_text()


# OmegaConf resolvers of the SFT config (configs/sft_med.yaml), registered in every verl process by the plugin's
# entry point (register.py): verl's SFT trainer reads only model.custom_chat_template, and wants the text.
FAMILY_RESOLVER = "verl_med.model_family"
TEMPLATE_RESOLVER = "verl_med.chat_template"


def model_family(model_path: str) -> str | None:
    """The verl-med chat template of a model: its ``config.json`` ``model_type`` when that is one of
    ``CHAT_TEMPLATES`` (``qwen2_5_vl``, ``qwen3_vl``), else None (the model keeps its own template). Read from
    the config, not the name, so a local checkpoint of either family gets the right one."""
    from transformers import PretrainedConfig

    try:
        config, _ = PretrainedConfig.get_config_dict(str(model_path))
    except (OSError, ValueError) as err:
        raise SettingsError(f"model.path={model_path}: cannot read its config.json ({err})") from err
    model_type = config.get("model_type")
    return model_type if model_type in CHAT_TEMPLATES else None


def chat_template_or_none(name_or_path: str | None) -> str | None:
    """``chat_template_text``, with None (the model's own template) passed through."""
    return None if name_or_path is None else chat_template_text(str(name_or_path))


def register_config_resolvers() -> None:
    """Register ``${verl_med.model_family:<model path>}`` and ``${verl_med.chat_template:<name>}`` (once)."""
    for name, resolver in ((FAMILY_RESOLVER, model_family), (TEMPLATE_RESOLVER, chat_template_or_none)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, resolver)


def apply_chat_template_setting(config: DictConfig) -> None:
    """Fill ``actor_rollout_ref.model.custom_chat_template`` from ``med.template`` unless it is set explicitly.

    verl wants the template text, not a name; this keeps the yaml readable. Call it before anything builds a
    processor (dry run, training), so the length filter, the dry run and the rollout share one template.
    """
    name = OmegaConf.select(config, "med.template")
    if name is None or OmegaConf.select(config, "actor_rollout_ref.model.custom_chat_template") is not None:
        return
    config.actor_rollout_ref.model.custom_chat_template = chat_template_text(str(name))


@dataclass(frozen=True)
class MedGroup:
    """The med: group's own keys (configs/med_grpo.yaml, configs/med/*), typed for OmegaConf; the groups below it
    are parsed by KnowledgeSettings / SamplerSettings / reward_fns.config."""

    dry_run: bool = False
    dry_run_rows: int = 8
    seed: int = 1
    dataset: str = ""
    data_dir: str = ""
    grounding_dataset: str = ""  # the grounding (box) data of the localization stage (blocks/localization_stage)
    localization_dataset: str | None = None  # deprecated: the old name of grounding_dataset
    reward: dict[str, Any] | None = None
    knowledge: dict[str, Any] = field(default_factory=dict)
    template: str | None = None
    sampler: dict[str, Any] = field(default_factory=dict)
    train_task_types: list[str] | None = None  # the task types the train file is read for (None: every row)
    tool: str | None = None  # a tool for verl's tool agent loop (verl_med_plugin/tools/settings.py: TOOLS)


# Each MedGroup key -> (range check of the typed value, what it must hold as told to the user). Unknown keys are
# refused, also ones added with "+med.xxx": a misspelt key (+med.dryrun=true) would otherwise be ignored in silence.
MED_KEYS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "dry_run": (_any, "true or false"),
    "dry_run_rows": (lambda v: 1 <= v <= 100_000, "an integer in [1, 100000]"),
    "seed": (lambda v: 0 <= v < 2**31, "a non-negative integer (the run's seed)"),
    "dataset": (lambda v: v.strip() != "", "a dataset name"),
    "data_dir": (lambda v: v.strip() != "", "a folder"),
    "grounding_dataset": (lambda v: v.strip() != "", "a dataset name"),
    "localization_dataset": (
        lambda v: v is None or v.strip() != "",
        "a dataset name (deprecated: the old name of med.grounding_dataset)",
    ),
    "reward": (_any, "a mapping of reward kwargs (reward_fns/config.py)"),
    "knowledge": (_any, "a mapping (mode, classlist, header)"),
    "template": (_any, f"null, one of {CHAT_TEMPLATES} or a .jinja path"),
    "sampler": (_any, "a mapping (enable, schedule, ...)"),
    "train_task_types": (
        lambda v: v is None or (bool(v) and set(v) <= set(TASK_TYPES)),
        f"null (every row) or a non-empty list of task types from {list(TASK_TYPES)}",
    ),
    "tool": (lambda v: v is None or v.strip() != "", "null or a tool name (docs/tools.md)"),
}


def _sampler_combination_problems(config: DictConfig) -> list[str]:
    """verl settings under which the sampler would read the wrong outcomes or draw the wrong batch size."""
    problems = []
    signal_key = OmegaConf.select(config, "med.sampler.signal_key")
    colocated_rm = OmegaConf.select(config, "reward.reward_model.enable") and not OmegaConf.select(
        config, "reward.reward_model.enable_resource_pool"
    )
    if colocated_rm and signal_key is not None:
        problems.append(
            f"med.sampler.signal_key={signal_key!r} with a colocated reward model "
            "(reward.reward_model.enable=true, enable_resource_pool=false): verl then returns the reward "
            "extras as top-level fields, not in reward_extra_info; set med.sampler.signal_key=null "
            "(the total reward, scaled by the reward's bounds)"
        )
    if OmegaConf.select(config, "algorithm.filter_groups.enable") or OmegaConf.select(
        config, "trainer.v1.sampler.sync_refill_failed_groups"
    ):
        problems.append(
            "med.sampler with group filtering or failed-group refill "
            "(algorithm.filter_groups.enable / sync_refill_failed_groups): verl then draws one prompt "
            "at a time (gen_batch_size=1), so the curriculum could not re-weight between batches; "
            "turn one of them off"
        )
    return problems


def med_group_problems(config: DictConfig) -> list[str]:
    """Unknown ``med.*`` keys (with the closest known one), top-level ``med.*`` values of the wrong type
    (``MedGroup``) or out of range (``MED_KEYS``), and ``med.localization_dataset`` against its new name."""
    import difflib

    med = OmegaConf.select(config, "med")
    if med is None:
        return []
    if not isinstance(med, DictConfig):
        return [f"med={med!r}: expected the med: group (a mapping)"]
    problems = []
    expected = {name: text for name, (_, text) in MED_KEYS.items()}
    for name in med:  # key by key, so every problem is reported, and an unknown key with the closest known one
        if name not in MED_KEYS:
            close = difflib.get_close_matches(str(name), MED_KEYS, n=1)
            hint = f"did you mean med.{close[0]}? " if close else ""
            problems.append(f"med.{name!s}: unknown key; {hint}known: {', '.join(MED_KEYS)}")
            continue
        try:
            value = getattr(
                merge_structured(MedGroup, {name: plain(med[name])}, "med", expected=expected, error=SettingsError),
                str(name),
            )
        except SettingsError as err:
            problems.append(str(err))
            continue
        ok, text = MED_KEYS[name]
        if not ok(value):
            problems.append(f"med.{name}={value!r}: expected {text}")
    return problems + _deprecated_key_problems(med)


def _deprecated_key_problems(med: DictConfig) -> list[str]:
    """``med.localization_dataset`` (the old name of ``med.grounding_dataset``) still works, with a warning; the
    localization stage block reads it through ``${oc.select:med.localization_dataset,...}``."""
    old = med.get("localization_dataset")
    if old is None:
        return []
    message = f"med.localization_dataset={old!r} is deprecated: use med.grounding_dataset={old}"
    warnings.warn(message, DeprecationWarning, stacklevel=3)
    logger.warning(message)
    new = med.get("grounding_dataset")
    if new is not None and new != old:
        return [
            f"med.localization_dataset={old!r} and med.grounding_dataset={new!r}: both name the grounding "
            "dataset; give only med.grounding_dataset (med.localization_dataset is its deprecated name)"
        ]
    return []


# Set by verl-med's main once every check passed, so the trainer (in verl's task runner) does not run the med checks
# again; a plain ``verl.trainer.main_ppo`` run has no such mark and the trainer checks. Not a user setting: main
# refuses it as an unknown med key.
CHECKED_MARK = "med.checked_by_main"


def mark_checked(config: DictConfig) -> None:
    """Record on the config that verl-med's main ran the med checks (the config travels to the trainer)."""
    OmegaConf.update(config, CHECKED_MARK, True, force_add=True)


def checked_by_main(config: DictConfig) -> bool:
    return OmegaConf.select(config, CHECKED_MARK, default=False) is True


def check_med_config(config: DictConfig) -> list[str]:
    """Every problem with the ``med:`` group (``med.knowledge`` / ``med.template`` / ``med.sampler`` ...) and the
    verl keys it relies on."""
    problems = med_group_problems(config)
    if problems:  # the checks below read these values
        return problems
    for key, parse in (("med.knowledge", KnowledgeSettings.from_config), ("med.sampler", SamplerSettings.from_config)):
        try:
            parse(OmegaConf.select(config, key), key)
        except (SettingsError, TypeError) as err:
            problems.append(str(err))
    template = OmegaConf.select(config, "med.template")
    if template is not None:
        try:
            chat_template_text(str(template))
        except SettingsError as err:
            problems.append(str(err))
    custom_cls = (OmegaConf.select(config, "data.custom_cls.path"), OmegaConf.select(config, "data.custom_cls.name"))
    if OmegaConf.select(config, "med.knowledge.mode") not in (None, "none") and custom_cls != DATASET_CLS:
        problems.append(
            f"med.knowledge needs data.custom_cls.path={DATASET_CLS[0]} and data.custom_cls.name="
            f"{DATASET_CLS[1]} (got {custom_cls[0]}:{custom_cls[1]}); verl's own dataset ignores it"
        )
    if OmegaConf.select(config, "med.sampler.enable"):
        if custom_cls != DATASET_CLS:
            problems.append(
                "med.sampler needs the verl-med dataset class (data.custom_cls): it tags each row with "
                "the index the sampler drew"
            )
    if OmegaConf.select(config, "med.sampler.enable"):
        problems += _sampler_combination_problems(config)
    from verl_med_plugin.tools.settings import tool_problems

    problems += tool_problems(config)
    # trainer.v1.trainer_mode is checked in preflight.trainer_mode_problems (it needs the trainer registry).
    return problems


def dropped_curriculum_problem(config: DictConfig, task_runner: str) -> str | None:
    """Why ``+med.sampler.enable=true`` would be ignored by the run ``task_runner`` (``module.Class``, what verl's
    ``run_ppo`` was given) starts, naming the mode; None when verl-med's trainer will feed the sampler. Only
    ``MedSyncTrainer`` (``trainer.v1.trainer_mode=med_sync`` under verl's v1 task runner) reads ``med.sampler``;
    every other trainer draws verl's own batches without a word."""
    from verl_med_plugin.verl_compat import (
        MED_TRAINER_MODE,
        TRAINER_MODE_KEY,
        USE_V1_KEY,
        V0_TASK_RUNNER,
        V1_TASK_RUNNER,
    )

    if not OmegaConf.select(config, "med.sampler.enable"):
        return None
    if task_runner == V1_TASK_RUNNER:
        mode = OmegaConf.select(config, TRAINER_MODE_KEY)
        if mode == MED_TRAINER_MODE:
            return None
        consumer = f"{TRAINER_MODE_KEY}={mode} (verl's {mode!r} trainer)"
    elif task_runner == V0_TASK_RUNNER:
        consumer = f"main_ppo_v0 ({USE_V1_KEY}=false, {task_runner})"
    else:
        consumer = f"the task runner {task_runner}"
    return (
        f"+med.sampler.enable=true is ignored by {consumer}: only {TRAINER_MODE_KEY}={MED_TRAINER_MODE} "
        f"with {USE_V1_KEY}=true feeds the curriculum sampler; set it, or +med.sampler.enable=false to train "
        "without the curriculum"
    )
