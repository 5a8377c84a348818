"""Grounding a plain-words description on a screenshot, with optional zoom-in.

`Grounder.ground` is the one place a description becomes screenshot pixels: the
dialect's own grounding prompt, the reply read by the dialect's own parser, and the
one coordinate chain (`tools.geometry.convert_point`). A crop is just another frame:
its size, its origin in screenshot pixels and its scale (image pixels per screenshot
pixel), so mapping an answer on a crop back is `convert_point(..., Space.SCREEN,
frame=crop_frame)` — the same call the controllers use for their own units.

Zoom (`zoom="auto"`, True, False). A model sees the screenshot smart-resized under its
`max_pixels`; on a 3840x2160 screen with a 1M-pixel budget every model pixel covers
about 2.9 x 2.9 screen pixels, so a small target is a few model pixels wide and an
error of two model pixels misses it. Zooming crops the screenshot at native resolution
around the first answer, sized so that the crop fits the model's budget (the model
then sees it pixel for pixel), asks again on the crop, and maps the second answer back.

`auto` zooms when both hold:
- the screen is shrunk for the model: the linear ratio sqrt(screen px / model px) is at
  least `ZOOM_MIN_RATIO` (1.25); below that a crop shows the model nothing new;
- the first answer is small in the model's eyes: the model gave only a point, or a box
  whose shorter side is under `ZOOM_SMALL_TARGET` (56) model pixels, two visual tokens.
  A bigger box already absorbs a model-pixel error, and zooming would only cost a call.
`True` always zooms (the crop is at least half the screen's side smaller); `False`
never does. If the second look fails (unreadable, absent, off the crop), the first
answer stands and the call is still on record.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from pixelpilot.tools import (
    ActionParseError,
    Box,
    CoordinateError,
    Point,
    ScreenFrame,
    Space,
    convert_point,
)
from pixelpilot.vlm import Completion, GenerationParams
from pixelpilot.vlm.backend import Backend
from pixelpilot.vlm.dialects import Dialect

from .pilot_types import ModelCall, NotFound

log = logging.getLogger("pixelpilot.agent.locate")

Zoom = bool | Literal["auto"]
ZOOM_MIN_RATIO = 1.25
ZOOM_SMALL_TARGET = 56  # model pixels: two visual tokens
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_ABSENT = re.compile(
    r"\b(not (found|present|visible|shown|on (the )?screen)|no such|does(n't| not) (exist|appear)"
    r"|cannot (find|see|locate)|can't (find|see|locate)|unable to (find|locate)|absent|"
    r"there is no)\b",
    re.IGNORECASE,
)


class _Unreadable(Exception):
    """The reply held no usable point; the message is fed back to the model once."""


@dataclass
class Look:
    """One model call: what was sent, on which frame, and the answer in screenshot px."""

    purpose: str
    frame: ScreenFrame
    messages: list[dict[str, Any]]
    completion: Completion
    model_size: tuple[int, int]
    point: Point | None = None
    box: Box | None = None

    def as_call(self) -> ModelCall:
        return ModelCall(
            purpose=self.purpose,  # type: ignore[arg-type]
            frame=self.frame,
            model_size=self.model_size,
            reply=self.completion.text,
        )


@dataclass
class Grounded:
    """The result of `Grounder.ground`: the final point (screenshot px) and every look."""

    point: Point
    box: Box | None
    how: Literal["model", "zoom"]
    looks: list[Look] = field(default_factory=list)

    @property
    def reply(self) -> str:
        return self.looks[-1].completion.text if self.looks else ""


class Grounder:
    """Asks `backend` where a description's target is, in `dialect`'s words."""

    def __init__(
        self,
        backend: Backend,
        dialect: Dialect,
        *,
        params: GenerationParams | None = None,
        min_pixels: int | None = None,
        max_pixels: int | None = None,
    ) -> None:
        self.backend, self.dialect, self.params = backend, dialect, params or GenerationParams()
        self.min_pixels, self.max_pixels = min_pixels, max_pixels

    def model_size(self, size: tuple[int, int], completion: Completion | None = None) -> tuple:
        """What the model saw: the backend says; else the dialect's resize rules."""
        if completion is not None and completion.image_sizes and completion.image_sizes[-1][0]:
            return tuple(completion.image_sizes[-1])
        return self.dialect.model_size(size, min_pixels=self.min_pixels, max_pixels=self.max_pixels)

    def ground(
        self, description: str, image: Any, *, zoom: Zoom = "auto", looks: list[Look] | None = None
    ) -> Grounded:
        """The target of `description` on `image` (a screenshot, native pixels).
        Raises NotFound (absent, off screen, unreadable after one retry). Every model
        call is appended to `looks` as it is made, so a caller can record them even when
        nothing was found."""
        full = ScreenFrame(width=image.width, height=image.height)
        looks = [] if looks is None else looks
        first = self._look(description, image, full, "ground", looks)
        assert first.point is not None
        result = Grounded(point=first.point, box=first.box, how="model", looks=looks)
        ratio = math.sqrt(image.width * image.height / math.prod(first.model_size))
        if not wants_zoom(zoom, ratio, first.box, first.model_size, full):
            return result
        crop = crop_frame(first.point, first.box, full, ratio)
        if crop.size == full.size:
            return result
        x0, y0 = (int(v) for v in crop.origin)
        picture = image.crop((x0, y0, x0 + crop.width, y0 + crop.height))
        try:
            second = self._look(description, picture, crop, "zoom", looks)
        except NotFound as error:
            log.info("zoom on %r found nothing (%s); the first answer stands", description, error)
            return result
        assert second.point is not None
        return Grounded(point=second.point, box=second.box, how="zoom", looks=looks)

    # -- one look: ask, read, retry once ---------------------------------------------
    def _look(
        self, description: str, image: Any, frame: ScreenFrame, purpose: str, looks: list[Look]
    ) -> Look:
        messages = self.dialect.render_grounding(description, image)
        look = self._ask(messages, frame, purpose)
        looks.append(look)
        try:
            self._read(look, description)
            return look
        except _Unreadable as error:
            if _ABSENT.search(look.completion.text):
                raise NotFound(
                    f"The model says {description!r} is not on the screen: "
                    f"{look.completion.text.strip()[:300]!r}",
                    description=description, reply=look.completion.text,
                ) from None  # fmt: skip
            retry = [
                *messages,
                {"role": "assistant", "content": [{"type": "text", "text": look.completion.text}]},
                {"role": "user", "content": [{"type": "text", "text": (
                    f"Your last reply could not be used: {error} Answer again, in exactly "
                    "the format asked for."
                )}]},
            ]  # fmt: skip
            again = self._ask(retry, frame, "retry")
            looks.append(again)
            try:
                self._read(again, description)
            except _Unreadable as final:
                raise NotFound(
                    f"Cannot read where {description!r} is, even after one retry: {final}",
                    description=description, reply=again.completion.text,
                ) from None  # fmt: skip
            return again

    def _ask(self, messages: list[dict[str, Any]], frame: ScreenFrame, purpose: str) -> Look:
        (completion,) = self.backend.generate([messages], self.params)
        size = self.model_size(frame.size, completion)
        return Look(purpose, frame, messages, completion, size)

    def _read(self, look: Look, description: str) -> None:
        """Fill `look.point` / `look.box` (screenshot px) from the reply, or raise
        _Unreadable; a point outside the image raises NotFound (no clamping)."""
        text = look.completion.text
        try:
            actions = self.dialect.parse(text)
        except ActionParseError as error:
            raise _Unreadable(str(error)) from None
        point = next((p for a in actions for p in a.points().values()), None)
        if point is None:
            raise _Unreadable("the reply names no point on the screen.")
        try:
            look.point = on_screenshot(point, look.frame, look.model_size)
        except CoordinateError as error:
            raise NotFound(
                f"The model pointed off the screen for {description!r}: {error}",
                description=description, reply=text,
            ) from None  # fmt: skip
        look.box = self._box(text, point, look)

    def _box(self, text: str, centre: Point, look: Look) -> Box | None:
        """The box the reply gave, when it gave one: four consecutive numbers whose centre
        is the point the dialect's parser read (the parser itself keeps only the centre)."""
        numbers = [float(n) for n in _NUMBER.findall(text)]
        for i in range(len(numbers) - 3):
            x1, y1, x2, y2 = numbers[i : i + 4]
            if math.isclose((x1 + x2) / 2, centre.x, abs_tol=1e-6) and math.isclose(
                (y1 + y2) / 2, centre.y, abs_tol=1e-6
            ) and (x1, y1) != (x2, y2):  # fmt: skip
                corners = [
                    on_screenshot(
                        Point(x=x, y=y, space=centre.space),
                        look.frame,
                        look.model_size,
                        check=False,
                    )
                    for x, y in ((x1, y1), (x2, y2))
                ]
                return Box.from_corners(
                    corners[0].x, corners[0].y, corners[1].x, corners[1].y, Space.SCREENSHOT_PX
                )
        return None


