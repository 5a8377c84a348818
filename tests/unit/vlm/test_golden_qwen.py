"""Golden replies for Qwen2-VL (box tokens, [0, 1000)) and Qwen2.5-VL (computer_use)."""

from __future__ import annotations

import pytest

from pixelpilot.vlm import ActionParseError, parse_actions
from tests.conftest import assert_parses, compact

W, H = 1920, 1080
X, Y = W / 1000, H / 1000

QWEN2VL = [
    ("<|object_ref_start|>the search button<|object_ref_end|><|box_start|>(100,200),(300,400)<|box_end|>",
     [("click", 200 * X, 300 * Y, "left", 1)]),
    ("<|box_start|>(123,235),(324,546)<|box_end|>", [("click", 223.5 * X, 390.5 * Y, "left", 1)]),
    ("The element is at (500,500).", [("click", 960.0, 540.0, "left", 1)]),
    ("Thought: Open the menu.\nAction: CLICK <|object_ref_start|>File menu<|object_ref_end|><|box_start|>(10,10),(50,30)<|box_end|>",
     [("click", 30 * X, 20 * Y, "left", 1)]),
    ("Action: DOUBLE_CLICK <|box_start|>(400,400),(600,600)<|box_end|>", [("click", 960.0, 540.0, "left", 2)]),
    ("Action: RIGHT_CLICK <|box_start|>(250,250)<|box_end|>", [("click", 480.0, 270.0, "right", 1)]),
    ("Action: HOVER <|object_ref_start|>avatar<|object_ref_end|><|box_start|>(900,50),(950,100)<|box_end|>",
     [("move", 925 * X, 75 * Y)]),
    ("Action: DRAG <|box_start|>(100,500)<|box_end|> TO <|box_start|>(900,500)<|box_end|>",
     [("drag", 192.0, 540.0, 1728.0, 540.0)]),
    ("Action: SCROLL DOWN <|box_start|>(500,500)<|box_end|>", [("scroll", 960.0, 540.0, "down", 5)]),
    ("Action: scroll up", [("scroll", None, "up", 5)]),
    ('Thought: Search.\nAction: TYPE "weather in Paris\\n"', [("type", "weather in Paris", True)]),
    ('Action: TYPE "naïve café ☕"', [("type", "naïve café ☕", False)]),
    ("Action: PRESS ctrl+shift+t", [("key", "ctrl+shift+t")]),
    ("Action: PRESS Return", [("key", "enter")]),
    ("Action: NAVIGATE https://example.com/a?b=c", [("navigate", "https://example.com/a?b=c")]),
    ("Action: BACK", [("go_back",)]),
    ("Action: WAIT", [("wait", 1.0)]),
    ('Action: FINISH "42 items"', [("finish", "success", "42 items")]),
    ('Action: FAIL "The site is down"', [("finish", "failure", "The site is down")]),
    ('Action: CALL_USER "What is your account number?"', [("call_user", "What is your account number?")]),
    ("Thought: Click then type.\nAction: CLICK <|box_start|>(500,100)<|box_end|>\nTYPE \"hello\"",
     [("click", 960.0, 108.0, "left", 1), ("type", "hello", False)]),
]  # fmt: skip

RW, RH = 1932, 1092  # the model image of a 1920x1080 (or 1932x1092) screenshot


def call(arguments: str) -> str:
    return f'<tool_call>\n{{"name": "computer_use", "arguments": {arguments}}}\n</tool_call>'


