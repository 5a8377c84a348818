"""Properties over every dialect and screen size: what the model points at is where we
click, and no text makes the parser raise anything but ActionParseError."""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from pixelpilot.tools import (
    Click,
    Drag,
    Move,
    Point,
    ScreenFrame,
    Scroll,
    Space,
    convert_action,
)
from pixelpilot.vlm import DIALECTS, ActionParseError, get_dialect, parse_actions

sizes = st.tuples(st.integers(200, 8000), st.integers(200, 8000))
fractions = st.floats(0, 1, allow_nan=False)


def _quantum(dialect_name: str, size: tuple[int, int]) -> tuple[float, float]:
    """Half a step of the numbers the model writes, in screenshot pixels, per axis."""
    dialect = get_dialect(dialect_name)
    w, h = size
    if dialect.space is Space.NORM1000:
        return w / 2000, h / 2000
    if dialect.space is Space.NORM1:  # two decimals
        return w * 0.005, h * 0.005
    mw, mh = dialect.model_size(size)
    return w / mw / 2, h / mh / 2


def _model_says(dialect_name: str, action, size: tuple[int, int]) -> str:
    """Write `action` (screenshot px) the way the model would: its space, its rounding."""
    dialect = get_dialect(dialect_name)
    frame = ScreenFrame(width=size[0], height=size[1])
    model_action = convert_action(
        action, dialect.space, frame=frame, model_size=dialect.model_size(size)
    )
    return dialect.format_reply([model_action], thought="Point at the target.")


@settings(max_examples=400, deadline=None)
@given(name=st.sampled_from(sorted(DIALECTS)), size=sizes, fx=fractions, fy=fractions,
       kind=st.sampled_from(["click", "move", "scroll"]))  # fmt: skip
def test_a_point_survives_the_model_round_trip(name, size, fx, fy, kind) -> None:
    point = Point(x=fx * size[0], y=fy * size[1], space=Space.SCREENSHOT_PX)
    action = {"click": Click(point=point), "move": Move(point=point),
              "scroll": Scroll(point=point, direction="down")}[kind]  # fmt: skip
    if name == "showui" and kind == "scroll":
        action = Click(point=point)
    reply = _model_says(name, action, size)
    (parsed,) = parse_actions(reply, name, screenshot_size=size)
    qx, qy = _quantum(name, size)
    got = next(iter(parsed.points().values()))
    assert abs(got.x - point.x) <= max(1.0, qx) + 1e-6, reply
    assert abs(got.y - point.y) <= max(1.0, qy) + 1e-6, reply
    assert got.space is Space.SCREENSHOT_PX


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(["qwen2vl", "uitars", "uitars15", "showui"]), size=sizes,
       a=st.tuples(fractions, fractions), b=st.tuples(fractions, fractions))  # fmt: skip
def test_a_drag_survives_the_model_round_trip(name, size, a, b) -> None:
    start = Point(x=a[0] * size[0], y=a[1] * size[1], space=Space.SCREENSHOT_PX)
    end = Point(x=b[0] * size[0], y=b[1] * size[1], space=Space.SCREENSHOT_PX)
    reply = _model_says(name, Drag(start=start, end=end), size)
    (parsed,) = parse_actions(reply, name, screenshot_size=size)
    qx, qy = _quantum(name, size)
    for want, got in ((start, parsed.start), (end, parsed.end)):
        assert abs(got.x - want.x) <= max(1.0, qx) + 1e-6
        assert abs(got.y - want.y) <= max(1.0, qy) + 1e-6


_FRAGMENTS = st.sampled_from([
    "Thought: ", "Action: ", "click(", "start_box='", "<|box_start|>", "<|box_end|>", "(", ")",
    ",", "'", '"', "\\", "\n", "\n\n", "[", "]", "{", "}", ":", "<point>", "</point>",
    "<tool_call>", "</tool_call>", '{"name": "computer_use", "arguments": ', '"action": ',
    '"left_click"', '"coordinate": ', "{'action': 'CLICK', ", "'position': ", "None", "null",
    "type(content='", "hotkey(key='", "scroll(", "direction='", "drag(", "end_box='", "CLICK ",
    "DRAG ", " TO ", "TYPE ", "PRESS ", "-1", "1e309", "nan", "99999", "0.5", "1000", "3",
    "finished(", "call_user()", "wait()", "\\u12", "\\ud83d", "😀", "ctrl", " ", "=",
])  # fmt: skip
model_like = st.lists(st.one_of(_FRAGMENTS, st.integers(-5, 5000).map(str)), max_size=40).map(
    "".join
)


@settings(max_examples=1500, deadline=None)
@given(name=st.sampled_from(sorted(DIALECTS)), text=st.one_of(st.text(max_size=300), model_like),
       size=sizes)  # fmt: skip
def test_any_text_raises_only_action_parse_error(name, text, size) -> None:
    try:
        actions = parse_actions(text, name, screenshot_size=size)
    except ActionParseError as error:
        assert str(error)
        return
    for action in actions:  # whatever parsed is on the screen, in screenshot pixels
        for point in action.points().values():
            assert point.space is Space.SCREENSHOT_PX
            assert 0 <= point.x <= size[0] and 0 <= point.y <= size[1]


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    for name in DIALECTS:
        for text in ("[" * 20_000, "{'a': " * 10_000, "click(" * 10_000):
            with contextlib.suppress(ActionParseError):
                parse_actions(text, name, screenshot_size=(800, 600))
