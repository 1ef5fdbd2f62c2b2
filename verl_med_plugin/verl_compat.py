"""Every verl-internal name verl-med relies on, in one place (written against verl 0.9.1).

A verl upgrade that moves one of these is fixed here and nowhere else. Imports are lazy so that the
entry point (imported by ``import verl`` in every process) stays cheap.
"""

from __future__ import annotations

from typing import Any, cast

VERL_TESTED = "0.9.1"
# The module named in the untested-version warning (where a verl upgrade is fixed).
COMPAT_MODULE = __name__

# Config keys verl 0.9 reads for the pieces we plug in.
REWARD_FN_KEY = "reward.custom_reward_function"
LEGACY_REWARD_FN_KEY = "custom_reward_function"  # top-level key silently ignored since verl 0.9
DATASET_CLS_KEY = "data.custom_cls"


def verl_version() -> str:
    from verl import __version__

    return __version__


def installed_verl_version() -> str | None:
    """verl's distribution version, read without importing verl (the entry point runs while verl initialises);
    None when verl is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("verl")
    except PackageNotFoundError:
        return None


def untested_verl_warning(version: str | None) -> str | None:
    """The warning for a verl version verl-med was not checked against (None for ``VERL_TESTED``): the pin admits
    every 0.9.x, but each internal name used here was read in ``VERL_TESTED``'s source.

    >>> untested_verl_warning(VERL_TESTED) is None
    True
    """
    if version is None or version == VERL_TESTED:
        return None
    return (
        f"verl-med was tested with verl {VERL_TESTED}, found verl {version}: every verl-internal name it relies on "
        f"is in {COMPAT_MODULE.replace('.', '/')}.py; re-check those against this verl before trusting a run"
    )


# The environment variable that selects verl's device platform (verl/plugin/platform/platform_manager.py).
PLATFORM_ENV = "VERL_PLATFORM"


def registered_platforms() -> tuple[str, ...]:
    """Names of verl's device platforms (``VERL_PLATFORM`` picks one): nvidia, huawei, amd and any plugin's."""
    from verl.plugin.platform import PlatformRegistry

    return PlatformRegistry.registered_names()


def load_tokenizer_and_processor(model_path: str, trust_remote_code: bool = False) -> tuple[Any, Any]:
    """Tokenizer and (for VLMs) processor, loaded the way verl's workers load them."""
    from verl.utils import hf_processor, hf_tokenizer

    tokenizer = hf_tokenizer(model_path, trust_remote_code=trust_remote_code)
    processor = hf_processor(model_path, trust_remote_code=trust_remote_code, use_fast=True)
    return tokenizer, processor


def create_dataset(paths, data_config, tokenizer, processor, is_train: bool = True, max_samples: int = -1):
    """The dataset the trainer would build (honours ``data.custom_cls``)."""
    from verl.trainer.ppo.utils import create_rl_dataset

    return create_rl_dataset(paths, data_config, tokenizer, processor, is_train=is_train, max_samples=max_samples)


def create_sft_dataset(path: str, data_config, tokenizer, processor):
    """verl's multi-turn SFT dataset (what ``verl.trainer.sft_trainer`` reads for VLM chat data)."""
    from verl.utils.dataset.multiturn_sft_dataset import MultiTurnSFTDataset

    return MultiTurnSFTDataset(path, tokenizer, data_config, processor)


def dataset_collate_fn():
    from verl.utils.dataset.rl_dataset import collate_fn

    return collate_fn


def load_custom_reward_fn(config) -> Any:
    """The configured ``reward.custom_reward_function`` with its ``reward_kwargs`` bound, as the reward loop
    calls it."""
    from verl.trainer.ppo.reward import get_custom_reward_fn

    return get_custom_reward_fn(config)


