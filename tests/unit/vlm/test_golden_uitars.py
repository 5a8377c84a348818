"""Golden replies for UI-TARS 1.0 and 1.5, written the way the models answer."""

from __future__ import annotations

import pytest

from pixelpilot.vlm import ActionParseError, parse_actions
from tests.conftest import assert_parses

W, H = 1920, 1080  # screenshot
# UI-TARS 1.0: [0, 1000) of the image.
X = W / 1000
Y = H / 1000

UITARS = [
    ("Thought: The search box is at the top.\nAction: click(start_box='<|box_start|>(500,500)<|box_end|>')",
     [("click", 960.0, 540.0, "left", 1)]),
    ("Action: click(start_box='(197,525)')", [("click", 197 * X, 525 * Y, "left", 1)]),
    ("Thought: 双击打开文件。\nAction: left_double(start_box='<|box_start|>(100,900)<|box_end|>')",
     [("click", 192.0, 972.0, "left", 2)]),
    ("Thought: Open the context menu.\nAction: right_single(start_box='<|box_start|>(250,250)<|box_end|>')",
     [("click", 480.0, 270.0, "right", 1)]),
    ("Action: click(start_box='<|box_start|>(100,200),(300,400)<|box_end|>')",
     [("click", 200 * X, 300 * Y, "left", 1)]),
    ("Action: click(start_box='[100, 200, 300, 400]')", [("click", 200 * X, 300 * Y, "left", 1)]),
    ("Action: click(start_box='(100,200)')", [("click", 100 * X, 200 * Y, "left", 1)]),
    ("Thought: Drag the slider.\nAction: drag(start_box='<|box_start|>(100,500)<|box_end|>', end_box='<|box_start|>(900,500)<|box_end|>')",
     [("drag", 192.0, 540.0, 1728.0, 540.0)]),
    ("Thought: Copy it.\nAction: hotkey(key='ctrl c')", [("key", "ctrl+c")]),
    ("Action: hotkey(key='Ctrl+Shift+T')", [("key", "ctrl+shift+t")]),
    ("Action: hotkey(key='command space')", [("key", "meta+space")]),
    ("Thought: Type the query and submit.\nAction: type(content='pixelpilot GUI agent\\n')",
     [("type", "pixelpilot GUI agent", True)]),
    ("Action: type(content='It\\'s a \"quoted\" line\\nand a second one')",
     [("type", "It's a \"quoted\" line\nand a second one", False)]),
    ("Action: type(content='Crème brûlée 東京 🚀')", [("type", "Crème brûlée 東京 🚀", False)]),
    ("Action: type(content='don't escape me')", [("type", "don't escape me", False)]),
    ("Thought: Scroll down to see more.\nAction: scroll(start_box='<|box_start|>(500,600)<|box_end|>', direction='down')",
     [("scroll", 960.0, 648.0, "down", 5)]),
    ("Action: scroll(direction='up')", [("scroll", None, "up", 5)]),
    ("Action: wait()", [("wait", 5.0)]),
    ("Thought: Done.\nAction: finished()", [("finish", "success", None)]),
    ("Action: finished(content='The price is $42.')", [("finish", "success", "The price is $42.")]),
    ("Thought: I need the password from the user.\nAction: call_user()",
     [("call_user", "I need the password from the user.")]),
    ("Reflection: The last click missed.\nAction_Summary: Click the OK button.\nAction: click(start_box='<|box_start|>(10,20)<|box_end|>')",
     [("click", 10 * X, 20 * Y, "left", 1)]),
    ("Thought: Two steps.\nAction: click(start_box='(500,100)')\n\ntype(content='hello')\n\nhotkey(key='enter')",
     [("click", 960.0, 108.0, "left", 1), ("type", "hello", False), ("key", "enter")]),
    ("Thought: Mention click(start_box='(1,1)') in thought should not count.\nAction: click(start_box='(2,2)')",
     [("click", 2 * X, 2 * Y, "left", 1)]),
    ("Action: press_back()", [("go_back",)]),
    ("Action:click(start_box='<|box_start|>(999,999)<|box_end|>')", [("click", 999 * X, 999 * Y, "left", 1)]),
]  # fmt: skip

