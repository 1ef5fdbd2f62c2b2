"""One box convention per model: the row's ``extra_info.box_format`` is the truth; a reward configured
for another convention scores nothing and is refused before Ray starts, on every run (not only the dry run)."""

from __future__ import annotations

import pytest
from fixtures_data import write_busi_like_folder, write_fixture_parquet
from fixtures_perception import compose_med_config
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf
from rewards_rows import grounding, respond

from data_preprocess import grounding as loc
from reward_fns import compute_score
from verl_med_plugin.preflight import ConfigError, check_config, reference_answer_problems


def test_reward_refuses_a_configured_convention_that_contradicts_the_row():
    """A Qwen3-VL preset (rel1000) on pixel-box data used to read an obedient pixel answer as 0-1000: IoU 0."""
    pixel_answer = respond("[40, 40, 120, 120]")
    row = grounding("abs")
    assert compute_score("verl_med/busi", pixel_answer, "[[40,40,120,120]]", row, box_format="abs")["acc"] == 1.0
    assert compute_score("verl_med/busi", pixel_answer, "[[40,40,120,120]]", row)["acc"] == 1.0  # row's own
    refused = compute_score("verl_med/busi", pixel_answer, "[[40,40,120,120]]", row, box_format="rel1000")
    assert refused["score"] == 0.0 and refused["iou"] == 0.0 and refused["acc"] == 0.0


@pytest.fixture(scope="module")
def busi(tmp_path_factory):
    """Real converter output: BUSI-like masks as pixel boxes and as 0-1000 boxes."""
    root = tmp_path_factory.mktemp("busi")
    source = write_busi_like_folder(root / "src")
    return {
        fmt: loc.convert(
            loc.read_mask_folder(source),
            root / fmt,
            name="busi",
            box_format=fmt,
            max_side=56,
            progress=False,
            val_fraction=0.25,
            test_fraction=0.25,
        )["train.parquet"]
        for fmt in ("abs", "rel1000")
    }


def _config(train: str, model: str):
    cfg = OmegaConf.create(
        {
            "data": {"train_files": [str(train)], "val_files": []},
            "reward": {"custom_reward_function": {"reward_kwargs": {}}},
        }
    )
    with initialize_config_module("verl_med_plugin.configs", version_base=None):
        preset = compose("med_grpo", overrides=[f"med/model={model}"])
    cfg.reward.custom_reward_function.reward_kwargs = OmegaConf.to_container(preset.med.reward, resolve=True)
    return cfg


def test_reference_check_refuses_pixel_data_for_a_qwen3_preset(busi):
    problems = reference_answer_problems(_config(busi["abs"], "qwen3_vl_8b"))
    assert len(problems) == 1 and "box_format=rel1000 contradicts the row's box_format=abs" in problems[0]
    assert reference_answer_problems(_config(busi["rel1000"], "qwen3_vl_8b")) == []
    assert reference_answer_problems(_config(busi["abs"], "qwen2_5_vl_3b")) == []


def test_every_start_runs_the_reference_check(busi, tmp_path):
    """check_config (called before the dry run and before a real run) reports the mismatch as a ConfigError."""
    val = write_fixture_parquet(tmp_path / "breastmnist" / "val.parquet", n=4)
    train = write_fixture_parquet(tmp_path / "breastmnist" / "train.parquet", n=4)
    cfg = compose_med_config(
        "med/model=qwen3_vl_8b",
        "med/experiment=localization",
        f"med.data_dir={tmp_path}",
        "med.dataset=breastmnist",
        f"data.train_files=[{busi['abs']},{train}]",
        f"data.val_files=[{val}]",
    )
    with pytest.raises(ConfigError, match="contradicts the row's box_format=abs"):
        check_config(cfg)


@pytest.mark.parametrize(
    ("model", "fmt"),
    [("qwen2_5_vl_3b", "abs"), ("qwen2_5_vl_7b", "abs"), ("qwen3_vl_4b", "rel1000"), ("qwen3_vl_8b", "rel1000")],
)
@pytest.mark.parametrize("experiment", ["localization", "full"])
def test_localization_presets_read_data_prepared_in_the_models_convention(model, fmt, experiment):
    cfg = compose_med_config(
        f"med/model={model}", f"med/experiment={experiment}", "med.data_dir=/d", "med.dataset=breastmnist"
    )
    assert cfg.reward.custom_reward_function.reward_kwargs.box_format == fmt
    assert cfg.data.train_files[0] == f"/d/busi_{fmt}_minus_breastmnist/train.parquet"
