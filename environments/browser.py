"""A Playwright browser that sees at the device pixel ratio and clicks where the model
pointed.

Screenshots are taken at the page's device pixel ratio, so the model sees what a person
on that screen sees; points come back in screenshot pixels and are divided by the ratio
(through `tools.geometry`, in `Environment.execute`) into the CSS pixels Playwright's
mouse takes. After each action the page must settle, by what happens instead of by a
fixed sleep or quiet window: the next frame drawn with nothing changed across it, no
request started or in flight, no navigation (`_settle.py`), bounded by a timeout.
Debian's Chromium is launched by default; `playwright install` is never needed.

Pages are hostile input. Every wait is bounded: Playwright's `page.evaluate` has no
timeout and waits forever on a promise that never settles (a page that navigates
itself away while we measure it never paints again) or on a renderer stuck in a loop,
so script runs through `page.wait_for_function`, whose timeout the Playwright server
keeps; navigations wait for their commit and then for the document by polling, since
Playwright's own load-state wait never ends when the page's script replaced the
navigation. A model may open only http(s) and about:blank (`domains.navigate_refusal`).
Playwright's errors never leave the controller: a page that closed itself is replaced
by one still open, a dead browser or a crashed renderer is a `ControllerError`, and the
rest is an `ActionFailed` the model reads. A `DomainPolicy` is enforced here, in the
controller, not in the prompt (see `_enforce.py`).
"""

from __future__ import annotations

import contextlib
import shutil
import time
from pathlib import Path
from typing import Any

from pixelpilot.tools import (
    Action,
    Box,
    Click,
    Drag,
    GoBack,
    Key,
    Move,
    Navigate,
    ScreenFrame,
    Scroll,
    Space,
    Type,
    Wait,
)

from ._browser_js import ELEMENT_AT, SCROLL_TARGET
from ._capture import capture, capture_session, lazy_image, release_garbage
from ._enforce import DomainEnforcement
from ._secret_fields import SecretFields
from ._settle import LOAD_S, TEXT_CHARS, TEXT_LINES, Settling, evaluate
from ._settle_js import SCROLL_ARM, SCROLL_LANDED, STATE, WATCH_INIT
from .base import ActionFailed, ControllerError, ElementInfo, Environment, Observation
from .domains import DomainPolicy, navigate_refusal, short

CHROMIUM_ARGS = [
    "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-sandbox",
]  # fmt: skip
_KEYS = {
    "ctrl": "Control", "alt": "Alt", "shift": "Shift", "meta": "Meta", "enter": "Enter",
    "tab": "Tab", "escape": "Escape", "backspace": "Backspace", "delete": "Delete",
    "insert": "Insert", "space": "Space", "up": "ArrowUp", "down": "ArrowDown",
    "left": "ArrowLeft", "right": "ArrowRight", "home": "Home", "end": "End",
    "pageup": "PageUp", "pagedown": "PageDown", "capslock": "CapsLock", "numlock": "NumLock",
    "scrolllock": "ScrollLock", "printscreen": "PrintScreen", "pause": "Pause",
    "contextmenu": "ContextMenu",
}  # fmt: skip
_WHEEL_PX = 100  # CSS pixels per wheel notch, as Chromium scrolls for one notch
_CLOSED = ("has been closed", "Target closed", "Browser closed", "Connection closed",
           "crashed")  # fmt: skip
_READY = "() => document.readyState !== 'loading'"
_WHEEL_FRAMES = 1  # frames drawn after the wheel reached the page with nothing moved, before
# the look that confirms it (SCROLL_LANDED): stuck
_WHEEL_WAIT_MS = 500  # when the wheel never reaches the shown document (a foreign frame)
_COLLECT_EVERY = 25  # observations between two releases of past steps' garbage


def find_chromium() -> str:
    """Debian's real Chromium binary (skipping its wrapper script), or any on PATH."""
    for candidate in ("/usr/lib/chromium/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser"), shutil.which("google-chrome")):  # fmt: skip
        if candidate and Path(candidate).exists():
            return candidate
    raise ControllerError(
        "no Chromium found: install Debian's chromium (apt-get install chromium) or pass "
        "executable_path=...; pixelpilot never downloads a browser"
    )


def playwright_key(name: str) -> str:
    return _KEYS.get(name, name.upper() if len(name) > 1 and name.startswith("f") else name)


