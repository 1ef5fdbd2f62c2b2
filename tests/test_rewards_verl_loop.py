"""compute_score driven by verl 0.9's own reward loop on CPU: ``load_reward_manager`` with ``pkg://reward_fns``,
a DataProto of responses tokenised by the real Qwen2 BPE tokenizer, ``NaiveRewardManager.run_single`` and the
in-process ``RewardLoopWorker.compute_score_batch`` (what each Ray reward worker runs)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from rewards_rows import ROWS, respond

from reward_fns import SCORE_KEYS

pytest.importorskip("verl.experimental.reward_loop")

REWARD_KWARGS = {"format_weight": 0.1, "mfrs_table": [1.0, 0.5, 0.0], "iou_type": "iou"}

# (row, response, expected score). Responses end with the EOS token the rollout emits; decoding skips it.
SAMPLES = [
    ("multiclass", respond("Melanoma"), 1.1),
    ("letter", respond("E. melanoma"), 1.1),
    ("multiclass", respond("melanoma or nevus"), 0.1),
    ("ordinal", respond("grade 3"), 0.1 + 0.5),  # one grade off, table from reward_kwargs (a ListConfig)
    ("multilabel", respond("effusion"), 0.1 + 0.75),  # balanced: sensitivity 1/2, specificity 3/3
    ("grounding", respond("[40, 40, 120, 120]"), 1.1),
    ("grounding_empty", respond("[]"), 1.1),
    ("multiclass", "<think>melanoma</think>", 0.0),
    ("binary", respond("malignant") + "<answer>benign</answer>", 0.0),
]


def reward_config(tokenizer_dir: str):
    return OmegaConf.create(
        {
            "actor_rollout_ref": {"model": {"path": tokenizer_dir, "tokenizer_path": None}},
            "reward": {
                "custom_reward_function": {
                    "path": "pkg://reward_fns",
                    "name": "compute_score",
                    "reward_kwargs": REWARD_KWARGS,
                },
                "reward_manager": {"source": "register", "name": "naive", "module": {"path": None, "name": None}},
                "reward_model": {"enable": False},
            },
        }
    )


def build_batch(tokenizer, samples):
    """A DataProto as the agent loop hands it to the reward loop: left-padded prompts, right-padded responses."""
    from verl import DataProto

    prompt_len, response_len = 16, 160
    prompt_ids = tokenizer("<|im_start|>user\nGrade this image.<|im_end|>\n", add_special_tokens=False)["input_ids"]
    prompts, responses, masks = [], [], []
    for _, text, _ in samples:
        ids = tokenizer(text + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
        assert len(ids) <= response_len and len(prompt_ids) <= prompt_len
        pad = tokenizer.pad_token_id
        prompts.append([pad] * (prompt_len - len(prompt_ids)) + prompt_ids)  # left-padded prompt
        responses.append(ids + [pad] * (response_len - len(ids)))  # right-padded response
        masks.append(
            [0] * (prompt_len - len(prompt_ids)) + [1] * (len(prompt_ids) + len(ids)) + [0] * (response_len - len(ids))
        )
    rows = [ROWS[name] for name, _, _ in samples]
    return DataProto.from_dict(
        tensors={
            "prompts": torch.tensor(prompts),
            "responses": torch.tensor(responses),
            "attention_mask": torch.tensor(masks),
        },
        non_tensors={
            "data_source": np.array([r[0] for r in rows], dtype=object),
            "reward_model": np.array([{"style": "rule", "ground_truth": r[1]} for r in rows], dtype=object),
            "extra_info": np.array([dict(r[2]) for r in rows], dtype=object),
        },
    )


def test_naive_manager_run_single_scores_every_task(qwen_tokenizer, tiny_model_dir):
    from verl.experimental.reward_loop.reward_manager.naive import NaiveRewardManager
    from verl.trainer.ppo.reward import load_reward_manager

    manager = load_reward_manager(reward_config(str(tiny_model_dir)), qwen_tokenizer)
    assert isinstance(manager, NaiveRewardManager)
    data = build_batch(qwen_tokenizer, SAMPLES)
    for i, (row, text, expected) in enumerate(SAMPLES):
        # The base class bound the event loop at construction: run on it, not on a fresh asyncio.run loop.
        out = manager.loop.run_until_complete(manager.run_single(data[i : i + 1]))
        assert out["reward_score"] == pytest.approx(expected), (row, text)
        assert tuple(out["reward_extra_info"]) == SCORE_KEYS
        assert out["reward_extra_info"]["score"] == out["reward_score"]


def test_reward_loop_worker_batch_has_constant_keys_and_assembles(qwen_tokenizer, tiny_model_dir):
    """The worker path verl's RewardLoopManager fans out to, then its own aggregation of extra info (which
    takes the key list from the first sample and raises KeyError on any other key set)."""
    from verl.experimental.reward_loop.reward_loop import RewardLoopWorker

    worker = RewardLoopWorker(reward_config(str(tiny_model_dir)))
    data = build_batch(qwen_tokenizer, SAMPLES)
    outputs = worker.loop.run_until_complete(worker.compute_score_batch(data))

    scores = [o["reward_score"] for o in outputs]
    assert scores == pytest.approx([expected for _, _, expected in SAMPLES])
    infos = [o["reward_extra_info"] for o in outputs]
    keys = list(infos[0])
    extra = {key: np.array([info[key] for info in infos]) for key in keys}  # RewardLoopManager.compute_rm_score
    assert tuple(keys) == SCORE_KEYS and all(tuple(info) == SCORE_KEYS for info in infos)
    assert extra["acc"].tolist() == [1, 1, 0, 0, 0, 1, 1, 0, 0]
    assert extra["pred"][0] == "melanoma" and extra["pred"].dtype.kind == "U"

    rm_scores = worker.reward_manager.assemble_rm_scores(data, scores)
    last = data.batch["attention_mask"][:, data.batch["prompts"].shape[1] :].sum(dim=1) - 1
    assert rm_scores.sum(dim=1).tolist() == pytest.approx(scores)  # one scalar per response ...
    assert rm_scores[torch.arange(len(scores)), last].tolist() == pytest.approx(scores)  # ... on its last token
