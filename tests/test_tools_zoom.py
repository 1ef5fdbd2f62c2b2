"""The zoom tool as verl 0.9.1 runs it: built by verl's own tool registry from the shipped tool yaml,
called through verl's own ``ToolAgentLoop._call_tool`` with verl's ``AgentData`` and ``FunctionCall``.

The expected crops are computed independently: the "abs" frame with ``qwen_vl_utils.smart_resize`` (Qwen's own
helper, not the plugin's copy in reward_fns.boxes), the crop and resize with Pillow on the test's side.
"""

from __future__ import annotations

import asyncio
import json
import math
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from fixtures_data import REPO
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

TOOLS_DIR = REPO / "configs" / "tools"
WIDTH, HEIGHT = 320, 200  # NOT square, and not multiples of 28 or 32: a frame mix-up moves the crop


def load_zoom(family: str, **overrides: Any):
    """The tool verl's agent-loop worker builds from the shipped yaml (``overrides`` change its config)."""
    from omegaconf import OmegaConf

    from verl_med_plugin.verl_compat import load_tools

    path = TOOLS_DIR / f"zoom_{family}.yaml"
    if overrides:
        cfg = OmegaConf.load(path)
        cfg.tools[0].config.update(overrides)
        path = Path(tempfile.mkdtemp(prefix="verl_med_zoom_")) / f"zoom_{family}.yaml"
        OmegaConf.save(cfg, path)
    (tool,) = load_tools(str(path))
    return tool


