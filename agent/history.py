"""Bounded history: the prompt for step N must not grow with N.

The last `max_images` screenshots go to the model as images; the `max_text` steps
before them keep only their text (thought and action); anything older is left out, so
the prompt stops growing after max_images + max_text steps. Under a visual-token
budget, older images are first shrunk (a lower max_pixels) and dropped only when even
that does not fit, newest kept longest: recent screens matter most, and Qwen2-VL's
cost is linear in pixels.

Memory is flat too: only the entries a prompt can still use are kept (max_images +
max_text), and only the newest max_images of them keep their screenshot; older ones
drop it at once. A screenshot is the biggest thing a step holds (a 1280x720 RGB image is
2.7 MB, and a decoded PNG keeps its compressed bytes alongside), so a run's memory
stays the same from step 20 to step 2000.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pixelpilot.vlm.dialects import Turn
from pixelpilot.vlm.resize import FACTOR, smart_resize, visual_tokens

#: the smallest an older screenshot is shrunk to before it is dropped (256 tokens)
MIN_HISTORY_PIXELS = 256 * FACTOR * FACTOR


@dataclass
class Entry:
    image: Any  # the screenshot the model saw before replying
    reply: str
    feedback: str | None = None


class History:
    def __init__(
        self,
        *,
        max_images: int,
        max_text: int = 10,
        max_visual_tokens: int | None = None,
        min_pixels: int | None = None,
        max_pixels: int | None = None,
    ) -> None:
        if max_images < 0:
            raise ValueError("max_images must be >= 0")
        if max_text < 0:
            raise ValueError("max_text must be >= 0")
        self.max_images, self.max_text = max_images, max_text
        self.max_visual_tokens = max_visual_tokens
        self.min_pixels, self.max_pixels = min_pixels, max_pixels
        self.entries: list[Entry] = []

    def add(self, image: Any, reply: str, feedback: str | None = None) -> None:
        """Remember a step; what no later prompt can use is let go here (see the module)."""
        self.entries.append(Entry(image if self.max_images else None, reply, feedback))
        del self.entries[: max(0, len(self.entries) - self.max_images - self.max_text)]
        if len(self.entries) > self.max_images:
            self.entries[-self.max_images - 1].image = None  # fell out of the image window

    def images(self) -> list[Any]:
        """The screenshots still held (at most max_images)."""
        return [e.image for e in self.entries if e.image is not None]

    def set_feedback(self, feedback: str | None) -> None:
        if self.entries and feedback:
            last = self.entries[-1]
            last.feedback = f"{last.feedback}\n{feedback}" if last.feedback else feedback

    def turns(self, current_image: Any = None) -> list[Turn]:
        """Turns for the next request; the current screenshot's tokens count against the
        budget first, since it is always sent in full."""
        recent = self.entries[-self.max_images :] if self.max_images else []
        images = self._fit([e.image for e in recent], current_image)
        keep_from = len(self.entries) - len(recent)
        first = max(0, keep_from - self.max_text)
        turns = []
        for i, entry in enumerate(self.entries[first:], start=first):
            image = images[i - keep_from] if i >= keep_from else None
            turns.append(Turn(reply=entry.reply, image=image, feedback=entry.feedback))
        return turns

    def _fit(self, images: list[Any], current: Any) -> list[Any]:
        if self.max_visual_tokens is None:
            return images
        budget = self.max_visual_tokens - (self._tokens(current, self.max_pixels) if current else 0)
        fitted: list[Any] = [None] * len(images)
        for index in range(len(images) - 1, -1, -1):  # newest first
            image = images[index]
            limit = self.max_pixels
            while limit is None or limit >= MIN_HISTORY_PIXELS:
                cost = self._tokens(image, limit)
                if cost <= budget:
                    fitted[index] = _shrink(image, limit, self.min_pixels) if limit else image
                    budget -= cost
                    break
                limit = (limit or image.width * image.height) // 2
        return fitted

    def _tokens(self, image: Any, max_pixels: int | None) -> int:
        return visual_tokens(*image.size, min_pixels=self.min_pixels, max_pixels=max_pixels)

    def prompt_chars(self) -> int:
        return sum(len(e.reply) + len(e.feedback or "") for e in self.entries)


def _shrink(image: Any, max_pixels: int, min_pixels: int | None) -> Any:
    """The image at the size a processor with `max_pixels` would give it."""
    height, width = smart_resize(
        image.height, image.width, min_pixels=min_pixels, max_pixels=max_pixels
    )
    if (width, height) == image.size:
        return image
    from PIL import Image

    return image.resize((width, height), Image.Resampling.BICUBIC)
