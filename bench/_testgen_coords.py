"""The survival bench's "coordinates only" baseline: the generated test's steps replayed
by clicking where each target was when it was recorded (the centre of its recorded box,
`steps.json`), as a record-and-replay macro does. No locator, no picture, no model.

It has the `pilot` interface of pixelpilot's Healer (docs in /work/briefs), so the very
same generated file runs under it: the bench's conftest swaps the fixture.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from pixelpilot.testgen.healer import Healer


class CoordinatePilot:
    """Replays target steps at their recorded points (CSS pixels of the viewport)."""

    def __init__(self, page: Any, crops: Path, base_url: str | None) -> None:
        self.page, self.base_url = page, base_url
        steps = crops / "steps.json"
        if not steps.is_file():
            raise FileNotFoundError(f"no recorded boxes at {steps}: was the test generated?")
        self.steps: dict[str, Any] = json.loads(steps.read_text(encoding="utf-8"))

    # the Healer's own URL rebasing (they read only `base_url`): the same test, same URLs
    url = Healer.url
    url_pattern = Healer.url_pattern

    def _point(self, step: int, key: str | None = None) -> tuple[float, float]:
        info = self.steps.get(f"{step:02d}")
        if info is None:
            raise AssertionError(f"step {step} has no recorded box")
        if key is not None:
            info = info[key]
        x0, y0, x1, y1 = info["box"]
        return (x0 + x1) / 2, (y0 + y1) / 2

    def click(self, locator: Any, description: str, *, step: int, role: str | None = None,
              button: str = "left", clicks: int = 1) -> None:  # fmt: skip
        self.page.mouse.click(*self._point(step), button=button, click_count=clicks)

    def hover(self, locator: Any, description: str, *, step: int, role: str | None = None) -> None:
        self.page.mouse.move(*self._point(step))

    def fill(self, locator: Any, text: str, description: str, *, step: int,
             role: str | None = None) -> None:  # fmt: skip
        self.click(locator, description, step=step)
        self.page.keyboard.type(text)

    def drag(self, src: Any, src_description: str, dst: Any, dst_description: str, *,
             step: int, role: str | None = None) -> None:  # fmt: skip
        self.page.mouse.move(*self._point(step))
        self.page.mouse.down()
        self.page.mouse.move(*self._point(step, "to"), steps=8)
        self.page.mouse.up()

    def type(self, text: str) -> None:
        self.page.keyboard.type(text)

    def press(self, keys: str) -> None:
        self.page.keyboard.press(keys)

    def scroll(self, direction: str, amount: int) -> None:
        dx, dy = {"down": (0, 1), "up": (0, -1), "right": (1, 0), "left": (-1, 0)}[direction]
        self.page.mouse.wheel(dx * 100 * amount, dy * 100 * amount)

    def wait(self, seconds: float) -> None:
        time.sleep(seconds)


def coordinate_pilot(page: Any, request: Any) -> CoordinatePilot:
    """The fixture body: the test's `__pixelpilot__/<test>` folder, its RECORDED_ORIGIN."""
    name = getattr(request.node, "originalname", None) or request.node.name
    crops = Path(request.path).parent / "__pixelpilot__" / name
    return CoordinatePilot(page, crops, getattr(request.module, "RECORDED_ORIGIN", None))