def gradient_image() -> Image.Image:
    """Red = x, green = y (in steps of 1 per pixel, mod 256): every pixel says where it came from."""
    xs, ys = np.meshgrid(np.arange(WIDTH), np.arange(HEIGHT))
    rgb = np.stack([xs % 256, ys % 256, (xs // 256) * 100], axis=-1).astype(np.uint8)
    return Image.fromarray(rgb, "RGB")


def agent_data(images: list[Image.Image]):
    """verl's own per-trajectory state object, as ToolAgentLoop.run builds it."""
    from verl.experimental.agent_loop.tool_agent_loop import AgentData

    return AgentData(
        messages=[],
        image_data=images,
        video_data=None,
        audio_data=None,
        mm_processor_kwargs=None,
        metrics={},
        request_id="test",
        tools_kwargs={},
    )


def call_through_verl(tool, arguments: str, data) -> Any:
    """verl's ``ToolAgentLoop._call_tool`` (name and JSON checks, create/execute/release, truncation) on our tool.
    Only the attributes that method reads are set on the loop object."""
    from verl.experimental.agent_loop.tool_agent_loop import ToolAgentLoop
    from verl.experimental.agent_loop.tool_parser import FunctionCall

    loop = SimpleNamespace(tools={tool.name: tool}, max_tool_response_length=256, tool_response_truncate_side="middle")
    call = FunctionCall(name=tool.name, arguments=arguments)
    response, reward, _ = asyncio.run(ToolAgentLoop._call_tool(loop, call, {}, data))
    return response, reward


def expected_crop(image: Image.Image, box_px: tuple[int, int, int, int], size: tuple[int, int]) -> np.ndarray:
    return np.asarray(image.crop(box_px).resize(size, Image.Resampling.BICUBIC))


@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen3_vl"])
def test_each_family_zooms_on_the_region_its_convention_names(family):
    """A box around pixels (200..280, 40..160) of a 320 x 200 image, written as each family writes it: Qwen2.5-VL
    in pixels of the smart_resized image (308 x 196), Qwen3-VL on the 0-1000 grid. The returned crop must be
    that region, pixel for pixel, upsampled onto the processor's grid (multiples of 28 / 32) within the budget.
    Mutations checked: the stored image taken as the "abs" frame (crop shifted by 4 %) fails the pixel
    comparison; the crop returned un-upsampled fails the size check."""
    from qwen_vl_utils import smart_resize as qwen_smart_resize

    tool = load_zoom(family)
    image = gradient_image()
    target = (200, 40, 280, 160)
    if family == "qwen2_5_vl":
        frame_h, frame_w = qwen_smart_resize(HEIGHT, WIDTH, factor=28, min_pixels=3136, max_pixels=12845056)
        assert (frame_w, frame_h) != (WIDTH, HEIGHT)  # the test needs a frame that differs from the stored size
        box = [target[0] * frame_w / WIDTH, target[1] * frame_h / HEIGHT]
        box += [target[2] * frame_w / WIDTH, target[3] * frame_h / HEIGHT]
        factor, budget = 28, 200704
    else:
        box = [target[0] * 1000 / WIDTH, target[1] * 1000 / HEIGHT, target[2] * 1000 / WIDTH, target[3] * 1000 / HEIGHT]
        factor, budget = 32, 262144
    response, reward = call_through_verl(tool, json.dumps({"bbox_2d": box}), agent_data([image]))
    assert reward == 0.0 and response.text is None and len(response.image) == 1
    crop = response.image[0]
    w, h = crop.size
    assert w % factor == 0 and h % factor == 0 and w * h <= budget
    assert w > 80 and h > 120  # upsampled, not the 80 x 120 region as stored
    assert abs((w / h) - (80 / 120)) < 0.1  # the region's aspect ratio kept
    np.testing.assert_array_equal(np.asarray(crop), expected_crop(image, target, crop.size))


def test_zoom_reads_the_rows_first_image_not_an_earlier_crop():
    """After one zoom the trajectory holds two images; the next box still refers to the row's image.
    Mutation checked: zooming into ``image_data[-1]`` (the last crop) fails the pixel comparison."""
    tool = load_zoom("qwen3_vl")
    image = gradient_image()
    data = agent_data([image, Image.new("RGB", (64, 64), "white")])
    response, _ = call_through_verl(tool, '{"bbox_2d": [0, 0, 500, 500]}', data)
    crop = response.image[0]
    np.testing.assert_array_equal(np.asarray(crop), expected_crop(image, (0, 0, 160, 100), crop.size))


def test_calls_per_trajectory_are_bounded_and_every_call_counts():
    """``max_calls`` (2 in the shipped yaml) images per trajectory, then a message; malformed calls count too
    (a policy cannot spin on bad calls); another trajectory has its own budget. Mutations checked: no limit
    (a third image comes back), a limit shared by all trajectories (the second trajectory gets no image)."""
    tool = load_zoom("qwen3_vl")
    first, second = agent_data([gradient_image()]), agent_data([gradient_image()])
    good = '{"bbox_2d": [100, 100, 600, 600]}'
    got = [call_through_verl(tool, good, first)[0] for _ in range(2)]
    assert [len(r.image or []) for r in got] == [1, 1]
    third = call_through_verl(tool, good, first)[0]
    assert third.image is None and "limit" in third.text
    assert call_through_verl(tool, '{"bbox_2d": [9, 9, 1, 1]}', second)[0].image is None
    assert len(call_through_verl(tool, good, second)[0].image) == 1
    assert call_through_verl(tool, good, second)[0].image is None  # the malformed call used one of the two


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        ("{not json", "Invalid JSON"),  # verl's own check, before our tool
        ("[1, 2, 3, 4]", "JSON object"),
        ('{"bbox_2d": [1, 2, 3]}', "four numbers"),
        ('{"bbox_2d": "10,10,50,50"}', "four numbers"),
        ('{"bbox_2d": [10, 10, NaN, 50]}', "finite"),
        ('{"bbox_2d": [1e30, 10, 2e30, 50]}', "finite"),
        ('{"bbox_2d": [true, 10, 50, 50]}', "finite"),
        ('{"bbox_2d": [50, 10, 10, 50]}', "x1 < x2"),
        ('{"bbox_2d": [10, 10, 10, 50]}', "x1 < x2"),
        ('{"bbox_2d": [1001, 0, 2000, 500]}', "outside"),
        ('{"bbox_2d": [-50, -50, -1, -1]}', "outside"),
        ('{"bbox_2d": [100, 100, 105, 900]}', "too small"),
        ('{"bbox_2d": [0, 100, 1000, 140]}', "too thin"),
        ('{"box": [0, 0, 500, 500]}', "four numbers"),
    ],
)
def test_bad_calls_get_one_short_message_the_policy_reads(arguments, says):
    """Each way a call can be wrong is a short message (never an exception, never an image). Mutations
    checked: dropping the inverted-box check (the message then blames "outside"), dropping the clip-and-outside
    check (a crop of pure padding comes back), dropping the thin-box check (an image comes back)."""
    tool = load_zoom("qwen3_vl", min_box_side=8, max_aspect=20.0)
    image = Image.new("RGB", (WIDTH, HEIGHT), "gray")
    response, _ = call_through_verl(tool, arguments, agent_data([image]))
    assert not response.image
    assert says in response.text and len(response.text) < 200 and "\n" not in response.text


def test_a_box_partly_outside_is_clipped_to_the_image():
    """A box over the right edge zooms into the part inside (what the model meant); mutation checked: no clip
    (Pillow pads the crop with black, the comparison fails)."""
    tool = load_zoom("qwen3_vl")
    image = gradient_image()
    response, _ = call_through_verl(tool, '{"bbox_2d": [500, 0, 1500, 1000]}', agent_data([image]))
    crop = response.image[0]
    np.testing.assert_array_equal(np.asarray(crop), expected_crop(image, (160, 0, 320, 200), crop.size))


JSON_LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
JSON_VALUE = st.recursive(
    JSON_LEAF,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
BOXES = st.lists(st.floats(min_value=-2000, max_value=3000, allow_nan=False), min_size=4, max_size=4)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    arguments=st.one_of(
        JSON_VALUE,
        st.fixed_dictionaries({"bbox_2d": JSON_VALUE}),
        st.fixed_dictionaries({"bbox_2d": BOXES}),
    ),
    family=st.sampled_from(["qwen2_5_vl", "qwen3_vl"]),
)
def test_hostile_arguments_never_raise_and_stay_within_the_budget(arguments, family):
    """Any JSON value as arguments (and any four numbers as a box): the tool answers either one image on the
    processor's grid within the pixel budget, or a short text; never an exception (which verl would turn into
    an error text that hides the cause). Mutations checked: ``read_zoom_box`` without its mapping check
    (AttributeError on a list) or without its number check (TypeError on a string coordinate) fails."""
    tool = _TOOLS.setdefault(family, load_zoom(family))
    factor, budget = tool.settings.factor, tool.settings.zoom_max_pixels
    response, _, _ = asyncio.run(tool.execute("id", arguments, agent_data=agent_data([gradient_image()])))
    if response.image:
        (crop,) = response.image
        assert crop.size[0] % factor == 0 and crop.size[1] % factor == 0
        assert crop.size[0] * crop.size[1] <= budget
        assert response.text is None
    else:
        assert response.text and len(response.text) < 200


_TOOLS: dict[str, Any] = {}


def test_settings_errors_name_the_key():
    """A misspelt or out-of-range key in the tool yaml stops the worker with the key named (a configuration
    error, unlike a policy's bad call)."""
    from verl_med_plugin.tools.crop import ZoomSettings

    with pytest.raises(ValueError, match="unknown key.*max_call"):
        ZoomSettings.from_config({"type": "native", "max_call": 3})
    with pytest.raises(ValueError, match="box_format='xywh'"):
        ZoomSettings.from_config({"box_format": "xywh"})
    with pytest.raises(ValueError, match="zoom_max_pixels"):
        ZoomSettings.from_config({"factor": 32, "zoom_max_pixels": 100})
    assert ZoomSettings.from_config({"type": "native"}).max_zoom_tokens == 200704 // (28 * 28)
    assert math.isclose(ZoomSettings().max_upscale, 4.0)
