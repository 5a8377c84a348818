"""Where the official parsers act, pixelpilot acts the same way (issue 14, items 10-12).

Expected values are written from the official side's documented behaviour, not from our
parser: the Qwen2.5-VL cookbook's computer_use clicks at the pointer when `left_click`
has no coordinate; ShowUI's action space says SELECT's value is "not applicable" (a
click); the ui-tars package's `parsing_response_to_pyautogui_code` presses Enter after a
content ending in "\\n" or a literal backslash-n, and reads only the last `Action:`.
"""

from __future__ import annotations

import pytest

from pixelpilot.tools import Click, Key, Type, Wait
from pixelpilot.vlm import ActionParseError, get_dialect, parse_actions
from tests.conftest import assert_parses

W, H = 1920, 1080
RW, RH = 1932, 1092


def call(arguments: str) -> str:
    return f'<tool_call>\n{{"name": "computer_use", "arguments": {arguments}}}\n</tool_call>'


@pytest.mark.parametrize(
    ("name", "button", "clicks"),
    [("left_click", "left", 1), ("double_click", "left", 2), ("right_click", "right", 1),
     ("middle_click", "middle", 1), ("triple_click", "left", 3)],
)  # fmt: skip
def test_qwen25vl_click_without_coordinate_clicks_at_the_pointer(name, button, clicks) -> None:
    (action,) = parse_actions(call(f'{{"action": "{name}"}}'), "qwen25vl", screenshot_size=(W, H))
    assert action == Click(point=None, button=button, clicks=clicks)


def test_qwen25vl_move_then_click_at_the_pointer() -> None:
    reply = call('{"action": "mouse_move", "coordinate": [966, 546]}') + call(
        '{"action": "left_click"}'
    )
    assert_parses(reply, "qwen25vl", (W, H), [("move", 960.0, 540.0), ("click", None, "left", 1)])


def test_a_click_at_the_pointer_is_written_back_without_a_coordinate() -> None:
    dialect = get_dialect("qwen25vl")
    text = dialect.format_action(Click(point=None, button="right"))
    assert '"coordinate"' not in text and '"right_click"' in text
    assert dialect.parse(text) == [Click(point=None, button="right")]
    for other in ("qwen2vl", "uitars", "uitars15", "showui"):  # their grammars need a point
        with pytest.raises(ValueError, match=r"point|box|cannot express"):
            get_dialect(other).format_action(Click(point=None))


@pytest.mark.parametrize(
    ("keys", "chord"),
    [('["ctrl+c"]', ("ctrl", "c")), ('["ctrl", "shift+t"]', ("ctrl", "shift", "t")),
     ('["Control-Alt-Delete"]', ("ctrl", "alt", "delete")), ('"ctrl+c"', ("ctrl", "c"))],
)  # fmt: skip
def test_qwen25vl_key_items_may_be_chords(keys: str, chord: tuple[str, ...]) -> None:
    reply = call(f'{{"action": "key", "keys": {keys}}}')
    assert parse_actions(reply, "qwen25vl", screenshot_size=(W, H)) == [Key(keys=chord)]


@pytest.mark.parametrize(
    "keys",
    ["[1, 2]", "[null]", '[["ctrl"]]', "[true]", '["ctrl", 5]', '[0"enter"]', "5", "{}",
     '["a", "b", "c", "d", "e", "f", "g", "h", "i"]'],
)  # fmt: skip
def test_qwen25vl_bad_keys_are_feedback(keys: str) -> None:
    with pytest.raises(ActionParseError, match="key"):
        parse_actions(
            call(f'{{"action": "key", "keys": {keys}}}'), "qwen25vl", screenshot_size=(W, H)
        )


@pytest.mark.parametrize(
    ("dialect", "reply"),
    [
        ("qwen25vl", call('{"action": "left_click", "coordinate": [%s, 5]}' % ("9" * 400))),
        ("qwen25vl", call('{"action": "left_click", "coordinate": [%s, 5]}' % ("9" * 5000))),
        ("qwen25vl", call('{"action": "left_click", "coordinate": [1e999, 5]}')),
        ("qwen25vl", call('{"action": "wait", "time": 1e999}')),
        ("qwen25vl", call('{"action": "scroll", "pixels": %s}' % ("9" * 5000))),
        ("showui", "{'action': 'CLICK', 'value': None, 'position': [%s, 0.5]}" % ("1" * 5000)),
        ("showui", "[%s, 0.5]" % ("1" * 5000)),
        ("uitars15", "Action: click(point='<point>%s 5</point>')" % ("9" * 5000)),
        ("uitars", "Action: click(start_box='(%s,5)')" % ("9" * 5000)),
        ("qwen2vl", "Action: CLICK <|box_start|>(%s,1)<|box_end|>" % ("9" * 5000)),
    ],
)
def test_huge_numbers_are_feedback(dialect: str, reply: str) -> None:
    """OverflowError (int to float) and ValueError (Python's int-digit limit) were raised."""
    with pytest.raises(ActionParseError, match=r"finite|outside|coordinate|position"):
        parse_actions(reply, dialect, screenshot_size=(W, H))


