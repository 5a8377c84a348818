"""UI-TARS 1.0 (Qwen2-VL based, [0, 1000) boxes) and UI-TARS 1.5 (Qwen2.5-VL based,
<point> in pixels of the resized image).

Prompts are the ones the models were trained with (bytedance/UI-TARS
`codes/prompts.py` and the `ui-tars` package's `prompt.py`), verbatim. The parser takes
either version's spelling, because fine-tunes and quantised builds mix them; only the
coordinate space and the prompt differ between the two dialects.

Decisions where a reply is ambiguous follow the official parser (the `ui-tars` package's
`parse_action_to_structure_output` and `parsing_response_to_pyautogui_code`):
- Two `Action:` lines: only what follows the last one runs (the official parser splits on
  "Action: " and keeps the last part); actions separated by blank lines within it all run.
- `type(content='hello\\n')`, content ending in a newline or in a literal backslash-n:
  type the text, then press Enter (`Type(submit=True)`); only that one ending is removed.
- `keydown()`/`keyup()`: refused with a message, since the action space presses a chord
  and releases it in one action and never holds a key across steps.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pixelpilot.tools import (
    Action,
    ActionParseError,
    CallUser,
    Click,
    Drag,
    Finish,
    GoBack,
    Key,
    Move,
    Point,
    Scroll,
    Space,
    Type,
    Wait,
)

from ._text import (
    Call,
    action_segment,
    coordinate_groups,
    direction_in,
    find_calls,
    flat_numbers,
    numbers_in,
    thought_of,
)
from .base import MAX_ACTIONS, Dialect, Mode, key_action

_NOTE = """

## Note
- Use {language} in `Thought` part.
- Write a small plan and finally summarize your next action (with its target element) in one sentence in `Thought` part.

