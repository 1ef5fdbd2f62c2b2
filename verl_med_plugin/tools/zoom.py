"""``ZoomTool``: a zoom-in tool for verl 0.9's tool agent loop (``tool_config_path``; docs/tools.md).

The policy calls ``zoom_in`` with a box in its own convention (the model preset's ``med.reward.box_format``, the
table the grounding reward uses); the tool crops the row's image there, upsamples the crop within the processor's
pixel budget and returns it as an image the next turn sees. Anything wrong with a call is a short text message
(``crop.py``), never an exception; after ``max_calls`` calls in one trajectory the tool answers with a message
only, so a trajectory holds at most ``max_calls`` extra images.
"""

from __future__ import annotations

import weakref
from typing import Any

from reward_fns.zoom import BOX_KEY, TOOL_NAME
from verl_med_plugin.tools.crop import ZoomSettings, zoom
from verl_med_plugin.verl_compat import (
    AGENT_DATA_KWARG,
    AGENT_IMAGES_ATTR,
    tool_base_class,
    tool_response,
)
from verl_med_plugin.verl_compat import tool_schema as verl_tool_schema

_CONVENTION_TEXT = {
    "abs": "in pixels of the image",
    "rel1000": "on a 0-1000 grid over the image (0,0 top-left, 1000,1000 bottom-right)",
    "rel1": "as fractions 0-1 of the image width and height",
}


def zoom_schema(settings: ZoomSettings) -> dict[str, Any]:
    """The OpenAI function schema the chat template shows the policy; it states the box convention."""
    convention = _CONVENTION_TEXT[settings.box_format]
    return {
        "type": "function",
        "function": {
            "name": TOOL_NAME,
            "description": (
                "Zoom in on a region of the image to see it in more detail; returns the enlarged region. "
                f"At most {settings.max_calls} call(s) per question."
            ),
            "parameters": {
                "type": "object",
                "properties": {
                    BOX_KEY: {
                        "type": "array",
                        "description": f"The region [x1, y1, x2, y2] (top-left, bottom-right corner), {convention}.",
                    }
                },
                "required": [BOX_KEY],
            },
        },
    }


class ZoomTool(tool_base_class()):  # type: ignore[misc]
    """verl ``BaseTool``: one zoom per call on the row's first image, at most ``max_calls`` per trajectory."""

    def __init__(self, config: dict, tool_schema: Any = None) -> None:
        self.settings = ZoomSettings.from_config(config)
        super().__init__(config, tool_schema or verl_tool_schema(zoom_schema(self.settings)))
        # calls made so far, per trajectory (verl creates an instance per call; the AgentData object is the
        # trajectory); weak keys: a finished trajectory's count goes with it
        self._calls: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()

    async def execute(self, instance_id: str, parameters: dict[str, Any], **kwargs: Any) -> tuple[Any, float, dict]:
        """``(ToolResponse, 0.0, metrics)``: the zoomed crop, or a message saying why there is none."""
        agent_data = kwargs.get(AGENT_DATA_KWARG)
        images = getattr(agent_data, AGENT_IMAGES_ATTR, None) or []
        if agent_data is None or not images:
            return tool_response(text="zoom_in: there is no image to zoom into."), 0.0, {"zoomed": 0}
        calls = self._calls.get(agent_data, 0) + 1
        self._calls[agent_data] = calls
        if calls > self.settings.max_calls:
            text = f"zoom_in: call limit reached ({self.settings.max_calls} per question); answer now."
            return tool_response(text=text), 0.0, {"zoomed": 0}
        crop, message = zoom(images[0], parameters, self.settings)
        if crop is None:
            return tool_response(text=message), 0.0, {"zoomed": 0}
        return tool_response(images=[crop]), 0.0, {"zoomed": 1}