def validate_verl_config(config) -> list[str]:
    """verl's own config validation (the checks ``main_ppo.main`` runs before starting Ray).

    verl checks a LoRA rank against vLLM's limits by importing vLLM; where vLLM is not installed (a CPU login
    node) that one check is skipped, everything else is validated on a copy without LoRA, and the skipped
    check is returned so the caller can say so.
    """
    import importlib.util

    from omegaconf import OmegaConf, open_dict
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    skipped = []
    model = config.actor_rollout_ref.model
    uses_lora = int(model.get("lora_rank", 0) or 0) > 0 or int((model.get("lora") or {}).get("rank", 0) or 0) > 0
    if uses_lora and config.actor_rollout_ref.rollout.name == "vllm" and importlib.util.find_spec("vllm") is None:
        config = OmegaConf.create(OmegaConf.to_container(config, resolve=True))
        with open_dict(config):
            config.actor_rollout_ref.model.lora_rank = 0
            if config.actor_rollout_ref.model.get("lora"):
                config.actor_rollout_ref.model.lora.rank = 0
        skipped.append("LoRA rank against vLLM's max_lora_rank (needs vllm installed)")
    validate_config(config=config, use_reference_policy=need_reference_policy(config), use_critic=need_critic(config))
    return skipped


# ---------------------------------------------------------------------------------------------------------------
# Prior knowledge, curriculum sampler, trainer subclass.
# Checked against the installed verl 0.9.1 source; the TransferQueue field names are the ones
# verl/trainer/ppo/v1/agent_loop_tq.py writes (see read_rollout_outcomes).
# ---------------------------------------------------------------------------------------------------------------

# Field our dataset class adds to every row: the dataframe position the sampler drew. verl carries unknown row
# keys through collate_fn -> TensorDict -> agent loop kwargs -> TransferQueue trajectory fields untouched.
SAMPLER_INDEX_FIELD = "sampler_index"


def rlhf_dataset_base() -> type[Any]:
    """verl's ``RLHFDataset`` (base class of ``data.custom_cls``). ``MedRLHFDataset`` overrides its
    ``_build_messages`` and ``maybe_filter_out_long_prompts`` and sets its ``num_workers`` (the length filter's
    processes): re-check those three on a verl upgrade."""
    from verl.utils.dataset.rl_dataset import RLHFDataset

    return RLHFDataset


def sync_trainer_base() -> type[Any]:
    """verl's v1 synchronous trainer, ``PPOTrainerSync`` (``trainer.v1.trainer_mode=sync``)."""
    from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync

    return PPOTrainerSync


# ---------------------------------------------------------------------------------------------------------------
# verl's v1 trainer registry (verl/trainer/ppo/v1/trainer_base.py: TRAINER_REGISTRY, register_trainer,
# get_trainer_cls). TaskRunnerV1.run (verl/trainer/main_ppo.py) builds get_trainer_cls(trainer.v1.trainer_mode).
# ---------------------------------------------------------------------------------------------------------------
TRAINER_MODE_KEY = "trainer.v1.trainer_mode"
# verl-med's trainer in that registry (verl's own modes are sync, colocate_async, separate_async), and the class it
# must resolve to, by qualified name (so a check can compare it without importing the trainer module).
MED_TRAINER_MODE = "med_sync"
MED_TRAINER_MODULE = "verl_med_plugin.trainer"
MED_TRAINER_CLASS = f"{MED_TRAINER_MODULE}.MedSyncTrainer"
# The package whose import fills the registry (its __init__ imports trainer_sync, trainer_colocate_async and
# trainer_separate_async, each registering itself); TaskRunnerV1.run imports get_trainer_cls from it.
TRAINER_REGISTRY_MODULE = "verl.trainer.ppo.v1"
# The mode name PPOTrainer compares self.trainer_mode with (trainer_base.py, PPOTrainer.__init__ copies
# trainer.v1.trainer_mode into it, l.129): replay-buffer class (l.153), per-mode config section trainer.v1.<mode>
# (l.130, l.157), refill granularity (l.731), TransferQueue checkpoint load/save (l.902, l.1004), in-flight
# re-issue (l.912) and prompt persistence (l.1499). A trainer registered under another name that must behave as
# "sync" reads this value back from self.trainer_mode (see MedSyncTrainer.trainer_mode).
SYNC_MODE = "sync"
# verl/__init__.py: which verl.plugins entry points ``import verl`` loads ("auto", "none" or a comma list).
PLUGINS_ENV = "VERL_USE_EXTERNAL_PLUGINS"
# verl/__init__.py: comma-separated modules ``import verl`` imports (whether or not an entry point is installed).
EXTERNAL_MODULES_ENV = "VERL_USE_EXTERNAL_MODULES"


