"""Zoom warm-start traces: the grounding converter's rows of a BUSI-layout folder (non-square 80 x 60
images, mask boxes) through ``python -m data_preprocess.sft --zoom_tool``. Each trace must be what the zoom policy
should do, judged by the other components rather than by the converter: the zoom reward scores it at its maximum,
the real tool (through verl's own dispatch) returns exactly the trace's second image, and verl's multi-turn SFT
dataset trains on the two assistant turns and not on the tool's turn."""

from __future__ import annotations

import io
import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from fixtures_data import write_busi_like_folder
from omegaconf import OmegaConf
from PIL import Image

from data_preprocess import grounding as loc
from data_preprocess import sft
from data_preprocess.common import ConversionError
from reward_fns import compute_zoom_score

TOOL_TURN = "\nuser\n<tool_response>\n\n</tool_response>\nassistant\n"  # decoded as verl's reward loop decodes


def read_rows(path):
    return pq.read_table(path).to_pylist()


@pytest.fixture(scope="module", params=["qwen2_5_vl", "qwen3_vl"])
def traces(request, tmp_path_factory):
    # The grounding rows in the model's convention, as the localization presets require.
    family = request.param
    root = tmp_path_factory.mktemp(f"zoom_{family}")
    samples = loc.read_mask_folder(write_busi_like_folder(root / "busi"))
    box_format = "abs" if family == "qwen2_5_vl" else "rel1000"
    loc.convert(samples, root / "rl", name="busi", box_format=box_format, progress=False)
    written = sft.convert(root / "rl", zoom_tool=family, progress=False)
    return family, read_rows(root / "rl" / "train.parquet"), read_rows(written["sft_zoom_train.parquet"]), written


def test_each_trace_zooms_on_the_lesion_then_answers_with_the_maximum_reward(traces):
    """Rows with a lesion: user, assistant (think + zoom_in call), tool (the crop), assistant (reply); rows
    without one (normal images) keep the one-turn reply. The zoom reward (another module) gives every trace
    answer, format and tool format 1 and an IoU with the lesion of at least 0.9 (integer rounding of the box).
    Mutation checked: the call written in the wrong convention (``box_format`` of the other family) fails."""
    family, rl_rows, rows, _ = traces
    assert len(rows) == len(rl_rows) > 0
    kwargs = {"box_format": "abs" if family == "qwen2_5_vl" else "rel1000", "zoom_iou_weight": 0.5}
    zoomed = 0
    for rl, row in zip(rl_rows, rows, strict=True):
        roles = [m["role"] for m in row["messages"]]
        has_lesion = json.loads(rl["reward_model"]["ground_truth"]) != []
        assert row["tools"][0]["function"]["name"] == "zoom_in"
        if not has_lesion:
            assert roles[-2:] == ["user", "assistant"] and len(row["images"]) == 1
            continue
        zoomed += 1
        assert roles[-4:] == ["user", "assistant", "tool", "assistant"] and len(row["images"]) == 2
        assert row["messages"][-2]["content"] == "<image>"
        call, reply = row["messages"][-3]["content"], row["messages"][-1]["content"]
        decoded = call + TOOL_TURN + reply
        score = compute_zoom_score(
            rl["data_source"], decoded, rl["reward_model"]["ground_truth"], rl["extra_info"], **kwargs
        )
        assert (score["acc"], score["format"], score["tool_format"], score["tool_calls"]) == (1.0, 1.0, 1.0, 1.0)
        assert score["zoom_iou"] >= 0.9, (call, rl["reward_model"]["ground_truth"])
    assert zoomed >= 4


