"""The zoom tool's geometry, pure (Pillow, no verl): read the policy's box, map it from the model's convention to
pixels of the image, crop, and upsample the crop within the processor's pixel budget.

A box the policy writes is data, never trusted: every way it can be wrong (not a list of four finite numbers,
inverted, zero-area, outside the image, a sliver) becomes a short message the policy reads in its next turn
instead of an exception that would end the trajectory. Conventions are the grounding reward's
(``reward_fns.boxes``): "abs" = pixels of the image *as the processor resizes it* (Qwen2.5-VL), "rel1000" = 0-1000
of the image (Qwen3-VL), "rel1" = 0-1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from PIL import Image

from reward_fns.boxes import MAX_COORD, convert_boxes, smart_resize
from reward_fns.config import BOX_FORMATS
from reward_fns.zoom import BOX_KEY, read_zoom_box

PixelBox = tuple[int, int, int, int]
_EPS = 1e-6


@dataclass(frozen=True)
class ZoomSettings:
    """The tool's ``config`` (tool yaml): the model's box convention and its processor's pixel budget.

    ``factor`` is the pixels per image-token side (patch x merge: 28 for Qwen2.5-VL, 32 for Qwen3-VL);
    ``min_pixels``/``max_pixels`` the processor's budget for the row's image (they define the "abs" frame);
    ``zoom_max_pixels`` the budget of each returned crop (each crop costs up to zoom_max_pixels / factor**2
    response tokens, which the preset's response length accounts for)."""

    box_format: str = "abs"
    max_calls: int = 2
    factor: int = 28
    min_pixels: int = 3136
    max_pixels: int = 12845056
    zoom_max_pixels: int = 200704
    max_upscale: float = 4.0
    min_box_side: int = 4
    max_aspect: float = 50.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> ZoomSettings:
        """Settings from the tool yaml's ``config`` (verl adds ``type: native``); a wrong key or value raises
        ``ValueError`` naming it (a configuration error, found when verl loads the tool)."""
        known = {f.name: f for f in fields(cls)}
        values = {k: v for k, v in dict(config or {}).items() if k != "type"}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"zoom tool config: unknown key(s) {unknown}; known: {sorted(known)}")
        settings = cls(**values)
        problems = settings.problems()
        if problems:
            raise ValueError("zoom tool config: " + "; ".join(problems))
        return settings

    def problems(self) -> list[str]:
        checks = [
            (self.box_format in BOX_FORMATS, f"box_format={self.box_format!r} (expected one of {BOX_FORMATS})"),
            (_is_int(self.max_calls) and self.max_calls >= 1, f"max_calls={self.max_calls!r} (expected >= 1)"),
            (_is_int(self.factor) and self.factor >= 1, f"factor={self.factor!r} (expected >= 1)"),
            (
                _is_int(self.min_pixels) and _is_int(self.max_pixels) and 0 < self.min_pixels <= self.max_pixels,
                f"min_pixels={self.min_pixels!r}, max_pixels={self.max_pixels!r} (expected 0 < min <= max)",
            ),
            (
                _is_int(self.zoom_max_pixels) and self.zoom_max_pixels >= self.factor**2,
                f"zoom_max_pixels={self.zoom_max_pixels!r} (expected >= factor**2)",
            ),
            (_number(self.max_upscale) and self.max_upscale >= 1, f"max_upscale={self.max_upscale!r} (>= 1)"),
            (_is_int(self.min_box_side) and self.min_box_side >= 1, f"min_box_side={self.min_box_side!r} (>= 1)"),
            (_number(self.max_aspect) and self.max_aspect >= 1, f"max_aspect={self.max_aspect!r} (>= 1)"),
        ]
        return [text for ok, text in checks if not ok]

    @property
    def max_zoom_tokens(self) -> int:
        """Image tokens one returned crop can cost at most (the processor's ``pixels / factor**2``)."""
        return self.zoom_max_pixels // (self.factor * self.factor)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def read_box(arguments: Any) -> list[float] | str:
    """The box of a call's arguments (``{"bbox_2d": [x1, y1, x2, y2]}``, other keys ignored), or the message
    saying what is wrong. Accepted exactly when the zoom reward counts the call as well formed
    (``reward_fns.zoom.read_zoom_box``)."""
    box = read_zoom_box(arguments)
    if box is not None:
        return box
    if not isinstance(arguments, Mapping):
        return f'zoom_in: arguments must be a JSON object like {{"{BOX_KEY}": [x1, y1, x2, y2]}}.'
    value = arguments.get(BOX_KEY)
    if not isinstance(value, (list, tuple)) or len(value) != 4:
        return f"zoom_in: {BOX_KEY} must be a list of four numbers [x1, y1, x2, y2]."
    if not all(_number(v) and abs(v) <= MAX_COORD for v in value):
        return f"zoom_in: {BOX_KEY} must hold four finite numbers."
    return "zoom_in: the box needs x1 < x2 and y1 < y2 (top-left, then bottom-right corner)."


