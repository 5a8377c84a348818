"""Secrets in a browser: where typing goes, and masks over the fields that hold one.

The agent wraps the `execute` that types a secret in `typing_secret()`. The page script
(`_browser_js.MARK_SECRET`) then marks the element with the focus, and every element an
input or key event reaches while the typing lasts (fields that move the focus on as they
fill), in the page's own realm under a symbol; the marks die with the document. Every
`observe()` after that asks the page, in one script call, for the boxes of the marked
fields that show something (connected, rendered, not empty: for an input only the length
of its value is looked at, never the value) and paints an opaque rectangle over each in
the screenshot before the image leaves the controller: the model, the step PNGs, the MP4
and the report only ever get the masked picture. A screenshot whose boxes cannot be had
(the page did not answer) is masked whole: better a blank step than a leak.

Reach: open shadow roots and same-origin frames are searched; a frame of another origin
is masked as a whole once a secret was typed into it, and reports no address (so the
agent refuses to type a secret there, see `focused_element`). The boxes are measured
just after the capture; a page that moves the field between the two (an animation)
could show part of it unmasked for a frame. Limits: a page that copies the value into
other text (an echo, a preview) shows it there unmasked; the desktop has no boxes.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator
from typing import Any

from pixelpilot.tools import Box, Space

from ._browser_js import FOCUSED, MARK_SECRET, SECRET_BOXES
from .base import ActionFailed, ElementInfo

log = logging.getLogger("pixelpilot.environments.secrets")

#: the colour of a mask: opaque, the same in every image (tests look for it)
MASK_RGB = (40, 40, 48)
_MARGIN = 2  # screenshot pixels around a field's box: a focus ring hugs the text


class SecretFields:
    """Mixed into `BrowserEnvironment`: `focused_element`, `typing_secret` and the masks.
    Needs the host's `_js(script, arg)`, `page` and `dpr`."""

    _secrets_typed = False  # whether any page got a mark: only then are boxes asked for

    def focused_element(self) -> ElementInfo | None:
        """The element with the keyboard focus (through open shadow roots and same-origin
        frames) and its document's address; `url` None for a frame of another origin.
        None when the page does not answer."""
        try:
            found = self._js(FOCUSED, [self.dpr])
        except ActionFailed:
            return None
        if not isinstance(found, dict):
            return None
        reachable, url = found.pop("frame_reachable", True), found.pop("url", None)
        url = url if reachable else None
        box = found.pop("bbox", None)
        try:
            bbox = Box.from_corners(*box, Space.SCREENSHOT_PX) if box else None
            return ElementInfo(**found, bbox=bbox, url=url if isinstance(url, str) else None)
        except (TypeError, ValueError):  # a page that rewrote the DOM's own methods
            return None

    @contextlib.contextmanager
    def typing_secret(self) -> Iterator[None]:
        """Mark the focused field before the typing and every field the typing reaches."""
        self._secrets_typed = True
        with contextlib.suppress(ActionFailed):  # no answer: the typing marks nothing more
            self._js(MARK_SECRET, [True])
        try:
            yield
        finally:
            with contextlib.suppress(ActionFailed):  # the typing navigated: marks went too
                self._js(MARK_SECRET, [False])

    def _mask_secret_fields(self, image: Any) -> Any:
        """`image` with the marked fields of the shown page painted over."""
        if not self._secrets_typed:
            return image
        try:
            boxes = self._js(SECRET_BOXES, [self.dpr])
        except ActionFailed as failure:
            log.warning("the page did not say where its secret fields are (%s): "
                        "the whole screenshot is masked", failure)  # fmt: skip
            boxes = [[0, 0, image.width, image.height]]
        if not isinstance(boxes, list):
            boxes = [[0, 0, image.width, image.height]]
        return paint_masks(image, boxes)


def paint_masks(image: Any, boxes: list[Any]) -> Any:
    """A copy of `image` with an opaque `MASK_RGB` rectangle over each box (screenshot
    pixels, grown by a small margin, rounded outwards, clipped to the image)."""
    from PIL import ImageDraw

    rectangles = []
    for box in boxes:
        try:
            x1, y1, x2, y2 = (float(v) for v in box)
        except (TypeError, ValueError):
            continue
        if not all(map(math.isfinite, (x1, y1, x2, y2))):
            continue
        left, top = max(0, math.floor(x1) - _MARGIN), max(0, math.floor(y1) - _MARGIN)
        right = min(image.width, math.ceil(x2) + _MARGIN)
        bottom = min(image.height, math.ceil(y2) + _MARGIN)
        if right > left and bottom > top:
            rectangles.append((left, top, right - 1, bottom - 1))
    if not rectangles:
        return image
    masked = image.convert("RGB") if image.mode != "RGB" else image.copy()
    draw = ImageDraw.Draw(masked)
    for rectangle in rectangles:
        draw.rectangle(rectangle, fill=MASK_RGB)
    return masked
