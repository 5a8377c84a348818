"""Settling by events against real headless Chromium and a real HTTP server: whatever an
action sets going (a slow request, DOM changes frame after frame, a CSS transition, a
chain of timers, a navigation) has finished when `execute` returns, without a fixed quiet
window; an endless animation is not waited for; a wheel that cannot move anything is told
at once; observe() answers the title and a picture equal to Playwright's own screenshot."""

from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np
import pytest

from pixelpilot.environments import open_browser
from pixelpilot.tools import Click, Point, Scroll, Space
from tests.integration.test_browser_domains import Site

pytest.importorskip("playwright")

BUTTON = "<button id=b style='position:fixed;left:0;top:0;width:200px;height:80px'"
CLICK = Click(point=Point(x=100, y=40, space=Space.SCREENSHOT_PX))


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    server = Site()
    yield server
    server.close()


def page(site: Site, path: str, html: str) -> str:
    site.pages[path] = html
    return f"{site.url}{path}"


def test_a_slow_request_started_by_a_click_has_answered(site) -> None:
    site.pages["/data"] = "payload"
    url = page(site, "/fetch", BUTTON + " onclick=\"fetch('/slow').then(r => r.text())"
               ".then(t => out.textContent = t)\">go</button><p id=out>none</p>")  # fmt: skip
    site.pages["/slow"] = ("redirect", "/data", 0.6)  # the server waits 0.6 s, then redirects
    with open_browser(url) as env:
        result = env.execute(CLICK)
        assert result.ok, result
        assert env.page.inner_text("#out") == "payload"


def test_dom_changes_over_many_frames_are_waited_for(site) -> None:
    url = page(site, "/frames", BUTTON + " onclick=\"let n = 0; (function tick() {"
               "out.textContent = ++n; if (n < 30) requestAnimationFrame(tick); })()\">go"
               "</button><p id=out>0</p>")  # fmt: skip
    with open_browser(url) as env:
        assert env.execute(CLICK).ok
        assert env.page.inner_text("#out") == "30"


def test_a_chain_of_timers_is_waited_for(site) -> None:
    url = page(site, "/timers", BUTTON + " onclick=\"let n = 0; (function next() {"
               "out.textContent = ++n; if (n < 8) setTimeout(next, 10); })()\">go</button>"
               "<p id=out>0</p>")  # fmt: skip
    with open_browser(url) as env:
        assert env.execute(CLICK).ok
        assert env.page.inner_text("#out") == "8"


def test_a_css_transition_has_ended(site) -> None:
    url = page(site, "/transition", "<style>#box{width:10px;height:10px;background:red;"
               "transition:width 0.4s linear} #box.wide{width:300px}</style>"
               + BUTTON + " onclick=\"box.className = 'wide'\">go</button>"
               "<div id=box style='margin-top:100px'></div>")  # fmt: skip
    with open_browser(url) as env:
        assert env.execute(CLICK).ok
        assert env.page.evaluate("getComputedStyle(box).width") == "300px"
        assert env.page.evaluate("document.getAnimations().length") == 0


def test_an_endless_animation_does_not_hold_the_step(site) -> None:
    url = page(site, "/spinner", "<style>@keyframes spin{to{transform:rotate(360deg)}}"
               "#s{width:40px;height:40px;background:blue;margin-top:120px;"
               "animation:spin 1s linear infinite}</style>" + BUTTON
               + " onclick=\"out.textContent = 'clicked'\">go</button><div id=s></div>"
               "<p id=out></p>")  # fmt: skip
    with open_browser(url) as env:
        env.settle_timeout_s = 30.0
        result = env.execute(CLICK)
        assert result.ok and env.page.inner_text("#out") == "clicked"
        assert result.timings.settle_s < env.settle_timeout_s  # it did not run to the cap


