"""What every controller is: observe the screen, execute typed actions, close.

Actions arrive in screenshot pixels (what `pixelpilot.vlm.parse_actions` returns) and
are converted to the controller's own units here, through the one coordinate function,
before a subclass sees them. Failures the model can fix (a point off the screen, nothing
to go back to, a refused navigation) come back as an `ActionResult` with an error written
for the model; a dead browser or a vanished display raises a `ControllerError`.
"""

from __future__ import annotations

import contextlib
import time
from abc import ABC, abstractmethod
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pixelpilot.tools import (
    Action,
    ActionParseError,
    Box,
    CallUser,
    Finish,
    FixableError,
    InfrastructureError,
    ScreenFrame,
    Space,
    convert_action,
)


class ControllerError(InfrastructureError, RuntimeError):
    """The controller itself broke (browser died, display gone): not the model's fault."""


class ActionFailed(FixableError):
    """Raised inside a controller for a failure the model can fix; becomes a result."""


class Observation(BaseModel):
    """One look at the screen: the screenshot at native pixels and how it maps to input."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    image: Any = Field(
        description="PIL image at the screen's native pixels; a desktop `scale` other than "
        "1 resamples it, and the frame says so."
    )
    frame: ScreenFrame
    url: str | None = None
    title: str | None = None
    focused_window: str | None = None
    text: tuple[str, ...] | None = Field(
        None,
        description="A browser page's rendered text lines (no field values), bounded; what "
        "UI test generation asserts on after the last action. None where unknown.",
    )
    timestamp: float = Field(default_factory=time.time)


class ElementInfo(BaseModel):
    """The element under a pointer action, recorded just before it ran: what UI test
    generation turns into a locator."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tag: str | None = None
    role: str | None = None
    name: str | None = Field(None, description="Accessible name.")
    text: str | None = Field(None, description="Visible text, trimmed.")
    label: str | None = None
    test_id: str | None = None
    input_type: str | None = Field(None, description="type= of an <input>: password, email...")
    bbox: Box | None = Field(None, description="Bounding box in screenshot pixels.")
    url: str | None = Field(
        None, description="Address of the document it is in (a frame's own); focus queries."
    )
    placeholder: str | None = None
    alt: str | None = None
    title: str | None = None
    css_id: str | None = Field(None, description="The element's id= attribute.")
    counts: dict[str, int] | None = Field(
        None,
        description="How many elements each candidate locator (test_id, role, placeholder, "
        "label, alt, text, title, css_id) matched on the page when it was recorded.",
    )
    nth: dict[str, int] | None = Field(
        None,
        description="The element's index among each candidate locator's matches (document "
        "order, as Playwright's nth() counts): which of several look-alikes it was.",
    )


class ActionTimings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    action_s: float = 0.0
    settle_s: float = 0.0
    total_s: float = 0.0


class ActionResult(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    ok: bool
    error: str | None = Field(None, description="What went wrong, written for the model.")
    note: str | None = Field(None, description="What the model should know (a new tab...).")
    element: ElementInfo | None = None
    screen_action: dict[str, Any] | None = Field(
        None, description="The action as executed, in controller units."
    )
    timings: ActionTimings = ActionTimings()


class Environment(ABC):
    """Gym-like controller: reset, observe, execute, close; a context manager."""

    _closed: bool = False

    # -- what subclasses provide ---------------------------------------------------
    @abstractmethod
    def observe(self) -> Observation: ...

    @abstractmethod
    def _frame(self) -> ScreenFrame:
        """The frame of the screenshot the model last saw (or would see now)."""

    @abstractmethod
    def _perform(self, action: Action) -> tuple[ElementInfo | None, str | None]:
        """Run an action whose points are in `Space.SCREEN`; return the element under
        the pointer and a note. Raise ActionFailed for failures the model can fix."""

    def _settle(self) -> str | None:
        """Wait until the screen stops changing (bounded); return a note for the model if
        something it should know happened meanwhile. Default: nothing to wait for."""
        return None

    def _close(self) -> None:
        """Release resources; called once."""
        return None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> Observation:
        """Back to the start state; the base only observes."""
        return self.observe()

    # -- secrets (agent/secrets.py) ------------------------------------------------------
    def focused_element(self) -> ElementInfo | None:
        """The element that has the keyboard focus now, with the address of its document
        in `url`: where typed text goes. None where the controller cannot tell (the
        desktop, the fake): then the agent asks before typing a secret."""
        return None

    def typing_secret(self) -> contextlib.AbstractContextManager[None]:
        """Wrap the `execute` that types a secret: the fields that receive it are masked
        in every later screenshot while they show a value. The base has no fields to
        mark (on an X desktop a field's box is unknown; see desktop.py)."""
        return contextlib.nullcontext()

    # -- the shared part -------------------------------------------------------------
    def execute(self, action: Action) -> ActionResult:
        """Convert, run, settle and time one action; model-fixable failures come back."""
        if self._closed:
            raise ControllerError(f"{type(self).__name__} is closed")
        for name, point in action.points().items():
            if point.space is not Space.SCREENSHOT_PX:
                raise ValueError(
                    f"{action.action}.{name} is in {point.space}; parse_actions gives screenshot_px"
                )
        start = time.perf_counter()
        try:
            screen = convert_action(action, Space.SCREEN, frame=self._frame())
        except ActionParseError as error:
            return ActionResult(ok=False, error=str(error))
        if isinstance(screen, Finish | CallUser):  # the agent's business, not the screen's
            return ActionResult(ok=True, screen_action=screen.model_dump(mode="json"))
        try:
            element, note = self._perform(screen)
            error = None
        except ActionFailed as failure:
            element, note, error = None, None, str(failure)
        acted = time.perf_counter()
        settled_note = self._settle()
        done = time.perf_counter()
        return ActionResult(
            ok=error is None,
            error=error,
            note="\n".join(n for n in (note, settled_note) if n) or None,
            element=element,
            screen_action=screen.model_dump(mode="json"),
            timings=ActionTimings(
                action_s=acted - start, settle_s=done - acted, total_s=done - start
            ),
        )

    def close(self) -> None:
        """Release everything; closing twice is fine."""
        if not self._closed:
            self._closed = True
            self._close()

    def __enter__(self) -> Environment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
