"""Shared test helpers."""

from __future__ import annotations

from typing import Any

from pixelpilot.tools import Action


def compact(action: Action) -> tuple[Any, ...]:
    """An action as a short tuple, coordinates rounded to 0.01 px, for readable goldens."""
    data = action.model_dump()
    kind = data.pop("action")
    out: list[Any] = [kind]
    for value in data.values():
        if isinstance(value, dict) and "space" in value:
            out += [round(value["x"], 2), round(value["y"], 2)]
        elif value is None:
            out.append(None)
        elif isinstance(value, tuple):
            out.append("+".join(value))
        else:
            out.append(value)
    return tuple(out)
