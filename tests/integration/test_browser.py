"""The browser controller in real headless Chromium against pages served on 127.0.0.1."""

from __future__ import annotations

import numpy as np
import pytest

from pixelpilot.tools import Click, Drag, GoBack, Key, Move, Navigate, Point, Scroll, Space, Type
from tests.integration.browser_fixtures import browser, pages_url  # noqa: F401

GRID = [(dpr, viewport) for dpr in (1.0, 1.5, 2.0, 3.0) for viewport in ((1280, 720), (800, 600))]
GRID += [(1.0, (1366, 768)), (2.0, (390, 844))]


def at(x: float, y: float) -> Point:
    return Point(x=x, y=y, space=Space.SCREENSHOT_PX)


def centroid(image, color) -> tuple[float, float]:
    """Centre of the pixels of exactly `color`, in screenshot pixels (pixel i spans
    [i, i+1), so its centre is i + 0.5)."""
    pixels = np.asarray(image)
    ys, xs = np.nonzero(np.all(pixels == np.array(color, dtype=np.uint8), axis=-1))
    assert len(xs), f"colour {color} not found in the screenshot"
    return float(xs.mean()) + 0.5, float(ys.mean()) + 0.5


@pytest.mark.parametrize(("dpr", "viewport"), GRID, ids=[f"dpr{d}-{w}x{h}" for d, (w, h) in GRID])
def test_clicks_at_screenshot_centres_hit_every_target(browser, dpr, viewport) -> None:  # noqa: F811
    env = browser("grid.html", viewport=viewport, dpr=dpr)
    env.quiet_s = 0.02  # a static page: a short quiet window keeps 440 clicks quick
    observation = env.observe()
    assert observation.image.size == (round(viewport[0] * dpr), round(viewport[1] * dpr))
    assert observation.frame.scale == dpr
    targets = env.page.evaluate("window.__targets")
    for target in targets:
        result = env.execute(Click(point=at(*centroid(observation.image, target["color"]))))
        assert result.ok, result.error
    hits = env.page.evaluate("window.__hits")
    assert hits == [t["id"] for t in targets]  # every target, in order: a 100% hit rate


def test_typing_unicode_gives_exactly_that_text(browser) -> None:  # noqa: F811
    env = browser("form.html", dpr=2.0)
    box = env.page.locator("#name").bounding_box()
    result = env.execute(Click(point=at((box["x"] + 10) * 2, (box["y"] + 5) * 2)))
    assert result.element.test_id == "name-input" and result.element.label == "Full name"
    assert result.element.role == "textbox"
    text = "Grüße, Zoë! 東京タワー 🚀 naïve café — ok"
    assert env.execute(Type(text=text)).ok
    assert env.page.input_value("#name") == text


def test_hotkeys_and_submit(browser) -> None:  # noqa: F811
    env = browser("form.html")
    box = env.page.locator("#name").bounding_box()
    env.execute(Click(point=at(box["x"] + 5, box["y"] + 5)))
    env.execute(Type(text="draft"))
    env.execute(Key(keys=("ctrl", "a")))
    env.execute(Type(text="final"))
    assert env.page.input_value("#name") == "final"
    assert env.execute(Key(keys=("ctrl", "shift", "k"))).ok
    assert "ctrl+shift+k" in [k.lower() for k in env.page.evaluate("window.__keys")]
    env.execute(Key(keys=("tab",)))
    assert env.page.evaluate("document.activeElement.id") == "notes"


def test_scroll_waits_until_the_page_moved(browser) -> None:  # noqa: F811
    env = browser("scroll.html")
    result = env.execute(Scroll(point=at(700, 400), direction="down", amount=5))
    assert result.ok and result.note is None
    assert env.page.evaluate("scrollY") == 500  # asserted at once: execute waited for it
    env.execute(Scroll(point=at(150, 100), direction="down", amount=3))  # inside the box
    assert env.page.evaluate("document.getElementById('box').scrollTop") == 300
    top = env.execute(Scroll(point=at(700, 400), direction="right", amount=2))
    assert env.page.evaluate("scrollX") == 200 and top.ok
    env.execute(Scroll(point=at(700, 400), direction="up", amount=50))
    stuck = env.execute(Scroll(point=at(700, 400), direction="up", amount=1))
    assert stuck.ok and "moved nothing" in stuck.note


#: records what the page sees of the mouse: [type, clientX, clientY, buttons]
_RECORD_MOUSE = """() => { window.seen = [];
  for (const t of ['mousedown', 'mousemove', 'mouseup'])
    document.addEventListener(t, e => seen.push([t, e.clientX, e.clientY, e.buttons]), true); }"""


def _presses(env) -> list[list]:
    """The page's mouse events since the last call: downs and ups, and how many moves
    with the button held came between them."""
    seen = env.page.evaluate("seen.splice(0)")
    held = sum(1 for kind, *_, buttons in seen if kind == "mousemove" and buttons == 1)
    return [e[:3] for e in seen if e[0] != "mousemove"] + [["held moves", held]]


