"""The runtime a generated test calls (`pilot`): each target step is found by its locator,
else by its recorded crop found again on the screen, else by the model, and a target found
any way but the locator is verified before it is acted on.

Why tiers and a verification rather than "click where it used to be": the maintainers'
objection to self-healing (playwright#6874) is that it hides regressions. Here a healed
point must have an interactive element under it, of the role recorded for the step, and,
when a model is configured, the model must say yes to a crop of it. A removed target, a
target of another role, or a look-alike in two places is a failure naming the
description, the tiers tried and a screenshot, never a pass. Assertions are plain
Playwright `expect` calls the Healer never sees, so they are never healed.

Every heal is reported (`on_heal`: the plugin turns it into a pytest warning and a line of
the terminal summary); with heal "rewrite" a heal also yields a new locator, built from
the element actually used and checked unique on the live page, for the file.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

from .model_tier import ModelTier, shoot
from .visual import VisualMatch, find_crop

log = logging.getLogger("pixelpilot.testgen.healer")

HealMode = Literal["off", "on", "rewrite"]
HEAL_MODES = ("off", "on", "rewrite")
DEFAULT_LOCATOR_TIMEOUT = 2.0  # seconds for a locator to resolve to one visible element

# The nearest interactive element at or above the one under a point, and its box (CSS px).
_INTERACTIVE = """([x, y]) => {
  const hit = document.elementFromPoint(x, y);
  if (!hit) return null;
  const target = hit.closest('a[href],button,input,select,textarea,summary,label,option,' +
    '[role],[onclick],[tabindex],[contenteditable=""],[contenteditable="true"]');
  if (!target) return {interactive: false, tag: hit.tagName.toLowerCase()};
  const r = target.getBoundingClientRect();
  return {interactive: true, tag: target.tagName.toLowerCase(),
    disabled: !!target.disabled || target.getAttribute('aria-disabled') === 'true',
    box: [r.left, r.top, r.right, r.bottom]};
}"""


_PAGE_SIZE = """() => {
  const d = document.documentElement;
  return [d.scrollWidth, d.scrollHeight, innerWidth, innerHeight];
}"""
# Bring a document point (CSS px) to the middle of the viewport, at once; where it stopped.
_SCROLL_TO = """([x, y]) => {
  window.scrollTo({left: Math.max(0, x - innerWidth / 2), top: Math.max(0, y - innerHeight / 2),
    behavior: 'instant'});
  return [window.scrollX, window.scrollY];
}"""
MAX_PAGE_AREA = 1280 * 16384  # CSS px: a longer page is not searched whole


class StepNotFound(AssertionError):
    """A step's target was found by no tier allowed (an AssertionError: a test failure)."""


@dataclass(frozen=True)
class HealRecord:
    """One healed target: for the warning, the terminal summary and `rewrite`."""

    test: str
    step: int
    description: str
    tier: str  # "visual" or "model"
    to: bool = False  # a drag's destination
    locator: str | None = None  # the new locator's source (heal "rewrite"), if one was unique
    verb: str = "click"


