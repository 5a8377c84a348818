"""UI tests from desktop runs: the `pixelpilot_desktop` fixture they use (generation is in
desktop_source.py).

There is no DOM on an X desktop, so a target has no locator: each pointer step keeps a
plain-words description and a crop of the recorded screenshot around the point it acted
on. At run time the crop is found again on the screen (the visual tier): where it was
recorded, by the locate cache's own colour check, else anywhere by `visual.find_crop`
(strict normalised cross-correlation, unambiguous, plus the same colour check), so a
look-alike or a changed target is a miss; else, when a model is configured (`--pixelpilot-backend`
...), `Pilot.locate` finds the description and a yes/no question on the crop around the
found point confirms it before anything is clicked. A step found by the model is a heal:
it warns, never silently. The one assertion is the screen after the last action: the
recorded end screenshot and the current one may differ in at most `SCREEN_TOLERANCE` of
their pixels (the replay check), waited for with a timeout, never healed.

This module is imported by the pytest plugin in every pytest run: it imports nothing
heavy at the top.
"""

from __future__ import annotations

import json
import logging
import os
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

log = logging.getLogger("pixelpilot.testgen.desktop")

CROP_PX = 200  # side of the square kept around a desktop target (X pixels): the context
# around it, since a desktop target has no element box and a grid of look-alikes is common
SCREEN_TOLERANCE = 0.02  # fraction of pixels the end screen may differ by (replay's)
SCREEN_TIMEOUT_S = 15.0  # how long the end screen may take to look as recorded


class DesktopHealWarning(UserWarning):
    """A desktop step passed only because the model found its target."""


