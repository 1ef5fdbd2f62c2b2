"""The README's "use it from your own verl command" overrides, applied to verl's own ``ppo_trainer`` config
(no verl-med config at all): verl builds our dataset class and loads our reward through its own loaders."""

from __future__ import annotations

from fixtures_data import write_fixture_parquet
from hydra import compose, initialize_config_module

README_OVERRIDES = [
    "reward.custom_reward_function.path=pkg://reward_fns",
    "reward.custom_reward_function.name=compute_score",
    "+reward.custom_reward_function.reward_kwargs.ordinal_reward=mfrs",
    "data.custom_cls.path=pkg://verl_med_plugin.dataset",
    "data.custom_cls.name=MedRLHFDataset",
    "+data.med_knowledge.mode=user",
]


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
    off_by_one = reward(data_source=row["data_source"], solution_str="<think>x</think><answer>moderate NPDR</answer>",
                        ground_truth=row["reward_model"]["ground_truth"], extra_info=row["extra_info"])
    assert off_by_one["acc"] == 0.0 and off_by_one["mfrs"] == 0.25  # MFRS partial credit through verl's loader