@dataclass
class Healer:
    """The `pilot` a generated test drives: `page` is a Playwright Page; `crops` is the
    test's `__pixelpilot__/<test>` folder; `model` the model tier (None: no model)."""

    page: Any
    crops: Path | None = None
    base_url: str | None = None
    heal: HealMode = "on"
    locator_timeout: float = DEFAULT_LOCATOR_TIMEOUT
    screenshots: Path = Path("test-results")
    test: str = "test"
    model: ModelTier | None = None
    on_heal: Callable[[HealRecord], None] | None = None
    healed: list[HealRecord] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)  # value -> its variable's name

    def __post_init__(self) -> None:
        if self.heal not in HEAL_MODES:
            raise ValueError(f"heal must be one of {', '.join(HEAL_MODES)}, not {self.heal!r}")
        if not self.locator_timeout > 0:
            raise ValueError(f"locator_timeout must be above 0 s, not {self.locator_timeout!r}")

    # -- URLs ------------------------------------------------------------------------
    def url(self, path: str) -> str:
        """`path` on the base URL (so a test runs against another host or port)."""
        if not self.base_url:
            return path
        return urljoin(self.base_url.rstrip("/") + "/", path.lstrip("/"))

    def url_pattern(self, path: str) -> re.Pattern[str]:
        """A regex for base + path, with any query or fragment."""
        return re.compile("^" + re.escape(self.url(path).split("?")[0]) + r"(?:[?#].*)?$")

    # -- target steps ----------------------------------------------------------------
    def click(self, locator: Any, description: str, *, step: int, role: str | None = None,
              button: str = "left", clicks: int = 1) -> None:  # fmt: skip
        """Click the step's target (button left/right/middle, clicks 1 or 2)."""
        __tracebackhide__ = True  # a failure shows the test's line, never its text
        how = self._resolve(locator, description, step, role, verb="click")
        if isinstance(how, tuple):
            self.page.mouse.click(*how, button=button, click_count=clicks)
        else:
            how.click(button=button, click_count=clicks, timeout=self._ms())

    def hover(self, locator: Any, description: str, *, step: int, role: str | None = None) -> None:
        """Move the pointer over the step's target."""
        __tracebackhide__ = True  # a failure shows the test's line, never its text
        how = self._resolve(locator, description, step, role, verb="hover")
        if isinstance(how, tuple):
            self.page.mouse.move(*how)
        else:
            how.hover(timeout=self._ms())

    def fill(self, locator: Any, text: str, description: str, *, step: int,
             role: str | None = None) -> None:  # fmt: skip
        """Replace the target field's text with `text` (which may be a secret: it is never
        logged or put in a message)."""
        __tracebackhide__ = True  # a failure shows the test's line, never its text
        self._note_secret(text)
        how = self._resolve(locator, description, step, role, verb="fill")
        if isinstance(how, tuple):
            self.page.mouse.click(*how)
            self.page.keyboard.press("ControlOrMeta+a")
            self.page.keyboard.type(text)
        else:
            how.fill(text, timeout=self._ms())

    def drag(self, src: Any, src_description: str, dst: Any, dst_description: str, *,
             step: int, role: str | None = None) -> None:  # fmt: skip
        """Drag from one target to another, both found by the same tiers."""
        __tracebackhide__ = True  # a failure shows the test's line, never its text
        a = self._point(self._resolve(src, src_description, step, role, verb="drag"))
        b = self._point(self._resolve(dst, dst_description, step, None, verb="drag", to=True))
        self.page.mouse.move(*a)
        self.page.mouse.down()
        self.page.mouse.move(*b, steps=8)
        self.page.mouse.up()

    # -- targetless steps ------------------------------------------------------------
    def type(self, text: str) -> None:
        """Type into whatever has focus."""
        __tracebackhide__ = True  # a failure shows the test's line, never its text
        self._note_secret(text)
        self.page.keyboard.type(text)

    def press(self, keys: str) -> None:
        """Press a key or chord ("Enter", "Control+A")."""
        __tracebackhide__ = True  # a failure shows the test's line, never its text
        self.page.keyboard.press(keys)

    def scroll(self, direction: str, amount: int) -> None:
        """Scroll by `amount` wheel notches (100 CSS px each, as Chromium scrolls)."""
        __tracebackhide__ = True  # a failure shows the test's line, never its text
        moves = {"down": (0, 1), "up": (0, -1), "right": (1, 0), "left": (-1, 0)}
        if direction not in moves:
            raise ValueError(f"scroll direction must be up, down, left or right: {direction!r}")
        dx, dy = moves[direction]
        self.page.mouse.wheel(dx * 100 * amount, dy * 100 * amount)

    def wait(self, seconds: float) -> None:
        """A recorded wait (the page's own timers may need it)."""
        __tracebackhide__ = True  # a failure shows the test's line, never its text
        self.page.wait_for_timeout(seconds * 1000)

    def _note_secret(self, text: str) -> None:
        """Generated tests take secrets from the environment (`os.environ["NAME"]`): a
        typed value that is an environment variable's is kept (in memory only) so the
        plugin can blank it out of a failure report. Playwright's own assertion errors
        print the page's accessibility tree, where a password field shows its value."""
        import os

        if len(text) < 4:  # too short to blank out without mangling the report
            return
        for name, value in os.environ.items():
            if value == text:
                self.secrets[text] = name
                return

    def redact(self, text: str) -> str:
        """`text` with every secret typed in this test replaced by {{NAME}}."""
        for value, name in sorted(self.secrets.items(), key=lambda kv: -len(kv[0])):
            text = text.replace(value, "{{" + name + "}}")
        return text

    # -- tiers -----------------------------------------------------------------------
    def _ms(self) -> float:
        return self.locator_timeout * 1000

    def _point(self, how: Any) -> tuple[float, float]:
        if isinstance(how, tuple):
            return how
        box = how.bounding_box(timeout=self._ms())
        return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2

    def _resolve(self, locator: Any, description: str, step: int, role: str | None, *,
                 verb: str, to: bool = False) -> Any:  # fmt: skip
        """The locator (tier 1) or a verified point in CSS px (tiers 2, 3); else the test
        fails with what each tier said."""
        __tracebackhide__ = True  # a failure shows the test's line, never its text
        tried: list[str] = []
        if locator is None:
            tried.append("locator (none was recorded)")
        else:
            why = self._unique(locator)
            if not why:
                return locator
            tried.append(f"locator ({why})")
        if self.heal != "off":
            recorded = self._recorded(step, to)
            role = role if role is not None or recorded is None else recorded.get("role")
            tiers: list[tuple[str, Callable[[], tuple[float, float] | str]]] = [
                ("visual", lambda: self._visual(recorded, to, step))
            ]
            if self.model is not None:
                tiers.append(("model", lambda: self.model.locate(self.page, description)))
            for tier, find in tiers:
                found = find()
                why = found if isinstance(found, str) else self._verify(found, role, description)
                if not why:
                    assert isinstance(found, tuple)
                    self._healed(HealRecord(self.test, step, description, tier, to, None, verb),
                                 found)  # fmt: skip
                    return found
                tried.append(f"{tier} ({why})")
        raise StepNotFound(self._failure(step, description, tried, to))

    def _unique(self, locator: Any) -> str:
        """'' when `locator` resolves to exactly one visible element within the timeout;
        else what it resolved to at the end."""
        deadline = time.monotonic() + self.locator_timeout
        while True:
            try:
                count = locator.count()
                if count == 1 and locator.is_visible():
                    return ""
                why = f"matched {count} elements" if count != 1 else "its element is hidden"
            except Exception as error:  # a malformed locator is a miss, said so
                return f"unusable: {type(error).__name__}: {str(error).splitlines()[0]}"
            if time.monotonic() >= deadline:
                return f"{why} after {self.locator_timeout:g} s"
            self.page.wait_for_timeout(100)

    def _recorded(self, step: int, to: bool) -> dict[str, Any] | None:
        """steps.json's entry for the target (a drag's destination under "to")."""
        if self.crops is None or not (self.crops / "steps.json").is_file():
            return None
        try:
            steps = json.loads((self.crops / "steps.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            log.warning("%s/steps.json cannot be read (%s)", self.crops, error)
            return None
        info = steps.get(f"{step:02d}") if isinstance(steps, dict) else None
        if isinstance(info, dict) and to:
            info = info.get("to")
        return info if isinstance(info, dict) else None

    def _visual(self, recorded: dict[str, Any] | None, to: bool, step: int) -> Any:
        """The recorded crop found again on the current screenshot: a CSS-px point, or why
        not."""
        from PIL import Image

        png = (self.crops or Path("-")) / f"step-{step:02d}{'-to' if to else ''}.png"
        if recorded is None or not png.is_file():
            return f"no recorded crop ({png.name} and its steps.json entry)"
        image, dpr, _ = shoot(self.page)
        with Image.open(png) as opened:
            crop = opened.convert("RGB")
        ratio = dpr / float(recorded.get("dpr") or 1.0)
        found = find_crop(image, crop, ratio=ratio)
        if isinstance(found, VisualMatch):
            x, y = found.centre
            return x / dpr, y / dpr
        return self._off_screen(crop, ratio, dpr) or found.reason

    def _off_screen(self, crop: Any, ratio: float, dpr: float) -> tuple[float, float] | None:
        """The crop searched on the whole page when the viewport did not show it (a target
        moved below the fold), by the same strict rules; found, it is scrolled to the
        middle of the viewport and its point there returned."""
        import io

        from PIL import Image

        width, height, view_w, view_h = self.page.evaluate(_PAGE_SIZE)
        if (width <= view_w and height <= view_h) or width * height > MAX_PAGE_AREA:
            return None
        image = Image.open(io.BytesIO(self.page.screenshot(full_page=True))).convert("RGB")
        found = find_crop(image, crop, ratio=ratio)
        if not isinstance(found, VisualMatch):
            log.info("the crop is not on the whole page either: %s", found.reason)
            return None
        x, y = found.centre[0] / dpr, found.centre[1] / dpr
        left, top = self.page.evaluate(_SCROLL_TO, [x, y])
        return x - left, y - top

    def _verify(self, point: tuple[float, float], role: str | None, description: str) -> str:
        """'' when the element under `point` may be acted on as the step's target: it is
        interactive, enabled, of the recorded role, and (with a model) confirmed."""
        from pixelpilot.environments._browser_js import ELEMENT_AT

        under = self.page.evaluate(_INTERACTIVE, list(point))
        where = f"({point[0]:.0f}, {point[1]:.0f})"
        if not under or not under.get("interactive"):
            tag = (under or {}).get("tag", "nothing")
            return f"found at {where}, but the <{tag}> there is not interactive"
        if under.get("disabled"):
            return f"found at {where}, but the <{under['tag']}> there is disabled"
        info = self.page.evaluate(ELEMENT_AT, [point[0], point[1], 1.0]) or {}
        if role is not None and info.get("role") != role:
            return f"found at {where}, but it is a {info.get('role')!r}, not the recorded {role!r}"
        if self.model is not None:
            return self.model.confirms(self.page, tuple(under["box"]), description)
        return ""

    def _healed(self, record: HealRecord, point: tuple[float, float]) -> None:
        if self.heal == "rewrite":
            from .relocate import unique_locator

            record = replace(record, locator=unique_locator(self.page, point))
        self.healed.append(record)
        log.warning("%s step %d (%s) healed by the %s tier", record.test, record.step,
                    record.description, record.tier)  # fmt: skip
        if self.on_heal is not None:
            self.on_heal(record)

    def _failure(self, step: int, description: str, tried: list[str], to: bool) -> str:
        """The failure message, with a screenshot of the page as it is now."""
        name = f"{self.test}-step-{step:02d}{'-to' if to else ''}.png"
        shot = (self.screenshots / name).absolute()
        try:
            shot.parent.mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(shot))
            where = str(shot)
        except Exception as error:  # the failure must still be told
            where = f"none ({type(error).__name__}: {error})"
        return (f"step {step}: {description!r} not found (heal={self.heal}); tiers tried: "
                f"{'; '.join(tried)}; screenshot: {where}")  # fmt: skip


def origin(url: str) -> str:
    """scheme://host:port of `url`."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
