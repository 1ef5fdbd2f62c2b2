"""Checks shared by the converter tests: load written parquet the way verl does and score reference answers."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from data_preprocess.schema import EXTRA_INFO_DEFAULTS


def rl_dataset(files, tokenizer, processor, tmp_path: Path):
    """verl's RLHFDataset over ``files`` (length filter off: it would run the image processor on every row)."""
    from omegaconf import OmegaConf
    from verl.utils.dataset.rl_dataset import RLHFDataset

    config = OmegaConf.create(
        {
            "prompt_key": "prompt",
            "image_key": "images",
            "max_prompt_length": 8192,
            "filter_overlong_prompts": False,
            "cache_dir": str(tmp_path / "verl_cache"),
        }
    )
    return RLHFDataset([str(f) for f in files], tokenizer, config, processor)


def check_rl_rows(files, tokenizer, processor, tmp_path: Path) -> int:
    """Every row: loads in RLHFDataset, one <image> per image, messages build with one image part and one vision
    block after the chat template, all extra_info keys, and the reward scores its reference answer acc=1. The
    first row also goes through the processor: its image-pad tokens match the image grid."""
    from verl.utils.dataset.rl_dataset import RLHFDataset

    from reward_fns import compute_score
    from reward_fns.reference import reference_response

    placeholders = [m["content"].count("<image>") for f in files for row in read_rows(f) for m in row["prompt"]]
    dataset = rl_dataset(files, tokenizer, processor, tmp_path)
    assert len(dataset) == len(placeholders) > 0
    for i in range(len(dataset)):
        item = dataset[i]
        assert set(EXTRA_INFO_DEFAULTS) <= set(item["extra_info"])
        assert isinstance(item["reward_model"]["ground_truth"], str)
        messages = item["raw_prompt"]
        n_images = sum(1 for m in messages for part in m["content"] if part["type"] == "image")
        assert n_images == placeholders[i] == 1
        text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        assert text.count("<|vision_start|>") == n_images
        if i == 0:
            images, _, _ = RLHFDataset._process_multi_modal_info(messages, 14, None)
            inputs = processor(text=[text], images=images, return_tensors="pt")
            n_pad = int((inputs["input_ids"] == processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")).sum())
            assert n_pad == int(inputs["image_grid_thw"].prod()) // 4  # 2x2 patches merged per token
        gt, info = item["reward_model"]["ground_truth"], item["extra_info"]
        result = compute_score(item["data_source"], reference_response(gt, info), gt, info)
        assert result["acc"] == 1.0, (gt, info["task_type"], result)
    return len(dataset)


def read_rows(path: Path) -> list[dict]:
    return pq.read_table(path).to_pylist()


def no_outputs(directory: Path) -> bool:
    """A failed run left neither parquet nor temporary files."""
    return not directory.exists() or not any(directory.iterdir())
