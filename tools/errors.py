"""Errors the model can fix by answering again.

Everything raised because of what the model wrote derives from `ActionParseError`, so
the agent catches one type, shows `str(error)` to the model and asks again. Errors
that are our bugs or infrastructure failures never derive from it.
"""

from __future__ import annotations


class ActionParseError(ValueError):
    """The model's reply cannot be turned into actions; the message is meant for the model."""


class CoordinateError(ActionParseError):
    """A coordinate lies outside the image the model was shown."""
