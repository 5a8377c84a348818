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


def labelled(env: Any, selector: str, label: str) -> dict[str, Any]:
    """The first visible match of `selector` inside a <label> whose text is `label`."""
    found = [b for b in css_boxes(env, selector) if b["label"] == label]
    assert found, f"no {selector!r} labelled {label!r}"
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


# Where a click lands on the element itself: the point nearest its centre that hits it,
# with a 3 px margin either way, for elements other elements may partly cover.
_OPEN_SPOT = """(selector) => {
  const el = document.querySelector(selector), r = el.getBoundingClientRect();
  const cx = r.left + r.width / 2, cy = r.top + r.height / 2, spots = [];
  for (let i = 1; i < 10; i++) for (let j = 1; j < 10; j++)
    spots.push([r.left + r.width * i / 10, r.top + r.height * j / 10]);
  spots.sort((a, b) => Math.hypot(a[0] - cx, a[1] - cy) - Math.hypot(b[0] - cx, b[1] - cy));
  const hits = (x, y) => el.contains(document.elementFromPoint(x, y));
  return spots.find(([x, y]) => [[0, 0], [3, 0], [-3, 0], [0, 3], [0, -3]]
    .every(([dx, dy]) => hits(x + dx, y + dy))) || null;
}"""


def open_spot(env: Any, selector: str) -> Point:
    """A point on the first match of `selector` that no other element covers."""
    spot = env.page.evaluate(_OPEN_SPOT, selector)
    assert spot, f"{selector!r} is covered everywhere"
    return px(env, *spot)


def scroll_to(env: Any, selector: str, pane: str | None = None) -> Iterator[Action]:
    """Scroll `pane` (a scrolling box; None: the page) down, one default-amount scroll per
    step, until the one visible `selector` lies wholly inside it and on screen."""
    for _ in range(10):
        box, bottom = css_box(env, selector), env.page.evaluate("innerHeight")
        if pane is None:
            point = px(env, 80, bottom / 2)  # the task column; the page scrolls under it
        else:
            frame = css_box(env, pane)
            bottom, point = min(bottom, frame["y"] + frame["height"]), centre(env, frame)
        if box["y"] + box["height"] <= bottom:
            return
        yield Scroll(point=point, direction="down")
    raise AssertionError(f"{selector!r} still below {pane or 'the page'} after 10 scrolls")


# -- one solver per task ------------------------------------------------------------------
def click_button(env: Any, utterance: str) -> Iterator[Action]:
    target = parse_utterance(r'Click on the "(.+)" button\.', utterance)[1]
    yield click(env, by_text(env, "#area button", target))


def click_checkboxes(env: Any, utterance: str) -> Iterator[Action]:
    names = parse_utterance(r"Select (.*) and click Submit\.", utterance)[1]
    wanted = [] if names == "nothing" else names.split(", ")
    for name in wanted:
        yield click(env, labelled(env, "#boxes input[type=checkbox]", name))
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


def click_test(env: Any, utterance: str) -> Iterator[Action]:
    assert utterance == "Click the button."
    yield click(env, css_box(env, "#subbtn"))


def click_test_2(env: Any, utterance: str) -> Iterator[Action]:
    # Both 40 px buttons lie anywhere in the area, TWO drawn over ONE where they overlap.
    assert utterance == "Click button ONE."
    yield Click(point=open_spot(env, "#subbtn"))


def click_button_sequence(env: Any, utterance: str) -> Iterator[Action]:
    assert utterance == "Click button ONE, then click button TWO."
    yield Click(point=open_spot(env, "#subbtn"))  # placed like click-test-2's
    yield Click(point=open_spot(env, "#subbtn2"))


def click_collapsible_nodelay(env: Any, utterance: str) -> Iterator[Action]:
    # Scored on submit: the one section must be open. Opening it pushes the button down
    # past its text and a random margin, now and then below the screen (seed 38: by 1 px).
    assert utterance == "Expand the section below and click submit."
    yield click(env, css_box(env, "#area h3"))
    yield from scroll_to(env, "#subbtn")
    yield click(env, css_box(env, "#subbtn"))