# verl/trainer/main_ppo.py: main() validates the config, then run_ppo(config, task_runner_class) starts Ray and the
# task runner; main_ppo_v0 (trainer.use_v1=false) and the recipes' mains (verl/experimental/fully_async_policy/
# fully_async_main.py, one_step_off_policy/main_ppo.py) import and call the same run_ppo with their own runner.
MAIN_PPO_MODULE = "verl.trainer.main_ppo"
RUN_PPO_NAME = "run_ppo"
V1_TASK_RUNNER = "verl.trainer.main_ppo.TaskRunnerV1"  # builds get_trainer_cls(trainer.v1.trainer_mode)
V0_TASK_RUNNER = "verl.trainer.main_ppo_v0.TaskRunner"  # main_ppo with trainer.use_v1=false
USE_V1_KEY = "trainer.use_v1"
# ``python -m verl.trainer.main_ppo`` runs that module as __main__, so its own run_ppo global is out of reach; its
# main() calls verl.utils.config.validate_config (imported by name at the module's top) first, in the driver.
VERL_CONFIG_MODULE, VALIDATE_CONFIG_NAME = "verl.utils.config", "validate_config"


def task_runner_name(task_runner_class: Any) -> str:
    """``module.Class`` of a task runner passed to ``run_ppo`` (a Ray ``ActorClass``: its ``__ray_metadata__``)."""
    metadata = getattr(task_runner_class, "__ray_metadata__", None)
    name = getattr(metadata, "class_name", None) or getattr(task_runner_class, "__qualname__", repr(task_runner_class))
    return f"{getattr(task_runner_class, '__module__', '?')}.{name}"


def register_trainer(mode: str):
    """verl's class decorator putting a ``PPOTrainer`` subclass into the registry under ``mode`` (re-registering
    the same class is a no-op; another class under a taken name raises ``ValueError``)."""
    from verl.trainer.ppo.v1.trainer_base import register_trainer as verl_register_trainer

    return verl_register_trainer(mode)


def trainer_class(mode: str) -> type:
    """The class verl's task runner builds for ``trainer.v1.trainer_mode=mode`` (``ValueError`` naming the
    registered modes if there is none)."""
    from verl.trainer.ppo.v1 import get_trainer_cls

    return get_trainer_cls(mode)


def plugin_policy_allows(policy: str, entry_point_name: str) -> bool:
    """Whether ``import verl`` loads entry point ``entry_point_name`` under ``VERL_USE_EXTERNAL_PLUGINS=policy``
    (verl/__init__.py's parsing)."""
    policy = policy.strip().lower()
    if policy == "auto":
        return True
    if policy == "none":
        return False
    return entry_point_name in {name.strip() for name in policy.split(",") if name.strip()}


def task_runner() -> Any:
    """verl's own ``@ray.remote`` ``TaskRunnerV1``: builds the registry's trainer for ``trainer.v1.trainer_mode``,
    its agent loop, and runs ``fit``."""
    from verl.trainer.main_ppo import TaskRunnerV1

    return TaskRunnerV1


def run_ppo(config) -> None:
    """verl's launcher with verl's own task runner: ``ray.init`` from ``ray_kwargs``, then
    ``TaskRunnerV1.remote().run(config)``."""
    from verl.trainer.main_ppo import run_ppo as verl_run_ppo

    verl_run_ppo(config, task_runner_class=task_runner())


def transfer_queue():
    """The ``transfer_queue`` module verl's v1 trainer keeps its batches in (``init``/``close``/``kv_*``)."""
    import transfer_queue as tq

    return tq


