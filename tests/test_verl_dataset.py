"""A parquet file in our row schema goes through verl's own ``RLHFDataset`` with a real Qwen-VL processor."""

from __future__ import annotations

from fixtures_data import RETINA_LABELS, write_fixture_parquet
from omegaconf import OmegaConf
from PIL import Image


def test_rlhf_dataset_builds_messages_and_images(tmp_path, qwen_tokenizer, qwen_processor):
    from verl.utils.dataset.rl_dataset import RLHFDataset, collate_fn

    path = write_fixture_parquet(tmp_path / "train.parquet", n=5)
    # filter_overlong_prompts_workers None: the length filter in this process (verl's default, cpu_count // 4, is 1
    # here, and datasets >= 5 forks a process pool even for num_proc=1: a fork of a threaded process can hang).
    config = OmegaConf.create(
        {
            "prompt_key": "prompt",
            "image_key": "images",
            "max_prompt_length": 1024,
            "filter_overlong_prompts": True,
            "truncation": "error",
            "filter_overlong_prompts_workers": None,
        }
    )
    dataset = RLHFDataset(str(path), qwen_tokenizer, config, processor=qwen_processor)
    assert len(dataset) == 5  # nothing dropped by the length filter

    item = dataset[0]
    (message,) = item["raw_prompt"]
    parts = message["content"]
    images = [p for p in parts if p["type"] == "image"]
    assert len(images) == 1 and isinstance(images[0]["image"], Image.Image)  # one placeholder, one image
    assert parts[-1]["type"] == "text" and "diabetic retinopathy grade" in parts[-1]["text"]
    assert item["reward_model"]["ground_truth"] == RETINA_LABELS[0]
    assert item["extra_info"]["labels"] == RETINA_LABELS
    assert item["data_source"] == "verl_med/retinamnist"

    text = qwen_processor.apply_chat_template(item["raw_prompt"], add_generation_prompt=True, tokenize=False)
    ids = qwen_processor(text=[text], images=[images[0]["image"]], return_tensors="pt")["input_ids"][0]
    n_image_tokens = int((ids == qwen_tokenizer.convert_tokens_to_ids("<|image_pad|>")).sum())
    assert n_image_tokens == 4  # 56x56 px -> 4x4 patches of 14 px -> merged 2x2 -> 4 tokens

    batch = collate_fn([dataset[i] for i in range(3)])
    assert list(batch["index"]) == [0, 1, 2]