def click_dialog(env: Any, utterance: str) -> Iterator[Action]:
    # The dialog opens at jQuery UI's default 300 px width and focuses this button before
    # the task narrows it: a viewport narrower than the page (325 px) is left scrolled
    # sideways, the whole task off screen. Say so rather than click outside the screenshot.
    assert utterance == 'Close the dialog box by clicking the "x".'
    close = css_box(env, ".ui-dialog-titlebar-close")
    assert close["x"] >= 0, "the page starts scrolled sideways: use a viewport >= 325 px wide"
    yield click(env, close)


def click_dialog_2(env: Any, utterance: str) -> Iterator[Action]:
    label = parse_utterance(
        r'Click the button in the dialog box labeled "(Cancel|OK|x)"\.', utterance
    )[1]
    if label == "x":  # the title bar's close button, an icon without text
        yield click(env, css_box(env, ".ui-dialog-titlebar-close"))
    else:
        yield click(env, by_text(env, ".ui-dialog-buttonpane button", label))


def click_link(env: Any, utterance: str) -> Iterator[Action]:
    # Every link with the asked word scores; the words are single, so never wrapped.
    word = parse_utterance(r'Click on the link "(.+)"\.', utterance)[1]
    yield click(env, by_text(env, "#area .alink", word))


def click_option(env: Any, utterance: str) -> Iterator[Action]:
    name = parse_utterance(r"Select (.+) and click Submit\.", utterance)[1]
    yield click(env, labelled(env, "#boxes input[type=radio]", name))
    yield click(env, css_box(env, "#subbtn"))


def click_tab(env: Any, utterance: str) -> Iterator[Action]:
    # Scored by the clicked tab's link; the asked tab is never the open one.
    tab = parse_utterance(r"Click on (Tab #[123])\.", utterance)[1]
    yield click(env, by_text(env, "#area ul a", tab))


def click_tab_2_easy(env: Any, utterance: str) -> Iterator[Action]:
    # "easy": a single tab, already open, so the link is in view from the start.
    pattern = r'Switch between the tabs to find and click on the link "(.+)"\.'
    word = parse_utterance(pattern, utterance)[1]
    yield click(env, by_text(env, "#area .alink", word))


def click_widget(env: Any, utterance: str) -> Iterator[Action]:
    # Scored by the data-type of the widget row clicked, any of that type; click its
    # control, as a model would, rather than the row's empty middle.
    kind = parse_utterance(
        r'Click on a "(radio|checkbox|text|textarea|button)" widget\.', utterance
    )[1]
    yield click(env, css_boxes(env, f'#area [data-type="{kind}"]')[0])


def enter_password(env: Any, utterance: str) -> Iterator[Action]:
    pattern = r'Enter the password "(.+)" into both text fields and press submit\.'
    password = parse_utterance(pattern, utterance)[1]
    for field in ("#password", "#verify"):
        yield click(env, css_box(env, field))
        yield Type(text=password)
    yield click(env, css_box(env, "#subbtn"))


def enter_text_2(env: Any, utterance: str) -> Iterator[Action]:
    pattern = r'Type "(.+)" in all (upper|lower) case letters in the text input and press Submit\.'
    text, case = parse_utterance(pattern, utterance).groups()
    yield click(env, css_box(env, "#tt"))
    yield Type(text=text.upper() if case == "upper" else text.lower())
    yield click(env, css_box(env, "#subbtn"))


def focus_text(env: Any, utterance: str) -> Iterator[Action]:
    assert utterance == "Focus into the textbox."
    yield click(env, css_box(env, "#tt"))


