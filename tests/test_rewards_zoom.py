"""``compute_zoom_score``: the answer graded as everywhere, a tool-call format term, an optional IoU term
for the first zoom box, no penalty for not calling the tool and no gain from calling it again.

Responses are built in the layout verl's reward loop decodes (``tokenizer.decode(..., skip_special_tokens=True)``
of the tool agent loop's response tokens); one test derives that layout from the real tokenizer and template.
IoU references come from ``torchvision.ops.box_iou``; the "abs" frame from ``qwen_vl_utils.smart_resize``.
"""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torchvision.ops import box_iou

from data_preprocess.schema import make_extra_info
from reward_fns import SCORE_KEYS, ZOOM_SCORE_KEYS, compute_score, compute_zoom_score
from reward_fns.config import reward_config

LABELS = ["benign", "malignant", "normal"]
WIDTH, HEIGHT = 500, 300  # non-square; smart_resize gives 504 x 308
LESION = [100, 60, 220, 180]  # in stored pixels ("abs" rows), the row's own frame
KWARGS = {"format_weight": 1.0, "acc_weight": 1.0, "zoom_iou_weight": 0.5}
TOOL_TURN = "\nuser\n<tool_response>\n\n</tool_response>\nassistant\n"  # a tool turn, special tokens skipped


def row(box_format: str = "abs", lesions: list | None = None) -> dict:
    info = make_extra_info(
        split="train",
        index=0,
        dataset="busi",
        task_type="multiclass",
        labels=list(LABELS),
        image_size=[WIDTH, HEIGHT],
        box_format=box_format,
    )
    if lesions is not None:
        info["lesion_boxes"] = json.dumps(lesions)
    return info


def call(box, name: str = "zoom_in") -> str:
    return "<think>look closer</think>\n<tool_call>\n" + json.dumps({"name": name, "arguments": {"bbox_2d": box}})


def response(calls: list[str], final: str) -> str:
    return "".join(c + "\n</tool_call>" + TOOL_TURN for c in calls) + final


ANSWER = "<think>smooth round margin</think><answer>benign</answer>"


def test_without_a_call_the_score_is_compute_scores():
    """No penalty for answering without the tool: every key of compute_score is equal, tool format 1."""
    info = row(lesions=[LESION])
    for text in (ANSWER, "<answer>benign</answer>", "<think>x</think><answer>malignant</answer>", ""):
        zoom = compute_zoom_score("verl_med/busi", text, "benign", info, **KWARGS)
        plain = compute_score("verl_med/busi", text, "benign", info, **KWARGS)
        assert {k: zoom[k] for k in SCORE_KEYS} == plain
        assert (zoom["tool_calls"], zoom["tool_format"], zoom["zoom_iou"]) == (0.0, 1.0, 0.0)


@pytest.mark.parametrize("box_format", ["abs", "rel1000"])
def test_the_grounding_term_is_the_iou_of_the_first_zoom_box_with_the_lesion(box_format):
    """The zoom box in the model's convention against the lesion box in the row's frame: "abs" boxes are pixels
    of the smart_resized image (504 x 308 for 500 x 300), "rel1000" the 0-1000 grid. Reference IoU from
    torchvision on the box mapped independently. Mutations checked: comparing the zoom box in its own frame
    without conversion, or reading the last call instead of the first, fails."""
    from qwen_vl_utils import smart_resize

    frame_h, frame_w = smart_resize(HEIGHT, WIDTH, factor=28, min_pixels=3136, max_pixels=12845056)
    zoom_px = [120.0, 50.0, 260.0, 200.0]  # where the model looks, in stored pixels
    if box_format == "abs":
        box = [zoom_px[0] * frame_w / WIDTH, zoom_px[1] * frame_h / HEIGHT]
        box += [zoom_px[2] * frame_w / WIDTH, zoom_px[3] * frame_h / HEIGHT]
        lesion = LESION
        reference = box_iou(torch.tensor([zoom_px]), torch.tensor([lesion], dtype=torch.float)).item()
    else:
        box = [zoom_px[0] * 2, zoom_px[1] * 1000 / HEIGHT, zoom_px[2] * 2, zoom_px[3] * 1000 / HEIGHT]
        lesion = [LESION[0] * 2, LESION[1] * 1000 / HEIGHT, LESION[2] * 2, LESION[3] * 1000 / HEIGHT]
        reference = box_iou(torch.tensor([box]), torch.tensor([lesion])).item()
    kwargs = {**KWARGS, "box_format": box_format}
    info = row(box_format, lesions=[lesion])
    far = [0, 0, 10, 10]
    result = compute_zoom_score("verl_med/busi", response([call(box), call(far)], ANSWER), "benign", info, **kwargs)
    assert result["zoom_iou"] == pytest.approx(reference, abs=1e-6) and 0.3 < reference < 0.7
    plain = compute_score("verl_med/busi", ANSWER, "benign", info, **kwargs)
    assert result["score"] == pytest.approx(plain["score"] + 0.5 * reference)
    assert result["acc"] == 1.0 and result["format"] == 1.0 and result["tool_calls"] == 2.0


def test_a_grounding_rows_lesion_is_its_ground_truth():
    info = make_extra_info(
        split="train", index=0, dataset="busi", task_type="grounding", image_size=[WIDTH, HEIGHT], box_format="rel1000"
    )
    truth = json.dumps([[200, 200, 400, 600]])
    text = response([call([200, 200, 400, 600])], "<think>there</think><answer>[[200, 200, 400, 600]]</answer>")
    result = compute_zoom_score("verl_med/busi", text, truth, info, box_format="rel1000", zoom_iou_weight=0.5)
    assert result["zoom_iou"] == 1.0 and result["iou"] == 1.0


