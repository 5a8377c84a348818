"""The domain policy, enforced inside the browser controller (a mixin of
`BrowserEnvironment`).

Every document request (typed navigation, link click, form post, frame, new tab) passes
a Playwright route handler that aborts it before it is sent when the policy refuses its
URL. Playwright never shows redirects to route handlers, so each page also gets a CDP
Fetch interceptor that fails a redirect to a refused URL before it is sent. A new tab's
first request comes before its page exists (no interceptor yet): the route handler
fetches it itself to see where it redirects, and a new tab that still lands outside the
policy is closed. In strict mode every other request (fetch, XHR, images, scripts,
styles, fonts, beacons, pings, prefetches, and their redirects) is held to the same
lists, and WebSockets to refused hosts are closed before they connect; by default those
subresources of an allowed page go wherever it asks, since pages need their CDNs.
"""

from __future__ import annotations

import contextlib
from typing import Any

from .domains import DomainPolicy, parse_url, redirect_target, short

_DOCUMENTS = {
    "patterns": [{"urlPattern": "*", "resourceType": "Document", "requestStage": "Request"}]
}
_EVERYTHING = {"patterns": [{"urlPattern": "*", "requestStage": "Request"}]}


class DomainEnforcement:
    """Route handler, redirect interceptors and new-tab checks for a `DomainPolicy`.
    The host class provides `context`, `_guard` and the bookkeeping set in `_reset_policy_state`."""

    context: Any
    _domains: DomainPolicy | None

    def _reset_policy_state(self) -> None:
        self._domains = None
        self._redirect_guards: dict[Any, Any] = {}  # page -> CDP session checking redirects
        self._blocked: list[str] = []  # what the policy stopped, for the next result's note
        self._subresources_blocked: list[str] = []  # strict mode: refused hosts, this action
        self._tabs_refused = 0  # new tabs aborted in this action, left as error pages
        self._sockets_routed = False

    def set_domains(self, policy: DomainPolicy | None) -> None:
        """Enforce `policy` from now on, in every tab; None (or empty lists) lifts it. The
        same lists again (an agent handing over the policy the browser was opened with)
        change nothing: in particular a strict policy stays strict."""
        policy = policy if policy is not None and policy.restricts else None
        if policy is not None and policy.same_lists(self._domains):
            return
        if policy is not None and self._domains is None:
            self._guard(lambda: self.context.route("**/*", self._route))
        elif policy is None and self._domains is not None:
            self._guard(lambda: self.context.unroute("**/*", self._route))
        if policy is not None and policy.strict and not self._sockets_routed:
            self._guard(lambda: self.context.route_web_socket(lambda _: True, self._socket))
            self._sockets_routed = True
        for session in self._redirect_guards.values():  # their patterns may change
            with contextlib.suppress(Exception):  # its page may be gone already
                session.detach()
        self._redirect_guards.clear()
        self._domains = policy
        for page in self.context.pages if policy is not None else ():
            self._guard_redirects(page)

    def _guard_redirects(self, page: Any) -> None:
        """A CDP Fetch interceptor for the page's documents (every request in strict
        mode): Playwright continues redirects without asking the route handler, this one
        sees every hop."""
        if self._domains is None or page in self._redirect_guards or page.is_closed():
            return
        patterns = _EVERYTHING if self._domains.strict else _DOCUMENTS
        try:
            session = self.context.new_cdp_session(page)
            session.on("Fetch.requestPaused", lambda event: self._paused(session, event))
            session.send("Fetch.enable", patterns)
        except Exception:  # no CDP here: the route handler checks the first redirect
            return
        self._redirect_guards[page] = session

    def _paused(self, session: Any, event: dict[str, Any]) -> None:
        url, policy = event["request"]["url"], self._domains
        params: dict[str, Any] = {"requestId": event["requestId"]}
        command = "Fetch.continueRequest"  # first hops are the route handler's business
        document = event.get("resourceType") == "Document"
        # a subresource's redirect hop comes without redirectedRequestId: judge them all
        hop = event.get("redirectedRequestId") or not document
        if hop and policy and not policy.permits(url):
            command, params["errorReason"] = "Fetch.failRequest", "Aborted"  # no error page
            if document:
                self._blocked.append(
                    f"A redirect to {short(url)} was blocked: {policy.reason(url)}."
                )
            else:
                self._subresources_blocked.append(url)
                params["errorReason"] = "BlockedByClient"
        with contextlib.suppress(Exception):  # the page closed meanwhile
            session.send(command, params)

    def _route(self, route: Any, request: Any) -> None:
        """Every request while a policy is set: documents to refused URLs are aborted
        before they are sent; subresources pass, unless the policy is strict."""
        from playwright.sync_api import Error

        policy = self._domains
        if policy is None:
            return route.fallback()
        if not request.is_navigation_request():
            if policy.strict and not policy.permits(request.url):
                self._subresources_blocked.append(request.url)
                return route.abort("blockedbyclient")
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

    def _socket(self, socket: Any) -> None:
        """A WebSocket (strict mode): connected to its server only if the policy allows."""
        policy = self._domains
        if policy is None or not policy.strict or policy.permits(socket.url):
            socket.connect_to_server()
            return
        self._subresources_blocked.append(socket.url)
        socket.close(code=1008, reason="blocked by the domain policy")

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

    def _policy_notes(self) -> list[str]:
        """What the policy stopped since the last call, as sentences for the model."""
        notes = list(self._blocked)
        if self._subresources_blocked:
            parsed = [parse_url(u) for u in self._subresources_blocked]
            hosts = sorted({f"{p.host}:{p.port}" if p.port else p.host for p in parsed if p})
            notes.append(
                f"{len(self._subresources_blocked)} request(s) of the page to sites outside "
                f"the allowed domains were blocked (strict mode): {', '.join(hosts[:5])}"
                + (" ..." if len(hosts) > 5 else "")
            )
        self._blocked.clear()
        self._subresources_blocked.clear()
        self._tabs_refused = 0
        return notes
