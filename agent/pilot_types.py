"""What `Pilot`'s verbs return and raise: frozen results and the script-fixable errors.

Everything here is shared by the scripting API, the healing test runtime and the MCP
server, so results are plain frozen pydantic models (JSON-able, hashable evidence) and
the errors are `FixableError`s that carry the evidence a script's author needs: the
description, the model's reply and the screenshot file. A broken browser, display or
backend stays an `InfrastructureError` (`ControllerError`, `BackendError`) and is never
wrapped in one of these.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pixelpilot.tools import Box, FixableError, Point, ScreenFrame

How = Literal["model", "zoom", "cache"]


class PilotError(FixableError):
    """A step of a script did not do what it says; the message is written for its author."""

    def __init__(
        self,
        message: str,
        *,
        description: str | None = None,
        reply: str | None = None,
        screenshot: Path | None = None,
    ) -> None:
        where = f" (screenshot: {screenshot})" if screenshot else ""
        super().__init__(message + where)
        self.description, self.reply, self.screenshot = description, reply, screenshot


class NotFound(PilotError):
    """The model said the target is absent, pointed off the screen, or gave an answer that
    could not be read even after one retry."""


class ExpectationFailed(PilotError):
    """`expect`: the model answered "no"; `reason` is why it said so."""

    def __init__(self, message: str, *, reason: str = "", **evidence: Any) -> None:
        super().__init__(message, **evidence)
        self.reason = reason


class WaitTimeout(ExpectationFailed):
    """`wait_for`: the statement never became true before the timeout."""


class ReadError(PilotError):
    """`read`: the reply did not validate against the schema, even after one retry."""


class ActionRefused(PilotError):
    """The policy refused the action (a denied domain, an approval that was not given)."""


class StepFailed(PilotError):
    """The controller ran the action and it failed in a way the script can fix (nothing
    to go back to, a refused navigation, a point off the screen)."""


class ModelCall(BaseModel):
    """One model call a verb made: why, on which frame, and what came back."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    purpose: Literal["ground", "zoom", "retry", "read", "expect"]
    frame: ScreenFrame = Field(
        description="The image sent, as a frame over the screenshot: its size, and its "
        "origin (screenshot pixels) and scale (image pixels per screenshot pixel)."
    )
    model_size: tuple[int, int]
    reply: str


class Located(BaseModel):
    """Where a description's target is, in screenshot pixels, and how that was found."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    description: str
    point: Point = Field(description="Where to act, in screenshot pixels.")
    box: Box | None = Field(None, description="The target's box when the model gave one.")
    frame: ScreenFrame = Field(description="The screenshot the target was found on.")
    how: How = Field(description="model (one look), zoom (a second look on a crop), cache.")
    cached: bool = False
    reply: str | None = Field(None, description="The model's words (the cached ones on a hit).")
    calls: tuple[ModelCall, ...] = ()
    screenshot: Path | None = Field(None, description="The recorded screenshot file.")
    step: int | None = Field(None, description="The trajectory record it belongs to.")
    image: Any = Field(None, exclude=True, repr=False, description="The screenshot (PIL).")

    @property
    def model_calls(self) -> int:
        return len(self.calls)


class Verdict(BaseModel):
    """`expect` / `wait_for`: whether the statement holds, and the model's reason."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    statement: str
    holds: bool
    reason: str = ""
    reply: str = ""
    screenshot: Path | None = None
    polls: int = 1
