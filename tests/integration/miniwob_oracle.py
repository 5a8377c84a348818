"""MiniWoB++ task pages (PyPI `miniwob`) served on 127.0.0.1, episodes and a DOM oracle.

A third-party check of the browser controller: the oracle plays a perfect model. It reads
the DOM only to learn *where* things are and *what* to type, turns CSS boxes into
screenshot pixels with the device pixel ratio, and returns pixelpilot actions; the test
runs them through `env.execute`, so every click, key, drag and wheel notch is the
controller's. Loading a page and starting an episode is setup and uses Playwright
directly (`env.page`), as does reading the reward.

Episodes start the way `miniwob`'s own Selenium driver starts them: `Math.seedrandom(seed)`,
an episode time so long it never runs out, `core.startEpisodeReal()`, then wait for
`WOB_TASK_READY`. The reward is `WOB_RAW_REWARD_GLOBAL` (not the time-scaled one) once
`WOB_DONE_GLOBAL` is true.
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pixelpilot.agent.demo import serve_directory
from pixelpilot.tools import Action, Click, Drag, Point, Scroll, Space, Type

__all__ = [
    "ORACLES",
    "Episode",
    "centre",
    "css_box",
    "css_boxes",
    "miniwob_html",
    "miniwob_url",
    "run_oracle",
    "start_episode",
]


def miniwob_html() -> Path | None:
    """`<site-packages>/miniwob/html` (found without importing miniwob, which pulls in
    gymnasium and selenium), or None when the package is not installed."""
    spec = importlib.util.find_spec("miniwob")
    if spec is None or not spec.origin:
        return None
    html = Path(spec.origin).parent / "html"
    return html if (html / "miniwob").is_dir() else None


@pytest.fixture(scope="session")
def miniwob_url() -> Iterator[str]:
    """Base URL of miniwob's `html` folder on a local HTTP server: task pages load
    `../core/*.js` relatively, so open `{miniwob_url}/miniwob/<task>.html`."""
    html = miniwob_html()
    if html is None:
        message = "the miniwob package (pip install miniwob) is not installed"
        if os.environ.get("CI"):
            pytest.fail(f"{message}, and CI is set: `make test` installs it")
        pytest.skip(message)
    with serve_directory(html) as url:
        yield url


# -- episodes ---------------------------------------------------------------------------
_START = """(seed) => {
  Math.seedrandom(seed);
  core.EPISODE_MAX_TIME = 1e9;  // ~11.6 days: never times out during a test
  core.startEpisodeReal();
}"""


@dataclass
class Episode:
    """One started MiniWoB episode in `env`."""

    env: Any
    task: str
    seed: int
    utterance: str
    results: list[Any] = field(default_factory=list)  # ActionResults, in order

    @property
    def done(self) -> bool:
        return bool(self.env.page.evaluate("WOB_DONE_GLOBAL"))

    @property
    def raw_reward(self) -> float:
        """The task's own reward without the time penalty (what papers report)."""
        return float(self.env.page.evaluate("WOB_RAW_REWARD_GLOBAL"))


def start_episode(env: Any, base_url: str, task: str, seed: int) -> Episode:
    """Load the task page (setup, through Playwright) and start a seeded episode."""
    env.page.goto(f"{base_url}/miniwob/{task}.html", wait_until="load")
    # window.onload runs core.startEpisode(), which creates the START cover; starting the
    # episode before it would be undone by it.
    env.page.wait_for_function("() => window.core && core.cover_div !== null")
    env.page.evaluate(_START, str(seed))
    env.page.wait_for_function("() => WOB_TASK_READY === true && WOB_DONE_GLOBAL === false")
    utterance = env.page.evaluate("core.getUtterance()")
    return Episode(env=env, task=task, seed=seed, utterance=utterance)


def run_oracle(episode: Episode, oracle: Callable[[Any, str], Iterator[Action]]) -> Episode:
    """Observe, then execute the oracle's actions one by one through the controller,
    observing after each (the frame of the last screenshot is what points refer to)."""
    env = episode.env
    env.observe()
    for action in oracle(env, episode.utterance):
        result = env.execute(action)
        assert result.ok, f"{episode.task} seed {episode.seed}: {action!r} failed: {result.error}"
        episode.results.append(result)
        env.observe()
    return episode


# -- geometry: CSS boxes from the DOM, points in screenshot pixels --------------------------
_BOXES = """(selector) => [...document.querySelectorAll(selector)].map((el) => {
  const r = el.getBoundingClientRect();
  return {x: r.left, y: r.top, width: r.width, height: r.height,
          text: el.textContent, label: el.closest('label') ? el.closest('label').textContent : null};
})"""


def css_boxes(env: Any, selector: str) -> list[dict[str, Any]]:
    """Bounding boxes (CSS pixels, viewport-relative) and texts of every match."""
    return env.page.evaluate(_BOXES, selector)


