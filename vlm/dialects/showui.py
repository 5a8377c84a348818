"""ShowUI: Python dict actions, positions relative to the screenshot in [0, 1].

Prompts are the ShowUI quick-start's `_NAV_SYSTEM` + `_NAV_FORMAT` (web and phone action
maps) and its grounding `_SYSTEM`, verbatim. ShowUI puts its instructions in the user
turn, before the screenshot, so `render` does too.

`SELECT` with `value: None` is a click at `position` (the action space: "value is not
applicable"); with a value, a click there and the value typed. A grounding answer may be
a list `[x, y]` or a tuple `(x, y)`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from pixelpilot.tools import (
    Action,
    ActionParseError,
    Box,
    Click,
    Drag,
    Finish,
    Key,
    Move,
    Point,
    Scroll,
    Space,
    Type,
)

from ._text import direction_in, find_literals, flat_numbers
from .base import MAX_ACTIONS, Dialect, Message, Mode, Turn, image_part, key_action, text_part

GROUNDING_SYSTEM = (
    "Based on the screenshot of the page, I give a text description and you give its "
    "corresponding location. The coordinate represents a clickable location [x, y] for an "
    "element, which is a relative coordinate on the screenshot, scaled from 0 to 1."
)
_NAV_SYSTEM = """You are an assistant trained to navigate the {_APP} screen. 
Given a task instruction, a screen observation, and an action history sequence, 
output the next action and wait for the next observation. 
Here is the action space:
{_ACTION_SPACE}
"""
_NAV_FORMAT = """
Format the action as a dictionary with the following keys:
{'action': 'ACTION_TYPE', 'value': 'element', 'position': [x,y]}

If value or position is not applicable, set it as `None`.
Position might be [[x1,y1], [x2,y2]] if the action requires a start and end position.
Position represents the relative coordinates on the screenshot and should be scaled to a range of 0-1.
"""
ACTION_MAP = {
    "web": """
1. `CLICK`: Click on an element, value is not applicable and the position [x,y] is required. 
2. `INPUT`: Type a string into an element, value is a string to type and the position [x,y] is required. 
3. `SELECT`: Select a value for an element, value is not applicable and the position [x,y] is required. 
4. `HOVER`: Hover on an element, value is not applicable and the position [x,y] is required.
5. `ANSWER`: Answer the question, value is the answer and the position is not applicable.
6. `ENTER`: Enter operation, value and position are not applicable.
7. `SCROLL`: Scroll the screen, value is the direction to scroll and the position is not applicable.
8. `SELECT_TEXT`: Select some text content, value is not applicable and position [[x1,y1], [x2,y2]] is the start and end position of the select operation.
9. `COPY`: Copy the text, value is the text to copy and the position is not applicable.
""",
    "phone": """
