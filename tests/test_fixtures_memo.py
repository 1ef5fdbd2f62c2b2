"""The test-run memo of tokenizer/processor loads (``fixtures_memo``, on for the whole session): each call gets its
own object, equal to a fresh load, so no test sees another's changes; an edited folder is loaded afresh."""

from __future__ import annotations

import os
import shutil

import pytest
from fixtures_memo import MEMO_OFF_ENV

pytestmark = pytest.mark.skipif(os.environ.get(MEMO_OFF_ENV) == "1", reason="memo turned off for this run")


def test_each_load_is_a_separate_copy_of_the_same_tokenizer(tiny_model_dir):
    from transformers import AutoProcessor, AutoTokenizer

    first, second = AutoTokenizer.from_pretrained(tiny_model_dir), AutoTokenizer.from_pretrained(tiny_model_dir)
    assert first is not second and type(first) is type(second)
    first.chat_template, first.pad_token = "changed", "<|im_end|>"
    assert second.chat_template != "changed" and second.pad_token == "<|endoftext|>"
    assert AutoTokenizer.from_pretrained(tiny_model_dir).chat_template != "changed"
    text = "<|im_start|>user\nIs this retina healthy?<|im_end|>"
    assert first(text)["input_ids"] == second(text)["input_ids"]

    processor = AutoProcessor.from_pretrained(tiny_model_dir)
    processor.chat_template = "changed"
    again = AutoProcessor.from_pretrained(tiny_model_dir)
    assert again is not processor and again.chat_template != "changed"
    assert again.tokenizer is not processor.tokenizer


def test_an_edited_folder_is_loaded_afresh(tiny_model_dir, tmp_path):
    from transformers import AutoTokenizer

    folder = shutil.copytree(tiny_model_dir, tmp_path / "model")
    assert AutoTokenizer.from_pretrained(folder).model_max_length > 10**6
    config = folder / "tokenizer_config.json"
    config.write_text(config.read_text().replace('"model_max_length": ', '"model_max_length": 4096, "_was": '))
    assert AutoTokenizer.from_pretrained(folder).model_max_length == 4096