def test_a_click_that_navigates_settles_on_the_new_page(site) -> None:
    page(site, "/landed", "<title>landed</title><p id=out>here</p>")
    url = page(site, "/link", "<title>start</title><a href='/landed' style='display:block;"
               "width:200px;height:80px;background:#ccc'>go</a>")  # fmt: skip
    with open_browser(url) as env:
        assert env.execute(CLICK).ok
        assert env.page.url == f"{site.url}/landed"
        assert env.page.evaluate("document.readyState") == "complete"
        assert env.observe().title == "landed"


def test_a_navigation_within_the_document_settles_on_what_it_sets_going(site) -> None:
    """A link to `#part` whose hashchange handler changes the DOM frame after frame, and
    a pushState navigation (as a single-page app makes) that fetches its view (the
    server answers after 0.4 s): both are done when `execute` returns, though the URL's
    change is seen in the same look as the navigation's event."""
    site.pages["/view"] = "the view"
    site.pages["/view-slow"] = ("redirect", "/view", 0.4)
    url = page(site, "/spa", "<a id=b href='#part' style='position:fixed;left:0;top:0;"
               "width:200px;height:80px;display:block'>part</a><p id=out>0</p><script>"
               "addEventListener('hashchange', () => { let n = 0; (function tick() {"
               "out.textContent = ++n; if (n < 20) requestAnimationFrame(tick); })(); });"
               "</script>")  # fmt: skip
    with open_browser(url) as env:
        assert env.execute(CLICK).ok
        assert env.page.url.endswith("#part") and env.page.inner_text("#out") == "20"
    url = page(site, "/app", BUTTON + " onclick=\"history.pushState({}, '', '/app/view');"
               "fetch('/view-slow').then((r) => r.text()).then((t) => out.textContent = t)"
               "\">go</button><p id=out>none</p>")  # fmt: skip
    with open_browser(url) as env:
        assert env.execute(CLICK).ok
        assert env.page.url.endswith("/app/view") and env.page.inner_text("#out") == "the view"


def test_a_title_set_by_the_action_is_observed(site) -> None:
    url = page(
        site,
        "/title",
        "<title>before</title>"
        + BUTTON
        + " onclick=\"setTimeout(() => document.title = 'after', 20)\">go</button>",
    )
    with open_browser(url) as env:
        assert env.observe().title == "before"
        assert env.execute(CLICK).ok
        assert env.observe().title == "after"


def _lines(env) -> tuple[str, ...]:
    """The page's rendered text lines, read apart from the controller: innerText split,
    whitespace folded, empties and repeats dropped (the observation's documented form)."""
    seen: list[str] = []
    for raw in env.page.evaluate("() => document.body.innerText").split("\n"):
        line = " ".join(raw.split())[:200]
        if line and line not in seen:
            seen.append(line)
    return tuple(seen[:300])


def test_the_text_observed_after_a_step_is_the_pages_text_then(site) -> None:
    """Right after a settle its last look answers the observation's text; a change made
    since (here through Playwright itself, outside the controller, within the look's
    freshness) is seen all the same, because the change state is checked after the
    capture. Without that check the first observation would miss the appended line."""
    url = page(site, "/text", BUTTON + " onclick=\"out.textContent = 'clicked'; "
               "document.title = 'done'\">go</button><p id=out>idle</p><p>Grüße  tail</p>"
               "<p hidden>never</p><p>Grüße tail</p>")  # fmt: skip
    with open_browser(url) as env:
        assert env.execute(CLICK).ok
        seen = env.observe()
        assert seen.title == "done"
        assert seen.text == _lines(env) == ("go", "clicked", "Grüße tail")
        assert env.execute(CLICK).ok
        env.page.evaluate("() => document.body.append('appended since')")
        seen = env.observe()
        assert seen.text == _lines(env) and seen.text[-1] == "appended since"
        env.page.evaluate("() => { out.textContent = 'again'; }")
        assert env.observe().text == _lines(env)  # no settle since: probed as ever


