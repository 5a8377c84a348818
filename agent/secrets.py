"""Secrets as placeholders: the model writes `{{password}}`, the screen gets the value.

What must hold: a secret value never leaves pixelpilot in any form, and it is only ever
typed into the site it belongs to.

- **Substituted last.** Values are filled in only inside `execute` (`Secrets.execute`),
  at the last moment; the model, the policy and every record see the placeholder.
- **Bound to hosts.** Each secret belongs to hosts (`--secret password=ENV@host,host2`;
  the start page's host when none are named). A `Type` holding a secret runs only while
  the document that has the keyboard focus is on one of them (a frame from elsewhere
  counts as elsewhere); a `Navigate` never gets a secret at all, whatever the host: a
  URL is copied into history, logs, referrers and other servers' records, and a page
  that asks the model to open `https://elsewhere/?q={{password}}` must get nothing.
  Where the controller knows no URL (the desktop), hosts cannot be checked: the policy
  then asks the user before every `Type` that holds a secret.
- **Masked.** The controller is told when it types a secret (`Environment.typing_secret`)
  and masks the field that received it in every later screenshot (see the browser's
  `_secret_fields.py`).
- **Redacted in every encoding.** `redact` replaces a value written raw, percent-encoded
  (`quote`, `quote_plus`, `encodeURIComponent`, either hex case, even mixed), HTML-escaped
  (named, decimal or hex entities), JSON-escaped (`\\uXXXX`, `\\"`) or with its
  whitespace collapsed or trimmed (`Tr0ub4dor &3` for `Tr0ub4dor  &3`), in any mix of
  these from one character to the next. Exceptions are re-raised with redacted messages
  and no chained cause that could carry the value (`redact_error`), and every log record
  made while a value is in use is redacted as it is made (`guard_logs`).

Limits: a page on a bound host may show the value anywhere it likes (echo it into text,
copy it into a field the agent never typed into); only the fields that received the
typing are masked. Encodings beyond those above (base64, a hash, the value split across
records) are not recognised.
"""

from __future__ import annotations

import contextlib
import html.entities
import logging
import os
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pixelpilot.tools import Action, Navigate, PixelpilotError, Type

from .policy import Decision, Policy

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HEX = "[0-9A-Fa-f]"
_JSON_ESCAPES = {'"': '\\"', "\\": "\\\\", "/": "\\/", "\n": "\\n", "\r": "\\r", "\t": "\\t",
                 "\b": "\\b", "\f": "\\f"}  # fmt: skip
_DEFAULT_PORTS = {"http:": 80, "https:": 443}


class RedactedError(PixelpilotError, RuntimeError):
    """An unexpected error (not one of pixelpilot's own) whose message or chained cause
    held a secret: the same text, redacted, with the original's class name in front."""


@dataclass(frozen=True)
class Secret:
    """A value and the hosts it may be typed on ("host" or "host:port", normalised);
    no hosts: not bound yet (`Secrets.bound` binds it to the start page's host)."""

    value: str
    hosts: tuple[str, ...] = ()


def normal_host(text: str) -> str:
    """A host pattern as given on the command line, normalised like a URL's host (lower
    case, IDNA, no trailing dot); a port stays ("127.0.0.1:8000" matches that port only,
    "example.com" any port of that host, no subdomains)."""
    host, port = _pattern(text)
    return f"{host}:{port}" if port is not None else host


def _pattern(text: str) -> tuple[str, int | None]:
    """(host, port or None) of a host pattern; ValueError when it is not one."""
    body = text.strip().split("://", 1)[-1].split("/", 1)[0]
    host, port = _split(_url("http://" + body)) if body else ("", None)
    if not host or "@" in body or " " in body or "*" in body:
        raise ValueError(f"{text!r} is not a host name (example.com or 127.0.0.1:8000)")
    explicit = ":" in body.rsplit("]", 1)[-1]
    return host, port if explicit else None


def _url(text: str) -> Any | None:
    """`text` parsed by the WHATWG rules (what Chromium follows), or None."""
    import ada_url

    try:
        return ada_url.URL(text)
    except ValueError:
        return None


