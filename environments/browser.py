"""A Playwright browser that sees at the device pixel ratio and clicks where the model
pointed.

Screenshots are taken at the page's device pixel ratio, so the model sees what a person
on that screen sees; points come back in screenshot pixels and are divided by the ratio
(through `tools.geometry`, in `Environment.execute`) into the CSS pixels Playwright's
mouse takes. After each action the page must settle: no request in flight and the
layout unchanged for a short window, bounded by a timeout, instead of a fixed sleep.
Debian's Chromium is launched by default; `playwright install` is never needed.

A `DomainPolicy` is enforced here, in the controller, not in the prompt: every document
request (typed navigation, link click, form post, frame, new tab) passes a route handler
that aborts it before it is sent when the policy refuses its URL. Playwright never shows
redirects to route handlers, so each page also gets a CDP Fetch interceptor for
documents that fails a redirect to a refused URL before it is sent. A new tab's first
request comes before its page exists (no interceptor yet): the route handler fetches it
itself to see where it redirects, and a new tab that still lands outside the policy is
closed. Subresources (images, scripts, fonts, XHR) of allowed pages are not checked:
the policy decides which sites the agent sees and acts on, and pages need their CDNs.
"""

from __future__ import annotations

import contextlib
import io
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

from ._browser_js import ELEMENT_AT, SCROLL_STATE, SIGNATURE
from ._capture import capture, capture_session
from .base import ActionFailed, ControllerError, ElementInfo, Environment, Observation
from .domains import DomainPolicy, redirect_target, short

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
_CLOSED = ("has been closed", "Target closed", "Browser closed", "Connection closed")
_DOCUMENTS = {
    "patterns": [{"urlPattern": "*", "resourceType": "Document", "requestStage": "Request"}]
}


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


