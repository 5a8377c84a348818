"""From model text to actions in screenshot pixels: the public entry point."""

from __future__ import annotations

from pixelpilot.tools import Action, ScreenFrame, Space, convert_action

from .dialects import Dialect, get_dialect


def parse_actions(
    text: str,
    dialect: str | Dialect,
    *,
    screenshot_size: tuple[int, int],
    min_pixels: int | None = None,
    max_pixels: int | None = None,
) -> list[Action]:
    """Parse a model reply into actions whose points are in screenshot pixels.

    `screenshot_size` is the (width, height) of the screenshot the model was shown;
    `min_pixels`/`max_pixels` must be the limits the model's processor used (they decide
    the resized image that `resized_px` coordinates refer to); None means the dialect's
    checkpoint defaults. Raises `ActionParseError` (message meant for the model) for
    unreadable text and `CoordinateError` (a subclass) for points off the image.
    """
    chosen = get_dialect(dialect)
    width, height = screenshot_size
    frame = ScreenFrame(width=width, height=height)
    model_size = chosen.model_size(screenshot_size, min_pixels=min_pixels, max_pixels=max_pixels)
    return [
        convert_action(action, Space.SCREENSHOT_PX, frame=frame, model_size=model_size)
        for action in chosen.parse(text)
    ]