def frame_size(settings: ZoomSettings, image_size: tuple[int, int]) -> tuple[float, float]:
    """The coordinate frame the model writes boxes in: the processor's resized image for "abs" (what
    Qwen2.5-VL sees), 1000 x 1000 for "rel1000", 1 x 1 for "rel1"."""
    if settings.box_format == "abs":
        w, h = smart_resize(image_size[0], image_size[1], settings.factor, settings.min_pixels, settings.max_pixels)
        return float(w), float(h)
    side = 1000.0 if settings.box_format == "rel1000" else 1.0
    return side, side


def pixel_box(box: list[float], settings: ZoomSettings, image_size: tuple[int, int]) -> PixelBox | str:
    """``box`` (in the model's convention) as an integer pixel box of the image, clipped to it and rounded
    outwards; or the message for a box (``read_box``'s: x1 < x2, y1 < y2) outside the image, too small or too
    thin."""
    x1, y1, x2, y2 = box
    frame = frame_size(settings, image_size)
    cx1, cy1, cx2, cy2 = max(x1, 0.0), max(y1, 0.0), min(x2, frame[0]), min(y2, frame[1])
    if cx2 <= cx1 or cy2 <= cy1:
        return f"zoom_in: the box lies outside the image (0, 0, {_fmt(frame[0])}, {_fmt(frame[1])})."
    converted = convert_boxes([[cx1, cy1, cx2, cy2]], settings.box_format, frame, "abs", image_size)
    assert converted is not None  # both sizes are set
    px1, py1, px2, py2 = converted[0]
    width, height = image_size
    # outwards, past float noise (192.5 px of a 308 px frame is 199.99999 px of a 320 px image: 200, not 199)
    left, top = max(0, math.floor(px1 + _EPS)), max(0, math.floor(py1 + _EPS))
    right, bottom = min(width, math.ceil(px2 - _EPS)), min(height, math.ceil(py2 - _EPS))
    side = min(right - left, bottom - top)
    if side < settings.min_box_side:
        return f"zoom_in: the box is too small to zoom into; make each side at least {settings.min_box_side} pixels."
    if max(right - left, bottom - top) > settings.max_aspect * side:
        return f"zoom_in: the box is too thin; keep its sides within 1:{_fmt(settings.max_aspect)}."
    return left, top, right, bottom


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def zoom_size(crop_size: tuple[int, int], settings: ZoomSettings) -> tuple[int, int]:
    """Size of the returned crop: upsampled at most ``max_upscale`` times, within ``zoom_max_pixels``, on the
    processor's grid (multiples of ``factor``), so the processor resizes it no further."""
    w, h = crop_size
    scale = min(settings.max_upscale, math.sqrt(settings.zoom_max_pixels / (w * h)))
    min_pixels = min(settings.min_pixels, settings.zoom_max_pixels)
    return smart_resize(
        max(1, round(w * scale)), max(1, round(h * scale)), settings.factor, min_pixels, settings.zoom_max_pixels
    )


def zoom_image(image: Image.Image, box: PixelBox, settings: ZoomSettings) -> Image.Image:
    """The crop of ``image`` at ``box``, resized to ``zoom_size`` (bicubic)."""
    crop = image.convert("RGB").crop(box)
    return crop.resize(zoom_size(crop.size, settings), Image.Resampling.BICUBIC)


def zoom(image: Image.Image, arguments: Any, settings: ZoomSettings) -> tuple[Image.Image | None, str | None]:
    """One call: ``(crop, None)``, or ``(None, message)`` when the arguments cannot be zoomed into."""
    box = read_box(arguments)
    if isinstance(box, str):
        return None, box
    pixels = pixel_box(box, settings, image.size)
    if isinstance(pixels, str):
        return None, pixels
    return zoom_image(image, pixels, settings), None
