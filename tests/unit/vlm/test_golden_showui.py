"""Golden replies for ShowUI: Python dicts, positions in [0, 1] of the screenshot."""

from __future__ import annotations

import pytest

from pixelpilot.vlm import ActionParseError, parse_actions
from tests.conftest import assert_parses

W, H = 1920, 1080

SHOWUI = [
    ("[0.73, 0.21]", [("click", 0.73 * W, 0.21 * H, "left", 1)]),
    ("[0.5,0.5]", [("click", 960.0, 540.0, "left", 1)]),
    ("{'action': 'CLICK', 'value': None, 'position': [0.49, 0.42]}", [("click", 0.49 * W, 0.42 * H, "left", 1)]),
    # The quick-start's own example: click, type, enter.
    ("{'action': 'CLICK', 'value': None, 'position': [0.49, 0.42]},\n"
     "{'action': 'INPUT', 'value': 'weather for New York city', 'position': [0.49, 0.42]},\n"
     "{'action': 'ENTER', 'value': None, 'position': None}",
     [("click", 0.49 * W, 0.42 * H, "left", 1), ("type", "weather for New York city", False), ("key", "enter")]),
    ("{'action': 'INPUT', 'value': 'São Paulo', 'position': [0.1, 0.2]}",
     [("click", 192.0, 216.0, "left", 1), ("type", "São Paulo", False)]),
    ("{'action': 'INPUT', 'value': 'it\\'s', 'position': None}", [("type", "it's", False)]),
    ("{'action': 'SELECT', 'value': 'Economy', 'position': [0.3, 0.6]}",
     [("click", 576.0, 648.0, "left", 1), ("type", "Economy", False)]),
    ("{'action': 'HOVER', 'value': None, 'position': [0.9, 0.05]}", [("move", 1728.0, 54.0)]),
    ("{'action': 'ANSWER', 'value': 'The cheapest is $129', 'position': None}",
     [("finish", "success", "The cheapest is $129")]),
    ("{'action': 'ENTER', 'value': None, 'position': None}", [("key", "enter")]),
    ("{'action': 'SCROLL', 'value': 'down', 'position': None}", [("scroll", None, "down", 5)]),
    ("{'action': 'SCROLL', 'value': 'UP', 'position': None}", [("scroll", None, "up", 5)]),
    ("{'action': 'SELECT_TEXT', 'value': None, 'position': [[0.1, 0.5], [0.4, 0.5]]}",
     [("drag", 192.0, 540.0, 768.0, 540.0)]),
    ("{'action': 'COPY', 'value': 'order #123', 'position': None}", [("key", "ctrl+c")]),
    ("{'action': 'TAP', 'value': None, 'position': [0.25, 0.75]}", [("click", 480.0, 810.0, "left", 1)]),
    ("{'action': 'SWIPE', 'value': None, 'position': [[0.5, 0.8], [0.5, 0.2]]}",
     [("drag", 960.0, 864.0, 960.0, 216.0)]),
    # JSON spelling instead of Python's, and surrounding prose.
    ('Next action: {"action": "CLICK", "value": null, "position": [0.0, 1.0]}', [("click", 0.0, 1080.0, "left", 1)]),
    ("{'action': 'click', 'value': None, 'position': [0.123, 0.456]}",
     [("click", 0.123 * W, 0.456 * H, "left", 1)]),
]  # fmt: skip


@pytest.mark.parametrize(("reply", "expected"), SHOWUI)
def test_showui_golden(reply: str, expected: list[tuple]) -> None:
    assert_parses(reply, "showui", (W, H), expected)


@pytest.mark.parametrize(
    ("reply", "fragment"),
    [
        ("I cannot find it.", "No action found"),
        ("{'action': 'CLICK', 'value': None, 'position': None}", "needs a position"),
        ("{'action': 'CLICK', 'value': None, 'position': [1.5, 0.2]}", "outside"),
        ("{'action': 'JUMP', 'value': None, 'position': None}", "Unknown action"),
        ("{'action': 'SCROLL', 'value': None, 'position': None}", "SCROLL needs"),
    ],
)
def test_showui_errors_are_for_the_model(reply: str, fragment: str) -> None:
    with pytest.raises(ActionParseError, match=fragment):
        parse_actions(reply, "showui", screenshot_size=(W, H))