QWEN25VL = [
    (call('{"action": "left_click", "coordinate": [966, 546]}'), (1920, 1080),
     [("click", 960.0, 540.0, "left", 1)]),
    (call('{"action": "left_click", "coordinate": [100, 200]}'), (RW, RH), [("click", 100.0, 200.0, "left", 1)]),
    ("I will open the settings.\n" + call('{"action": "double_click", "coordinate": [10, 20]}'), (RW, RH),
     [("click", 10.0, 20.0, "left", 2)]),
    (call('{"action": "right_click", "coordinate": [300, 300]}'), (RW, RH), [("click", 300.0, 300.0, "right", 1)]),
    (call('{"action": "middle_click", "coordinate": [5, 5]}'), (RW, RH), [("click", 5.0, 5.0, "middle", 1)]),
    (call('{"action": "mouse_move", "coordinate": [700, 80]}'), (RW, RH), [("move", 700.0, 80.0)]),
    (call('{"action": "mouse_move", "coordinate": [100, 500]}') + "\n"
     + call('{"action": "left_click_drag", "coordinate": [800, 500]}'), (RW, RH),
     [("move", 100.0, 500.0), ("drag", None, 800.0, 500.0)]),
    (call('{"action": "type", "text": "Hello, \\"world\\"\\n— ünïcödé 😀"}'), (RW, RH),
     [("type", 'Hello, "world"\n— ünïcödé 😀', False)]),
    (call('{"action": "key", "keys": ["ctrl", "c"]}'), (RW, RH), [("key", "ctrl+c")]),
    (call('{"action": "key", "keys": ["Return"]}'), (RW, RH), [("key", "enter")]),
    (call('{"action": "scroll", "pixels": -5}'), (RW, RH), [("scroll", None, "down", 5)]),
    (call('{"action": "scroll", "pixels": 3, "coordinate": [400, 400]}'), (RW, RH),
     [("scroll", 400.0, 400.0, "up", 3)]),
    (call('{"action": "wait", "time": 2}'), (RW, RH), [("wait", 2.0)]),
    (call('{"action": "terminate", "status": "success"}'), (RW, RH), [("finish", "success", None)]),
    (call('{"action": "terminate", "status": "failure"}'), (RW, RH), [("finish", "failure", None)]),
    # Tolerated: single quotes, a missing closing tag, and a grounding answer.
    ("<tool_call>\n{'name': 'computer_use', 'arguments': {'action': 'left_click', 'coordinate': [1, 2]}}",
     (RW, RH), [("click", 1.0, 2.0, "left", 1)]),
    ('```json\n[\n\t{"bbox_2d": [100, 100, 200, 300], "label": "search box"}\n]\n```', (RW, RH),
     [("click", 150.0, 200.0, "left", 1)]),
    ('{"point_2d": [966, 546], "label": "OK"}', (1920, 1080), [("click", 960.0, 540.0, "left", 1)]),
]  # fmt: skip


@pytest.mark.parametrize(("reply", "expected"), QWEN2VL)
def test_qwen2vl_golden(reply: str, expected: list[tuple]) -> None:
    assert_parses(reply, "qwen2vl", (W, H), expected)


@pytest.mark.parametrize(("reply", "size", "expected"), QWEN25VL)
def test_qwen25vl_golden(reply: str, size: tuple[int, int], expected: list[tuple]) -> None:
    assert_parses(reply, "qwen25vl", size, expected)


def test_qwen25vl_pixel_limits_change_the_mapping() -> None:
    """With the class-default max_pixels a 1920x1080 screenshot is seen as 1316x728."""
    reply = call('{"action": "left_click", "coordinate": [658, 364]}')
    actions = parse_actions(reply, "qwen25vl", screenshot_size=(1920, 1080), max_pixels=1003520)
    assert compact(actions[0]) == ("click", 960.0, 540.0, "left", 1)


@pytest.mark.parametrize(
    ("dialect", "reply", "fragment"),
    [
        ("qwen2vl", "I am not sure what to do.", "No action found"),
        ("qwen2vl", "Action: CLICK the blue button", "needs a box"),
        ("qwen2vl", "Action: PRESS ctrl+warp", "Unknown key"),
        ("qwen25vl", "Sure, clicking it now.", "No action found"),
        ("qwen25vl", call('{"action": "mouse_move"}'), "coordinate"),
        ("qwen25vl", call('{"action": "left_click", "coordinate": "here"}'), "coordinate"),
        ("qwen25vl", call('{"action": "left_click", "coordinate": [5000, 10]}'), "outside"),
        ("qwen25vl", call('{"action": "fly"}'), "cannot be performed"),
        ("qwen25vl", call('{"action": "wait", "time": "soon"}'), "must be a finite number"),
    ],
)
def test_qwen_errors_are_for_the_model(dialect: str, reply: str, fragment: str) -> None:
    with pytest.raises(ActionParseError, match=fragment):
        parse_actions(reply, dialect, screenshot_size=(W, H))