1. `INPUT`: Type a string into an element, value is a string to type and the position [x,y] is required. 
2. `SWIPE`: Swipe the screen, value is not applicable and the position [[x1,y1], [x2,y2]] is the start and end position of the swipe operation.
3. `TAP`: Tap on an element, value is not applicable and the position [x,y] is required.
4. `ANSWER`: Answer the question, value is the status (e.g., 'task complete') and the position is not applicable.
5. `ENTER`: Enter operation, value and position are not applicable.
""",
}


class ShowUI(Dialect):
    """ShowUI: {'action': ..., 'position': [x, y]} dicts, relative [0, 1]."""

    name: ClassVar[str] = "showui"
    space: ClassVar[Space] = Space.NORM1
    history_images: ClassVar[int] = 2
    min_pixels: ClassVar[int] = 256 * 28 * 28
    max_pixels: ClassVar[int] = 1344 * 28 * 28
    quantum: ClassVar[float] = 0.01  # two decimals, as trained

    def system_prompt(
        self, task: str, mode: Mode = "computer", *, model_size: tuple[int, int] | None = None
    ) -> str:
        split = "phone" if mode == "mobile" else "web"
        return _NAV_SYSTEM.format(_APP=split, _ACTION_SPACE=ACTION_MAP[split]) + _NAV_FORMAT

    def grounding_prompt(self, instruction: str) -> str:
        return instruction

    def render(
        self, task: str, image: Any, history: Sequence[Turn] = (), *, mode: Mode = "computer"
    ) -> list[Message]:
        """One user turn, as ShowUI was trained: instructions, task, earlier actions (and
        the screenshots still kept), then the current screenshot."""
        content: list[dict[str, Any]] = [
            text_part(self.system_prompt(task, mode)), text_part(f"Task: {task}")
        ]  # fmt: skip
        for turn in history:
            if turn.image is not None:
                content.append(image_part(turn.image))
            content.append(text_part(turn.reply))
            if turn.feedback:
                content.append(text_part(turn.feedback))
        content.append(image_part(image))
        return [{"role": "user", "content": content}]

    def render_grounding(self, instruction: str, image: Any) -> list[Message]:
        return [{"role": "user", "content": [
            text_part(GROUNDING_SYSTEM), image_part(image), text_part(instruction)
        ]}]  # fmt: skip

    # -- parsing -----------------------------------------------------------------
    def _parse(self, text: str) -> list[Action]:
        actions: list[Action] = []
        for obj in find_literals(text, "{", limit=2 * MAX_ACTIONS + 1):
            if isinstance(obj, dict):
                for action in self._action(obj):
                    if not (actions and action == actions[-1] and isinstance(action, Click)):
                        actions.append(action)  # INPUT after CLICK there: click once
        if actions:
            return actions
        for item in find_literals(text, "[("):  # a grounding answer: [x, y] or (x, y)
            numbers = flat_numbers(item)
            if numbers is not None and len(numbers) in (2, 4):
                return [Click(point=self.point_from(numbers, "position"))]
        raise ActionParseError(
            "No action found. Answer with a dictionary such as "
            "{'action': 'CLICK', 'value': None, 'position': [0.5, 0.5]}."
        )

    def _action(self, obj: dict[Any, Any]) -> list[Action]:
        kind = str(obj.get("action", "")).upper().strip()
        value = obj.get("value")
        position = obj.get("position")
        if kind in ("CLICK", "TAP"):
            return [Click(point=self._point(position, kind))]
        if kind == "HOVER":
            return [Move(point=self._point(position, kind))]
        if kind == "SELECT" and value is None:  # as the action space says: a click there
            return [Click(point=self._point(position, kind))]
        if kind in ("INPUT", "SELECT"):
            if value is None:
                raise ActionParseError(f"{kind} needs a value: the text to type or select.")
            click = [Click(point=self._point(position, kind))] if position is not None else []
            return [*click, Type(text=str(value))]
        if kind == "ENTER":
            return [Key(keys=("enter",))]
        if kind == "ANSWER":
            return [Finish(status="success", answer=None if value is None else str(value))]
        if kind == "SCROLL":
            direction = direction_in(str(value or ""))
            if direction is None:
                raise ActionParseError("SCROLL needs value 'up', 'down', 'left' or 'right'.")
            point = self._point(position, kind) if flat_numbers(position) else None
            return [Scroll(point=point, direction=direction)]  # type: ignore[arg-type]
        if kind in ("SELECT_TEXT", "SWIPE"):
            numbers = flat_numbers(position)
            if numbers is None or len(numbers) != 4:
                raise ActionParseError(f"{kind} needs position [[x1,y1], [x2,y2]].")
            start = Point(x=numbers[0], y=numbers[1], space=self.space)
            return [Drag(start=start, end=Point(x=numbers[2], y=numbers[3], space=self.space))]
        if kind == "COPY":
            return [key_action("ctrl+c")]
        raise ActionParseError(
            f"Unknown action {kind or obj!r}; use one of CLICK, INPUT, SELECT, HOVER, ANSWER, "
            "ENTER, SCROLL, SELECT_TEXT, COPY."
        )

    def _point(self, position: Any, kind: str) -> Point:
        numbers = flat_numbers(position)
        if numbers is None or len(numbers) not in (2, 4):
            raise ActionParseError(f"{kind} needs a position [x, y] with x and y between 0 and 1.")
        return self.point_from(numbers, "position")

    # -- formatting --------------------------------------------------------------
    def coord(self, value: float) -> str:
        return f"{round(value, 2):.2f}"

    def format_grounding(self, box: Box, label: str = "") -> str:
        centre = box.center()
        return f"[{self.coord(centre.x)}, {self.coord(centre.y)}]"

    def format_action(self, action: Action) -> str:
        def pos(p: Point) -> str:
            return f"[{self.coord(p.x)}, {self.coord(p.y)}]"

        if (
            isinstance(action, Click)
            and action.point
            and (action.button, action.clicks) == ("left", 1)
        ):
            return f"{{'action': 'CLICK', 'value': None, 'position': {pos(action.point)}}}"
        if isinstance(action, Move):
            return f"{{'action': 'HOVER', 'value': None, 'position': {pos(action.point)}}}"
        if isinstance(action, Type) and not action.submit:
            return f"{{'action': 'INPUT', 'value': {action.text!r}, 'position': None}}"
        if isinstance(action, Key) and action.keys == ("enter",):
            return "{'action': 'ENTER', 'value': None, 'position': None}"
        if isinstance(action, Finish):
            return f"{{'action': 'ANSWER', 'value': {action.answer!r}, 'position': None}}"
        if isinstance(action, Scroll) and action.point is None:
            return f"{{'action': 'SCROLL', 'value': '{action.direction}', 'position': None}}"
        if isinstance(action, Drag) and action.start is not None:
            return (
                f"{{'action': 'SELECT_TEXT', 'value': None, "
                f"'position': [{pos(action.start)}, {pos(action.end)}]}}"
            )
        raise ValueError(f"showui cannot express {action!r}")

    def format_reply(self, actions: Sequence[Action], thought: str = "") -> str:
        return ",\n".join(self.format_action(a) for a in actions)
