"""Qwen2.5-VL: the `computer_use` function-calling tool, pixels of the resized image.

The prompt is the Qwen2.5-VL cookbook's: qwen-agent's NousFnCallPrompt tool block with
the `computer_use` (or `mobile_use`) schema, whose description states the screen size as
the *resized* size, which is why coordinates come back in `resized_px`. Grounding
replies (`bbox_2d` / `point_2d` JSON) are read too.

As the cookbook's computer_use does, a click action without `coordinate` clicks where the
pointer is (`Click(point=None)`), and each item of `keys` may itself be a chord
(`["ctrl+c"]`).
"""

from __future__ import annotations

import json
import re
from itertools import islice
from typing import Any, ClassVar

from pixelpilot.tools import (
    Action,
    ActionParseError,
    Box,
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

from ._text import find_literals, finite, flat_numbers
from .base import MAX_ACTIONS, Dialect, Mode, key_action, text_part

_COMPUTER_DESCRIPTION = """Use a mouse and keyboard to interact with a computer, and take screenshots.
* This is an interface to a desktop GUI. You do not have access to a terminal or applications menu. You must click on desktop icons to start applications.
* Some applications may take time to start or process actions, so you may need to wait and take successive screenshots to see the results of your actions. E.g. if you click on Firefox and a window doesn't open, try wait and taking another screenshot.
* The screen's resolution is {width}x{height}.
* Whenever you intend to move the cursor to click on an element like an icon, you should consult a screenshot to determine the coordinates of the element before moving the cursor.
* If you tried clicking on a program or link but it failed to load, even after waiting, try adjusting your cursor position so that the tip of the cursor visually falls on the element that you want to click.
* Make sure to click any buttons, links, icons, etc with the cursor tip in the center of the element. Don't click boxes on their edges unless asked."""

_COMPUTER_ACTIONS = """The action to perform. The available actions are:
* `key`: Performs key down presses on the arguments passed in order, then performs key releases in reverse order.
* `type`: Type a string of text on the keyboard.
* `mouse_move`: Move the cursor to a specified (x, y) pixel coordinate on the screen.
* `left_click`: Click the left mouse button.
* `left_click_drag`: Click and drag the cursor to a specified (x, y) pixel coordinate on the screen.
* `right_click`: Click the right mouse button.
* `middle_click`: Click the middle mouse button.
* `double_click`: Double-click the left mouse button.
* `scroll`: Performs a scroll of the mouse scroll wheel.
* `wait`: Wait specified seconds for the change to happen.
* `terminate`: Terminate the current task and report its completion status."""

_COORDINATE = (
    "(x, y): The x (pixels from the left edge) and y (pixels from the top edge) coordinates "
    "to move the mouse to. Required only by `action=mouse_move` and `action=left_click_drag`."
)
_STATUS = {
    "description": "The status of the task. Required only by `action=terminate`.",
    "type": "string",
    "enum": ["success", "failure"],
}


def computer_use_function(width: int, height: int) -> dict[str, Any]:
    """The cookbook's `computer_use` function, for a model image of width x height."""
    actions = ["key", "type", "mouse_move", "left_click", "left_click_drag", "right_click",
               "middle_click", "double_click", "scroll", "wait", "terminate"]  # fmt: skip
    return {
        "name": "computer_use",
        "description": _COMPUTER_DESCRIPTION.format(width=width, height=height),
        "parameters": {
            "properties": {
                "action": {"description": _COMPUTER_ACTIONS, "enum": actions, "type": "string"},
                "keys": {"description": "Required only by `action=key`.", "type": "array"},
                "text": {"description": "Required only by `action=type`.", "type": "string"},
                "coordinate": {"description": _COORDINATE, "type": "array"},
                "pixels": {
                    "description": "The amount of scrolling to perform. Positive values scroll "
                    "up, negative values scroll down. Required only by `action=scroll`.",
                    "type": "number",
                },
                "time": {
                    "description": "The seconds to wait. Required only by `action=wait`.",
                    "type": "number",
                },
                "status": _STATUS,
            },
            "required": ["action"],
            "type": "object",
        },
    }


_TOOLS_TEMPLATE = """# Tools

You may call one or more functions to assist with the user query.

You are provided with function signatures within <tools></tools> XML tags:
<tools>
{tool_descs}
</tools>

For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:
<tool_call>
{{"name": <function-name>, "arguments": <args-json-object>}}
</tool_call>"""

_TOOL_CALL = re.compile(r"<tool_call>(.*?)(?:</tool_call>|(?=<tool_call>)|$)", re.S)
#: notches per unit of `pixels`: the cookbook passes `pixels` to pyautogui.scroll as clicks
_MAX_NOTCHES = 100
_CLICKS = {"left_click": ("left", 1), "click": ("left", 1), "double_click": ("left", 2),
           "triple_click": ("left", 3), "right_click": ("right", 1),
           "middle_click": ("middle", 1)}  # fmt: skip


class Qwen25VL(Dialect):
    """Qwen2.5-VL: computer_use tool calls, pixels of the resized image."""

    name: ClassVar[str] = "qwen25vl"
    space: ClassVar[Space] = Space.RESIZED_PX

    def system_prompt(
        self, task: str, mode: Mode = "computer", *, model_size: tuple[int, int] | None = None
    ) -> str:
        """The cookbook's system message; the task goes in the user turn (see `render`)."""
        width, height = model_size or (1932, 1092)  # 1920x1080 resized, the cookbook's example
        function = computer_use_function(width, height)
        tool = json.dumps({"type": "function", "function": function}, ensure_ascii=False)
        return "You are a helpful assistant.\n\n" + _TOOLS_TEMPLATE.format(tool_descs=tool)

    def grounding_prompt(self, instruction: str) -> str:
        return f"Locate the {instruction}, output its bbox coordinates using JSON format."

    def preamble(
        self, task: str, mode: Mode, *, model_size: tuple[int, int] | None
    ) -> list[dict[str, Any]]:
        """The cookbook's layout: tools in the system turn, the task as the user's text."""
        return [
            {
                "role": "system",
                "content": [text_part(self.system_prompt(task, mode, model_size=model_size))],
            },
            {"role": "user", "content": [text_part(task)]},
        ]

    # -- parsing -----------------------------------------------------------------
    def _parse(self, text: str) -> list[Action]:
        blocks = [m.group(1) for m in islice(_TOOL_CALL.finditer(text), MAX_ACTIONS + 1)]
        objects = [o for block in blocks for o in find_literals(block, "{", limit=1)]
        if not blocks:  # bare JSON, or a grounding answer: [{"bbox_2d": ...}, ...]
            for found in find_literals(text, "{[", limit=MAX_ACTIONS + 1):
                objects.extend(found[: MAX_ACTIONS + 1] if isinstance(found, list) else [found])
        actions: list[Action] = []
        for obj in objects:
            actions.extend(self._object(obj))
        if not actions:
            raise ActionParseError(
                "No action found. Call the computer_use function inside <tool_call></tool_call> "
                'tags, e.g. <tool_call>\n{"name": "computer_use", "arguments": {"action": '
                '"left_click", "coordinate": [100, 200]}}\n</tool_call>'
            )
        return actions

    def _object(self, obj: Any) -> list[Action]:
        if not isinstance(obj, dict):
            return []
        if "bbox_2d" in obj or "point_2d" in obj:  # a grounding answer: click there
            return [Click(point=self._point(obj.get("point_2d") or obj.get("bbox_2d"), "bbox_2d"))]
        args = obj.get("arguments", obj)
        if isinstance(args, str):  # some servers double-encode the arguments
            found = find_literals(args, "{", limit=1)
            args = found[0] if found else {}
        if not isinstance(args, dict) or "action" not in args:
            return []
        return [self._action(str(args["action"]).lower(), args)]

    def _action(self, name: str, args: dict[str, Any]) -> Action:
        coordinate = args.get("coordinate")
        if name in _CLICKS:  # no coordinate: click where the pointer is, as the cookbook does
            button, clicks = _CLICKS[name]
            point = None if coordinate is None else self._point(coordinate, name)
            return Click(point=point, button=button, clicks=clicks)
        if name == "mouse_move":
            return Move(point=self._point(coordinate, name))
        if name in ("left_click_drag", "swipe"):
            end = args.get("coordinate2")
            if end is not None:  # mobile_use swipe: from coordinate to coordinate2
                return Drag(start=self._point(coordinate, name), end=self._point(end, name))
            return Drag(start=None, end=self._point(coordinate, name))
        if name == "key":
            keys = args.get("keys", args.get("text"))
            if not keys:
                raise ActionParseError('The key action needs "keys", e.g. ["ctrl", "c"].')
            return key_action(keys)  # a list of names (each may be a chord) or one chord
        if name == "type":
            text = args.get("text")
            if not isinstance(text, str):
                raise ActionParseError('The type action needs "text".')
            return Type(text=text)
        if name in ("scroll", "hscroll"):
            return self._scroll(name, args)
        if name == "wait":
            return Wait(seconds=_number(args.get("time", 1.0), "time", 0, 600))
        if name == "terminate":
            return Finish(status="failure" if args.get("status") == "failure" else "success")
        if name == "answer":
            return Finish(status="success", answer=str(args.get("text", "")))
        if name == "system_button" and str(args.get("button", "")).lower() == "back":
            return GoBack()
        if name == "system_button" and str(args.get("button", "")).lower() == "enter":
            return Key(keys=("enter",))
        if name == "call_user":
            return CallUser(question=str(args.get("text", "")))
        raise ActionParseError(
            f'The action "{name}" cannot be performed here; use one of the actions listed in '
            "the computer_use function."
        )

    def _scroll(self, name: str, args: dict[str, Any]) -> Scroll:
        pixels = _number(args.get("pixels", -5), "pixels", -1e9, 1e9)
        if pixels == 0:
            raise ActionParseError("scroll needs non-zero pixels: positive up, negative down.")
        if name == "hscroll":
            direction = "right" if pixels > 0 else "left"
        else:
            direction = "up" if pixels > 0 else "down"
        coordinate = args.get("coordinate")
        point = self._point(coordinate, name) if coordinate is not None else None
        amount = max(1, min(_MAX_NOTCHES, round(abs(pixels))))
        return Scroll(point=point, direction=direction, amount=amount)  # type: ignore[arg-type]

    def _point(self, value: Any, name: str) -> Point:
        numbers = flat_numbers(value)
        if numbers is not None:
            return self.point_from(numbers, f'"{name}" coordinate')
        raise ActionParseError(
            f'The {name} action needs "coordinate": [x, y], two finite numbers in pixels.'
        )

    # -- formatting --------------------------------------------------------------
    def format_action(self, action: Action) -> str:
        return "<tool_call>\n" + json.dumps(
            {"name": "computer_use", "arguments": self._arguments(action)}, ensure_ascii=False
        ) + "\n</tool_call>"  # fmt: skip

    def format_grounding(self, box: Box, label: str = "") -> str:
        """The JSON block Qwen2.5-VL answers grounding prompts with."""
        corners = [round(v) for v in (box.x1, box.y1, box.x2, box.y2)]
        answer = json.dumps({"bbox_2d": corners, "label": label}, ensure_ascii=False)
        return f"```json\n[\n\t{answer}\n]\n```"

    def format_reply(self, actions, thought: str = "") -> str:
        body = "\n".join(self.format_action(a) for a in actions)
        return f"{thought}\n{body}" if thought else body

    def _arguments(self, action: Action) -> dict[str, Any]:
        def xy(p: Point) -> list[int]:
            return [round(p.x), round(p.y)]

        if isinstance(action, Click):
            names = {v: k for k, v in _CLICKS.items() if k != "click"}
            args = {"action": names[(action.button, action.clicks)]}
            return args if action.point is None else {**args, "coordinate": xy(action.point)}
        if isinstance(action, Move):
            return {"action": "mouse_move", "coordinate": xy(action.point)}
        if isinstance(action, Drag):
            if action.start is not None:
                raise ValueError("qwen25vl drags start at the pointer: move there first")
            return {"action": "left_click_drag", "coordinate": xy(action.end)}
        if isinstance(action, Scroll):
            if action.direction in ("left", "right"):
                raise ValueError("qwen25vl scrolls only up and down")
            sign = 1 if action.direction == "up" else -1
            args: dict[str, Any] = {"action": "scroll", "pixels": sign * action.amount}
            if action.point is not None:
                args["coordinate"] = xy(action.point)
            return args
        if isinstance(action, Type):
            if action.submit:
                raise ValueError("qwen25vl types without submitting; add a key action")
            return {"action": "type", "text": action.text}
        if isinstance(action, Key):
            return {"action": "key", "keys": list(action.keys)}
        if isinstance(action, Wait):
            return {"action": "wait", "time": action.seconds}
        if isinstance(action, Finish):
            return {"action": "terminate", "status": action.status}
        raise ValueError(f"qwen25vl cannot express {action!r}")


def _number(value: Any, name: str, lo: float, hi: float) -> float:
    """`value` (a number, or a number in a string) as a float within [lo, hi]."""
    number = finite(value)
    if number is None and isinstance(value, str) and _NUMERIC.fullmatch(value.strip()):
        number = finite(float(value.strip()))
    if number is None:
        shown = repr(value)[:40] if isinstance(value, str | float) else type(value).__name__
        raise ActionParseError(f'"{name}" must be a finite number, got {shown}.')
    if not lo <= number <= hi:
        raise ActionParseError(f'"{name}" must lie between {lo:g} and {hi:g}, got {number:g}.')
    return number


_NUMERIC = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
