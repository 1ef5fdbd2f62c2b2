"""The README's "use it from your own verl command" overrides, applied to verl's own ``ppo_trainer`` config
(no verl-med config at all): verl builds our dataset class and loads our reward through its own loaders."""

from __future__ import annotations

import re
import shlex

from fixtures_data import REPO, write_fixture_parquet
from hydra import compose, initialize_config_module

README = REPO / "README.md"


def readme_overrides() -> list[str]:
    """The overrides exactly as the README's "Use it from your own verl command" section shows them."""
    section = README.read_text(encoding="utf-8").split("## Use it from your own verl command", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL).group(1)
    return shlex.split(block.replace("\\\n", " "))


README_OVERRIDES = readme_overrides()


def test_readme_snippet_has_what_long_knowledge_prompts_need():
    assert {"data.max_prompt_length=1024", "data.filter_overlong_prompts=true", "data.image_patch_size=null"} <= set(
        README_OVERRIDES
    )


def test_readme_overrides_work_on_verls_own_config(tmp_path, qwen_tokenizer, qwen_processor):
    from verl.trainer.ppo.reward import get_custom_reward_fn
    from verl.trainer.ppo.utils import create_rl_dataset

    train = write_fixture_parquet(tmp_path / "train.parquet", n=4)
    with initialize_config_module("verl.trainer.config", version_base=None):
        cfg = compose("ppo_trainer", overrides=[*README_OVERRIDES, f"data.train_files={train}"])

    dataset = create_rl_dataset(cfg.data.train_files, cfg.data, qwen_tokenizer, qwen_processor, is_train=True)
    assert type(dataset).__name__ == "MedRLHFDataset"
    user_text = "".join(p["text"] for p in dataset[0]["raw_prompt"][-1]["content"] if p["type"] == "text")
    assert "Background knowledge:" in user_text and "ICDR" in user_text  # the knowledge card reached the prompt

    reward = get_custom_reward_fn(cfg)
    row = dataset[1]  # ground truth "mild NPDR" (grade 1)
    off_by_one = reward(
        data_source=row["data_source"],
        solution_str="<think>x</think><answer>moderate NPDR</answer>",
        ground_truth=row["reward_model"]["ground_truth"],
        extra_info=row["extra_info"],
    )
    assert off_by_one["acc"] == 0.0 and off_by_one["mfrs"] == 0.25  # MFRS partial credit through verl's loader


def test_readme_overrides_keep_the_longest_knowledge_card_under_the_prompt_limit(
    tmp_path, qwen_tokenizer, qwen_processor
):
    """With verl's defaults (512 tokens, no filter) the longest card overflows and verl raises; with the README's
    overrides the row stays in and its first prompt, as the rollout renders it, fits under the limit."""
    from verl.trainer.ppo.utils import create_rl_dataset

    from data_preprocess.knowledge import available_cards, load_card, render_knowledge
    from verl_med_plugin.dataset import render_first_prompt

    longest = max(
        (render_knowledge(load_card(name)) for name in available_cards()),
        key=lambda text: len(qwen_tokenizer(text)["input_ids"]),
    )
    assert len(qwen_tokenizer(longest)["input_ids"]) > 512 - 100  # the card alone nearly fills verl's default
    train = write_fixture_parquet(tmp_path / "train.parquet", n=2, size=224, knowledge=longest)
    with initialize_config_module("verl.trainer.config", version_base=None):
        cfg = compose("ppo_trainer", overrides=[*README_OVERRIDES, f"data.train_files={train}"])
    dataset = create_rl_dataset(cfg.data.train_files, cfg.data, qwen_tokenizer, qwen_processor, is_train=True)
    assert len(dataset) == 2  # nothing filtered out
    prompt = render_first_prompt(dataset, qwen_processor, "user")
    assert 512 < len(prompt.token_ids) <= cfg.data.max_prompt_length


def test_readme_overrides_make_verls_task_runner_build_our_trainer_with_the_sampler(
    tmp_path, qwen_tokenizer, qwen_processor
):
    """``trainer.v1.trainer_mode`` resolves, in verl's registry, to ``MedSyncTrainer``; built as verl's
    ``TaskRunnerV1.run`` builds it, it accepts verl's own config and draws its batches from the curriculum sampler."""
    from verl_med_plugin import verl_compat
    from verl_med_plugin.trainer import MedSyncTrainer

    assert "trainer.v1.trainer_mode=med_sync" in README_OVERRIDES
    train = write_fixture_parquet(tmp_path / "train.parquet", n=4)
    with initialize_config_module("verl.trainer.config", version_base=None):
        cfg = compose(
            "ppo_trainer",
            overrides=[
                *README_OVERRIDES,
                f"data.train_files={train}",
                f"data.val_files={train}",
                "data.train_batch_size=2",
            ],
        )
    trainer_cls = verl_compat.trainer_class(cfg.trainer.v1.trainer_mode)  # TaskRunnerV1.run's lookup
    assert trainer_cls is MedSyncTrainer
    trainer = trainer_cls(config=cfg)  # runs the trainer's own check of the med settings
    assert trainer.trainer_mode == "sync" and type(trainer.replay_buffer).__name__ == "ReplayBuffer"
    trainer.tokenizer, trainer.processor = qwen_tokenizer, qwen_processor  # PPOTrainer._setup's next steps
    trainer._init_dataloader()
    assert trainer.med_sampler is not None and trainer.train_dataloader.sampler is trainer.med_sampler
    assert len(next(iter(trainer.train_dataloader))["sampler_index"]) == 2