def focus_text_2(env: Any, utterance: str) -> Iterator[Action]:
    nth = parse_utterance(r"Focus into the (1st|2nd|3rd) input textbox\.", utterance)[1]
    yield click(env, css_box(env, f"#tt{nth[0]}"))


def use_autocomplete_nodelay(env: Any, utterance: str) -> Iterator[Action]:
    # Scored on submit: the field starts with the prefix (and ends with the suffix, when
    # asked). Type the prefix, then pick a fitting country from the menu, which covers the
    # submit button until a pick closes it. A fitting one below the screen's edge (seed 29:
    # the 7th "Gu…") comes to the top once the rest of its name is typed.
    pattern = r'Enter an item that starts with "(.+?)"(?: and ends with "(.+)")?\.'
    start, end = parse_utterance(pattern, utterance).groups()
    yield click(env, css_box(env, "#tags"))
    yield Type(text=start)
    for _ in range(2):
        items = css_boxes(env, "ul.ui-autocomplete li")
        fits = [b for b in items if b["text"].endswith(end or "")]
        assert fits, f"no menu item ends with {end!r}: {[b['text'] for b in items]}"
        if fits[0]["y"] + fits[0]["height"] <= env.page.evaluate("innerHeight"):
            break
        yield Type(text=fits[0]["text"][len(css_box(env, "#tags")["value"]) :])
    else:
        raise AssertionError(f"{fits[0]['text']!r} still off screen")
    yield click(env, fits[0])
    yield click(env, css_box(env, "#subbtn"))


# navigate-tree: the next name to click, as its index among the tree's names: the asked
# one once shown, else the collapsed folder shown that holds it (clicking a folder's name
# opens it; names repeat, and any copy of the asked one scores).
_TREE_NEXT = """(name) => {
  const names = [...document.querySelectorAll('#tree span')];
  const shown = (el) => el.getClientRects().length > 0, named = (el) => el.textContent === name;
  const found = names.findIndex((el) => named(el) && shown(el));
  return found >= 0 ? found : names.findIndex((el) => shown(el)
    && el.parentElement.classList.contains('expandable')
    && [...el.parentElement.querySelectorAll('ul span')].some(named));
}"""


def navigate_tree(env: Any, utterance: str) -> Iterator[Action]:
    pattern = (
        r"Navigate through the file tree\. Find and click on the folder or file named "
        r'"(.+)"\.'
    )
    name = parse_utterance(pattern, utterance)[1]
    for _ in range(2):  # the generator nests files one folder deep at most
        index = env.page.evaluate(_TREE_NEXT, name)
        assert index >= 0, f"no {name!r} in the tree"
        box = css_boxes(env, "#tree span", visible=False)[index]
        yield click(env, box)
        if box["text"] == name:
            return
    raise AssertionError(f"{name!r} not reached")


# Left out: click-scroll-list (two options of a multi-select list take ctrl+click, which no
# action expresses) and email-inbox-noscroll (two emails may share the sender to forward,
# and the body it is scored on is not asked: seeds 2 and 22 draw that).
SOLVERS: dict[str, Solver] = {
    "click-button": click_button,
    "click-checkboxes": click_checkboxes,
    "enter-text": enter_text,
    "login-user": login_user,
    "drag-box": drag_box,
    "scroll-text-2": scroll_text_2,
    "click-test": click_test,
    "click-test-2": click_test_2,
    "click-button-sequence": click_button_sequence,
    "click-collapsible-nodelay": click_collapsible_nodelay,
    "click-dialog": click_dialog,
    "click-dialog-2": click_dialog_2,
    "click-link": click_link,
    "click-option": click_option,
    "click-tab": click_tab,
    "click-tab-2-easy": click_tab_2_easy,
    "click-widget": click_widget,
    "enter-password": enter_password,
    "enter-text-2": enter_text_2,
    "focus-text": focus_text,
    "focus-text-2": focus_text_2,
    "use-autocomplete-nodelay": use_autocomplete_nodelay,
    "navigate-tree": navigate_tree,
}