def test_showui_select_without_value_is_a_click() -> None:
    reply = "{'action': 'SELECT', 'value': None, 'position': [0.3, 0.6]}"
    assert_parses(reply, "showui", (W, H), [("click", 576.0, 648.0, "left", 1)])


@pytest.mark.parametrize("reply", ["(0.3, 0.4)", "The element is at (0.3, 0.4).", "(0.3,0.4)"])
def test_showui_grounding_answer_as_a_tuple(reply: str) -> None:
    assert_parses(reply, "showui", (W, H), [("click", 576.0, 432.0, "left", 1)])


@pytest.mark.parametrize("name", ["keydown", "keyup"])
def test_uitars_key_hold_is_refused_clearly(name: str) -> None:
    with pytest.raises(ActionParseError, match=rf"{name}\(\) cannot be performed.*hotkey"):
        parse_actions(f"Action: {name}(key='shift')", "uitars", screenshot_size=(W, H))


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("hello\\n", Type(text="hello", submit=True)),  # the prompt's way: \n escape
        ("hello\\\\n", Type(text="hello", submit=True)),  # escaped twice: official submits
        ("fun\\\\n", Type(text="fun", submit=True)),  # official's rstrip would type "fu"
        ("a\\\\nb", Type(text="a\\nb", submit=False)),  # not at the end: typed as is
        ("hello", Type(text="hello", submit=False)),
    ],
)
def test_uitars_type_ending_in_newline_submits(content: str, expected: Type) -> None:
    for dialect in ("uitars", "uitars15"):
        reply = f"Thought: Search.\nAction: type(content='{content}')"
        assert parse_actions(reply, dialect, screenshot_size=(W, H)) == [expected]


def test_uitars_runs_only_the_last_action_line() -> None:
    """The official parser splits on "Action: " and keeps the last part; so do we. The
    actions within that last part (separated by blank lines) all run."""
    reply = (
        "Thought: Click the box.\nAction: click(start_box='(100,100)')\n"
        "Thought: Then type.\nAction: click(start_box='(500,500)')\n\ntype(content='hi')"
    )
    assert_parses(
        reply, "uitars", (W, H), [("click", 960.0, 540.0, "left", 1), ("type", "hi", False)]
    )


def test_qwen2vl_runs_every_statement_after_the_marker() -> None:
    """Our own grammar (one action per line) keeps every line, 'Action:' prefixed or not."""
    reply = 'Action: CLICK <|box_start|>(500,500)<|box_end|>\nAction: TYPE "hi"'
    assert_parses(reply, "qwen2vl", (W, H), [("click", 960.0, 540.0, "left", 1),
                                             ("type", "hi", False)])  # fmt: skip


def test_too_many_actions_are_feedback() -> None:
    reply = "Action: " + "\n\n".join("click(start_box='(1,1)')" for _ in range(65))
    with pytest.raises(ActionParseError, match=r"at most 64|more than 64"):
        parse_actions(reply, "uitars", screenshot_size=(W, H))
    assert len(parse_actions(reply.rsplit("\n\n", 1)[0], "uitars", screenshot_size=(W, H))) == 64


def test_a_wait_over_the_limit_is_feedback() -> None:
    with pytest.raises(ActionParseError, match="between 0 and 600"):
        parse_actions(call('{"action": "wait", "time": 601}'), "qwen25vl", screenshot_size=(W, H))


def test_an_action_the_models_reject_becomes_feedback_at_the_boundary() -> None:
    """Whatever a dialect's reader lets through to an action's constructor, the pydantic
    error it raises leaves `parse` as an ActionParseError naming the field."""

    class Sloppy(type(get_dialect("qwen2vl"))):
        def _parse(self, text: str) -> list:
            return [Wait(seconds=float(text))]

    assert Sloppy().parse("2") == [Wait(seconds=2.0)]
    with pytest.raises(ActionParseError, match="Wait action cannot be built: seconds"):
        Sloppy().parse("601")
    with pytest.raises(ActionParseError, match="must be text"):
        Sloppy().parse(b"601")  # type: ignore[arg-type]
