"""Which sites the browser may open: a domain allowlist and denylist, in pure Python.

`BrowserEnvironment` enforces a `DomainPolicy` in the controller on every document
request (typed navigations, link clicks, form posts, redirects, new tabs, frames), so
no model reply can talk its way around it; the agent's policy uses the same object to
refuse a Navigate before it runs.

A pattern is a host name that also matches its subdomains ("example.com" matches
"example.com" and "a.example.com"; a leading "*." means the same), optionally with a
port ("127.0.0.1:8001" matches that port only, "example.com" any port). An IP address
matches itself only. Deny wins over allow; an empty allowlist allows everything not
denied. about:blank, about:srcdoc, data: and blob: URLs fetch nothing from a server and
are always allowed; file:, chrome: and other schemes without a host only when there is
no allowlist.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

_ALWAYS = ("about:blank", "about:srcdoc", "data:", "blob:")
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443, "ftp": 21}


def _normal_host(name: str) -> str:
    """Lower case, no trailing dot, international names as the punycode URLs carry."""
    name = name.strip().lower().rstrip(".")
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError:  # not a name IDNA can encode (an IPv6 literal...): keep it
        return name


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def short(url: str, limit: int = 200) -> str:
    """A URL cut to a length that reads well in a message to the model."""
    return url if len(url) <= limit else url[: limit - 1] + "…"


def redirect_target(url: str, status: int, headers: dict[str, str]) -> str | None:
    """Where a response redirects to (absolute), or None when it is not a redirect."""
    location = headers.get("location")
    return urljoin(url, location) if 300 <= status < 400 and location else None


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
        parts = urlsplit("//" + body)
        try:
            port = parts.port
        except ValueError:
            raise ValueError(f"domain pattern {text!r}: the port is not a number") from None
        host = parts.hostname or ""
        if not host or "*" in host or "@" in body or " " in host:
            raise ValueError(
                f"domain pattern {text!r}: expected a host name such as example.com, "
                "*.example.com or 127.0.0.1:8000"
            )
        return cls(text=text.strip(), host=_normal_host(host), port=port)

    def matches(self, host: str, port: int | None) -> bool:
        if self.port is not None and self.port != port:
            return False
        if host == self.host:
            return True
        return not _is_ip(self.host) and host.endswith("." + self.host)


@dataclass(frozen=True)
class DomainPolicy:
    """Allowed and denied domains; `permits(url)` decides, `explain(url)` says why."""

    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
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
        text = url.strip()
        lowered = text.lower()
        if lowered.startswith(_ALWAYS):
            return None
        if lowered.startswith("view-source:"):
            return self.reason(text[len("view-source:") :])
        parts = urlsplit(text)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            if not self._allow:
                return None
            kind = f"{scheme}: URLs" if scheme else "addresses without a scheme"
            return f"{kind} are not allowed when only some domains are"
        host = _normal_host(parts.hostname or "")
        try:
            explicit = parts.port
        except ValueError:
            return "its port is not a number"
        where = f"{host}:{explicit}" if explicit is not None else host
        port = explicit if explicit is not None else _DEFAULT_PORTS[scheme]
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