def _split(url: Any | None) -> tuple[str, int | None]:
    """(host, port) of a parsed http(s) URL, the port made explicit; ("", None) else."""
    if url is None or url.protocol not in _DEFAULT_PORTS or not url.hostname:
        return "", None
    host = url.hostname.lower().rstrip(".")
    return host, int(url.port) if url.port else _DEFAULT_PORTS[url.protocol]


def host_of(url: str | None) -> str | None:
    """The host of an http(s) URL (or origin), with its port when the URL names one;
    None for other URLs (about:blank, file:, the desktop's None)."""
    parsed = _url(url) if url else None
    host, _ = _split(parsed)
    if not host:
        return None
    return f"{host}:{parsed.port}" if parsed.port else host


def _permits(hosts: Iterable[str], url: str | None) -> bool:
    host, port = _split(_url(url)) if url else ("", None)
    if not host:
        return False
    return any(name == host and wanted in (None, port) for name, wanted in map(_pattern, hosts))


def _char_pattern(char: str) -> str:
    """Every way one character of a secret can be written in a record; hex digits in
    either case (%2f and %2F, &#x2f; and &#x2F;, \\u00e9 and \\u00E9)."""
    forms = {re.escape(char)}
    data = char.encode("utf-8")
    forms.add("".join(f"%(?:25)?{_any_case(f'{b:02X}')}" for b in data))  # once or twice
    code = ord(char)
    forms.add(f"&#0*{code};|&#[xX]0*{_any_case(f'{code:X}')};")
    if code in html.entities.codepoint2name:
        forms.add(f"&{html.entities.codepoint2name[code]};")
    if char == "'":
        forms.add("&apos;")
    if code <= 0xFFFF:
        forms.add(f"\\\\u{_any_case(f'{code:04X}')}")
    else:  # outside the BMP, JSON writes a surrogate pair
        high, low = 0xD800 + ((code - 0x10000) >> 10), 0xDC00 + ((code - 0x10000) & 0x3FF)
        forms.add(f"\\\\u{_any_case(f'{high:04X}')}\\\\u{_any_case(f'{low:04X}')}")
    if char in _JSON_ESCAPES:
        forms.add(re.escape(_JSON_ESCAPES[char]))
    # longest first: at a value's end, "%" must not win over "%25" and leave "25" behind
    return "(?:" + "|".join(sorted(forms, key=lambda f: (-len(f), f))) + ")"


def _any_case(digits: str) -> str:
    return "".join(f"[{d}{d.lower()}]" if d.isalpha() else d for d in digits)


# one whitespace character (any that str.split() splits on), in any of the encodings above
_SPACE = (
    "(?:\\s|\\+|" + "|".join(_char_pattern(chr(c)) for c in range(0x3001) if chr(c).isspace()) + ")"
)


def value_pattern(value: str) -> re.Pattern[str] | None:
    """A regex for `value` in any of the encodings `redact` knows; None when the value is
    only whitespace (no normalised form to look for)."""
    core = value.strip()
    if not core:
        return None
    parts = []
    for token in re.split(r"(\s+)", core):
        if not token:
            continue
        parts.append(f"{_SPACE}+" if token.isspace() else "".join(map(_char_pattern, token)))
    return re.compile("".join(parts))