def train_dataloader_with_sampler(loader, sampler):
    """A copy of verl's train ``StatefulDataLoader`` (``PPOTrainer._init_dataloader``) drawing from ``sampler``.

    verl saves ``loader.state_dict()`` in ``global_step_N/data.pt``; a sampler with ``state_dict``/
    ``load_state_dict`` is saved and restored inside it. No worker processes: they would prefetch batches drawn
    before the sampler has seen the previous step's rewards (without the sampler, verl's own loader and
    ``data.dataloader_num_workers`` stay as configured)."""
    from torchdata.stateful_dataloader import StatefulDataLoader

    return StatefulDataLoader(
        dataset=loader.dataset,
        batch_size=loader.batch_size,
        num_workers=0,
        drop_last=loader.drop_last,
        collate_fn=loader.collate_fn,
        sampler=sampler,
    )


def read_rollout_outcomes(
    batch, signal_key: str | None, score_bounds: tuple[float, float] = (0.0, 1.0)
) -> dict[str, Any]:
    """Per trajectory of a finished step (the ``KVBatchMeta`` ``PPOTrainer.step`` returns), as numpy arrays:
    ``sample_indices`` (``SAMPLER_INDEX_FIELD``), ``group_ids`` (the GRPO group, from ``uid``), ``scores`` (the
    trajectory reward: ``rm_scores`` summed) and ``accuracy`` (``extra_fields["reward_extra_info"][signal_key]``,
    or, when ``signal_key`` is None, the score mapped from ``score_bounds`` onto [0, 1]). Synthetic padding
    (tag ``is_padding``, added by ``upsample_batch_to_divisible_size``) is skipped. Call it before ``fit`` clears
    the keys (``tq.kv_clear``)."""
    import numpy as np

    tq = transfer_queue()
    keys = [key for key, tag in zip(batch.keys, batch.tags, strict=True) if not tag.get("is_padding", False)]
    fields = ["uid", SAMPLER_INDEX_FIELD, "rm_scores"] + (["extra_fields"] if signal_key else [])
    data = tq.kv_batch_get(keys=keys, partition_id=batch.partition_id, select_fields=fields)
    scores = data["rm_scores"].sum(dim=1).double().numpy()
    if signal_key:
        infos = [extra.get("reward_extra_info", {}) for extra in data["extra_fields"]]
        missing = sum(signal_key not in info for info in infos)
        if missing:
            raise KeyError(
                f"med.sampler.signal_key={signal_key!r}: {missing} of {len(infos)} trajectories have no "
                f"reward_extra_info[{signal_key!r}] (keys: {sorted(infos[0])}); return it from the reward "
                "function or set med.sampler.signal_key=null to use the total reward"
            )
        accuracy = np.array([float(info[signal_key]) for info in infos])
    else:  # the total reward on the reward's own scale: its maximum is "solved", its minimum "failed"
        low, high = score_bounds
        accuracy = (scores - low) / (high - low) if high > low else scores
    _, group_ids = np.unique(np.array(list(data["uid"]), dtype=object).astype(str), return_inverse=True)
    return {
        "sample_indices": np.array(list(data[SAMPLER_INDEX_FIELD]), dtype=np.int64),
        "group_ids": group_ids,
        "scores": scores,
        "accuracy": np.clip(accuracy, 0.0, 1.0),
    }