@pytest.mark.parametrize("dpr", [1.0, 2.0])
def test_drag_moves_a_slider_and_a_box(browser, dpr) -> None:  # noqa: F811
    env = browser("drag.html", dpr=dpr)
    env.observe()
    env.page.evaluate(_RECORD_MOUSE)
    thumb_y = 50 + env.page.locator("#slider").bounding_box()["height"] / 2
    env.execute(Drag(start=at(52 * dpr, thumb_y * dpr), end=at(450 * dpr, thumb_y * dpr)))
    assert int(env.page.input_value("#slider")) >= 95
    (down, up, (_, held)) = _presses(env)
    assert down == ["mousedown", 52, round(thumb_y)] and up == ["mouseup", 450, round(thumb_y)]
    assert held > 1  # moved in steps, so the page followed the thumb
    env.execute(Drag(start=at(80 * dpr, 180 * dpr), end=at(380 * dpr, 330 * dpr)))
    assert env.page.evaluate("[box.offsetLeft, box.offsetTop]") == [350, 300]
    assert _presses(env)[:2] == [["mousedown", 80, 180], ["mouseup", 380, 330]]
    env.execute(Move(point=at(10 * dpr, 10 * dpr)))
    _presses(env)
    env.execute(Drag(end=at(40 * dpr, 10 * dpr)))  # from the pointer (Qwen2.5-VL's drag)
    (down, up, (_, held)) = _presses(env)
    assert (down, up) == (["mousedown", 10, 10], ["mouseup", 40, 10]) and held > 1


def test_popups_and_new_tabs_are_followed(browser, pages_url) -> None:  # noqa: F811
    env = browser("popup.html")
    link = env.page.locator("#tab").bounding_box()
    result = env.execute(Click(point=at(link["x"] + 5, link["y"] + 5)))
    assert result.ok and "new tab" in result.note
    assert env.observe().url.endswith("next.html?from=tab")
    env.execute(Navigate(url=f"{pages_url}/popup.html"))
    button = env.page.locator("#pop").bounding_box()
    env.execute(Click(point=at(button["x"] + 5, button["y"] + 5)))
    assert env.observe().url.endswith("next.html?from=popup")


def test_navigation_and_going_back(browser, pages_url) -> None:  # noqa: F811
    env = browser("popup.html")
    link = env.page.locator("#next").bounding_box()
    env.execute(Click(point=at(link["x"] + 5, link["y"] + 5)))
    assert env.observe().title == "next page"
    assert env.execute(GoBack()).ok
    assert env.observe().title == "first page"
    assert env.execute(Navigate(url=f"{pages_url}/form.html")).ok
    assert env.observe().title == "form"
    refused = env.execute(Navigate(url="http://127.0.0.1:9/nothing-listens-here"))
    assert not refused.ok and "Could not open" in refused.error


def test_settle_is_bounded_on_a_page_that_never_settles(browser) -> None:  # noqa: F811
    env = browser("busy.html")
    env.settle_timeout_s = 0.5
    result = env.execute(Move(point=at(10, 10)))
    assert result.ok and result.timings.settle_s >= 0.5


def test_persistent_profile_keeps_cookies(tmp_path, pages_url) -> None:  # noqa: F811
    from pixelpilot.environments import open_browser

    profile = tmp_path / "profile"
    with open_browser(f"{pages_url}/form.html", user_data_dir=profile) as env:
        env.page.evaluate("document.cookie = 'session=abc; max-age=3600'")
    with open_browser(f"{pages_url}/form.html", user_data_dir=profile) as env:
        assert "session=abc" in env.page.evaluate("document.cookie")


def test_a_dead_browser_raises_a_controller_error(browser) -> None:  # noqa: F811
    from pixelpilot.environments import ControllerError

    env = browser("form.html")
    env.context.close()
    with pytest.raises(ControllerError, match="browser is gone"):
        env.observe()


class _NoFrameYet:
    """A real CDP session, except that its first `failures` screenshots get the answer
    Chromium gives while its compositor has no frame: that state cannot be produced on
    demand, and CI met it once with two browsers starting at once."""

    def __init__(self, session, failures: int) -> None:
        self.session, self.failures, self.captures = session, failures, 0

    def send(self, method: str, params=None):
        from playwright.sync_api import Error

        if method == "Page.captureScreenshot":
            self.captures += 1
            if self.captures <= self.failures:
                raise Error("Protocol error (Page.captureScreenshot): Unable to capture screenshot")
        return self.session.send(method, params)


@pytest.mark.parametrize("failures", [2, 99])
def test_a_screenshot_with_no_frame_yet_is_retried(browser, failures) -> None:  # noqa: F811
    env = browser("form.html", viewport=(800, 600), dpr=2.0)
    expected = np.asarray(env.observe().image)
    flaky = _NoFrameYet(env._sessions[env.page], failures)
    env._sessions[env.page] = flaky
    observation = env.observe()
    assert observation.image.size == (1600, 1200)
    assert np.array_equal(np.asarray(observation.image), expected)
    assert flaky.captures == min(failures + 1, 5)  # past 5 tries, Playwright's own capture


def test_other_screenshot_errors_are_not_retried(browser) -> None:  # noqa: F811
    from pixelpilot.environments import ActionFailed

    env = browser("form.html")
    env.observe()

    class Broken(_NoFrameYet):
        def send(self, method: str, params=None):
            from playwright.sync_api import Error

            self.captures += 1
            raise Error(
                "Protocol error (Page.captureScreenshot): Cannot take screenshot with 0 width."
            )

    broken = Broken(env._sessions[env.page], 0)
    env._sessions[env.page] = broken
    with pytest.raises(ActionFailed, match="0 width"):
        env.observe()
    assert broken.captures == 1