# UI-TARS 1.5: pixels of the resized image. 1932x1092 is already a multiple of 28 within
# the pixel limits, so the model image equals the screenshot; 1920x1080 resizes to it.
RW, RH = 1932, 1092
UITARS15 = [
    ("Thought: Click the button\nAction: click(point='<point>200 300</point>')",
     (RW, RH), [("click", 200.0, 300.0, "left", 1)]),
    ("Action: click(point='<point>966 546</point>')", (1920, 1080), [("click", 960.0, 540.0, "left", 1)]),
    ("Action: click(point='<point>200 300</point>')", (1920, 1080),
     [("click", 200 * 1920 / RW, 300 * 1080 / RH, "left", 1)]),
    ("Action: left_double(point='<point>10 20</point>')", (RW, RH), [("click", 10.0, 20.0, "left", 2)]),
    ("Action: right_single(point='<point>1931 1091</point>')", (RW, RH), [("click", 1931.0, 1091.0, "right", 1)]),
    ("Action: drag(start_point='<point>100 100</point>', end_point='<point>500 600</point>')",
     (RW, RH), [("drag", 100.0, 100.0, 500.0, 600.0)]),
    ("Action: hotkey(key='ctrl shift t')", (RW, RH), [("key", "ctrl+shift+t")]),
    ("Action: hotkey(key='alt f4')", (RW, RH), [("key", "alt+f4")]),
    ("Action: type(content='user@example.com\\n')", (RW, RH), [("type", "user@example.com", True)]),
    ("Action: scroll(point='<point>500 500</point>', direction='down')", (RW, RH),
     [("scroll", 500.0, 500.0, "down", 5)]),
    ("Action: scroll(point='<point>500 500</point>', direction='left')", (RW, RH),
     [("scroll", 500.0, 500.0, "left", 5)]),
    ("Action: wait()", (RW, RH), [("wait", 5.0)]),
    ("Thought: Found it.\nAction: finished(content='Paris')", (RW, RH), [("finish", "success", "Paris")]),
    ("Action: click(start_box='(100,200)')", (RW, RH), [("click", 100.0, 200.0, "left", 1)]),
    ("Action: click(point='<point>100.5 200.5</point>')", (RW, RH), [("click", 100.5, 200.5, "left", 1)]),
    ("Thought: Fill the form.\nAction: click(point='<point>300 400</point>')\n\ntype(content='Ada Lovelace')",
     (RW, RH), [("click", 300.0, 400.0, "left", 1), ("type", "Ada Lovelace", False)]),
    # A phone screenshot (portrait, 1080x2400 resizes to 1092x2408).
    ("Action: click(point='<point>546 1204</point>')", (1080, 2400), [("click", 540.0, 1200.0, "left", 1)]),
]  # fmt: skip


@pytest.mark.parametrize(("reply", "expected"), UITARS)
def test_uitars_golden(reply: str, expected: list[tuple]) -> None:
    assert_parses(reply, "uitars", (W, H), expected)


@pytest.mark.parametrize(("reply", "size", "expected"), UITARS15)
def test_uitars15_golden(reply: str, size: tuple[int, int], expected: list[tuple]) -> None:
    assert_parses(reply, "uitars15", size, expected)


@pytest.mark.parametrize(
    ("reply", "fragment"),
    [
        ("I think I should click the button.", "No action found"),
        ("Action: click()", "needs a point"),
        ("Action: click(start_box='(1200,300)')", "outside the screenshot"),
        ("Action: scroll(direction='sideways')", "direction"),
        ("Action: hotkey(key='ctrl hyperspace')", "Unknown key"),
        ("Action: open_app(app_name='Settings')", "cannot be performed"),
        ("Action: drag(start_box='(1,2)')", "end point"),
    ],
)
def test_uitars_errors_are_for_the_model(reply: str, fragment: str) -> None:
    with pytest.raises(ActionParseError, match=fragment):
        parse_actions(reply, "uitars", screenshot_size=(W, H))
