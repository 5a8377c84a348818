"""DOM solvers for MiniWoB++ tasks: what a perfect model would do, one action at a time.

A solver is a generator `(env, utterance) -> actions`. It reads the page's DOM only to
learn *where* things are and *what* to type, and yields pixelpilot actions in screenshot
pixels (CSS boxes times the device pixel ratio). It is resumed once per agent step, after
the previous action ran and the screen was observed again, so every position is read
from the page as it is *now*. The oracle backend turns each action into the dialect's
exact words; everything after that is the real pipeline.

A solver covers what the task can generate: it asserts on anything unexpected (an
utterance it cannot read), which the harness reports as a pipeline miss, never as a
model error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from pixelpilot.tools import Action, Click, Drag, Point, Scroll, Space, Type

Solver = Callable[[Any, str], Iterator[Action]]

# -- geometry: CSS boxes from the DOM, points in screenshot pixels --------------------------
_BOXES = """(selector) => [...document.querySelectorAll(selector)].map((el) => {
  const r = el.getBoundingClientRect();
  const style = getComputedStyle(el);
  return {x: r.left, y: r.top, width: r.width, height: r.height,
          text: el.textContent.trim(), value: el.value === undefined ? null : el.value,
          visible: r.width > 0 && r.height > 0 && style.visibility !== 'hidden'
                   && style.display !== 'none',
          label: el.closest('label') ? el.closest('label').textContent.trim() : null};
})"""


def css_boxes(env: Any, selector: str, *, visible: bool = True) -> list[dict[str, Any]]:
    """Bounding boxes (CSS pixels, viewport-relative) and texts of every match."""
    boxes = env.page.evaluate(_BOXES, selector)
    return [b for b in boxes if b["visible"]] if visible else boxes


def css_box(env: Any, selector: str) -> dict[str, Any]:
    boxes = css_boxes(env, selector)
    assert len(boxes) == 1, f"{selector!r} matched {len(boxes)} visible elements"
    return boxes[0]


def by_text(env: Any, selector: str, text: str) -> dict[str, Any]:
    """The one visible match of `selector` whose text is `text` (whitespace-trimmed)."""
    found = [b for b in css_boxes(env, selector) if b["text"] == text]
    assert found, f"no {selector!r} with text {text!r}"
    return found[0]


def px(env: Any, x_css: float, y_css: float) -> Point:
    """A CSS-pixel position as the screenshot pixel a model would point at."""
    return Point(x=x_css * env.dpr, y=y_css * env.dpr, space=Space.SCREENSHOT_PX)


def centre(env: Any, box: dict[str, Any]) -> Point:
    return px(env, box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def click(env: Any, box: dict[str, Any]) -> Click:
    return Click(point=centre(env, box))


def parse_utterance(pattern: str, utterance: str) -> re.Match[str]:
    match = re.fullmatch(pattern, utterance.strip())
    assert match, f"unexpected utterance {utterance!r}"
    return match


# -- one solver per task ------------------------------------------------------------------
def click_button(env: Any, utterance: str) -> Iterator[Action]:
    target = parse_utterance(r'Click on the "(.+)" button\.', utterance)[1]
    yield click(env, by_text(env, "#area button", target))


def click_checkboxes(env: Any, utterance: str) -> Iterator[Action]:
    names = parse_utterance(r"Select (.*) and click Submit\.", utterance)[1]
    wanted = [] if names == "nothing" else names.split(", ")
    for name in wanted:
        matching = [b for b in css_boxes(env, "#boxes input[type=checkbox]") if b["label"] == name]
        assert matching, f"no checkbox labelled {name!r}"
        yield click(env, matching[0])
    yield click(env, css_box(env, "#subbtn"))


def enter_text(env: Any, utterance: str) -> Iterator[Action]:
    text = parse_utterance(r'Enter "(.+)" into the text field and press Submit\.', utterance)[1]
    yield click(env, css_box(env, "#tt"))
    yield Type(text=text)
    yield click(env, css_box(env, "#subbtn"))


def login_user(env: Any, utterance: str) -> Iterator[Action]:
    pattern = (
        r'Enter the username "(.+)" and the password "(.+)" into the text fields and press login\.'
    )
    user, password = parse_utterance(pattern, utterance).groups()
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


_SCROLL_STATE = """() => { const t = document.getElementById('text-area');
  return [t.scrollTop, t.scrollHeight - t.clientHeight]; }"""


def scroll_text_2(env: Any, utterance: str) -> Iterator[Action]:
    # Scored on submit: |offsetHeight + scrollTop - expected| < 10, expected being
    # scrollHeight for "bottom" (scrolled to the end) and offsetHeight for "top" (scrollTop
    # under 10 px). The episode starts scrolled to about the middle. Models say "scroll"
    # without a distance in most grammars, so scroll a notch batch at a time and look again.
    pattern = r"Scroll the textarea to the (top|bottom) of the text hit submit\."
    where = parse_utterance(pattern, utterance)[1]
    for _ in range(20):
        top, end = env.page.evaluate(_SCROLL_STATE)
        if (where == "bottom" and end - top < 5) or (where == "top" and top < 5):
            break
        direction = "down" if where == "bottom" else "up"
        yield Scroll(point=centre(env, css_box(env, "#text-area")), direction=direction)
    yield click(env, css_box(env, "#subbtn"))


SOLVERS: dict[str, Solver] = {
    "click-button": click_button,
    "click-checkboxes": click_checkboxes,
    "enter-text": enter_text,
    "login-user": login_user,
    "drag-box": drag_box,
    "scroll-text-2": scroll_text_2,
}
