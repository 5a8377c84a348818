"""Settling and which page is shown (a mixin of `BrowserEnvironment`).

After each action the page must settle, and settling follows what the page does instead
of a fixed quiet window: each look waits for the next frame the page draws and asks
whether anything changed meanwhile (DOM mutations, scrolls, the URL, focus, the ready
state, finite animations; see `_settle_js.py`), while Playwright's events count the
requests started and in flight and the navigations. The first look across which nothing
happened ends the settle, so a static page pays one frame; a page that never settles
costs `settle_timeout_s`. Every look at the page is bounded: Playwright's
`page.evaluate` has no timeout and waits forever on a promise that never settles (a page
that navigated itself away while loading, when that navigation was blocked, never draws
again) or on a renderer stuck in a loop, so script runs through `page.wait_for_function`,
whose timeout the Playwright server keeps. Then the shown page is kept alive: a tab or
popup the action opened is followed, a page that closed itself gives way to one still
open, a page that stopped drawing to about:blank.
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

from ._settle_js import PROBE, SETTLE
from .base import ActionFailed, ControllerError
from .domains import short

LEAVE_MS = 500  # how long a submitted form or followed link may take to start navigating
TIMERS_S = 0.4  # how long short timers (<= 50 ms) the page set are waited for (a polling
# loop of them would otherwise hold every step to the cap)
LOAD_S = 30.0  # how long a navigation may take to commit, and its document to load
TEXT_LINES, TEXT_CHARS = 300, 200  # rendered text an observation keeps (test assertions)
FRESH_S = 0.05  # how recent the settle's last look must be to stand in for the probe: the
# settle's own horizon for what a page does by itself (short timers are <= 50 ms); what a
# page changes later, on its own, no settle could have waited for


def evaluate(page: Any, script: str, arg: Any = None, *, timeout_s: float) -> Any:
    """`page.evaluate(script, arg)` (a function, async or not, of one argument) that
    gives up after `timeout_s` with Playwright's TimeoutError, even when the page never
    answers. The value travels as a JSON string: a primitive, which the handle's own
    text (`str(handle)`, JSHandle.toString) already holds in full, so reading it is no
    round trip (`json_value` would be one); the dispose that frees the handle's entry in
    the Playwright server is the only other."""
    wrapped = f"async (arg) => JSON.stringify([await ({script})(arg)])"
    handle = page.wait_for_function(wrapped, arg=arg, timeout=timeout_s * 1000, polling=50)
    try:
        text = str(handle)
    finally:
        with contextlib.suppress(Exception):
            handle.dispose()
    try:
        return json.loads(text)[0]
    except (TypeError, ValueError, IndexError, KeyError):  # a page that replaced JSON.stringify
        return None


class Settling:
    """The host class provides `page`, `context`, `settle_timeout_s`, `quiet_s`, `_js`,
    `_guard`, `_gone`, `_loaded`, `_keep_tab`, `_policy_notes`, the tab counters and the
    request and navigation counters its Playwright event handlers keep."""

    page: Any
    context: Any
    settle_timeout_s: float
    quiet_s: float
    _inflight: int
    _requests: int  # requests started, ever: one that started and ended mid-look counts
    _navigations: int  # frame navigations, ever
    _frame_navigations: int  # those of frames inside the page (iframes)
    _drawn: tuple[Any, int] | None  # (page, navigations then): a frame was seen since
    _pages_before: int
    _tabs_announced: int
    _tabs_arrived: int
    _crashed: set[Any]
    _no_frame: bool
    _quiet_look: tuple[Any, tuple[int, int], float] | None  # (page, counters, when): an
    # action's own last look at the page (a scroll's) found it quiet, as a settle look would
    _settled: tuple[Any, tuple[int, int, int], float, Any, Any, Any, Any] | None  # (page,
    # counters, when, title, text lines, URL, change state): the settle's last look, quiet
    _js: Any
    _guard: Any
    _gone: Any
    _loaded: Any
    _keep_tab: Any
    _policy_notes: Any

    def _saw_frame(self, navigations: int | None = None) -> None:
        """Remember that the shown document (the one of before `navigations`, when given)
        drew a frame: until it navigates, a capture needs to know only that its script
        answers (see `_probe`)."""
        self._drawn = (self.page, self._navigations if navigations is None else navigations)

    def _probe(self, lines: int = 0, chars: int = 0) -> tuple[str | None, tuple[str, ...] | None]:
        """The shown page's title and (`lines` > 0) its rendered text lines (`PROBE`),
        once it is known to answer script and to draw (a frame is waited for only when
        none was seen since the document's last navigation: one that draws none stays
        so); ControllerError when it does not."""
        navigations = self._navigations
        frame = self._drawn != (self.page, navigations)
        try:
            answer = self._js(PROBE, [frame, lines, chars])
        except ActionFailed:
            answer = self._drawing_failed()
        if frame:
            self._saw_frame(navigations)
        title, text = answer if isinstance(answer, list) and len(answer) == 2 else (None, None)
        return _title_and_text(title, text)

    def _fresh_look(self) -> tuple[str | None, tuple[str, ...], str] | None:
        """The title, text and change state of the settle's last look, once, when the
        look can stand in for the probe before a capture: it drew a frame, found the page
        quiet with no short timer and no form or link leaving it, read the text, ended
        under `FRESH_S` ago on the page still shown at its URL, and no request,
        navigation or action came since (an action clears it). Like the probe's answer,
        it vouches that the page's script answers and that it draws; whether the text
        still holds is for the caller to check against the state after its capture."""
        settled, self._settled = self._settled, None
        if settled is None:
            return None
        page, counters, when, title, text, url, state = settled
        now = (self._requests, self._navigations, self._frame_navigations)
        if page is not self.page or counters != now or self._inflight or url != page.url:
            return None
        if self._drawn != (self.page, self._navigations) or time.monotonic() - when > FRESH_S:
            return None
        shown, lines = _title_and_text(title, text)
        return (shown, lines, state) if lines is not None and isinstance(state, str) else None

    def _drawing_failed(self) -> None:
        """Say why the page cannot be captured: its script does not yield, or (it still
        answers) it draws no frame."""
        try:
            self._js("() => 1", timeout_s=0.5)
        except ActionFailed:
            raise ControllerError(
                f"the page does not answer: its script has not yielded for "
                f"{self.settle_timeout_s:g} s ({short(self.page.url)})"
            ) from None
        raise ControllerError(
            f"the page draws nothing: Chromium made no frame of it in "
            f"{self.settle_timeout_s:g} s ({short(self.page.url)})"
        )

    def _redraw(self, notes: list[str]) -> None:
        """A page that stopped drawing (Chromium makes no frame of a document whose
        script navigated it away while it loaded, when that navigation was blocked)
        can never be seen again: it gives way to about:blank, and the model is told."""
        if not self._no_frame:
            return
        self._no_frame = False
        try:
            self._js(PROBE, [True, 0, 0])
            return
        except ActionFailed:
            url = self.page.url
        self.page.goto("about:blank", wait_until="commit", timeout=LOAD_S * 1000)
        notes.append(
            f"The page {short(url)} stopped drawing (its own script navigated it away while "
            "it loaded, and that navigation did not happen) and was replaced by about:blank."
        )

    def _settle(self) -> str | None:
        """Settle the page, then follow a tab or popup the action opened (its page event
        arrives while settling) or leave a page that closed itself; close new tabs the
        domain policy refused and say what it blocked. Playwright errors become ours."""
        notes: list[str] = []
        self._guard(lambda: self._settle_and_follow(notes))
        notes += self._policy_notes()
        return "\n".join(notes) or None

    def _settle_and_follow(self, notes: list[str]) -> None:
        self._settle_page(notes)
        self._redraw(notes)
        self._await_tabs()
        self._live_page(notes)
        opened = [p for p in self.context.pages[self._pages_before :] if self._keep_tab(p)]
        opened = [p for p in opened if not p.is_closed()]
        if opened and opened[-1] is not self.page:
            shown, self.page = self.page, opened[-1]
            self._loaded(self.settle_timeout_s)
            self._settle_page(notes)
            self._redraw(notes)
            if self.page.is_closed():  # a popup that closed itself at once
                self.page = shown
                self._live_page(notes)
            elif self._keep_tab(self.page):  # it may have redirected away while it loaded
                notes.append(f"A new tab opened and is now shown: {self.page.url}")
            else:
                alive = [p for p in (shown, *self.context.pages[::-1]) if not p.is_closed()]
                self.page = alive[0] if alive else shown
                self._live_page(notes)

    def _live_page(self, notes: list[str] | None = None) -> None:
        """Make sure the shown page is open and its renderer alive: a page that closed
        itself gives way to the newest open one (a blank one if none is left); a crashed
        renderer is a ControllerError."""
        if self.page in self._crashed:
            raise ControllerError(f"the page's renderer crashed ({short(self.page.url)})")
        if not self.page.is_closed():
            return
        alive = [p for p in self.context.pages if not p.is_closed()]
        self.page = alive[-1] if alive else self.context.new_page()
        if notes is not None:
            notes.append(f"The page closed itself; now showing {self.page.url}")

    def _await_tabs(self) -> None:
        """Until every tab Chromium announced has reached the context, at most
        `settle_timeout_s` (a popup Chromium then blocked never comes)."""
        deadline = time.monotonic() + self.settle_timeout_s
        while self._tabs_arrived < self._tabs_announced and time.monotonic() < deadline:
            open_pages = [p for p in self.context.pages if not p.is_closed()]
            if not open_pages:
                return
            open_pages[0].wait_for_timeout(15)  # lets Playwright deliver its events

    def _leaving(self, age_ms: Any, began: tuple[int, int]) -> bool:
        """A form was submitted or a link followed under `LEAVE_MS` ago and no request or
        navigation has come since the settle began: the navigation is still to start (it
        is scheduled a task after the event), so its request, or the policy's block of it,
        is waited for instead of settling on the page it is about to leave."""
        recent = isinstance(age_ms, int | float) and age_ms < LEAVE_MS
        return recent and (self._requests, self._navigations) == began

    def _navigated_away(self, look: list[Any], navigations: int, inner: int) -> bool:
        """Whether a navigation was told of while the page was looked at (`navigations`
        and `inner` counted before) that the look may not have seen: a new document, or
        a frame's. One the look saw itself is not: a link to `#part` or a pushState
        navigates the shown document, which a quiet look at the URL Playwright now
        knows was a look at (a new document would have ended the look's script)."""
        if navigations == self._navigations:
            return False
        seen = look[1] is True and look[5] == self.page.url
        return not seen or inner != self._frame_navigations

    def _settle_page(self, notes: list[str]) -> None:
        """Until a look at the page (one frame, see `_settle_js.SETTLE`) finds nothing
        changed, no request started or in flight and no navigation, and that has lasted
        `quiet_s` (0: the first such look); at most `settle_timeout_s`. Every look at the
        page is bounded too."""
        from playwright.sync_api import Error

        deadline = time.monotonic() + self.settle_timeout_s
        quiet_since: float | None = None
        began, started = (self._requests, self._navigations), time.monotonic()
        if self._quiet_look is not None:
            page, counters, when = self._quiet_look
            self._quiet_look = None
            if (page, counters, self._inflight) == (self.page, began, 0):
                quiet_since = when
                if started - when >= self.quiet_s:
                    self._no_frame = False
                    return
        while (now := time.monotonic()) < deadline:
            self._live_page(notes)
            requests, navigations = self._requests, self._navigations
            inner = self._frame_navigations
            try:
                look = evaluate(self.page, SETTLE, [TEXT_LINES, TEXT_CHARS],
                                timeout_s=max(0.05, deadline - now))  # fmt: skip
            except Error as error:  # navigating: the old document is gone, the new not ready
                if self._gone(error):
                    raise
                look = None
            if not isinstance(look, list) or len(look) != 8:  # gone mid-look, or a hostile page
                quiet_since = None
                with contextlib.suppress(Error):  # the page closed itself: the loop sees it
                    self.page.wait_for_timeout(15)
                continue
            painted, quiet = look[0] is True, look[1] is True
            self._no_frame = not painted
            navigated = self._navigated_away(look, navigations, inner)
            if painted:
                self._saw_frame(navigations if navigated else None)
            busy = self._inflight > 0 or requests != self._requests or navigated
            timers = isinstance(look[4], int) and look[4] > 0 and now - started < TIMERS_S
            if not quiet or busy or timers or self._leaving(look[3], began):
                quiet_since = None
                continue
            quiet_since = now if quiet_since is None else quiet_since
            if time.monotonic() - quiet_since >= self.quiet_s:
                counters = (self._requests, self._navigations, self._frame_navigations)
                when, seen = time.monotonic(), (look[2], look[6], look[5], look[7])
                self._settled = (self.page, counters, when, *seen)
                return


def _title_and_text(title: Any, text: Any) -> tuple[str | None, tuple[str, ...] | None]:
    """A look's title and text lines as an observation keeps them (None where a page
    broke what they are read with)."""
    lines = tuple(str(line) for line in text) if isinstance(text, list) else None
    return (title if isinstance(title, str) else None), lines
