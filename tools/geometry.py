"""Coordinate spaces and the one function that converts between them.

A click lands where the model pointed only if every hop of the chain
model output -> model image -> screenshot pixels -> controller units is right, so all of
them live here and everything else calls `convert_point`.

Spaces:
- `norm1000`: relative to the model image, range [0, 1000] (Qwen2-VL, UI-TARS 1.0).
- `norm1`: relative to the model image, range [0, 1] (ShowUI, SeeClick).
- `resized_px`: pixels of the smart-resized image the model saw (Qwen2.5-VL, UI-TARS 1.5).
- `screenshot_px`: pixels of the native screenshot.
- `screen`: controller units: CSS pixels in a browser (screenshot px / device pixel
  ratio), X screen pixels on a desktop (plus the monitor's origin).

The model image is the screenshot stretched to a slightly different size, so relative
coordinates are the same fraction of either; only `resized_px` needs the model size.
Ranges are closed: a model that says 1000 means the far edge, which is on the image.
"""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .errors import CoordinateError


class Space(str, Enum):
    NORM1000 = "norm1000"
    NORM1 = "norm1"
    RESIZED_PX = "resized_px"
    SCREENSHOT_PX = "screenshot_px"
    SCREEN = "screen"

    def __str__(self) -> str:
        return self.value


# Float noise (959.9999999) would otherwise leak into trajectories; [0, 1] needs more
# digits than pixels to keep a 10,000-pixel side exact to a thousandth of a pixel.
_DIGITS = {Space.NORM1: 8}


class Point(BaseModel):
    """A point tagged with the space its numbers are in."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    x: float = Field(description="Horizontal coordinate, growing to the right.")
    y: float = Field(description="Vertical coordinate, growing downwards.")
    space: Space = Field(description="The coordinate space x and y are expressed in.")


class Box(BaseModel):
    """An axis-aligned box tagged with its space; a box the model gives means its centre."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    x1: float
    y1: float
    x2: float
    y2: float
    space: Space

    @model_validator(mode="after")
    def _ordered(self) -> Box:
        if self.x2 < self.x1 or self.y2 < self.y1:
            raise ValueError("a box needs x1 <= x2 and y1 <= y2")
        return self

    @classmethod
    def from_corners(cls, x1: float, y1: float, x2: float, y2: float, space: Space) -> Box:
        """Models sometimes give the corners in the wrong order; the box is the same."""
        return cls(x1=min(x1, x2), y1=min(y1, y2), x2=max(x1, x2), y2=max(y1, y2), space=space)

    def center(self) -> Point:
        return Point(x=(self.x1 + self.x2) / 2, y=(self.y1 + self.y2) / 2, space=self.space)

    def contains(self, point: Point) -> bool:
        if point.space != self.space:
            raise ValueError(f"cannot compare a {point.space} point with a {self.space} box")
        return self.x1 <= point.x <= self.x2 and self.y1 <= point.y <= self.y2


class ScreenFrame(BaseModel):
    """How a screenshot relates to the controller's units.

    `scale` is screenshot pixels per controller unit: the device pixel ratio in a
    browser, the display scale factor on a desktop. `origin` is where the screenshot's
    top-left corner lies in controller units (a second monitor starts at, say, 1920, 0).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    width: int = Field(gt=0, description="Screenshot width in pixels.")
    height: int = Field(gt=0, description="Screenshot height in pixels.")
    scale: float = Field(1.0, gt=0, description="Screenshot pixels per controller unit.")
    origin: tuple[float, float] = Field(
        (0.0, 0.0), description="Top-left of the screenshot in controller units."
    )

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)


def _extent(space: Space, frame: ScreenFrame, model_size: tuple[int, int] | None) -> tuple:
    """(x0, y0, x1, y1): the closed range a point of `space` may take on this frame."""
    if space is Space.NORM1000:
        return (0.0, 0.0, 1000.0, 1000.0)
    if space is Space.NORM1:
        return (0.0, 0.0, 1.0, 1.0)
    if space is Space.RESIZED_PX:
        if model_size is None:
            raise ValueError("resized_px coordinates need the model image size")
        return (0.0, 0.0, float(model_size[0]), float(model_size[1]))
    if space is Space.SCREENSHOT_PX:
        return (0.0, 0.0, float(frame.width), float(frame.height))
    ox, oy = frame.origin
    return (ox, oy, ox + frame.width / frame.scale, oy + frame.height / frame.scale)


def _fmt(value: float) -> str:
    return f"{value:g}"


def check_in_bounds(
    point: Point, frame: ScreenFrame, model_size: tuple[int, int] | None = None
) -> None:
    """Raise a `CoordinateError` written for the model if `point` is off the image."""
    x0, y0, x1, y1 = _extent(point.space, frame, model_size)
    if x0 <= point.x <= x1 and y0 <= point.y <= y1:
        return
    raise CoordinateError(
        f"The point ({_fmt(point.x)}, {_fmt(point.y)}) is outside the screenshot: "
        f"{point.space.value} coordinates must lie within x {_fmt(x0)}..{_fmt(x1)} and "
        f"y {_fmt(y0)}..{_fmt(y1)}. Point at an element that is visible on the screen."
    )


def convert_point(
    point: Point,
    to: Space,
    *,
    frame: ScreenFrame,
    model_size: tuple[int, int] | None = None,
    check: bool = True,
) -> Point:
    """Convert `point` into space `to` for a screenshot of `frame`.

    `model_size` is the (width, height) of the smart-resized image the model saw; it is
    needed only when either side is `resized_px`. With `check` (the default) a point
    outside the image raises `CoordinateError` instead of being clicked at a guess.
    """
    if check:
        check_in_bounds(point, frame, model_size)
    if point.space is to:
        return point
    sx, sy = _to_screenshot(point, frame, model_size)
    x, y = _from_screenshot(sx, sy, to, frame, model_size)
    digits = _DIGITS.get(to, 4)
    return Point(x=round(x, digits), y=round(y, digits), space=to)


def _to_screenshot(
    point: Point, frame: ScreenFrame, model_size: tuple[int, int] | None
) -> tuple[float, float]:
    if point.space is Space.SCREENSHOT_PX:
        return point.x, point.y
    if point.space is Space.SCREEN:
        ox, oy = frame.origin
        return (point.x - ox) * frame.scale, (point.y - oy) * frame.scale
    _, _, ex, ey = _extent(point.space, frame, model_size)
    return point.x / ex * frame.width, point.y / ey * frame.height


def _from_screenshot(
    sx: float, sy: float, to: Space, frame: ScreenFrame, model_size: tuple[int, int] | None
) -> tuple[float, float]:
    if to is Space.SCREENSHOT_PX:
        return sx, sy
    if to is Space.SCREEN:
        ox, oy = frame.origin
        return ox + sx / frame.scale, oy + sy / frame.scale
    _, _, ex, ey = _extent(to, frame, model_size)
    return sx / frame.width * ex, sy / frame.height * ey
