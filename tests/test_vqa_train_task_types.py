"""The ``vqa`` preset trains on closed and multiple-choice questions (as Med-R1 and MedVLM-R1 train RL) and keeps
open questions for evaluation; ``med.train_task_types=null`` is the switch back to every row. Built by verl from
``data.custom_cls`` on rows written by the VQA converter."""

from __future__ import annotations

import pytest
from fixtures_perception import compose_med_config, write_rows
from test_dataset_vqa import rollout_model, vqa_rows

from data_preprocess.common import UserError
from verl_med_plugin import verl_compat
from verl_med_plugin.med_settings import check_med_config


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("vqa_tt")
    rows = list(vqa_rows())  # mcq, closed, open
    return write_rows(folder / "train.parquet", rows), write_rows(folder / "val.parquet", rows)


def _task_types(path, *overrides: str) -> list[str]:
    config = compose_med_config("med/experiment=vqa", "data.filter_overlong_prompts_workers=null", *overrides)
    config.data.train_files = str(files_of(path)[0])
    model = rollout_model("qwen2_5_vl")
    dataset = verl_compat.create_dataset([str(path)], config.data, model.tokenizer, model.processor)
    return [row["extra_info"]["task_type"] for row in dataset.dataframe]


def files_of(path):
    return (path.parent / "train.parquet", path.parent / "val.parquet")


def test_the_vqa_preset_trains_on_closed_and_mcq_and_evaluates_open(files):
    """Mutation checked: ``keep_task_types`` not called in ``maybe_filter_out_long_prompts`` -> the open row
    stays in the train set; ``train_task_types`` ignoring the file check -> the val set loses it too."""
    train, val = files
    assert _task_types(train) == ["mcq", "closed"]
    assert _task_types(val) == ["mcq", "closed", "open"]
    assert _task_types(train, "med.train_task_types=null") == ["mcq", "closed", "open"]


def test_no_row_left_to_train_on_is_one_error(files):
    train, _ = files
    with pytest.raises(UserError, match=r"no row of task type \['grounding'\] to train on"):
        _task_types(train, "med.train_task_types=[grounding]")


def test_the_switch_is_checked():
    config = compose_med_config("med/experiment=vqa", "med.train_task_types=[mcq,opn]")
    assert any("med.train_task_types" in p for p in check_med_config(config))
    assert check_med_config(compose_med_config("med/experiment=vqa")) == []
