"""``python -m verl_med_plugin.sft_preflight``: the dry run of the SFT baseline (config ``configs/sft_med.yaml``).

Checks what verl's SFT trainer would read (files, tokenizer/processor, the first tokenized sample and the tokens
it trains on), then prints the ``torchrun`` command that trains. No GPU needed.
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from data_preprocess.common import ERROR_PREFIX, USER_ERROR_EXIT
from verl_med_plugin import verl_compat
from verl_med_plugin.checks.errors import ConfigError
from verl_med_plugin.med_settings import register_config_resolvers
from verl_med_plugin.preflight import DryRunPlan, check_data_files, print_plan


def chat_template(config: DictConfig) -> str | None:
    """``model.custom_chat_template`` resolved (``med.template`` of configs/sft_med.yaml), None for the model's own."""
    register_config_resolvers()
    try:
        template = OmegaConf.select(config, "model.custom_chat_template")
    except OmegaConfBaseException as err:
        raise ConfigError(f"model.custom_chat_template (med.template): {err}") from err
    return None if template is None else str(template)


def run_sft_dry_run(config: DictConfig) -> DryRunPlan:
    plan = DryRunPlan()
    check_data_files(config)
    model_path = str(config.model.path)
    try:
        tokenizer, processor = verl_compat.load_tokenizer_and_processor(model_path)
    except Exception as err:
        raise ConfigError(f"model.path={model_path}: cannot load its tokenizer/processor ({err})") from err
    template = chat_template(config)
    if template is not None:  # as verl's HFModelConfig applies it: the processor's when there is one
        if processor is not None:
            processor.chat_template = template
        else:
            tokenizer.chat_template = template
    path = str(config.data.train_files)
    try:
        dataset = verl_compat.create_sft_dataset(path, config.data, tokenizer, processor)
        item = dataset[0]
    except Exception as err:
        raise ConfigError(f"data.train_files={path}: verl's SFT dataset cannot read it ({err})") from err
    trained = tokenizer.decode(item["input_ids"][item["loss_mask"].bool()])
    plan.add(
        "model",
        path=model_path,
        processor=type(processor).__name__ if processor else None,
        chat_template=OmegaConf.select(config, "med.template", default=None),
    )
    plan.add("data", train_rows=len(dataset), first_sample_tokens=int(item["input_ids"].shape[0]), trained_text=trained)
    plan.add(
        "training needs",
        gpus="1+ CUDA GPU(s); run: torchrun --standalone --nproc_per_node=<gpus> -m "
        "verl.trainer.sft_trainer --config-path=pkg://verl_med_plugin.configs --config-name=sft_med",
    )
    return plan


@hydra.main(config_path="pkg://verl_med_plugin.configs", config_name="sft_med", version_base=None)
def main(config: DictConfig) -> None:
    try:
        print_plan(run_sft_dry_run(config))
    except ConfigError as err:
        print(f"{ERROR_PREFIX} {err}", file=sys.stderr)
        sys.exit(USER_ERROR_EXIT)


if __name__ == "__main__":
    main()