def css_box(env: Any, selector: str) -> dict[str, Any]:
    boxes = css_boxes(env, selector)
    assert len(boxes) == 1, f"{selector!r} matched {len(boxes)} elements"
    return boxes[0]


def px(env: Any, x_css: float, y_css: float) -> Point:
    """A CSS-pixel position as the screenshot pixel a model would point at."""
    return Point(x=x_css * env.dpr, y=y_css * env.dpr, space=Space.SCREENSHOT_PX)


def centre(env: Any, box: dict[str, Any]) -> Point:
    return px(env, box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def click(env: Any, box: dict[str, Any]) -> Click:
    return Click(point=centre(env, box))


def _parse(pattern: str, utterance: str) -> re.Match[str]:
    match = re.fullmatch(pattern, utterance)
    assert match, f"unexpected utterance {utterance!r}"
    return match


# -- one oracle per task: (env, utterance) -> actions, each computed just before it runs ----
def click_button(env: Any, utterance: str) -> Iterator[Action]:
    target = _parse(r'Click on the "(.+)" button\.', utterance)[1]
    buttons = [b for b in css_boxes(env, "#area button") if b["text"] == target]
    assert buttons, f"no button {target!r}"
    yield click(env, buttons[0])


def click_checkboxes(env: Any, utterance: str) -> Iterator[Action]:
    names = _parse(r"Select (.*) and click Submit\.", utterance)[1]
    wanted = [] if names == "nothing" else names.split(", ")
    boxes = css_boxes(env, "#boxes input[type=checkbox]")
    for name in wanted:
        matching = [b for b in boxes if b["label"] == name]
        assert matching, f"no checkbox labelled {name!r}"
        yield click(env, matching[0])
    yield click(env, css_box(env, "#subbtn"))


def enter_text(env: Any, utterance: str) -> Iterator[Action]:
    text = _parse(r'Enter "(.+)" into the text field and press Submit\.', utterance)[1]
    yield click(env, css_box(env, "#tt"))
    yield Type(text=text)
    yield click(env, css_box(env, "#subbtn"))


def login_user(env: Any, utterance: str) -> Iterator[Action]:
    pattern = (
        r'Enter the username "(.+)" and the password "(.+)" into the text fields and press login\.'
    )
    user, password = _parse(pattern, utterance).groups()
    yield click(env, css_box(env, "#username"))
    yield Type(text=user)
    yield click(env, css_box(env, "#password"))
    yield Type(text=password)
    yield click(env, css_box(env, "#subbtn"))


# drag-box: the small box counts as inside when its top and left lie strictly between 0 and
# 30 CSS px (the sides' difference) past the large box's: aim for the middle, 15.
_INSIDE_OFFSET = 15


def drag_box(env: Any, utterance: str) -> Iterator[Action]:
    assert utterance == "Drag the smaller box so that it is completely inside the larger box."
    small, large = css_box(env, "#draggableSmall"), css_box(env, "#draggableLarge")
    dx = large["x"] + _INSIDE_OFFSET - small["x"]
    dy = large["y"] + _INSIDE_OFFSET - small["y"]
    grab = centre(env, small)  # the small box is drawn above the large one (z-index 20)
    end = Point(x=grab.x + dx * env.dpr, y=grab.y + dy * env.dpr, space=Space.SCREENSHOT_PX)
    yield Drag(start=grab, end=end)
    yield click(env, css_box(env, "#subbtn"))


_WHEEL_NOTCH_CSS = 100  # what one notch scrolls in Chromium; one notch more to be sure


def scroll_text_2(env: Any, utterance: str) -> Iterator[Action]:
    # Scored on submit: |offsetHeight + scrollTop - expected| < 10, expected being
    # scrollHeight for "bottom" (scrolled to the end) and offsetHeight for "top" (scrollTop
    # under 10 px). The episode starts scrolled to about the middle.
    pattern = r"Scroll the textarea to the (top|bottom) of the text hit submit\."
    where = _parse(pattern, utterance)[1]
    state = env.page.evaluate(
        "() => { const t = document.getElementById('text-area');"
        " return [t.scrollTop, t.scrollHeight - t.clientHeight]; }"
    )
    top, end = state
    distance = end - top if where == "bottom" else top
    amount = min(100, math.ceil(distance / _WHEEL_NOTCH_CSS) + 1)
    direction = "down" if where == "bottom" else "up"
    yield Scroll(point=centre(env, css_box(env, "#text-area")), direction=direction, amount=amount)
    yield click(env, css_box(env, "#subbtn"))


ORACLES: dict[str, Callable[[Any, str], Iterator[Action]]] = {
    "click-button": click_button,
    "click-checkboxes": click_checkboxes,
    "enter-text": enter_text,
    "login-user": login_user,
    "drag-box": drag_box,
    "scroll-text-2": scroll_text_2,
}