@pytest.mark.parametrize(
    ("row_format", "tool", "expected"),
    [
        # stored 80 x 60 pixels -> the 0-1000 grid: x * 1000 / 80, y * 1000 / 60
        ("abs", "qwen3_vl", [250, 167, 625, 500]),
        # stored pixels -> pixels of the smart_resized image, 84 x 56 (qwen_vl_utils.smart_resize below)
        ("abs", "qwen2_5_vl", None),
        # already on the grid: unchanged
        ("rel1000", "qwen3_vl", [250, 167, 625, 500]),
    ],
)
def test_the_call_box_is_the_lesion_in_the_tools_convention(row_format, tool, expected):
    """Mutation checked: returning the lesion unconverted fails the first two rows."""
    from qwen_vl_utils import smart_resize

    settings, _ = sft.zoom_schema_of(tool)
    lesion = [20, 10, 50, 30] if row_format == "abs" else [250, 166.7, 625, 500]
    if expected is None:
        height, width = smart_resize(60, 80, factor=28, min_pixels=3136, max_pixels=12845056)
        assert (width, height) == (84, 56)
        expected = [round(20 * width / 80), round(10 * height / 60), round(50 * width / 80), round(30 * height / 60)]
    info = {"box_format": row_format, "image_size": [80, 60]}
    assert sft.zoom_call_box(lesion, info, settings) == expected


def test_the_traces_crop_is_what_the_tool_returns(traces):
    """The second image is the real tool's answer to the trace's call (verl's tool registry and dispatch), pixel
    for pixel: SFT teaches the policy the very view the RL rollout will give it. Mutation checked: the trace's
    crop made with other settings (no upsampling) fails the comparison."""
    from test_tools_zoom import agent_data, call_through_verl

    from verl_med_plugin.tools.settings import shipped_tool_config
    from verl_med_plugin.verl_compat import load_tools

    family, _, rows, _ = traces
    (tool,) = load_tools(str(shipped_tool_config("zoom", family)))
    row = next(r for r in rows if len(r["images"]) == 2)
    image, crop = (Image.open(io.BytesIO(i["bytes"])) for i in row["images"])
    payload = json.loads(row["messages"][-3]["content"].split("<tool_call>\n")[1].split("\n</tool_call>")[0])
    response, _ = call_through_verl(tool, json.dumps(payload["arguments"]), agent_data([image.convert("RGB")]))
    np.testing.assert_array_equal(np.asarray(response.image[0]), np.asarray(crop.convert("RGB")))


def test_verls_sft_dataset_trains_the_assistant_turns_only(traces, tmp_path):
    """verl's ``MultiTurnSFTDataset`` with the verl-med template: two images' pads in the input, the tool list in
    the system turn, the loss on both assistant turns (call and reply) and not on the tool's turn."""
    from fixtures_perception import model_dir

    from verl_med_plugin import verl_compat
    from verl_med_plugin.med_settings import chat_template_text

    family, _, rows, written = traces
    tokenizer, processor = verl_compat.load_tokenizer_and_processor(str(model_dir(family)))
    template = chat_template_text(family)
    tokenizer.chat_template = processor.chat_template = template
    config = OmegaConf.create({"max_length": 4096, "pad_mode": "no_padding", "truncation": "error"})
    dataset = verl_compat.create_sft_dataset(str(written["sft_zoom_train.parquet"]), config, tokenizer, processor)
    index = next(i for i, r in enumerate(rows) if len(r["images"]) == 2)
    item = dataset[index]
    ids, mask = item["input_ids"], item["loss_mask"].bool()
    full, trained = tokenizer.decode(ids), tokenizer.decode(ids[mask])
    assert "# Tools" in full and '"name": "zoom_in"' in full.split("<|im_end|>")[0]
    pad = tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert int((ids == pad).sum()) > 0 and int((ids[mask] == pad).sum()) == 0
    assert full.count("<|vision_start|>") == 2
    assert '<tool_call>\n{"name": "zoom_in"' in trained and "<answer>" in trained
    assert "<tool_response>" not in trained


def test_a_missing_tool_yaml_is_one_error(tmp_path):
    (tmp_path / "train.parquet").write_bytes(b"")
    with pytest.raises(ConversionError, match="--zoom_tool nope.yaml: no such tool yaml"):
        sft.convert(tmp_path, zoom_tool="nope.yaml", progress=False)
