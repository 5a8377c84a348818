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


def assert_parses(reply: str, dialect: str, size: tuple[int, int], expected: list[tuple]) -> None:
    """`reply` parses to `expected` (compact tuples; floats compared to 0.01 px)."""
    from pixelpilot.vlm import parse_actions

    got = [compact(a) for a in parse_actions(reply, dialect, screenshot_size=size)]
    want = [tuple(round(v, 2) if isinstance(v, float) else v for v in e) for e in expected]
    assert got == want
