"""Which sites the browser may open: a domain allowlist and denylist, and which URL
schemes a model may open at all.

`BrowserEnvironment` enforces a `DomainPolicy` in the controller on every document
request (typed navigations, link clicks, form posts, redirects, new tabs, frames), so
no model reply can talk its way around it; the agent's policy uses the same object to
refuse a Navigate before it runs. With `strict=True` every other request (fetch, XHR,
images, scripts, styles, fonts, WebSockets, beacons, pings, prefetches) is held to the
same lists; by default those subresources of an allowed page go wherever it asks.

One parser decides, the one the browser uses: URLs are read by `ada_url`, an
implementation of the WHATWG URL standard (Chromium's rules), so a backslash, a tab
inside the host, user info, a percent-encoded or decimal/hex IPv4 host mean here what
they mean to Chromium (`http://example.org\\@127.0.0.1/` is example.org, a host the
standard's parser sees and urllib does not).

A pattern is a host name that also matches its subdomains ("example.com" matches
"example.com" and "a.example.com"; a leading "*." means the same), optionally with a
port ("127.0.0.1:8001" matches that port only, "example.com" any port). An IP address
matches itself only. Deny wins over allow; an empty allowlist allows everything not
denied. about:blank, about:srcdoc, data: and blob: URLs fetch nothing from a server and
are always allowed as documents a page makes itself; file:, chrome: and other schemes
without a host only when there is no allowlist. What a *model* may open with Navigate
is narrower still (`navigate_refusal`): http(s) and about:blank only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urljoin

import ada_url

_ALWAYS = ("about:blank", "about:srcdoc", "data:", "blob:")
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
NAVIGABLE_SCHEMES = ("http", "https")  # and about:blank: what a model's Navigate may open


@dataclass(frozen=True)
class ParsedURL:
    """What the WHATWG parser makes of a URL: scheme (lower case, no colon), host (as
    Chromium resolves it: punycode, IPv4 in dotted form, IPv6 in brackets; no trailing
    dot), the explicit port or None, and the URL written out again."""

    scheme: str
    host: str
    port: int | None
    href: str


def parse_url(url: str) -> ParsedURL | None:
    """`url` read by the WHATWG rules (Chromium's), or None when it is not a URL."""
    try:
        parsed = ada_url.URL(url)
    except ValueError:
        return None
    port = int(parsed.port) if parsed.port else None
    host = parsed.hostname.rstrip(".") if parsed.hostname else ""
    return ParsedURL(parsed.protocol.rstrip(":").lower(), host, port, parsed.href)


def navigate_refusal(url: str) -> str | None:
    """Why a model may not open `url` at all, whatever the domain lists say (a clause),
    or None. Only http(s) and about:blank: `javascript:` would run the model's text as
    script in the page, `file:` reads local files, `chrome:`, `data:` and the rest open
    privileged pages or script the model wrote."""
    parsed = parse_url(url)
    if parsed is None:
        return "it is not a valid URL (write it in full, e.g. https://example.com/)"
    if parsed.scheme in NAVIGABLE_SCHEMES or parsed.href.split("#")[0] == "about:blank":
        return None
    return f"{parsed.scheme}: URLs cannot be opened, only http(s) URLs and about:blank"


def short(url: str, limit: int = 200) -> str:
    """A URL cut to a length that reads well in a message to the model."""
    return url if len(url) <= limit else url[: limit - 1] + "…"


def redirect_target(url: str, status: int, headers: dict[str, str]) -> str | None:
    """Where a response redirects to (absolute), or None when it is not a redirect."""
    location = headers.get("location")
    if not (300 <= status < 400 and location):
        return None
    try:
        return ada_url.join_url(url, location)
    except ValueError:
        return urljoin(url, location)


def _is_ip(host: str) -> bool:
    try:
        return ada_url.URL(f"http://{host}/").host_type != ada_url.HostType.DEFAULT
    except ValueError:
        return False


@dataclass(frozen=True)
class DomainPattern:
    """One parsed allow or deny entry."""

    text: str
    host: str
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> DomainPattern:
        body = text.strip().split("://", 1)[-1].split("/", 1)[0]  # a pasted URL: its host
        body = body.removeprefix("*.")
        bad = not body or any(c in body for c in "*@ \\")
        http = None if bad else parse_url(f"http://{body}/")
        https = None if bad else parse_url(f"https://{body}/")
        if http is None or https is None or not http.host:
            raise ValueError(
                f"domain pattern {text!r}: expected a host name such as example.com, "
                "*.example.com or 127.0.0.1:8000 (a port must be a number)"
            )
        # each scheme drops its own default port: ":80" survives only the https reading
        port = http.port if http.port is not None else https.port
        return cls(text=text.strip(), host=http.host, port=port)

    def matches(self, host: str, port: int | None) -> bool:
        if self.port is not None and self.port != port:
            return False
        if host == self.host:
            return True
        return not _is_ip(self.host) and host.endswith("." + self.host)


@dataclass(frozen=True)
class DomainPolicy:
    """Allowed and denied domains; `permits(url)` decides, `explain(url)` says why.
    `strict` holds every request of a page to the lists, not only its documents."""

    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    strict: bool = False
    _allow: tuple[DomainPattern, ...] = field(init=False, repr=False, compare=False)
    _deny: tuple[DomainPattern, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("allow", "deny"):
            given = getattr(self, name)
            texts = (given,) if isinstance(given, str) else tuple(given)  # "a.com" is one
            object.__setattr__(self, name, texts)
            object.__setattr__(self, "_" + name, tuple(DomainPattern.parse(t) for t in texts))

    @property
    def restricts(self) -> bool:
        """Whether the policy can block anything at all (empty lists block nothing)."""
        return bool(self._allow or self._deny)

    def permits(self, url: str) -> bool:
        return self.reason(url) is None

    def reason(self, url: str) -> str | None:
        """Why `url` is blocked (a clause for the model), or None when it is allowed."""
        if url.strip().lower().startswith(_ALWAYS):
            return None
        parsed = parse_url(url)
        if parsed is None:
            return "it is not a valid URL" if self.restricts else None
        if parsed.scheme == "view-source":
            return self.reason(parsed.href[len("view-source:") :])
        if parsed.scheme not in _DEFAULT_PORTS:
            if not self._allow:
                return None
            return f"{parsed.scheme}: URLs are not allowed when only some domains are"
        host, explicit = parsed.host, parsed.port
        where = f"{host}:{explicit}" if explicit is not None else host
        port = explicit if explicit is not None else _DEFAULT_PORTS[parsed.scheme]
        for pattern in self._deny:
            if pattern.matches(host, port):
                return f"{where} is in the denied domains ({pattern.text})"
        if self._allow and not any(p.matches(host, port) for p in self._allow):
            allowed = ", ".join(p.text for p in self._allow)
            return f"{where} is not in the allowed domains ({allowed})"
        return None

    def explain(self, url: str) -> str:
        """A sentence for the model: 'Navigation to … was blocked: … .'"""
        reason = self.reason(url)
        if reason is None:
            return f"Navigation to {short(url)} is allowed."
        return f"Navigation to {short(url)} was blocked: {reason}."

    def same_lists(self, other: DomainPolicy | None) -> bool:
        """Whether `other` allows and denies the same patterns (strictness aside)."""
        return other is not None and (self.allow, self.deny) == (other.allow, other.deny)