# -- the runtime ---------------------------------------------------------------------------
@dataclass
class DesktopHealer:
    """What a generated desktop test drives: `env` is pixelpilot's DesktopEnvironment on
    the recorded region; `crops` the test's `__pixelpilot__/<test>` folder; `model` a
    (backend, dialect) pair for the model tier, or None (visual tier only)."""

    env: Any
    crops: Path
    model: tuple[Any, str] | None = None
    test: str = "test"
    failures: Path = Path(".")
    healed: list[str] | None = None

    # -- steps ------------------------------------------------------------------------
    def click(self, description: str, *, step: int, button: str = "left", clicks: int = 1) -> None:
        from pixelpilot.tools import Click

        point = self._find(description, step, "")
        self._run(Click(point=point, button=button, clicks=clicks), step)

    def hover(self, description: str, *, step: int) -> None:
        from pixelpilot.tools import Move

        self._run(Move(point=self._find(description, step, "")), step)

    def drag(self, src_description: str, dst_description: str, *, step: int) -> None:
        from pixelpilot.tools import Drag

        start = self._find(src_description, step, "")
        end = self._find(dst_description, step, "-to")
        self._run(Drag(start=start, end=end), step)

    def type(self, text: str) -> None:
        from pixelpilot.tools import Type

        self._run(Type(text=text), None)

    def press(self, keys: str) -> None:
        from pixelpilot.tools import Key

        self._run(Key(keys=keys), None)

    def scroll(self, direction: str, amount: int) -> None:
        from pixelpilot.tools import Scroll

        self._run(Scroll(direction=direction, amount=amount), None)

    def wait(self, seconds: float) -> None:
        time.sleep(seconds)

    def expect_screen(self, *, step: int, tolerance: float = SCREEN_TOLERANCE,
                      timeout_s: float = SCREEN_TIMEOUT_S) -> None:  # fmt: skip
        """The screen looks as it did after the run's last action (never healed)."""
        from PIL import Image

        from pixelpilot.agent.replay import difference

        with Image.open(self.crops / f"step-{step:02d}.png") as file:
            recorded = file.convert("RGB")
        deadline = time.monotonic() + timeout_s
        while True:
            now = self.env.observe().image
            if recorded.size != now.size:
                recorded = recorded.resize(now.size, Image.Resampling.BOX)
            changed = difference(recorded, now)
            if changed <= tolerance:
                return
            if time.monotonic() >= deadline:
                shot = self._save(now, step)
                raise AssertionError(
                    f"step {step}: the screen after the last action differs from the "
                    f"recorded one in {changed:.1%} of its pixels (tolerance {tolerance:.0%}); "
                    f"screenshot: {shot}"
                )
            time.sleep(0.2)

    # -- tiers ------------------------------------------------------------------------
    def _find(self, description: str, step: int, suffix: str) -> Any:
        """The target's point in screenshot pixels: the crop found again, else the model
        (verified), else the test fails naming the tiers tried and the screenshot."""
        from pixelpilot.tools import Point, Space

        observation = self.env.observe()
        tried, why = ["visual"], []
        found = self._visual(observation, step, suffix, why)
        if found is None and self.model is not None:
            tried.append("model")
            found = self._model(observation, description, why)
            if found is not None:
                self._healed(step, description)
        if found is None:
            shot = self._save(observation.image, step)
            raise AssertionError(
                f"step {step}: {description} not found (tiers tried: {', '.join(tried)}: "
                f"{'; '.join(why)}); screenshot: {shot}"
            )
        return Point(x=found[0], y=found[1], space=Space.SCREENSHOT_PX)

    def _visual(self, observation: Any, step: int, suffix: str, why: list[str]) -> Any:
        from PIL import Image

        from pixelpilot.agent.locate_cache import crop_difference

        from .visual import TOLERANCE, VisualMatch, find_crop, scaled

        entry = self._entry(step, suffix)
        png = self.crops / f"step-{step:02d}{suffix}.png"
        if entry is None or not png.is_file():
            why.append("no recorded crop")
            return None
        with Image.open(png) as file:
            crop = file.convert("RGB")
        scale = observation.frame.scale
        crop = scaled(crop, scale / float(entry.get("dpr") or 1.0))
        box = entry["box"]
        point = entry.get("point") or [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2]
        left, top = round(box[0] * scale), round(box[1] * scale)
        where = (left, top, left + crop.width, top + crop.height)
        difference = crop_difference(crop, observation.image, where)
        if difference is None or difference > TOLERANCE:  # not where it was: search for it
            match = find_crop(observation.image, crop)
            if not isinstance(match, VisualMatch):
                why.append(f"visual: {match.reason}")
                return None
            left, top = match.region[0], match.region[1]
        return (left + (point[0] - box[0]) * scale, top + (point[1] - box[1]) * scale)

    def _model(self, observation: Any, description: str, why: list[str]) -> Any:
        """`Pilot.locate` on the description, then a yes/no question on the crop there."""
        from pixelpilot.agent.pilot import Pilot
        from pixelpilot.agent.pilot_types import PilotError
        from pixelpilot.environments import FakeEnvironment

        backend, dialect = self.model  # type: ignore[misc]
        try:
            located = Pilot(self.env, backend, dialect=dialect, record=None, report=False,
                            cache="off").locate(description)  # fmt: skip
        except PilotError as error:
            why.append(f"model: found none ({error})")
            return None
        image, half = observation.image, CROP_PX * observation.frame.scale / 2
        x, y = located.point.x, located.point.y
        left, top = max(0, round(x - half)), max(0, round(y - half))
        crop = image.crop((left, top, min(image.width, round(x + half)),
                           min(image.height, round(y + half))))  # fmt: skip
        try:
            checker = Pilot(FakeEnvironment([crop]), backend, dialect=dialect, record=None,
                            report=False, cache="off")  # fmt: skip
            checker.expect(f"This picture shows {description}")
        except PilotError as error:
            why.append(f"model: the crop is not confirmed ({error})")
            return None
        return (x, y)

    def _entry(self, step: int, suffix: str) -> dict[str, Any] | None:
        path = self.crops / "steps.json"
        if not path.is_file():
            return None
        entry = json.loads(path.read_text(encoding="utf-8")).get(f"{step:02d}")
        if entry is not None and suffix == "-to":
            entry = entry.get("to")
        return entry

    def _run(self, action: Any, step: int | None) -> None:
        result = self.env.execute(action)
        if not result.ok:
            where = f"step {step}" if step is not None else action.action
            raise AssertionError(f"{where}: the desktop refused {action.action}: {result.error}")

    def _save(self, image: Any, step: int) -> Path:
        shot = self.failures / f"{self.test}-step-{step:02d}-failed.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        image.save(shot)
        return shot

    def _healed(self, step: int, description: str) -> None:
        message = f"{self.test} step {step} ({description}) healed by the model tier"
        if self.healed is not None:
            self.healed.append(message)
        warnings.warn(DesktopHealWarning(message), stacklevel=3)


def _option(config: pytest.Config, name: str) -> str | None:
    try:
        value = config.getoption(f"--pixelpilot-{name}")
    except ValueError:  # the plugin's options are not registered (used without it)
        value = None
    return value or os.environ.get("PIXELPILOT_" + name.upper().replace("-", "_"))


@pytest.fixture
def pixelpilot_desktop(request: pytest.FixtureRequest) -> Iterator[DesktopHealer]:
    """A `DesktopHealer` over $DISPLAY, on the region and scale the test module recorded
    (`RECORDED_REGION`, `RECORDED_SCALE`), with the model tier when a backend is given
    and heal is not "off"."""
    from pixelpilot.environments import open_desktop

    module = request.module
    region = getattr(module, "RECORDED_REGION", None)
    scale = float(getattr(module, "RECORDED_SCALE", 1.0))
    model = None
    heal = _option(request.config, "heal") or "on"
    if heal != "off" and _option(request.config, "backend"):
        from .model_tier import ModelOptions

        options = ModelOptions(
            *(_option(request.config, n) for n in ("backend", "base-url", "model", "dialect"))
        )
        model = (options.load(), options.dialect_name())
    name = getattr(request.node, "originalname", None) or request.node.name
    folder = Path(request.path).parent / "__pixelpilot__"
    env = open_desktop(monitor=tuple(region) if region else 1, scale=scale)
    try:
        yield DesktopHealer(
            env, folder / name, model=model, test=name, failures=folder / "failures"
        )
    finally:
        env.close()