class BrowserEnvironment(Settling, SecretFields, DomainEnforcement, Environment):
    """One Playwright browser context; follows new tabs and popups; keeps to `domains`."""

    def __init__(
        self,
        url: str | None = None,
        *,
        viewport: tuple[int, int] = (1280, 720),
        device_scale_factor: float = 1.0,
        headless: bool = True,
        executable_path: str | None = None,
        user_data_dir: str | Path | None = None,
        cdp_url: str | None = None,
        ws_endpoint: str | None = None,
        settle_timeout_s: float = 3.0,
        quiet_s: float = 0.0,
        domains: DomainPolicy | None = None,
    ) -> None:
        from playwright.sync_api import sync_playwright

        self.viewport, self.dpr = viewport, device_scale_factor
        self.settle_timeout_s, self.quiet_s = settle_timeout_s, quiet_s
        self._start_url = url
        self._inflight = self._requests = self._navigations = 0
        self._frame_navigations = 0  # of frames inside the page (iframes), ever
        self._drawn: tuple[Any, int] | None = None  # (page, navigations): it drew since
        self._answered = False  # this action's renderer answered script (no ping needed)
        self._armed: tuple[float, float, Any] | None = None  # a scroll's (x, y, offsets)
        self._observed = 0  # observations made, for `release_garbage` every _COLLECT_EVERY
        self._pointer = (0.0, 0.0)  # CSS pixels: where a drag without a start begins
        self._seen: ScreenFrame | None = None
        self._pages_before = 0
        self._sessions: dict[Any, Any] = {}  # page -> CDP session used for screenshots
        self._reset_policy_state()
        self._crashed: set[Any] = set()  # pages whose renderer died
        self._no_frame = False  # the last settle saw the page draw no frame
        self._quiet_look: tuple[Any, tuple[int, int], float] | None = None  # see _settle_page
        self._settled: tuple[Any, tuple[int, int, int], float, Any, Any, Any, Any] | None = None
        self._tabs_announced = self._tabs_arrived = 0  # this action's tabs: told of, came
        self._announcers: dict[Any, Any] = {}  # page -> CDP session telling of new tabs
        self._playwright = sync_playwright().start()
        strict = domains is not None and domains.strict
        try:
            self._browser, self.context = self._open(
                executable_path, headless, user_data_dir, cdp_url, ws_endpoint, strict
            )
        except BaseException as error:
            self._playwright.stop()
            if isinstance(error, ControllerError) or not isinstance(error, Exception):
                raise
            raise ControllerError(f"cannot start or reach the browser: {error}") from error
        try:
            self._guard(lambda: self._start(url, domains))
        except ActionFailed as failure:  # a refused or unreachable start page
            self.close()
            raise ControllerError(f"cannot open the start page: {failure}") from None
        except BaseException:
            self.close()
            raise

    def _start(self, url: str | None, domains: DomainPolicy | None) -> None:
        """Watch the tabs, put the policy in force, then (only then) open `url`."""
        self.context.on("page", self._watch)
        self.context.add_init_script(WATCH_INIT)  # settling's watch, before the page's scripts
        for page in self.context.pages:
            self._watch(page)
        self.page = self.context.pages[-1] if self.context.pages else self.context.new_page()
        if domains is not None:
            self.set_domains(domains)
        if url:
            self._goto(url)
        self._policy_notes()  # what the start page tried is no action's doing

    def _open(
        self, executable_path, headless, user_data_dir, cdp_url, ws_endpoint, strict
    ) -> tuple[Any, Any]:
        chromium = self._playwright.chromium
        options = {"viewport": {"width": self.viewport[0], "height": self.viewport[1]},
                   "device_scale_factor": self.dpr}  # fmt: skip
        if strict:  # a service worker's own fetches would pass the route handler unseen
            options["service_workers"] = "block"
        if cdp_url or ws_endpoint:  # a running browser: this environment gets a new context
            connect = chromium.connect_over_cdp if cdp_url else chromium.connect
            browser = connect(cdp_url or ws_endpoint)
            return browser, browser.new_context(**options)
        launch = {"executable_path": executable_path or find_chromium(), "headless": headless,
                  "args": CHROMIUM_ARGS}  # fmt: skip
        if user_data_dir:  # a persistent profile: cookies and logins survive the run
            context = chromium.launch_persistent_context(str(user_data_dir), **launch, **options)
            return None, context
        browser = chromium.launch(**launch)
        return browser, browser.new_context(**options)

    def _watch(self, page: Any) -> None:
        self._tabs_arrived += 1
        page.on("request", lambda _: self._count(1))
        page.on("framenavigated", self._navigated)
        page.on("requestfinished", lambda _: self._count(-1))
        page.on("requestfailed", lambda _: self._count(-1))
        page.on("close", self._forget)
        page.on("crash", self._on_crash)
        self._guard_redirects(page)
        self._announce_tabs(page)

    def _announce_tabs(self, page: Any) -> None:
        """Chromium says at once when a page opens a tab (`Page.windowOpen`); Playwright's
        page event comes only once the tab is set up, which on a loaded machine can be
        after the opener settled, so `_settle` waits for tabs it was told of."""
        try:
            session = self.context.new_cdp_session(page)
            session.on("Page.windowOpen", lambda _: self._count_tab())
            session.send("Page.enable")
        except Exception:  # not Chromium, or the page closed already: page events only
            return
        self._announcers[page] = session

    def _on_crash(self, page: Any) -> None:
        self._crashed.add(page)

    def _count_tab(self) -> None:
        self._tabs_announced += 1

    def _forget(self, page: Any) -> None:
        self._sessions.pop(page, None)
        self._announcers.pop(page, None)
        self._redirect_guards.pop(page, None)
        self._crashed.discard(page)

    def _count(self, step: int) -> None:
        self._inflight = max(0, self._inflight + step)
        self._requests += step > 0

    def _navigated(self, frame: Any) -> None:
        self._navigations += 1
        self._frame_navigations += frame.parent_frame is not None

    # -- Environment ---------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> Observation:
        url = (options or {}).get("url", self._start_url)
        if url:
            notes: list[str] = []
            self._guard(lambda: (self._goto(url), self._settle_page(notes), self._redraw(notes)))
            self._policy_notes()  # nobody to tell: the observation shows where it is
        return self.observe()

    def observe(self) -> Observation:
        """The capture and one bounded probe that answers the title and the rendered text
        (`_capture`); the PNG is decoded when its pixels are first used, not here
        (`_capture.lazy_image`)."""
        self._observed += 1
        if self._observed % _COLLECT_EVERY == 0:  # memory stays flat over a long run
            release_garbage()
        self._guard(self._live_page)
        png, title, text = self._guard(self._capture)
        image = lazy_image(png)
        self._seen = ScreenFrame(width=image.width, height=image.height, scale=self.dpr)
        return Observation(
            image=self._mask_secret_fields(image),  # a field holding a secret: painted over
            frame=self._seen,
            url=self.page.url,
            title=title,
            text=text,
        )

    def _capture(self) -> tuple[bytes, str | None, tuple[str, ...] | None]:
        """PNG of the viewport at the device pixel ratio, over CDP (see `_capture.py`),
        or by Playwright's own screenshot where there is no CDP, with the page's title
        and rendered text lines (for test generation's assertions). The page must answer
        a script first (`_probe`, which answers title and text): Chromium's screenshot
        waits forever for a renderer stuck in a loop, and for one that draws no frame.
        Right after a settle, its last look has answered that (`_fresh_look`); its text
        is kept when the page's change state is still the look's after the capture (one
        CDP evaluate, no bounded round trip), and probed for otherwise."""
        session = self._sessions.get(self.page)  # made after a first probe (it paints)
        fresh = self._fresh_look() if session is not None else None
        if fresh is None:
            title, text = self._probe(TEXT_LINES, TEXT_CHARS)
            if self.page not in self._sessions:
                size = self.page.viewport_size or {
                    "width": self.viewport[0],
                    "height": self.viewport[1],
                }
                session = capture_session(self.context, self.page, size, self.dpr)
                self._sessions[self.page] = session
            return capture(session, self.page), title, text
        png = capture(session, self.page)
        title, text, state = fresh
        if _state_now(session) != state:  # the page changed since the look: read it again
            title, text = self._probe(TEXT_LINES, TEXT_CHARS)
        return png, title, text

    def _frame(self) -> ScreenFrame:
        """The frame of the last screenshot: points refer to what the model saw."""
        if self._seen is not None:
            return self._seen
        width, height = (round(v * self.dpr) for v in self.viewport)
        return ScreenFrame(width=width, height=height, scale=self.dpr)

    def _perform(self, action: Action) -> tuple[ElementInfo | None, str | None]:
        self._pages_before = len(self.context.pages)
        self._tabs_announced = self._tabs_arrived = 0
        self._answered = False
        self._quiet_look = self._settled = self._armed = None
        self._guard(self._live_page)
        element = self._element(action)
        return element, self._guard(lambda: self._dispatch(action))

    def _dispatch(self, action: Action) -> str | None:
        mouse = self.page.mouse
        if not isinstance(action, Navigate | GoBack | Wait | Scroll) and not self._answered:
            self._js("() => 1")  # input events wait for a renderer that may never answer
        if isinstance(action, Click):
            if action.point is not None:  # None: click where the pointer is
                self._move(action.point.x, action.point.y)
            for count in range(1, action.clicks + 1):  # real double clicks carry detail 1, 2
                mouse.down(button=action.button, click_count=count)
                mouse.up(button=action.button, click_count=count)
        elif isinstance(action, Move):
            self._move(action.point.x, action.point.y)
        elif isinstance(action, Drag):
            start = (action.start.x, action.start.y) if action.start else self._pointer
            self._move(*start)
            mouse.down()
            self._move(action.end.x, action.end.y, steps=12)
            mouse.up()
        elif isinstance(action, Scroll):
            return self._scroll(action)
        elif isinstance(action, Type):
            self.page.keyboard.type(action.text)
            if action.submit:
                self.page.keyboard.press("Enter")
        elif isinstance(action, Key):
            self.page.keyboard.press("+".join(playwright_key(k) for k in action.keys))
        elif isinstance(action, Navigate):
            if (refused := navigate_refusal(action.url)) is not None:
                raise ActionFailed(f"Navigation to {short(action.url)} was refused: {refused}.")
            self._goto(action.url)
        elif isinstance(action, GoBack):
            if self.page.go_back(wait_until="commit", timeout=LOAD_S * 1000) is None:
                raise ActionFailed("There is no previous page to go back to.")
            self._loaded()
        elif isinstance(action, Wait):
            self._wait(action.seconds)
        return None

    def _wait(self, seconds: float) -> None:
        """Let `seconds` pass while Playwright delivers the page's events; a page that
        closes itself meanwhile gives way to a live one and the wait goes on there."""
        from playwright.sync_api import Error

        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                self.page.wait_for_timeout(min(left, 0.1) * 1000)
            except Error as error:
                if self._gone(error) or not self.page.is_closed():
                    raise
                self._live_page()

    def _move(self, x: float, y: float, steps: int = 1) -> None:
        self.page.mouse.move(x, y, steps=steps)
        self._pointer = (x, y)

    def _scroll(self, action: Scroll) -> str | None:
        """Wheel at the point, then watch the offsets under it frame by frame: a move ends
        the wait at once, and so does the wheel reaching the page with nothing moved for
        `_WHEEL_FRAMES` frames (no fixed poll). The first look, bounded, doubles as the
        check that the renderer answers before an input event is sent to it; the last
        one, when nothing moved, is the settle's first (`_quiet_look`). The first look is
        `_element`'s where the scroll has a point (`SCROLL_TARGET`)."""
        x, y = (action.point.x, action.point.y) if action.point else self._pointer
        armed, self._armed = self._armed, None
        before = armed[2] if armed and armed[:2] == (x, y) else self._js(SCROLL_ARM, [x, y])
        self._move(x, y)
        distance = action.amount * _WHEEL_PX
        dx = {"left": -distance, "right": distance}.get(action.direction, 0)
        dy = {"up": -distance, "down": distance}.get(action.direction, 0)
        self.page.mouse.wheel(dx, dy)
        counters, navigations = (self._requests, self._navigations), self._navigations
        look = self._js(SCROLL_LANDED, [x, y, before, _WHEEL_FRAMES, _WHEEL_WAIT_MS])
        verdict, quiet, calm = look if isinstance(look, list) and len(look) == 3 else (0, 0, 0)
        if quiet is True:
            self._saw_frame(navigations)
        if verdict == "moved":  # what the scroll sets going (a fetch of more rows) is the
            return None  # settle's to see: its request may not have been told of yet
        if quiet is True and calm is True and self._inflight == 0:
            self._quiet_look = (self.page, counters, time.monotonic())
        return (
            f"Scrolling {action.direction} moved nothing here: the content is at its end "
            "or not scrollable."
        )

    def _goto(self, url: str) -> None:
        """Open `url` (the domain policy first); wait for the commit, then for the
        document, `LOAD_S` at most in all."""
        from playwright.sync_api import Error

        if self._domains is not None and not self._domains.permits(url):
            raise ActionFailed(self._domains.explain(url))  # before any request is made
        started = time.monotonic()
        try:
            self.page.goto(url, wait_until="commit", timeout=LOAD_S * 1000)
        except Error as error:
            if self._gone(error):
                raise ControllerError(f"the browser is gone: {error}") from None
            reason = " ".join(self._blocked) or str(error).splitlines()[0]
            self._blocked.clear()
            raise ActionFailed(f"Could not open {short(url)}: {reason}") from None
        self._loaded(LOAD_S - (time.monotonic() - started))

    def _loaded(self, timeout_s: float = LOAD_S) -> None:
        """Until the document has been parsed (DOMContentLoaded), at most `timeout_s`; a
        page still loading then is shown as it is. Polled in the page: Playwright's
        load-state wait never ends when the page's script replaced the navigation."""
        from playwright.sync_api import Error

        try:
            self.page.wait_for_function(_READY, timeout=max(0.1, timeout_s) * 1000, polling=50)
        except Error as error:
            if self._gone(error):
                raise

    def _element(self, action: Action) -> ElementInfo | None:
        """The element under the action's first point (ELEMENT_AT). For a scroll the same
        round trip arms the wheel watch and answers the offsets under the point
        (`SCROLL_TARGET`), which `_scroll` then needs not ask for."""
        point = next(iter(action.points().values()), None)
        if point is None or point.space is not Space.SCREEN:
            return None
        scroll = isinstance(action, Scroll)
        try:
            found = self._js(SCROLL_TARGET if scroll else ELEMENT_AT, [point.x, point.y, self.dpr])
        except ActionFailed:  # a page mid-navigation has no DOM to ask; the action still runs
            return None
        self._answered = True  # it answered just now: no second ping before the input
        if scroll:
            found, before = found if isinstance(found, list) and len(found) == 2 else (None, None)
            self._armed = (point.x, point.y, before) if isinstance(before, str) else None
        if not isinstance(found, dict) or "bbox" not in found:
            return None
        x1, y1, x2, y2 = found.pop("bbox")
        try:
            return ElementInfo(**found, bbox=Box.from_corners(x1, y1, x2, y2, Space.SCREENSHOT_PX))
        except (TypeError, ValueError):  # a page that rewrote the DOM's own methods
            return None

    def _js(self, script: str, arg: Any = None, timeout_s: float | None = None) -> Any:
        """`evaluate` in the shown page, bounded by `settle_timeout_s`: a page that does
        not answer in time is an ActionFailed, a dead browser a ControllerError."""
        timeout = self.settle_timeout_s if timeout_s is None else timeout_s
        return self._guard(lambda: evaluate(self.page, script, arg, timeout_s=timeout))

    def _gone(self, error: Exception) -> bool:
        """Whether a Playwright error means the browser (or the page's renderer) is
        gone, not just a page that closed itself while others remain."""
        text = str(error)
        if "crashed" in text or self.page in self._crashed:
            return True
        if not any(s in text for s in _CLOSED) and type(error).__name__ != "TargetClosedError":
            return False
        if self._browser is not None and not self._browser.is_connected():
            return True
        return not self.page.is_closed() or not any(not p.is_closed() for p in self.context.pages)

    def _guard(self, call: Any) -> Any:
        """Run Playwright calls; a closed browser or a crashed page becomes a
        ControllerError, any other Playwright error an ActionFailed for the model."""
        from playwright.sync_api import Error

        try:
            return call()
        except Error as error:
            if self._gone(error):
                raise ControllerError(f"the browser is gone: {error}") from None
            if type(error).__name__ == "TimeoutError":
                raise ActionFailed(
                    f"The page did not answer within {self.settle_timeout_s:g} s "
                    f"({str(error).splitlines()[0]})."
                ) from None
            raise ActionFailed(str(error).splitlines()[0]) from None

    def _close(self) -> None:
        for closer in (
            self.context.close,
            getattr(self._browser, "close", None),
            self._playwright.stop,
        ):
            if closer is None:
                continue
            with contextlib.suppress(Exception):  # already gone: nothing left to release
                closer()


def _state_now(session: Any) -> str | None:
    """The shown page's change state (`_settle_js.STATE`) through the capture's CDP
    session; None when it cannot be read."""
    try:
        answer = session.send("Runtime.evaluate", {"expression": STATE, "returnByValue": True})
    except Exception:  # a page navigating, or a hostile one: the probe reads it again
        return None
    value = answer.get("result", {}).get("value") if isinstance(answer, dict) else None
    return value if isinstance(value, str) else None
