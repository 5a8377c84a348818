"""The typed action space: a closed, validated, schema-exported union."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from pydantic import ValidationError

from pixelpilot.tools import (
    ACTION_TYPES,
    ActionAdapter,
    Click,
    Drag,
    Key,
    Point,
    ScreenFrame,
    Space,
    action_json_schema,
    convert_action,
    normalize_chord,
)

P = Point(x=1, y=2, space=Space.SCREENSHOT_PX)


def test_discriminated_union_round_trips_every_type() -> None:
    samples = [
        {"action": "click", "point": {"x": 1, "y": 2, "space": "norm1000"}, "button": "right"},
        {"action": "move", "point": {"x": 1, "y": 2, "space": "screen"}},
        {"action": "drag", "start": None, "end": {"x": 1, "y": 2, "space": "resized_px"}},
        {"action": "scroll", "direction": "down", "amount": 3},
        {"action": "type", "text": "héllo\n", "submit": True},
        {"action": "key", "keys": "Ctrl+Shift+T"},
        {"action": "navigate", "url": "https://example.com"},
        {"action": "go_back"},
        {"action": "wait", "seconds": 0.5},
        {"action": "finish", "status": "failure", "answer": "no"},
        {"action": "call_user", "question": "2FA code?"},
    ]
    assert {s["action"] for s in samples} == {
        t.model_fields["action"].default for t in ACTION_TYPES
    }
    for sample in samples:
        action = ActionAdapter.validate_python(sample)
        again = ActionAdapter.validate_json(json.dumps(action.model_dump(mode="json")))
        assert again == action


@pytest.mark.parametrize(
    "bad",
    [
        {"action": "click", "point": {"x": 1, "y": 2, "space": "norm1000"}, "buton": "left"},
        {"action": "click", "point": {"x": 1, "y": 2}},
        {"action": "click", "point": {"x": 1, "y": 2, "space": "norm1000"}, "clicks": 4},
        {"action": "teleport"},
        {"action": "scroll", "direction": "sideways"},
        {"action": "key", "keys": []},
        {"action": "key", "keys": "ctrl+unobtainium"},
        {"action": "navigate", "url": ""},
    ],
)
def test_invalid_actions_are_rejected(bad: dict) -> None:
    with pytest.raises(ValidationError):
        ActionAdapter.validate_python(bad)


def test_actions_are_frozen() -> None:
    click = Click(point=P)
    with pytest.raises(ValidationError):
        click.clicks = 2  # type: ignore[misc]


def test_json_schema_has_every_action_and_descriptions() -> None:
    schema = action_json_schema()
    assert set(schema["discriminator"]["mapping"]) == {
        "click", "move", "drag", "scroll", "type", "key", "navigate", "go_back", "wait",
        "finish", "call_user",
    }  # fmt: skip
    click = schema["$defs"]["Click"]
    assert click["additionalProperties"] is False
    assert "description" in click["properties"]["button"]


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [("ctrl c", ("ctrl", "c")), ("Ctrl+C", ("ctrl", "c")), ("command", ("meta",)),
     ("cmd+shift+4", ("shift", "meta", "4")), ("Return", ("enter",)), ("ArrowDown", ("down",)),
     ("ctrl-alt-delete", ("ctrl", "alt", "delete")), ("shift+ctrl+t", ("ctrl", "shift", "t")),
     ("ctrl++", ("ctrl", "+")), ("PageDown", ("pagedown",)), ("esc", ("escape",)),
     (["Control", "Option", "x"], ("ctrl", "alt", "x")), ("F5", ("f5",)), ("space", ("space",))],
)  # fmt: skip
def test_key_vocabulary(spelling, canonical) -> None:
    assert normalize_chord(spelling) == canonical
    assert Key(keys=spelling).keys == canonical


def test_convert_action_converts_every_point_and_nothing_else() -> None:
    drag = Drag(start=Point(x=0, y=0, space=Space.NORM1), end=Point(x=1, y=1, space=Space.NORM1))
    frame = ScreenFrame(width=200, height=100, scale=2.0)
    out = convert_action(drag, Space.SCREEN, frame=frame)
    assert out == Drag(start=Point(x=0, y=0, space=Space.SCREEN),
                       end=Point(x=100, y=50, space=Space.SCREEN))  # fmt: skip
    only_end = Drag(end=Point(x=1, y=1, space=Space.NORM1))
    assert convert_action(only_end, Space.SCREEN, frame=frame).start is None


def test_importing_tools_is_light() -> None:
    code = (
        "import sys, pixelpilot.tools, pixelpilot.vlm; "
        "heavy = {'torch', 'transformers', 'playwright', 'av', 'mss', 'pyautogui'} & set(sys.modules); "
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