def read_trajectory_shapes(batch) -> dict[str, Any]:
    """Per trajectory of a finished step (as ``read_rollout_outcomes``): ``sample_indices`` (the dataset row;
    verl stores no record of the agent loop that ran it), ``turns`` (the agent loop's ``num_turns``), ``images``
    (images the actor saw: rows of ``multi_modal_inputs["image_grid_thw"]``, the prompt's plus every tool
    response's), ``scores`` (``rm_scores`` summed), ``advantages`` (the mean advantage over response tokens) and
    ``keys`` (the TransferQueue keys, the ``uid`` of verl's rollout dump). For multi-turn runs: whether what a tool
    returned reached the trainer."""
    import numpy as np

    tq = transfer_queue()
    keys = [key for key, tag in zip(batch.keys, batch.tags, strict=True) if not tag.get("is_padding", False)]
    fields = [SAMPLER_INDEX_FIELD, "num_turns", "multi_modal_inputs", "rm_scores", "advantages", "response_mask"]
    data = tq.kv_batch_get(keys=keys, partition_id=batch.partition_id, select_fields=fields)
    images = [_image_count(inputs) for inputs in _items(data["multi_modal_inputs"])]
    advantages = _items(data["advantages"])
    masks = _items(data["response_mask"])
    mean_advantages = [
        float((a.float() * m.float()).sum() / max(float(m.float().sum()), 1.0))
        for a, m in zip(advantages, masks, strict=True)
    ]
    return {
        "sample_indices": np.array([int(i) for i in _items(data[SAMPLER_INDEX_FIELD])], dtype=np.int64),
        "turns": np.array([int(t) for t in _items(data["num_turns"])], dtype=np.int64),
        "images": np.array(images, dtype=np.int64),
        "scores": data["rm_scores"].sum(dim=1).double().numpy(),
        "advantages": np.array(mean_advantages),
        "keys": keys,
    }


def _items(value) -> list:
    """The per-trajectory entries of a TransferQueue field: nested tensors unbound, lists as they are."""
    if getattr(value, "is_nested", False):
        return list(value.unbind())
    if hasattr(value, "tolist") and not hasattr(value, "unbind"):
        return list(value.tolist())
    return list(value)


def _image_count(multi_modal_inputs) -> int:
    """Images in one trajectory's processor outputs (0 for a text-only one)."""
    grid = (multi_modal_inputs or {}).get("image_grid_thw") if hasattr(multi_modal_inputs, "get") else None
    return 0 if grid is None else int(grid.shape[0])


def read_first_prompt_ids(batch) -> tuple[int, list[int]]:
    """``(sampler_index, prompt token ids)`` of the step's first real trajectory, exactly as the rollout sent them
    (the ``prompts`` field ``agent_loop_tq.py`` stores): the check that the dry run renders what training sends."""
    tq = transfer_queue()
    keys = [key for key, tag in zip(batch.keys, batch.tags, strict=True) if not tag.get("is_padding", False)][:1]
    data = tq.kv_batch_get(keys=keys, partition_id=batch.partition_id, select_fields=["prompts", SAMPLER_INDEX_FIELD])
    prompts = data["prompts"]
    first = prompts[0] if not getattr(prompts, "is_nested", False) else prompts.unbind()[0]
    return int(next(iter(data[SAMPLER_INDEX_FIELD]))), [int(t) for t in first.tolist()]


def load_rollout_model(config):
    """verl's ``HFModelConfig`` from ``actor_rollout_ref.model`` as the trainer builds it: ``.tokenizer``,
    ``.processor`` (with ``custom_chat_template`` applied) and ``.hf_config.model_type``. Use it wherever a prompt
    must look like the rollout's (dry run, evaluation)."""
    from verl.utils.config import omega_conf_to_dataclass

    return omega_conf_to_dataclass(config.actor_rollout_ref.model)


def continuous_token_builder(tokenizer, processor, hf_model_type: str | None, data_config):
    """The agent loop's prompt builder (``AgentLoopBase.__init__``): Qwen-VL models get
    ``QwenVLContinuousTokenBuilder``; ``data.apply_chat_template_kwargs``/``mm_processor_kwargs`` as in rollout."""
    from verl.utils.tokenizer.continuous_token_wiring import create_continuous_token_builder

    return create_continuous_token_builder(
        tokenizer,
        hf_model_type=hf_model_type,
        processor=processor,
        chat_template_kwargs=data_config.get("apply_chat_template_kwargs", {}),
        mm_processor_kwargs=data_config.get("mm_processor_kwargs", {}),
    )