def on_screenshot(
    point: Point, frame: ScreenFrame, model_size: tuple[int, int], *, check: bool = True
) -> Point:
    """A point of the model's answer on an image that is `frame` over the screenshot,
    in screenshot pixels: the frame's "controller units" are screenshot pixels."""
    mapped = convert_point(point, Space.SCREEN, frame=frame, model_size=model_size, check=check)
    return Point(x=mapped.x, y=mapped.y, space=Space.SCREENSHOT_PX)


def wants_zoom(
    zoom: Zoom, ratio: float, box: Box | None, model_size: tuple[int, int], full: ScreenFrame
) -> bool:
    """Whether to take a second look (see the module docstring for `auto`)."""
    if zoom is True or zoom is False:
        return zoom
    if ratio < ZOOM_MIN_RATIO:
        return False
    if box is None:
        return True
    side = min(box.x2 - box.x1, box.y2 - box.y1) * model_size[0] / full.width
    return side < ZOOM_SMALL_TARGET


def crop_frame(point: Point, box: Box | None, full: ScreenFrame, ratio: float) -> ScreenFrame:
    """The crop around `point`: the screen shrunk by `ratio` (at least 2 when zoom is
    forced on a screen the model already sees whole), so the model sees it at native
    pixels; at least twice the box; kept inside the screenshot (shifted, not shrunk)."""
    factor = max(ratio, 2.0) if ratio < ZOOM_MIN_RATIO else ratio
    width, height = math.ceil(full.width / factor), math.ceil(full.height / factor)
    if box is not None:
        width = max(width, math.ceil(2 * (box.x2 - box.x1)))
        height = max(height, math.ceil(2 * (box.y2 - box.y1)))
    width, height = min(width, full.width), min(height, full.height)
    x0 = min(max(0, round(point.x - width / 2)), full.width - width)
    y0 = min(max(0, round(point.y - height / 2)), full.height - height)
    return ScreenFrame(width=width, height=height, scale=1.0, origin=(float(x0), float(y0)))
