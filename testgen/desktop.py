"""UI tests from desktop runs: generation, and the `pixelpilot_desktop` fixture they use.

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


# -- generation ---------------------------------------------------------------------------
def render_desktop(
    run: dict[str, Any], env_names: dict[str, str] | None = None
) -> tuple[str, list[Any]]:
    """The test file's source and the targets to crop for a checked desktop run."""
    from .generate import end_state, function_name
    from .source import docstring, literal, statement
    from .steps import Target, text_source, thought

    header, steps = run["header"], run["steps"]
    secrets, names = set(header.get("secrets") or []), env_names or {}
    body, targets, uses_env = [], [], False
    for record in steps:
        number, scale = record["step"] + 1, _scale(record)
        said = _said(record, thought)
        for index, action in enumerate(_ran(record)):
            kind = action.get("action")
            first = index == 0
            if kind in ("click", "move", "drag") or (kind == "scroll" and action.get("point")):
                point = action.get("point") or action.get("start")
                if point is None:
                    continue
                description = said.pop(0) if said else _built(record, number)
                if first:
                    targets.append(_target(Target, record, number, "", point, description, scale))
                body.append(_pointer_call(kind, action, description, number, literal))
                if kind == "drag":
                    to = said.pop(0) if said else f"where step {number} dropped it"
                    if first:
                        targets.append(
                            _target(Target, record, number, "-to", action["end"], to, scale)
                        )
                    body[-1] = f"desktop.drag({literal(description)}, {literal(to)}, step={number})"
            if kind == "scroll":
                amount = int(action.get("amount", 5))
                body.append(f"desktop.scroll({literal(action['direction'])}, {amount})")
            elif kind == "type":
                text = str(action.get("text", ""))
                enter = bool(action.get("submit")) or text.endswith("\n")
                text = text[:-1] if text.endswith("\n") else text
                if text:
                    source, used = text_source(text, secrets, names)
                    uses_env |= used
                    body.append(f"desktop.type({source})")
                if enter:
                    body.append('desktop.press("enter")')
            elif kind == "key":
                body.append(f"desktop.press({literal('+'.join(action.get('keys') or ()))})")
            elif kind == "wait":
                body.append(f"desktop.wait({float(action.get('seconds', 1.0))!r})")
    final = end_state(steps)
    if final is None or not final.get("screenshot"):
        from .generate import TestgenError

        raise TestgenError(f"{run['run_dir']}: no screen was recorded after the last action, "
                           "so there is nothing to assert")  # fmt: skip
    end = final["step"] + 1
    frame = final.get("frame") or {}
    whole = (0.0, 0.0, float(frame.get("width", 0)), float(frame.get("height", 0)))
    targets.append(
        Target(end, "", whole, None, "the screen after the last action", final["screenshot"])
    )
    body.append(f"desktop.expect_screen(step={end})")
    task = str(header.get("task") or "a recorded run")
    region = _region(steps[0])
    lines = [
        docstring(f"Generated by pixelpilot testgen from {Path(run['run_dir']).name}: {task}"),
        "",
        *(["import os", ""] if uses_env else []),
        "from pixelpilot.testgen.desktop import DesktopHealer",
        "",
        f"RECORDED_REGION = {region!r}  # left, top, width, height in X pixels",
        f"RECORDED_SCALE = {_scale(steps[0])!r}  # screenshot pixels per X pixel",
        "",
        "",
        f"def {function_name(task)}(pixelpilot_desktop: DesktopHealer) -> None:",
        docstring(task, "    "),
        "    desktop = pixelpilot_desktop",
        *(statement(s) for s in body),
    ]
    return "\n".join(lines) + "\n", targets


def _ran(record: dict[str, Any]) -> list[dict[str, Any]]:
    from pixelpilot.agent.trajectory import paired

    return [(a.get("screenshot") or {}) for a, _, r in paired(record)
            if isinstance(r, dict) and r.get("ok") and isinstance(a, dict)]  # fmt: skip


def _said(record: dict[str, Any], thought: Any) -> list[str]:
    located = [
        loc.get("description") for loc in record.get("located") or [] if isinstance(loc, dict)
    ]
    said = [d for d in located if isinstance(d, str) and d]
    if record.get("kind") in ("agent", "act", None) or not said:
        intent = thought(record)
        said = [intent] if intent else said
    return said


def _built(record: dict[str, Any], number: int) -> str:
    elements = [r["element"] for r in record.get("results") or []
                if isinstance(r, dict) and isinstance(r.get("element"), dict)]  # fmt: skip
    window = elements[0].get("name") if elements else None
    return (
        f"the target of step {number} in the '{window}' window"
        if window
        else f"the target of step {number}"
    )


def _pointer_call(
    kind: str, action: dict[str, Any], description: str, number: int, literal: Any
) -> str:
    if kind in ("move", "scroll"):
        return f"desktop.hover({literal(description)}, step={number})"
    extra = (
        "" if action.get("button", "left") == "left" else f", button={literal(action['button'])}"
    )
    extra += "" if int(action.get("clicks", 1)) == 1 else f", clicks={int(action['clicks'])}"
    return f"desktop.click({literal(description)}, step={number}{extra})"


def _target(cls: Any, record: dict[str, Any], number: int, suffix: str, point: dict[str, Any],
            description: str, scale: float) -> Any:  # fmt: skip
    half = CROP_PX * scale / 2
    x, y = float(point["x"]), float(point["y"])
    return cls(
        number,
        suffix,
        (x - half, y - half, x + half, y + half),
        None,
        description,
        record["screenshot"],
    )


def _scale(record: dict[str, Any]) -> float:
    return float((record.get("frame") or {}).get("scale") or 1.0)


def _region(record: dict[str, Any]) -> tuple[int, int, int, int]:
    from pixelpilot.agent.replay import recorded_region

    return recorded_region(record["frame"])


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
