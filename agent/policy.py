"""The safety policy: every action is checked before anything runs.

Three verdicts: allow; ask (the user's approval callback decides; without one, the
action is refused); deny (refused, and the model is told why so it can do something
else). Domain lists are also handed to the browser controller, which enforces them on
redirects, link clicks and new tabs that no action check can see coming.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict

from pixelpilot.environments import ElementInfo
from pixelpilot.environments.domains import DomainPolicy, navigate_refusal, short
from pixelpilot.tools import Action, Key, Navigate, Type, normalize_chord

Verdict = Literal["allow", "ask", "deny"]
Approver = Callable[[Action, str], bool]


class Decision(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    verdict: Verdict
    reason: str | None = None


ALLOW = Decision(verdict="allow")


@dataclass
class Policy:
    """What the agent may do on its own.

    `sensitive` names the kinds of action that need approval: "password" (typing into a
    password field, or a secret where the controller cannot tell which field has the focus,
    as on the desktop), "submit" (Enter after typing, or pressing Enter), "chords" (the key
    chords in `chords`, e.g. ctrl+w), "navigate" (any navigation)."""

    allow_domains: tuple[str, ...] = ()
    deny_domains: tuple[str, ...] = ()
    sensitive: frozenset[str] = frozenset({"password"})
    chords: tuple[str, ...] = ("ctrl+w", "ctrl+q", "alt+f4", "meta+q")
    approve: Approver | None = None
    strict_domains: bool = False  # hold subresources (fetch, images...) to the lists too
    _chords: set[tuple[str, ...]] = field(default_factory=set, init=False, repr=False)

    def __post_init__(self) -> None:
        self._chords = {normalize_chord(c) for c in self.chords}

    @property
    def domains(self) -> DomainPolicy | None:
        if not self.allow_domains and not self.deny_domains:
            return None
        return DomainPolicy(
            allow=tuple(self.allow_domains),
            deny=tuple(self.deny_domains),
            strict=self.strict_domains,
        )

    def record(self) -> dict[str, object]:
        """The domain lists, for the trajectory's header: a replay holds to them too."""
        return {
            "allow_domains": list(self.allow_domains), "deny_domains": list(self.deny_domains),
            "strict_domains": self.strict_domains,
        }  # fmt: skip

    @classmethod
    def recorded(cls, record: object, origin: str | None = None) -> Policy:
        """The policy a replay runs under: the recorded run's domain lists (`record()`;
        an older trajectory has none), with `origin`'s host allowed as well when the
        recorded site moved there, and no approvals (the run asked; a replay asks no one,
        so an action the run needed approval for is refused)."""
        from urllib.parse import urlsplit

        lists = record if isinstance(record, dict) else {}
        allow = tuple(str(d) for d in lists.get("allow_domains") or ())
        deny = tuple(str(d) for d in lists.get("deny_domains") or ())
        if allow and origin:
            allow += (urlsplit(origin).netloc,)
        return cls(allow_domains=allow, deny_domains=deny, sensitive=frozenset(),
                   strict_domains=bool(lists.get("strict_domains")))  # fmt: skip

    def check(
        self, action: Action, focused: ElementInfo | None = None, *, secret: bool = False
    ) -> Decision:
        """The verdict for `action`. For a Type, `focused` is the element that has the
        keyboard focus as it is typed (the controller's `focused_element()`: a click on
        the label or a Tab counts, not only a click on the field), None where the
        controller cannot tell; `secret` says the text holds a `{{name}}` secret."""
        if isinstance(action, Navigate):
            if (refused := navigate_refusal(action.url)) is not None:  # javascript:, file:...
                return Decision(verdict="deny", reason=f"Navigation to {short(action.url)} was "
                                f"refused: {refused}.")  # fmt: skip
            domains = self.domains
            if domains is not None and not domains.permits(action.url):
                return Decision(verdict="deny", reason=domains.explain(action.url))
            if "navigate" in self.sensitive:
                return Decision(verdict="ask", reason=f"open {action.url}")
        for kind, reason in self._sensitive_kinds(action, focused, secret):
            if kind in self.sensitive:
                return Decision(verdict="ask", reason=reason)
        return ALLOW

    def _sensitive_kinds(
        self, action: Action, focused: ElementInfo | None, secret: bool = False
    ) -> Iterable[tuple[str, str]]:
        if isinstance(action, Type):
            if focused is not None and focused.input_type == "password":
                yield "password", "type into a password field"
            elif secret and focused is None:  # the desktop: no field, no host, no mask
                yield "password", "type a secret where pixelpilot cannot see the field (unmasked)"
            if action.submit:
                yield "submit", "submit what was typed (Enter)"
        if isinstance(action, Key):
            if action.keys == ("enter",):
                yield "submit", "press Enter"
            if action.keys in self._chords:
                yield "chords", f"press {'+'.join(action.keys)}"

    def resolve(self, action: Action, decision: Decision) -> Decision:
        """Turn an 'ask' into allow or deny with the approval callback."""
        if decision.verdict != "ask":
            return decision
        if self.approve is not None and self.approve(action, decision.reason or ""):
            return Decision(verdict="allow", reason=f"approved: {decision.reason}")
        return Decision(
            verdict="deny",
            reason=f"The user did not approve this action ({decision.reason}). Try another way "
            "or finish and say what you need.",
        )
