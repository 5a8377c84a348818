"""A scripted grounding backend for `Pilot` tests: it finds the described target itself
(in the page's DOM, or from a Tk window's reported geometry) and answers in each
dialect's documented output format, with its own arithmetic.

Nothing of pixelpilot's parsing or coordinate chain is used to write an answer: boxes
come from Playwright's `bounding_box()` times the device pixel ratio, `norm1000` is
round(x / width * 1000), `resized_px` uses the Qwen team's reference `smart_resize`
(qwen-vl-utils), ShowUI writes [0, 1] with two decimals. A zoom crop is recognised by
finding its pixels, exactly, in the last full screenshot this backend was shown, so the
answer on a crop is computed relative to where the crop really is.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from pixelpilot.vlm import Completion, GenerationParams
from pixelpilot.vlm.backend import Usage

DIALECTS = ("qwen2vl", "qwen25vl", "uitars", "uitars15", "showui")
# the released checkpoints' limits per dialect (min, max), as their processors use them
LIMITS = {
    "qwen2vl": (3136, 12845056), "qwen25vl": (3136, 12845056), "uitars": (3136, 12845056),
    "uitars15": (100 * 28 * 28, 12845056), "showui": (256 * 28 * 28, 1344 * 28 * 28),
}  # fmt: skip

Box = tuple[float, float, float, float]  # x1, y1, x2, y2 in screenshot pixels


def reference_size(width: int, height: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """(width, height) the model sees, by the Qwen team's own smart_resize."""
    from qwen_vl_utils import smart_resize

    h, w = smart_resize(height, width, factor=28, min_pixels=min_pixels, max_pixels=max_pixels)
    return w, h


def say(dialect: str, box: Box, size: tuple[int, int], model: tuple[int, int], label: str) -> str:
    """The grounding answer for `box` (pixels of an image of `size`) in `dialect`'s format."""
    (x1, y1, x2, y2), (w, h) = box, size
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    if dialect == "qwen2vl":
        n = [round(x1 / w * 1000), round(y1 / h * 1000), round(x2 / w * 1000), round(y2 / h * 1000)]
        return (f"<|object_ref_start|>{label}<|object_ref_end|><|box_start|>({n[0]},{n[1]}),"
                f"({n[2]},{n[3]})<|box_end|>")  # fmt: skip
    if dialect == "qwen25vl":
        sx, sy = model[0] / w, model[1] / h
        bbox = [round(x1 * sx), round(y1 * sy), round(x2 * sx), round(y2 * sy)]
        return "```json\n[\n\t" + json.dumps({"bbox_2d": bbox, "label": label}) + "\n]\n```"
    if dialect == "uitars":
        nx, ny = round(cx / w * 1000), round(cy / h * 1000)
        return f"Action: click(start_box='<|box_start|>({nx},{ny})<|box_end|>')"
    if dialect == "uitars15":
        px, py = round(cx * model[0] / w), round(cy * model[1] / h)
        return f"Thought: There it is.\nAction: click(point='<point>{px} {py}</point>')"
    if dialect == "showui":
        return f"[{cx / w:.2f}, {cy / h:.2f}]"
    raise ValueError(dialect)


def off_screen(dialect: str, model: tuple[int, int]) -> str:
    """An answer pointing outside the image, in the dialect's format."""
    return {
        "qwen2vl": "<|box_start|>(1200,100),(1300,200)<|box_end|>",
        "qwen25vl": f'```json\n[{{"bbox_2d": [{model[0] + 50}, 10, {model[0] + 90}, 20]}}]\n```',
        "uitars": "Action: click(start_box='<|box_start|>(1500,100)<|box_end|>')",
        "uitars15": f"Action: click(point='<point>{model[0] + 40} 10</point>')",
        "showui": "[1.40, 0.20]",
    }[dialect]


def find_crop(full: np.ndarray, crop: np.ndarray) -> tuple[int, int]:
    """Where `crop` lies in `full`, exactly (its most varied row searched as bytes)."""
    ch, cw, _ = crop.shape
    row = int(np.argmax(crop.astype(np.int16).std(axis=(1, 2))))
    needle = crop[row].tobytes()
    for y in range(full.shape[0] - ch + 1):
        haystack = full[y + row].tobytes()
        start = haystack.find(needle)
        while start != -1:
            if start % 3 == 0:
                x = start // 3
                if x + cw <= full.shape[1] and np.array_equal(full[y : y + ch, x : x + cw], crop):
                    return x, y
            start = haystack.find(needle, start + 1)
    raise AssertionError("the crop is not part of the last screenshot")