def render_chat_text(processor, messages, data_config, tools: list[dict] | None = None) -> str:
    """The prompt text the builder renders before the processor expands image tokens (verl's helper); ``tools``:
    the tool schemas the tool agent loop passes."""
    from verl.utils.tokenizer.chat_template import apply_chat_template

    kwargs: dict[str, Any] = dict(data_config.get("apply_chat_template_kwargs", {}))
    if tools:
        kwargs["tools"] = tools
    text = apply_chat_template(processor, messages, tokenize=False, add_generation_prompt=True, **kwargs)
    return cast(str, text)  # verl annotates list[int] | str for both modes; tokenize=False returns the str


# ---------------------------------------------------------------------------------------------------------------
# verl issue #7899 ("81 healthy steps, then this crash"; fix PR #7901 open, not in any release: the newest on the
# index is verl 0.9.1 with transferqueue 0.1.11, and verl HEAD 1dda039 of 2026-08-22 has the code below
# unchanged). TransferQueue stores each trajectory's fields one by one and its client re-nests a batch with
# torch.nested.as_nested_tensor(values, layout=torch.jagged)
# (transfer_queue/storage/managers/simple_storage_manager.py:574 _pack_field_values, base.py:669). Qwen-VL's
# mrope position_ids are one (4, L_i) tensor per trajectory, ragged in the last dim; when every L_i is equal (one
# trajectory per micro-batch; all responses cut at max length; MedMNIST prompts, whose token length is the same
# for a whole dataset) torch makes dim 1 the ragged one. verl's maybe_fix_3d_position_ids
# (verl/utils/tensordict_utils.py:910, called by the engine workers) then sets _ragged_idx = 2 on it, and the actor
# update's index_select_tensor_dict (l.495) fails: "split_with_sizes expects split_sizes to sum exactly to L ...
# got [4, 4, ...]". The fix re-nests that one field, ragged in the last dim, on the consumer side: the client call
# every TransferQueue read goes through, in every process verl-med's entry point loads in (the storage units only
# hold per-trajectory tensors and never re-nest).
# ---------------------------------------------------------------------------------------------------------------
VERL_7899_AFFECTED = ">=0.9.0,<0.10"  # the verl releases with the bug (0.9.x: the TransferQueue trainer)
VERL_7899_FIELD = "position_ids"
# The TransferQueue client module and method every read returns through (interface.kv_batch_get, verl's
# transferqueue_utils._async_meta_to_realdata, the sync TransferQueueClient.get_data all await it).
VERL_7899_CLIENT_MODULE = "transfer_queue.client"
VERL_7899_CLIENT_CLASS, VERL_7899_CLIENT_METHOD = "AsyncTransferQueueClient", "async_get_data"


def verl_7899_affected(version: str | None) -> bool:
    """Whether verl ``version`` is a release with issue #7899 (so the fix is installed).

    >>> verl_7899_affected("0.9.1"), verl_7899_affected("0.10.0"), verl_7899_affected(None)
    (True, False, False)
    """
    from packaging.specifiers import SpecifierSet

    return version is not None and SpecifierSet(VERL_7899_AFFECTED).contains(version, prereleases=True)


def verl_7899_renest_position_ids(value: Any) -> Any:
    """``value`` re-nested ragged in its last dim if it is the mis-nested case (a 3-D jagged nested tensor ragged in
    dim 1, which is what ``as_nested_tensor`` makes of equal-shaped (rows, L) components); anything else unchanged.
    Built with verl's own ``nested_tensor_from_tensor_list`` (its convention for 2-D components)."""
    import torch

    if not (
        isinstance(value, torch.Tensor)
        and value.is_nested
        and value.layout is torch.jagged
        and value.dim() == 3
        and getattr(value, "_ragged_idx", None) == 1
    ):
        return value
    from verl.utils.tensordict_utils import nested_tensor_from_tensor_list

    return nested_tensor_from_tensor_list(list(value.unbind()), ragged_idx=2)


def verl_7899_fix_batch(batch: Any) -> Any:
    """The ``TensorDict`` a TransferQueue read returned, with ``VERL_7899_FIELD`` re-nested (in place; returned)."""
    keys = batch.keys() if hasattr(batch, "keys") else ()
    if VERL_7899_FIELD in keys:
        fixed = verl_7899_renest_position_ids(batch[VERL_7899_FIELD])
        if fixed is not batch[VERL_7899_FIELD]:
            batch[VERL_7899_FIELD] = fixed
    return batch