class BrowserEnvironment(Environment):
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
        quiet_s: float = 0.08,
        domains: DomainPolicy | None = None,
    ) -> None:
        from playwright.sync_api import sync_playwright

        self.viewport, self.dpr = viewport, device_scale_factor
        self.settle_timeout_s, self.quiet_s = settle_timeout_s, quiet_s
        self._start_url = url
        self._inflight = 0
        self._pointer = (0.0, 0.0)  # CSS pixels: where a drag without a start begins
        self._seen: ScreenFrame | None = None
        self._pages_before = 0
        self._sessions: dict[Any, Any] = {}  # page -> CDP session used for screenshots
        self._domains: DomainPolicy | None = None
        self._redirect_guards: dict[Any, Any] = {}  # page -> CDP session checking redirects
        self._blocked: list[str] = []  # what the policy stopped, for the next result's note
        self._tabs_refused = 0  # new tabs aborted in this action, left as error pages
        self._tabs_announced = self._tabs_arrived = 0  # this action's tabs: told of, came
        self._announcers: dict[Any, Any] = {}  # page -> CDP session telling of new tabs
        self._playwright = sync_playwright().start()
        try:
            self._browser, self.context = self._open(
                executable_path, headless, user_data_dir, cdp_url, ws_endpoint
            )
        except Exception:
            self._playwright.stop()
            raise
        self.context.on("page", self._watch)
        for page in self.context.pages:
            self._watch(page)
        self.page = self.context.pages[-1] if self.context.pages else self.context.new_page()
        if domains is not None:
            self.set_domains(domains)
        if url:
            try:
                self._goto(url)
            except ActionFailed as failure:  # a refused or unreachable start page
                self.close()
                raise ControllerError(f"cannot open the start page: {failure}") from None
            except Exception:
                self.close()
                raise

    def _open(
        self, executable_path, headless, user_data_dir, cdp_url, ws_endpoint
    ) -> tuple[Any, Any]:
        chromium = self._playwright.chromium
        options = {"viewport": {"width": self.viewport[0], "height": self.viewport[1]},
                   "device_scale_factor": self.dpr}  # fmt: skip
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
        page.on("requestfinished", lambda _: self._count(-1))
        page.on("requestfailed", lambda _: self._count(-1))
        page.on("close", self._forget)
        if self._domains is not None:
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

    def _count_tab(self) -> None:
        self._tabs_announced += 1

    def _forget(self, page: Any) -> None:
        self._sessions.pop(page, None)
        self._announcers.pop(page, None)
        self._redirect_guards.pop(page, None)

    def _count(self, step: int) -> None:
        self._inflight = max(0, self._inflight + step)

    # -- Environment ---------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> Observation:
        url = (options or {}).get("url", self._start_url)
        if url:
            self._goto(url)
        return self.observe()

    def observe(self) -> Observation:
        from PIL import Image

        png = self._guard(self._capture)
        image = Image.open(io.BytesIO(png))
        image.load()
        self._seen = ScreenFrame(width=image.width, height=image.height, scale=self.dpr)
        return Observation(
            image=image.convert("RGB") if image.mode != "RGB" else image,
            frame=self._seen,
            url=self.page.url,
            title=self._guard(self.page.title),
        )

    def _capture(self) -> bytes:
        """PNG of the viewport at the device pixel ratio, over CDP (see `_capture.py`),
        or by Playwright's own screenshot where there is no CDP."""
        if self.page not in self._sessions:
            size = self.page.viewport_size or {
                "width": self.viewport[0],
                "height": self.viewport[1],
            }
            self._sessions[self.page] = capture_session(self.context, self.page, size, self.dpr)
        return capture(self._sessions[self.page], self.page)

    def _frame(self) -> ScreenFrame:
        """The frame of the last screenshot: points refer to what the model saw."""
        if self._seen is not None:
            return self._seen
        width, height = (round(v * self.dpr) for v in self.viewport)
        return ScreenFrame(width=width, height=height, scale=self.dpr)

    def _perform(self, action: Action) -> tuple[ElementInfo | None, str | None]:
        self._pages_before = len(self.context.pages)
        self._tabs_announced = self._tabs_arrived = 0
        element = self._element(action)
        return element, self._guard(lambda: self._dispatch(action))

    def _dispatch(self, action: Action) -> str | None:
        mouse = self.page.mouse
        if isinstance(action, Click):
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
            self._goto(action.url)
        elif isinstance(action, GoBack):
            if self.page.go_back(wait_until="domcontentloaded") is None:
                raise ActionFailed("There is no previous page to go back to.")
        elif isinstance(action, Wait):
            self.page.wait_for_timeout(action.seconds * 1000)
        return None

    def _move(self, x: float, y: float, steps: int = 1) -> None:
        self.page.mouse.move(x, y, steps=steps)
        self._pointer = (x, y)

    def _scroll(self, action: Scroll) -> str | None:
        x, y = (action.point.x, action.point.y) if action.point else self._pointer
        self._move(x, y)
        before = self.page.evaluate(SCROLL_STATE, [x, y])
        distance = action.amount * _WHEEL_PX
        dx = {"left": -distance, "right": distance}.get(action.direction, 0)
        dy = {"up": -distance, "down": distance}.get(action.direction, 0)
        self.page.mouse.wheel(dx, dy)
        deadline = time.monotonic() + 0.5  # wheel scrolling is asynchronous: wait for it
        while time.monotonic() < deadline:
            self.page.wait_for_timeout(20)
            if self.page.evaluate(SCROLL_STATE, [x, y]) != before:
                return None
        return (
            f"Scrolling {action.direction} moved nothing here: the content is at its end "
            "or not scrollable."
        )

    def _goto(self, url: str) -> None:
        from playwright.sync_api import Error

        if self._domains is not None and not self._domains.permits(url):
            raise ActionFailed(self._domains.explain(url))  # before any request is made
        try:
            self.page.goto(url, wait_until="domcontentloaded", timeout=30_000)
        except Error as error:
            if any(s in str(error) for s in _CLOSED):
                raise ControllerError(f"the browser is gone: {error}") from None
            reason = " ".join(self._blocked) or str(error).splitlines()[0]
            self._blocked.clear()
            raise ActionFailed(f"Could not open {url}: {reason}") from None

    # -- the domain policy ---------------------------------------------------------
    def set_domains(self, policy: DomainPolicy | None) -> None:
        """Enforce `policy` from now on, in every tab; None (or empty lists) lifts it."""
        policy = policy if policy is not None and policy.restricts else None
        if policy is not None and self._domains is None:
            self._guard(lambda: self.context.route("**/*", self._route))
        elif policy is None and self._domains is not None:
            self._guard(lambda: self.context.unroute("**/*", self._route))
            for session in self._redirect_guards.values():
                with contextlib.suppress(Exception):  # its page may be gone already
                    session.detach()
            self._redirect_guards.clear()
        self._domains = policy
        for page in self.context.pages if policy is not None else ():
            self._guard_redirects(page)

    def _guard_redirects(self, page: Any) -> None:
        """A CDP Fetch interceptor for the page's documents: Playwright continues
        redirects without asking the route handler, this one sees every hop."""
        if page in self._redirect_guards or page.is_closed():
            return
        try:
            session = self.context.new_cdp_session(page)
            session.on("Fetch.requestPaused", lambda event: self._paused(session, event))
            session.send("Fetch.enable", _DOCUMENTS)
        except Exception:  # no CDP here: the route handler checks the first redirect
            return
        self._redirect_guards[page] = session

    def _paused(self, session: Any, event: dict[str, Any]) -> None:
        url, policy = event["request"]["url"], self._domains
        params: dict[str, Any] = {"requestId": event["requestId"]}
        command = "Fetch.continueRequest"  # first hops are the route handler's business
        if event.get("redirectedRequestId") and policy and not policy.permits(url):
            self._blocked.append(f"A redirect to {short(url)} was blocked: {policy.reason(url)}.")
            command, params["errorReason"] = "Fetch.failRequest", "Aborted"
        with contextlib.suppress(Exception):  # the page closed meanwhile
            session.send(command, params)

    def _route(self, route: Any, request: Any) -> None:
        """Every request while a policy is set: documents to refused URLs are aborted
        before they are sent; subresources pass."""
        from playwright.sync_api import Error

        policy = self._domains
        if policy is None or not request.is_navigation_request():
            return route.fallback()
        try:
            page = request.frame.page
        except Error:  # a new tab's first request comes before its frame exists
            page = None
        if not policy.permits(request.url):
            return self._refuse(route, request.url, policy.reason(request.url), page, "navigation")
        if page in self._redirect_guards or not request.url.startswith(("http:", "https:")):
            return route.fallback()
        try:  # no interceptor on this page yet: fetch here to see where it redirects
            response = route.fetch(max_redirects=0)
        except Error:
            return route.fallback()  # let Chromium try and show the real error
        target = redirect_target(request.url, response.status, response.headers)
        if target is not None and not policy.permits(target):
            return self._refuse(route, target, policy.reason(target), page, "redirect")
        return route.fulfill(response=response)

    def _refuse(self, route: Any, url: str, reason: str | None, page: Any, kind: str) -> None:
        if page is None:  # a new tab: its error page is closed in _settle
            self._tabs_refused += 1
            self._blocked.append(f"A new tab to {short(url)} was blocked and closed: {reason}.")
            return route.abort("blockedbyclient")
        self._blocked.append(f"A {kind} to {short(url)} was blocked: {reason}.")
        return route.abort("aborted")  # keeps the page where it was, with no error page

    def _keep_tab(self, page: Any) -> bool:
        """Whether to follow a new tab; one the policy refused is closed instead."""
        policy, url = self._domains, page.url
        refused = url.startswith("chrome-error:") and self._tabs_refused > 0
        if policy is None or (policy.permits(url) and not refused):
            return True
        if not refused:  # it got there through redirects after its first hop
            self._blocked.append(
                f"A new tab reached {short(url)} and was closed: {policy.reason(url)}."
            )
        with contextlib.suppress(Exception):
            page.close()
        return False

    def _element(self, action: Action) -> ElementInfo | None:
        point = next(iter(action.points().values()), None)
        if point is None or point.space is not Space.SCREEN:
            return None
        try:
            found = self.page.evaluate(ELEMENT_AT, [point.x, point.y, self.dpr])
        except Exception:  # a page mid-navigation has no DOM to ask; the action still runs
            return None
        if not found:
            return None
        x1, y1, x2, y2 = found.pop("bbox")
        return ElementInfo(**found, bbox=Box.from_corners(x1, y1, x2, y2, Space.SCREENSHOT_PX))

    def _settle(self) -> str | None:
        """Settle the page, then follow a tab or popup the action opened (its page event
        arrives while settling) or leave a page that closed itself; close new tabs the
        domain policy refused and say what it blocked."""
        self._settle_page()
        self._await_tabs()
        notes = []
        if self.page.is_closed() and self.context.pages:
            self.page = self.context.pages[-1]
            notes.append(f"The page closed itself; now showing {self.page.url}")
        opened = [p for p in self.context.pages[self._pages_before :] if self._keep_tab(p)]
        if opened and opened[-1] is not self.page:
            shown, self.page = self.page, opened[-1]
            self._guard(lambda: self.page.wait_for_load_state("domcontentloaded"))
            self._settle_page()
            if self._keep_tab(self.page):  # it may have redirected away while it loaded
                notes.append(f"A new tab opened and is now shown: {self.page.url}")
            else:
                alive = [p for p in (shown, *self.context.pages[::-1]) if not p.is_closed()]
                self.page = alive[0] if alive else shown
        notes += self._blocked
        self._blocked.clear()
        self._tabs_refused = 0
        return "\n".join(notes) or None

    def _await_tabs(self) -> None:
        """Until every tab Chromium announced has reached the context, at most
        `settle_timeout_s` (a popup Chromium then blocked never comes)."""
        deadline = time.monotonic() + self.settle_timeout_s
        while self._tabs_arrived < self._tabs_announced and time.monotonic() < deadline:
            open_pages = [p for p in self.context.pages if not p.is_closed()]
            if not open_pages:
                return
            open_pages[0].wait_for_timeout(15)  # lets Playwright deliver its events

    def _settle_page(self) -> None:
        """Until no request is in flight and the page looks the same a frame apart for
        `quiet_s`, at most `settle_timeout_s`."""
        deadline = time.monotonic() + self.settle_timeout_s
        last, quiet_since = None, time.monotonic()
        while time.monotonic() < deadline:
            try:
                signature = self.page.evaluate(SIGNATURE)
            except Exception:  # navigating: the old document is gone, the new one not ready
                signature = None
                self.page.wait_for_timeout(20)
            now = time.monotonic()
            if signature is None or signature != last or self._inflight > 0:
                last, quiet_since = signature, now
            elif now - quiet_since >= self.quiet_s:
                return
            self.page.wait_for_timeout(15)

    def _guard(self, call: Any) -> Any:
        """Run a Playwright call; a closed browser becomes a ControllerError."""
        from playwright.sync_api import Error

        try:
            return call()
        except Error as error:
            if any(s in str(error) for s in _CLOSED):
                raise ControllerError(f"the browser is gone: {error}") from None
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