class Grounder:
    """The backend. `where(description)` gives the target's box in screenshot pixels
    (None: absent); `replies` answers the other questions (read / expect) by substring,
    each a list consumed in order (the last repeats) or a function of nothing (the page
    as it is now); `overrides` replaces a description's answer."""

    model = "scripted DOM grounder (not a model)"

    def __init__(
        self,
        dialect: str,
        where: Callable[[str], Box | None],
        descriptions: Sequence[str],
        *,
        min_pixels: int | None = None,
        max_pixels: int | None = None,
        replies: dict[str, Any] | None = None,
    ) -> None:
        self.dialect, self.where, self.descriptions = dialect, where, list(descriptions)
        lo, hi = LIMITS[dialect]
        self.min_pixels = lo if min_pixels is None else min_pixels
        self.max_pixels = hi if max_pixels is None else max_pixels
        self.replies: dict[str, Any] = {
            k: v if callable(v) else list(v) for k, v in (replies or {}).items()
        }
        self.texts: list[str] = []  # every prompt text it was sent
        self.overrides: dict[str, str] = {}
        self.calls = 0
        self.crops: list[tuple[int, int, int, int]] = []  # (x, y, w, h) of each zoom crop seen
        self._full: np.ndarray | None = None

    def generate(
        self, conversations: Sequence[Any], params: GenerationParams | None = None
    ) -> list[Completion]:
        return [self._answer(c) for c in conversations]

    def _answer(self, conversation: list[dict[str, Any]]) -> Completion:
        self.calls += 1
        parts = [p for m in conversation for p in m["content"]]
        image = next(p["image"] for p in parts if p.get("type") == "image")
        text = " ".join(p.get("text", "") for p in parts if p.get("type") == "text")
        model = reference_size(image.width, image.height, self.min_pixels, self.max_pixels)
        return Completion(text=self._text(image, text, model), image_sizes=(model,),
                          usage=Usage(), finish_reason="stop")  # fmt: skip

    def _text(self, image: Any, text: str, model: tuple[int, int]) -> str:
        self.texts.append(text)
        for key, queue in self.replies.items():
            if key in text and callable(queue):
                return queue()
            if key in text and queue:
                return queue.pop(0) if len(queue) > 1 else queue[0]
        description = max((d for d in self.descriptions if d in text), key=len, default=None)
        if description is None:
            raise AssertionError(f"the grounder was asked something unexpected: {text[:200]!r}")
        if description in self.overrides:
            said = self.overrides[description]
            return said.replace("{offscreen}", off_screen(self.dialect, model))
        pixels = np.asarray(image.convert("RGB"))
        box = self.where(description)
        if box is None:
            return f"The {description} is not present on the screen."
        if self._full is None or pixels.shape == self._full.shape:  # the whole screenshot
            self._full = pixels
            return say(self.dialect, box, image.size, model, description)
        x, y = find_crop(self._full, pixels)  # a zoom crop: answer relative to it
        self.crops.append((x, y, image.width, image.height))
        crop_box = (box[0] - x, box[1] - y, box[2] - x, box[3] - y)
        return say(self.dialect, crop_box, image.size, model, description)


def dom_box(env: Any, selector: str) -> Box:
    """The element's box in screenshot pixels, from the DOM."""
    found = env.page.locator(selector).first.bounding_box()
    assert found is not None, selector
    s = env.dpr
    return (found["x"] * s, found["y"] * s, (found["x"] + found["width"]) * s,
            (found["y"] + found["height"]) * s)  # fmt: skip


def dom_grounder(env: Any, dialect: str, targets: dict[str, str], **options: Any) -> Grounder:
    """A grounder for a browser page: descriptions mapped to CSS selectors; a selector
    that matches nothing visible means the target is absent."""

    def where(description: str) -> Box | None:
        locator = env.page.locator(targets[description])
        if locator.count() == 0 or not locator.first.is_visible():
            return None
        return dom_box(env, targets[description])

    return Grounder(dialect, where, list(targets), **options)


# -- the demo shop script (the README's example; the cache test and bench run it) -----
SHOP_TARGETS = {
    "the Sign up link": 'header a[href="form.html"]',
    "the Full name field": "#name",
    "the Email field": "#email",
    "the Password field": "#password",
    "the Create account button": "#submit",
    "the Search link": 'header a[href="search.html"]',
    "the search box": "#q",
    "the first View button": "#view-0",
    "the Pilot Shop link": 'header a[href="index.html"]',
}


def shop_script(pilot: Any) -> None:
    """Ten located steps across four pages of the demo shop (no questions: those are
    never cached, so a second run of this makes no model call at all)."""
    pilot.click("the Sign up link")
    pilot.type("the Full name field", "Ada Lovelace")
    pilot.type("the Email field", "ada@example.com")
    pilot.type("the Password field", "{{password}}")
    pilot.click("the Create account button")
    pilot.click("the Search link")
    pilot.type("the search box", "pixel", submit=True)
    pilot.click("the first View button")
    pilot.click("the Sign up link")
    pilot.click("the Pilot Shop link")


SHOP_LOCATED_STEPS = 10
