"""One error family for everything pixelpilot raises (DESIGN.md: "one family, two kinds").

    PixelpilotError                  the base: `except PixelpilotError` catches all of ours
    ├── FixableError                 the model (or a script's author) can fix it: an unreadable
    │   │                            reply, a point off the screen, a refused action, a target
    │   │                            not found. The agent shows `str(error)` to the model and
    │   │                            asks again; a script gets it raised with the evidence.
    │   └── ActionParseError         the reply cannot be turned into actions
    │       └── CoordinateError      a coordinate lies outside the image the model was shown
    └── InfrastructureError          broken underneath: a dead browser, a lost display, a
                                     failing backend. Raised, never shown to the model.

Each layer defines its own subclasses (`ControllerError` in environments, `BackendError` in
vlm, ...) under one of the two kinds; nothing foreign (Playwright, urllib, subprocess)
leaves the public API: it is wrapped in one of these, with the original as `__cause__`.
"""

from __future__ import annotations


class PixelpilotError(Exception):
    """The base of every error pixelpilot raises on purpose."""


class FixableError(PixelpilotError):
    """What the model or a script's author can fix; the message is written for them."""


class InfrastructureError(PixelpilotError):
    """Something underneath broke (browser, display, backend, disk): not the model's fault."""


class ActionParseError(FixableError, ValueError):
    """The model's reply cannot be turned into actions; the message is meant for the model."""


class CoordinateError(ActionParseError):
    """A coordinate lies outside the image the model was shown."""