def test_a_wheel_that_moves_nothing_is_told_and_one_that_moves_is_not(site) -> None:
    url = page(
        site,
        "/scroll",
        "<body style='margin:0'><div id=box style='height:300px;"
        "width:300px;overflow:auto'><div style='height:3000px'>tall</div></div>",
    )
    at = Point(x=150, y=150, space=Space.SCREENSHOT_PX)
    with open_browser(url) as env:
        down = env.execute(Scroll(point=at, direction="down", amount=2))
        assert down.ok and down.note is None
        assert env.page.evaluate("box.scrollTop") == 200
        up = env.execute(Scroll(point=at, direction="up", amount=5))
        assert up.ok and up.note is None and env.page.evaluate("box.scrollTop") == 0
        stuck = env.execute(Scroll(point=at, direction="up", amount=1))
        assert stuck.ok and "moved nothing" in stuck.note
        sideways = env.execute(Scroll(point=at, direction="left", amount=1))
        assert sideways.ok and "moved nothing" in sideways.note


def test_a_page_scrolling_itself_on_wheel_counts_as_moved(site) -> None:
    url = page(site, "/custom", "<body style='margin:0;height:5000px'><script>"
               "addEventListener('wheel', (e) => { e.preventDefault();"
               "requestAnimationFrame(() => scrollBy(0, 40)); }, {passive: false})"
               "</script>")  # fmt: skip
    with open_browser(url) as env:
        result = env.execute(Scroll(point=Point(x=300, y=300, space=Space.SCREENSHOT_PX),
                                    direction="down", amount=1))  # fmt: skip
        assert result.ok and result.note is None
        assert env.page.evaluate("scrollY") == 40


def test_what_a_scroll_sets_going_is_waited_for(site) -> None:
    """An endless list: the first scroll fetches more rows (the server answers after
    0.4 s) and a wheel handler on a page that cannot scroll changes the DOM frame after
    frame; each has happened when `execute` returns, whether the wheel moved or not."""
    site.pages["/rows"] = "<li>row 21</li><li>row 22</li>"
    site.pages["/more"] = ("redirect", "/rows", 0.4)
    url = page(site, "/endless", "<body style='margin:0'><ul id=list>"
               + "".join(f"<li style='height:100px'>row {i}</li>" for i in range(20))
               + "</ul><script>let asked = false; addEventListener('scroll', () => {"
               "if (asked) return; asked = true; fetch('/more').then((r) => r.text())"
               ".then((t) => list.insertAdjacentHTML('beforeend', t)); });</script>")  # fmt: skip
    at = Point(x=200, y=200, space=Space.SCREENSHOT_PX)
    with open_browser(url) as env:
        result = env.execute(Scroll(point=at, direction="down", amount=3))
        assert result.ok and result.note is None
        assert env.page.evaluate("list.children.length") == 22
    url = page(site, "/flat", "<p id=out>0</p><script>addEventListener('wheel', () => {"
               "let n = 0; (function tick() { out.textContent = ++n;"
               "if (n < 20) requestAnimationFrame(tick); })(); }, {passive: true})</script>")  # fmt: skip
    with open_browser(url) as env:
        result = env.execute(Scroll(point=at, direction="down", amount=1))
        assert result.ok and "moved nothing" in result.note
        assert env.page.inner_text("#out") == "20"


def test_the_lazy_observation_has_playwrights_pixels(site) -> None:
    from PIL import Image

    url = page(site, "/pixels", "<body style='margin:0;background:#fff'><div style='width:"
               "123px;height:45px;background:rgb(10,200,30)'></div>")  # fmt: skip
    with open_browser(url, viewport=(640, 360), device_scale_factor=2.0) as env:
        observation = env.observe()
        assert observation.image.size == (1280, 720) and observation.image.mode == "RGB"
        reference = Image.open(io.BytesIO(env.page.screenshot())).convert("RGB")
        assert np.array_equal(np.asarray(observation.image), np.asarray(reference))
        pixels = np.asarray(observation.image)
        assert (pixels[:90, :246] == (10, 200, 30)).all() and (pixels[91:, 247:] == 255).all()