def install_verl_7899_fix(client_module: Any) -> None:
    """Wrap the TransferQueue client's read (``VERL_7899_CLIENT_CLASS.VERL_7899_CLIENT_METHOD`` in
    ``client_module``) so its result goes through ``verl_7899_fix_batch``. Idempotent."""
    import functools

    cls = getattr(client_module, VERL_7899_CLIENT_CLASS)
    original = getattr(cls, VERL_7899_CLIENT_METHOD)
    if getattr(original, "verl_7899_fix", False):
        return

    @functools.wraps(original)
    async def read_with_fix(self, *args: Any, **kwargs: Any) -> Any:
        return verl_7899_fix_batch(await original(self, *args, **kwargs))

    read_with_fix.verl_7899_fix = True  # type: ignore[attr-defined]
    setattr(cls, VERL_7899_CLIENT_METHOD, read_with_fix)


# ---------------------------------------------------------------------------------------------------------------
# Tools for verl's tool agent loop (verl/experimental/agent_loop/tool_agent_loop.py, agent name "tool_agent").
# verl loads ``actor_rollout_ref.rollout.multi_turn.tool_config_path`` (verl/tools/tool_registry.py:
# initialize_tools_from_config builds ``class_name(config=..., tool_schema=...)``) once per agent-loop worker, and
# for each call runs ``create`` -> ``execute(instance_id, arguments, agent_data=AgentData)`` -> ``release``: an
# instance lives for ONE call, so per-trajectory state is keyed by the ``agent_data`` object (its ``image_data``
# holds the row's images, then every image a tool returned). ``ToolResponse.image`` (a list) appends images to the
# conversation and to the trajectory's multi_modal_data.
# ---------------------------------------------------------------------------------------------------------------
TOOL_AGENT_LOOP = "tool_agent"  # actor_rollout_ref.rollout.agent.default_agent_loop
TOOL_CONFIG_KEY = "actor_rollout_ref.rollout.multi_turn.tool_config_path"
MULTI_TURN_KEY = "actor_rollout_ref.rollout.multi_turn.enable"
# A row's agent loop: a dataset column of this name overrides default_agent_loop per row (agent_loop.py fills it
# only where the batch has none), e.g. "single_turn_agent" for rows that must not call tools.
AGENT_NAME_FIELD = "agent_name"
SINGLE_TURN_AGENT_LOOP = "single_turn_agent"
# verl's data.tool_config_path interpolates TOOL_CONFIG_KEY (legacy_data.yaml): RLHFDataset loads the same tools,
# so its length filter counts the tool list in the prompt.
AGENT_DATA_KWARG = "agent_data"  # the keyword ToolAgentLoop._call_tool passes to execute
AGENT_IMAGES_ATTR = "image_data"  # AgentData's list of images (the row's first)


def tool_base_class() -> type[Any]:
    """verl's ``BaseTool`` (``create``/``execute``/``release``; ``__init__(config, tool_schema)``)."""
    from verl.tools.base_tool import BaseTool

    return BaseTool


def tool_response(text: str | None = None, images: list[Any] | None = None) -> Any:
    """verl's ``ToolResponse`` with a text and/or images (a list, as verl requires)."""
    from verl.tools.schemas import ToolResponse

    return ToolResponse(text=text, image=images) if images else ToolResponse(text=text)


def tool_schema(schema: dict[str, Any]) -> Any:
    """verl's ``OpenAIFunctionToolSchema`` validated from a plain dict."""
    from verl.tools.schemas import OpenAIFunctionToolSchema

    return OpenAIFunctionToolSchema.model_validate(schema)


def load_tools(tool_config_path: str) -> list[Any]:
    """The tools verl's agent-loop worker builds from a tool yaml (``load_all_tools``)."""
    from verl.tools.tool_registry import load_all_tools

    return list(load_all_tools(tool_config_path=tool_config_path, function_tool_path=None))