## User Instruction
{instruction}
"""

_TYPE_NOTE = (
    "# Use escape characters \\', \\\", and \\n in content part to ensure we can parse the "
    "content in normal python string format. If you want to submit your input, use \\n at "
    "the end of content. "
)
_FINISHED_NOTE = (
    "# Use escape characters \\', \\\", and \\n in content part to ensure we can parse the "
    "content in normal python string format."
)
_HEAD = (
    "You are a GUI agent. You are given a task and your action history, with screenshots. "
    "You need to perform the next action to complete the task."
)
_FORMAT = "\n\n## Output Format\n```\nThought: ...\nAction: ...\n```\n\n## Action Space\n\n"
_MOBILE_FORMAT = " \n## Output Format\n```\nThought: ...\nAction: ...\n```\n## Action Space\n\n"


def _computer(p: str, p1: str, p2: str, hotkey: str, scroll_note: str) -> str:
    return (
        _HEAD + _FORMAT
        + f"click({p1})\nleft_double({p1})\nright_single({p1})\n"
        + f"drag({p2})\n{hotkey}\n"
        + f"type(content='xxx') {_TYPE_NOTE}\n"
        + f"scroll({p1}, direction='down or up or right or left'){scroll_note}\n"
        + "wait() #Sleep for 5s and take a screenshot to check for any changes.\n"
        + f"finished(content='xxx') {_FINISHED_NOTE}\n"
        + _NOTE
    )  # fmt: skip


def _mobile(p1: str, p2: str) -> str:
    return (
        _HEAD + _MOBILE_FORMAT
        + f"click({p1})\nlong_press({p1})\n"
        + "type(content='') #If you want to submit your input, use \"\\n\" at the end of `content`.\n"
        + f"scroll({p1}, direction='down or up or right or left')\n"
        + "open_app(app_name='')\n"
        + f"drag({p2})\npress_home()\npress_back()\n"
        + f"finished(content='xxx') {_FINISHED_NOTE}\n"
        + _NOTE
    )  # fmt: skip


_BOX1 = "start_box='<|box_start|>(x1,y1)<|box_end|>'"
_BOX2 = "start_box='<|box_start|>(x1,y1)<|box_end|>', end_box='<|box_start|>(x3,y3)<|box_end|>'"
_PT1 = "point='<point>x1 y1</point>'"
_PT2 = "start_point='<point>x1 y1</point>', end_point='<point>x2 y2</point>'"

PROMPTS: dict[str, dict[str, str]] = {
    "uitars": {
        "computer": _computer("box", _BOX1, _BOX2, "hotkey(key='')", ""),
        "mobile": _mobile(_BOX1, _BOX2),
        "grounding": (
            _HEAD + " \n\n## Output Format\n\nAction: ...\n\n\n## Action Space\n"
            f"click({_BOX1})\n\n## User Instruction\n{{instruction}}"
        ),
    },
    "uitars15": {
        "computer": _computer(
            "point", _PT1, _PT2,
            "hotkey(key='ctrl c') # Split keys with a space and use lowercase. Also, do not use "
            "more than 3 keys in one hotkey action.",
            " # Show more information on the `direction` side.",
        ),
        "mobile": _mobile(_PT1, _PT2),
        "grounding": (
            _HEAD + " \n\n## Output Format\n\nAction: ...\n\n\n## Action Space\n"
            f"click({_PT1})\n\n## User Instruction\n{{instruction}}"
        ),
    },
}  # fmt: skip

_CLICKS = {
    "click": ("left", 1), "left_single": ("left", 1), "left_click": ("left", 1),
    "left_double": ("left", 2), "double_click": ("left", 2), "left_triple": ("left", 3),
    "right_single": ("right", 1), "right_click": ("right", 1),
    "middle_single": ("middle", 1), "middle_click": ("middle", 1),
}  # fmt: skip
_OTHERS = {
    "hover", "mouse_move", "move", "drag", "select", "hotkey", "press", "key", "type",
    "scroll", "wait", "finished", "finish", "call_user", "press_back", "long_press",
    "press_home", "open_app", "keydown", "keyup",
}  # fmt: skip
_NAMES = set(_CLICKS) | _OTHERS
_POINT_KEYS = ("point", "start_box", "start_point", "box", "position", "coordinate")
_END_KEYS = ("end_point", "end_box", "end_position")


class UITars(Dialect):
    """UI-TARS 1.0: `click(start_box='<|box_start|>(x1,y1)<|box_end|>')`, [0, 1000)."""

    name: ClassVar[str] = "uitars"
    space: ClassVar[Space] = Space.NORM1000
    language: str = "English"

    def system_prompt(
        self, task: str, mode: Mode = "computer", *, model_size: tuple[int, int] | None = None
    ) -> str:
        return PROMPTS[self.name][mode].format(language=self.language, instruction=task)

    def grounding_prompt(self, instruction: str) -> str:
        return PROMPTS[self.name]["grounding"].format(instruction=instruction)

    # -- parsing -----------------------------------------------------------------
    def _parse(self, text: str) -> list[Action]:
        # The official parser reads only after the last "Action:"; so do we (an earlier
        # Action: line is a draft the model revised, or a step it imagined ahead).
        calls = find_calls(action_segment(text, last=True), _NAMES)
        if len(calls) > MAX_ACTIONS:
            raise ActionParseError(
                f"The reply holds more than {MAX_ACTIONS} actions; give a few at a time."
            )
        if not calls:
            example = self.format_action(Click(point=Point(x=100, y=200, space=self.space)))
            raise ActionParseError(
                "No action found. Reply with 'Thought: ...' and then 'Action: ' followed by "
                f"one action from the action space, for example: Action: {example}"
            )
        return [self._action(call, text) for call in calls]

    def _action(self, call: Call, text: str) -> Action:
        name = call.name
        if name in _CLICKS:
            button, clicks = _CLICKS[name]
            return Click(point=self._point(call, _POINT_KEYS, name), button=button, clicks=clicks)
        if name in ("hover", "mouse_move", "move"):
            return Move(point=self._point(call, _POINT_KEYS, name))
        if name in ("drag", "select"):
            return Drag(
                start=self._point(call, _POINT_KEYS, name), end=self._point(call, _END_KEYS, name)
            )
        if name in ("hotkey", "press", "key"):
            return key_action(_string(call, ("key", "keys", "hotkey"), name))
        if name == "type":
            return _type(_string(call, ("content", "text", "value"), name, allow_empty=True))
        if name in ("keydown", "keyup"):
            raise ActionParseError(
                f"{name}() cannot be performed here: keys are pressed and released in one "
                "action, never held across steps. Press a combination with "
                "hotkey(key='ctrl c') instead."
            )
        if name == "scroll":
            return self._scroll(call)
        if name == "wait":
            return Wait(seconds=5.0)
        if name in ("finished", "finish"):
            answer = _optional_string(call, ("content", "answer"))
            return Finish(status="success", answer=answer or None)
        if name == "call_user":
            return CallUser(question=thought_of(text))
        if name == "press_back":
            return GoBack()
        raise ActionParseError(
            f"The action {name}() cannot be performed on this screen; use the actions listed "
            "in the action space."
        )

    def _scroll(self, call: Call) -> Scroll:
        direction = direction_in(str(call.kwargs.get("direction", "")))
        if direction is None:
            raise ActionParseError("scroll() needs direction='down', 'up', 'left' or 'right'.")
        has_point = any(call.kwargs.get(k) for k in _POINT_KEYS) or call.args
        point = self._point(call, _POINT_KEYS, "scroll") if has_point else None
        return Scroll(point=point, direction=direction, amount=5)  # type: ignore[arg-type]

    def _point(self, call: Call, keys: tuple[str, ...], name: str) -> Point:
        value = next((call.kwargs[k] for k in keys if k in call.kwargs), None)
        if value is None and keys is _POINT_KEYS and call.args:
            value = call.args[0]
        if value is None and keys is _END_KEYS and len(call.args) > 1:
            value = call.args[1]
        if value is None:
            raise ActionParseError(
                f"{name}() needs {'an end point' if keys is _END_KEYS else 'a point'}, "
                f"e.g. {self._example_arg(keys)}."
            )
        return self.point_from(_numbers(value), f"{name}() coordinate")

    def _example_arg(self, keys: tuple[str, ...]) -> str:
        return "end_box='<|box_start|>(x3,y3)<|box_end|>'" if keys is _END_KEYS else _BOX1

    # -- formatting --------------------------------------------------------------
    def point_arg(self, key: str, p: Point) -> str:
        return f"{key}='<|box_start|>({self.coord(p.x)},{self.coord(p.y)})<|box_end|>'"

    def start_key(self) -> tuple[str, str]:
        return ("start_box", "end_box")

    def format_action(self, action: Action) -> str:
        first, second = self.start_key()
        if isinstance(action, Click):
            if action.point is None:
                raise ValueError(f"{self.name} clicks need a point")
            name = {("left", 1): "click", ("left", 2): "left_double",
                    ("right", 1): "right_single"}.get((action.button, action.clicks))  # fmt: skip
            if name is None:
                raise ValueError(f"{self.name} cannot express {action!r}")
            return f"{name}({self.point_arg(first, action.point)})"
        if isinstance(action, Move):
            return f"hover({self.point_arg(first, action.point)})"
        if isinstance(action, Drag):
            if action.start is None:
                raise ValueError(f"{self.name} drags need a start point")
            return (
                f"drag({self.point_arg(first, action.start)}, {self.point_arg(second, action.end)})"
            )
        if isinstance(action, Scroll):
            where = f"{self.point_arg(first, action.point)}, " if action.point else ""
            return f"scroll({where}direction='{action.direction}')"
        if isinstance(action, Type):
            return f"type(content='{_escape(action.text + chr(10) * action.submit)}')"
        if isinstance(action, Key):
            return f"hotkey(key='{' '.join(action.keys)}')"
        if isinstance(action, Wait):
            return "wait()"
        if isinstance(action, Finish):
            return (
                f"finished(content='{_escape(action.answer)}')" if action.answer else "finished()"
            )
        if isinstance(action, CallUser):
            return "call_user()"
        if isinstance(action, GoBack):
            return "press_back()"
        raise ValueError(f"{self.name} cannot express {action!r}")


class UITars15(UITars):
    """UI-TARS 1.5: `click(point='<point>x1 y1</point>')`, pixels of the resized image."""

    name: ClassVar[str] = "uitars15"
    space: ClassVar[Space] = Space.RESIZED_PX
    #: the ui-tars package's parser resizes with these limits
    min_pixels: ClassVar[int] = 100 * 28 * 28

    def point_arg(self, key: str, p: Point) -> str:
        key = {"start_box": "point", "end_box": "end_point"}.get(key, key)
        return f"{key}='<point>{self.coord(p.x)} {self.coord(p.y)}</point>'"

    def format_action(self, action: Action) -> str:
        text = super().format_action(action)
        return text.replace("drag(point=", "drag(start_point=")

    def _example_arg(self, keys: tuple[str, ...]) -> str:
        return "end_point='<point>x2 y2</point>'" if keys is _END_KEYS else _PT1


def _numbers(value: Any) -> list[float]:
    numbers = flat_numbers(value)
    if numbers is not None:
        return numbers
    text = str(value)
    groups = coordinate_groups(text)
    return groups[0] if len(groups) == 1 else numbers_in(text)


def _type(content: str) -> Type:
    """A type() action. Content ending in a newline submits (text, then Enter), as the
    prompt teaches; so does content ending in a literal backslash-n (the model escaped
    twice: `type(content='hello\\\\n')`), which is what the official parser does too.
    Unlike it, only that one ending is removed (its `rstrip("\\\\n")` also eats
    trailing n's and backslashes of the text itself)."""
    for ending in ("\n", "\\n"):
        if content.endswith(ending):
            return Type(text=content[: -len(ending)], submit=True)
    return Type(text=content)


def _string(call: Call, keys: tuple[str, ...], name: str, allow_empty: bool = False) -> str:
    value = _optional_string(call, keys)
    if value is None or (not value and not allow_empty):
        raise ActionParseError(f"{name}() needs {keys[0]}='...'.")
    return value


def _optional_string(call: Call, keys: tuple[str, ...]) -> str | None:
    for key in keys:
        if key in call.kwargs and call.kwargs[key] is not None:
            return str(call.kwargs[key])
    if call.args and isinstance(call.args[0], str):
        return call.args[0]
    return None


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")
