"""Model dialects: prompt, output grammar and coordinate space of each model family."""

from __future__ import annotations

from .base import Dialect, Message, Mode, Turn
from .qwen2vl import Qwen2VL
from .qwen25vl import Qwen25VL
from .showui import ShowUI
from .uitars import UITars, UITars15

DIALECTS: dict[str, type[Dialect]] = {
    cls.name: cls for cls in (Qwen2VL, Qwen25VL, UITars, UITars15, ShowUI)
}


def get_dialect(dialect: str | Dialect) -> Dialect:
    """A dialect instance from its name (or the instance itself)."""
    if isinstance(dialect, Dialect):
        return dialect
    try:
        return DIALECTS[dialect.lower()]()
    except KeyError:
        raise ValueError(
            f"unknown dialect {dialect!r}; choose one of {', '.join(sorted(DIALECTS))}"
        ) from None


__all__ = [
    "DIALECTS",
    "Dialect",
    "Message",
    "Mode",
    "Qwen2VL",
    "Qwen25VL",
    "ShowUI",
    "Turn",
    "UITars",
    "UITars15",
    "get_dialect",
]
