"""``med.tool``: which shipped tool yaml a run uses, and the checks that keep it consistent with the run.

verl reads a tool yaml from a file path (``actor_rollout_ref.rollout.multi_turn.tool_config_path``); verl-med
ships one per tool and chat template (``configs/tools/<tool>_<template>.yaml``) and fills that path from
``med.tool`` and ``med.template`` unless it is set. verl's ``data.tool_config_path`` follows it by interpolation,
so verl's dataset loads the tool too and its length filter counts the tool list in the system turn.
Light (no verl): the pre-flight checks import it on the login node.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from reward_fns.config import RewardConfig
from verl_med_plugin.tools.crop import ZoomSettings
from verl_med_plugin.verl_compat import TOOL_CONFIG_KEY

TOOLS = ("zoom",)
ZOOM_CLASS = "verl_med_plugin.tools.zoom.ZoomTool"
# Response tokens one tool turn costs besides its image: the call (~40 tokens of JSON in <tool_call> tags) and the
# tool turn's chat markers (~15); 64 rounds them up.
TOOL_TURN_TEXT_TOKENS = 64
# The final answer's room that must remain after every allowed call (a think block and an answer).
MIN_ANSWER_TOKENS = 128


def shipped_tool_config(tool: str, template: str) -> Path:
    """The shipped tool yaml for ``tool`` and chat template ``template`` (a file inside the installed package)."""
    return Path(str(importlib.resources.files("verl_med_plugin.configs") / "tools" / f"{tool}_{template}.yaml"))


def apply_tool_setting(config: DictConfig) -> None:
    """Fill ``TOOL_CONFIG_KEY`` from ``med.tool`` and ``med.template`` where unset (call it where
    ``apply_chat_template_setting`` is called: before anything builds a dataset or a rollout)."""
    tool, template = OmegaConf.select(config, "med.tool"), OmegaConf.select(config, "med.template")
    if tool is None or (template is None and OmegaConf.select(config, TOOL_CONFIG_KEY) is None):
        return  # nothing to pick the yaml with: tool_problems says so
    path = OmegaConf.select(config, TOOL_CONFIG_KEY) or str(shipped_tool_config(str(tool), str(template)))
    OmegaConf.update(config, TOOL_CONFIG_KEY, path, force_add=True)


def zoom_settings_of(path: str | Path) -> ZoomSettings | None:
    """The zoom tool's settings in a tool yaml (None when the yaml declares no zoom tool)."""
    tools = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    for entry in (tools or {}).get("tools", []) if isinstance(tools, dict) else []:
        if isinstance(entry, dict) and entry.get("class_name") == ZOOM_CLASS:
            return ZoomSettings.from_config(entry.get("config"))
    return None


def tool_problems(config: DictConfig) -> list[str]:
    """Why ``med.tool`` cannot run as configured: an unknown tool, no template to pick its yaml, a yaml that is
    missing or invalid, a box convention or pixel budget other than the reward's, or a response length that
    cannot hold every allowed crop plus an answer."""
    tool = OmegaConf.select(config, "med.tool")
    if tool is None:
        return []
    if tool not in TOOLS:
        return [f"med.tool={tool!r}: expected null or one of {TOOLS}"]
    path = OmegaConf.select(config, TOOL_CONFIG_KEY)
    template = OmegaConf.select(config, "med.template")
    if path is None and template is None:
        return [
            f"med.tool={tool} needs med.template (qwen2_5_vl or qwen3_vl: the stock Qwen2.5-VL template cannot "
            f"render tool calls) or {TOOL_CONFIG_KEY}"
        ]
    path = path or str(shipped_tool_config(str(tool), str(template)))
    if not Path(path).is_file():
        return [f"{TOOL_CONFIG_KEY}={path}: no such file (med.tool={tool}, med.template={template})"]
    try:
        settings = zoom_settings_of(path)
    except (ValueError, TypeError) as err:
        return [f"{path}: {err}"]
    if settings is None:
        return [f"{path}: declares no {ZOOM_CLASS} (med.tool={tool})"]
    return _reward_agreement(config, settings, path) + _response_budget(config, settings, path)


def _reward_agreement(config: DictConfig, settings: ZoomSettings, path: str) -> list[str]:
    """The tool reads boxes in the convention and frame the grounding reward does (one table, the model preset)."""
    reward = _plain(OmegaConf.select(config, "med.reward")) or {}
    defaults = RewardConfig()
    box_format = reward.get("box_format") or "abs"
    wanted = {
        "box_format": box_format,
        "factor": reward.get("image_factor", defaults.image_factor),
        "min_pixels": reward.get("min_pixels", defaults.min_pixels),
        "max_pixels": reward.get("max_pixels", defaults.max_pixels),
    }
    if "abs" not in (box_format, settings.box_format):  # the frame only matters for pixel boxes
        wanted = {"box_format": box_format}
    names = {"factor": "image_factor"}
    wrong = [key for key, value in wanted.items() if getattr(settings, key) != value]
    if not wrong:
        return []
    tool_side = ", ".join(f"{key}={getattr(settings, key)!r}" for key in wrong)
    reward_side = ", ".join(f"med.reward.{names.get(key, key)}={wanted[key]!r}" for key in wrong)
    return [
        f"{path}: {tool_side} but {reward_side}; the zoom tool must read boxes in the reward's convention and "
        "frame (both come from the model preset)"
    ]


def _response_budget(config: DictConfig, settings: ZoomSettings, path: str) -> list[str]:
    """Every crop lands in the response (verl masks it from the loss but counts it against the response
    length): ``max_calls`` crops and tool turns plus an answer must fit."""
    length = OmegaConf.select(config, "data.max_response_length")
    need = minimum_response_length(settings)
    if isinstance(length, int) and length < need:
        return [
            f"data.max_response_length={length} < {need}: {settings.max_calls} zoom call(s) of up to "
            f"{settings.max_zoom_tokens} image tokens each ({path}) plus {TOOL_TURN_TEXT_TOKENS} tokens per tool "
            f"turn and {MIN_ANSWER_TOKENS} for the answer; raise it or lower max_calls / zoom_max_pixels"
        ]
    return []


def minimum_response_length(settings: ZoomSettings) -> int:
    """Response tokens a trajectory needs to make every allowed call and still answer.

    >>> minimum_response_length(ZoomSettings(max_calls=2, factor=28, zoom_max_pixels=200704))
    768
    """
    return settings.max_calls * (settings.max_zoom_tokens + TOOL_TURN_TEXT_TOKENS) + MIN_ANSWER_TOKENS


def _plain(value: Any) -> Any:
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