class Secrets:
    """Named secret values, the hosts each is bound to, and every way they are kept in."""

    def __init__(
        self,
        values: Mapping[str, str | Secret] | None = None,
        *,
        hosts: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self._secrets: dict[str, Secret] = {}
        for name, given in (values or {}).items():
            secret = given if isinstance(given, Secret) else Secret(given)
            if not _NAME.fullmatch(name):
                raise ValueError(f"secret name {name!r}: letters, digits and _ only")
            if hosts and name in hosts:
                secret = Secret(secret.value, tuple(normal_host(h) for h in hosts[name]))
            if secret.value:
                self._secrets[name] = secret
        ordered = sorted(self._secrets.items(), key=lambda kv: -len(kv[1].value))
        self._patterns = [(name, s.value, value_pattern(s.value)) for name, s in ordered]

    @classmethod
    def from_specs(cls, specs: Iterable[str], environ: Mapping[str, str] | None = None) -> Secrets:
        """`NAME=ENV_VAR` or `NAME=ENV_VAR@host[,host2...]` (the command line's
        `--secret`); ValueError with a message for the user when one is wrong."""
        environ = os.environ if environ is None else environ
        values: dict[str, str] = {}
        hosts: dict[str, list[str]] = {}
        for spec in specs:
            name, _, rest = spec.partition("=")
            variable, at, bound = rest.partition("@")
            if not _NAME.fullmatch(name) or not variable or variable not in environ:
                raise ValueError(
                    f"{spec!r}: give NAME=ENV_VAR or NAME=ENV_VAR@host[,host...] with ENV_VAR set"
                )
            values[name] = environ[variable]
            if at:
                hosts[name] = [h for h in bound.split(",") if h.strip()]
                if not hosts[name]:
                    raise ValueError(f"{spec!r}: name at least one host after '@'")
        return cls(values, hosts=hosts)

    def __bool__(self) -> bool:
        return bool(self._secrets)

    @property
    def names(self) -> list[str]:
        return sorted(self._secrets)

    def hosts(self, name: str) -> tuple[str, ...]:
        return self._secrets[name].hosts

    def bound(self, url: str | None) -> Secrets:
        """These secrets with every unbound one bound to `url`'s host (the start page);
        unchanged when all are bound or `url` has no host (the desktop, about:blank)."""
        host = host_of(url)
        if host is None or all(s.hosts for s in self._secrets.values()):
            return self
        return Secrets(
            {n: s if s.hosts else Secret(s.value, (host,)) for n, s in self._secrets.items()}
        )

    # -- filling -----------------------------------------------------------------------
    def used(self, action: Action) -> list[str]:
        """The known secrets whose placeholders `action` holds."""
        text = ""
        if isinstance(action, Type):
            text = action.text
        elif isinstance(action, Navigate):
            text = action.url
        return sorted({m.group(1) for m in _PLACEHOLDER.finditer(text)} & set(self._secrets))

    def refusal(self, action: Action, url: str | None) -> str | None:
        """Why `action` may not have its secrets filled in, written for the model; None
        when it may. `url` is where the typing would go: the address of the document
        that has the keyboard focus (None where the controller cannot tell)."""
        names = self.used(action)
        if not names:
            return None
        placeholders = ", ".join("{{" + n + "}}" for n in names)
        if isinstance(action, Navigate):
            return (
                f"Secrets ({placeholders}) are never put into addresses. Open the page "
                "without it and type it into the page's own field."
            )
        if url is None:  # the desktop: no host to check; the policy asks the user instead
            return None
        wrong = [n for n in names if not _permits(self._secrets[n].hosts, url)]
        if not wrong:
            return None
        where = host_of(url) or "a page whose site cannot be checked (a frame of another site?)"
        allowed = "; ".join(
            "{{" + n + "}} only on " + (", ".join(self._secrets[n].hosts) or "no host")
            for n in wrong
        )
        return (
            f"The field with the keyboard focus is on {where}, where this secret does not "
            f"belong ({allowed}). Do not type it here."
        )

    def decide(self, env: Any, action: Action, url: str | None, policy: Policy) -> Decision:
        """The verdict on `action` about to run on `env` (whose last screenshot showed
        `url`): refused when a secret would go where it does not belong, else `policy`'s
        (asks resolved), judged on the element that has the keyboard focus as text is
        typed: a click on the label or a Tab moves it too, not only a click on the field."""
        focus = env.focused_element() if isinstance(action, Type) else None
        # a focused element without an address is in a frame of another origin: no host
        where = (focus.url or "") if focus is not None else url
        if (refused := self.refusal(action, where)) is not None:
            return Decision(verdict="deny", reason=refused)
        secret = bool(self.used(action))
        return policy.resolve(action, policy.check(action, focus, secret=secret))

    def substitute(self, action: Action) -> Action:
        """The action with `{{name}}` replaced by the value, for the controller only."""
        if isinstance(action, Type):
            return action.model_copy(update={"text": self._fill(action.text)})
        if isinstance(action, Navigate):
            return action.model_copy(update={"url": self._fill(action.url)})
        return action

    def _fill(self, text: str) -> str:
        def value(match: re.Match[str]) -> str:
            secret = self._secrets.get(match.group(1))
            return secret.value if secret is not None else match.group(0)

        return _PLACEHOLDER.sub(value, text)

    def execute(self, env: Any, action: Action) -> Any:
        """Run `action` on `env` with its secrets filled in: the controller is told it is
        typing a secret (so it masks the field), the result comes back redacted, and an
        exception comes out with a redacted message and no cause that could hold the value;
        what the controller logs meanwhile is redacted. The caller has checked `refusal`
        and the policy."""
        from pixelpilot.environments import ActionResult

        typing = env.typing_secret() if self.used(action) else contextlib.nullcontext()
        try:
            with self.guard_logs(), typing:  # the value exists only inside this block
                result = env.execute(self.substitute(action))
        except Exception as error:
            clean = self.redact_error(error)
            if clean is error:
                raise
            raise clean from None
        return ActionResult.model_validate(self.redact(result.model_dump(mode="json")))

    # -- redaction ----------------------------------------------------------------------
    def redact(self, data: Any) -> Any:
        """`data` (JSON-like) with every secret value, in every encoding `value_pattern`
        knows, replaced by its placeholder."""
        if not self._secrets:
            return data
        if isinstance(data, str):
            for name, value, pattern in self._patterns:
                data = data.replace(value, "{{" + name + "}}")
                if pattern is not None:
                    data = pattern.sub("{{" + name + "}}", data)
            return data
        if isinstance(data, dict):
            return {self.redact(k): self.redact(v) for k, v in data.items()}
        if isinstance(data, list | tuple):
            return [self.redact(v) for v in data]
        return data

    def leaks(self, text: str) -> bool:
        """Whether `text` holds a secret in any encoding `redact` knows."""
        return bool(self._secrets) and self.redact(text) != text

    def redact_error(self, error: BaseException) -> BaseException:
        """`error` itself when neither it nor anything chained to it shows a secret; else
        an error of the same class (or of pixelpilot's family, for a foreign one) whose
        message is redacted, to be raised `from None` (the chain is what held it). A
        foreign one becomes a `RedactedError`: still unexpected, so still raised."""
        if not self._secrets or not any(self.leaks(t) for t in _chain_texts(error)):
            return error
        message = self.redact(str(error))
        if isinstance(error, PixelpilotError):
            with contextlib.suppress(Exception):
                clean = type(error)(message)
                if str(clean) == message:
                    return clean
        return RedactedError(f"{type(error).__name__}: {message}")

    @contextlib.contextmanager
    def guard_logs(self) -> Iterator[None]:
        """While the block runs, every log record made in this process (pixelpilot's,
        Playwright's, anyone's) is redacted as it is made, before any filter or handler
        sees it: a record factory, installed once, that consults the guards in force."""
        if not self._secrets:
            yield
            return
        _install_record_factory()
        with _GUARDS_LOCK:
            _GUARDS.append(self)
        try:
            yield
        finally:
            with _GUARDS_LOCK:
                _GUARDS.remove(self)


_GUARDS: list[Secrets] = []
_GUARDS_LOCK = threading.Lock()
_FACTORY: list[Any] = []  # the factory we installed, once


def _install_record_factory() -> None:
    with _GUARDS_LOCK:
        if _FACTORY:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            for secrets in list(_GUARDS):
                _redact_record(secrets, record)
            return record

        logging.setLogRecordFactory(factory)
        _FACTORY.append(factory)


def _redact_record(secrets: Secrets, record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a record whose arguments do not fit its format: logging says so
        return
    if secrets.leaks(message):
        record.msg, record.args = secrets.redact(message), ()
    if record.exc_info and record.exc_info[1] is not None:
        clean = secrets.redact_error(record.exc_info[1])
        if clean is not record.exc_info[1]:
            record.exc_info, record.exc_text = None, None
            record.msg = f"{record.msg} ({type(clean).__name__}: {clean})"


def _chain_texts(error: BaseException) -> Iterator[str]:
    """The message, arguments and notes of `error` and of every exception chained to it
    (a `TimeoutExpired` cause carries the argv it ran)."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [error]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen or len(seen) > 20:
            continue
        seen.add(id(current))
        yield str(current)
        yield repr(current.args)
        yield from (str(note) for note in getattr(current, "__notes__", ()))
        yield from (repr(v) for k, v in vars(current).items() if not k.startswith("__"))
        stack += [current.__cause__, current.__context__]