@pytest.mark.parametrize(
    "bad",
    [
        call([50, 10, 10, 50]),  # inverted
        call([1, 2, 3]),  # three numbers
        call([1, 2, 3, 4], name="crop"),  # another tool
        "<think>x</think>\n<tool_call>\n{not json",
        "<think>x</think>\n<tool_call>\n" + json.dumps({"name": "zoom_in", "arguments": {"bbox_2d": [1] * 300}}),
    ],
)
def test_a_malformed_call_voids_the_format_term(bad):
    """Tool-call format: every call must be a well-formed zoom call (the same reader as the tool's), or the
    format term is 0. Mutation checked: format = final turn's format alone passes the malformed call."""
    info = row(lesions=[LESION])
    result = compute_zoom_score("verl_med/busi", response([bad], ANSWER), "benign", info, **KWARGS)
    assert (result["tool_format"], result["format"], result["acc"]) == (0.0, 0.0, 1.0)
    assert result["score"] == pytest.approx(1.0)  # the answer still counts; the format point is lost


BOX = st.lists(st.integers(min_value=-50, max_value=1100), min_size=4, max_size=4)
CALL = st.one_of(BOX.map(call), st.text(max_size=30).map(lambda t: "<think>x</think>\n<tool_call>\n" + t))
FINAL = st.sampled_from([ANSWER, "<think>x</think><answer>malignant</answer>", "<answer>benign</answer>", "", "benign"])


@settings(max_examples=300, deadline=None)
@given(
    calls=st.lists(CALL, max_size=3),
    extra=st.lists(CALL, min_size=1, max_size=4),
    final=FINAL,
    box_format=st.sampled_from(["abs", "rel1000"]),
)
def test_more_calls_never_raise_the_score(calls, extra, final, box_format):
    """Whatever a response holds, calling the tool again (well-formed or not, anywhere after the first call)
    cannot raise its score; and the score stays within the reward's bounds with constant keys. Mutations
    checked: the IoU of the best call instead of the first, or a bonus per call, fails."""
    info = row(box_format, lesions=[LESION if box_format == "abs" else [200, 200, 440, 600]])
    kwargs = {**KWARGS, "box_format": box_format}
    before = compute_zoom_score("verl_med/busi", response(calls, final), "benign", info, **kwargs)
    more = calls[:1] + extra + calls[1:] if calls else extra
    after = compute_zoom_score("verl_med/busi", response(more, final), "benign", info, **kwargs)
    low, high = reward_config(kwargs).score_bounds()
    for result in (before, after):
        assert tuple(result) == ZOOM_SCORE_KEYS and low <= result["score"] <= high
    if calls:
        assert after["score"] <= before["score"] + 1e-12
    else:  # the first call is new: only the IoU term can be gained, never the answer or the format
        assert after["score"] <= before["score"] + 0.5 * after["zoom_iou"] + 1e-12


def test_garbage_never_raises():
    """1 MB of tool-call blocks, tool-response markers and binary noise: constant keys, a bounded score."""
    blob = ("<tool_call>" + "{" * 5000 + "</tool_call></tool_response>\x00\udcff") * 200
    info = row(lesions=[LESION])
    assert len(blob) > 1_000_000
    for text, tool_format in ((blob, 0.0), (blob.encode("utf-8", "surrogatepass"), 0.0), (None, 1.0), (12, 1.0)):
        result = compute_zoom_score("verl_med/busi", text, "benign", info, **KWARGS)
        assert tuple(result) == ZOOM_SCORE_KEYS and result["tool_format"] == tool_format
        assert result["score"] == 0.0 and result["zoom_iou"] == 0.0


def test_the_decoded_layout_is_what_verls_reward_loop_sees(tiny_model_dir):
    """The final turn is found in a response rendered by the verl-med template and decoded as verl's reward
    manager decodes it (``skip_special_tokens=True``), for a call and its image tool response."""
    from transformers import AutoTokenizer

    from verl_med_plugin.med_settings import chat_template_text

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    tokenizer.chat_template = chat_template_text("qwen2_5_vl")
    calls = [{"type": "function", "function": {"name": "zoom_in", "arguments": {"bbox_2d": [100, 60, 220, 180]}}}]
    messages = [
        {"role": "user", "content": "Which class?"},
        {"role": "assistant", "content": "<think>look closer</think>", "tool_calls": calls},
        {"role": "tool", "content": [{"type": "image"}]},
        {"role": "assistant", "content": ANSWER},
    ]
    prompt = tokenizer.apply_chat_template(messages[:1], add_generation_prompt=True, tokenize=False)
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    ids = tokenizer(full[len(prompt) :], add_special_tokens=False)["input_ids"]
    decoded = tokenizer.decode(ids, skip_special_tokens=True)
    result = compute_zoom_score("verl_med/busi", decoded, "benign", row(lesions=[LESION]), **KWARGS)
    assert (result["acc"], result["format"], result["tool_calls"]) == (1.0, 1.0, 1.0)
    # the same numbers, read in the 504 x 308 frame the model saw: a slightly smaller region of the stored image
    seen = torch.tensor([[100 * WIDTH / 504, 60 * HEIGHT / 308, 220 * WIDTH / 504, 180 * HEIGHT / 308]])
    assert result["zoom_iou"] == pytest.approx(box_iou(seen, torch.tensor([LESION], dtype=torch.float)).item())
