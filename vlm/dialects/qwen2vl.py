"""Qwen2-VL: grounding with box tokens, coordinates relative to the image in [0, 1000).

Qwen2-VL was trained to ground with
`<|object_ref_start|>label<|object_ref_end|><|box_start|>(x1,y1),(x2,y2)<|box_end|>` but
has no action grammar of its own, so the agent prompt here defines a small one in the
same style: one verb per line, targets as boxes. A reply that is only a grounding
answer (a box with no verb) means "click there", which is what a grounding reply is
asked for. Every statement line after the first `Action:` runs (the grammar is one action
per line; a line may repeat the `Action:` prefix), unlike UI-TARS, whose official parser
keeps only the last `Action:`.
"""

from __future__ import annotations

import re
from itertools import islice
from typing import ClassVar

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
    Navigate,
    Point,
    Scroll,
    Space,
    Type,
    Wait,
)

from ._text import LiteralError, action_segment, coordinate_groups, direction_in, read_string
from .base import MAX_ACTIONS, Dialect, Mode, key_action

_PROMPT = """You are a GUI agent. You are given a task and a screenshot of the screen. \
Work out the next action to complete the task.

Point at elements with your grounding format: \
<|object_ref_start|>element<|object_ref_end|><|box_start|>(x1,y1),(x2,y2)<|box_end|>, \
with coordinates relative to the screenshot, scaled to 0-1000.

## Output Format
Thought: what you see and what to do next
Action: one action per line, from the list below

## Action Space
CLICK <|object_ref_start|>element<|object_ref_end|><|box_start|>(x1,y1),(x2,y2)<|box_end|>
DOUBLE_CLICK <box>
RIGHT_CLICK <box>
HOVER <box>
DRAG <box> TO <box>
SCROLL UP|DOWN|LEFT|RIGHT <box>
TYPE "text to type"   (end the text with \\n to submit)
PRESS ctrl+c   (a key or a key combination)
NAVIGATE https://example.com
BACK
WAIT
FINISH "answer, if the task asks for one"
FAIL "why the task cannot be done"
CALL_USER "question for the user"

## User Instruction
{task}
"""

_VERBS = (
    "DOUBLE_CLICK|RIGHT_CLICK|MIDDLE_CLICK|TRIPLE_CLICK|CLICK|HOVER|DRAG|SCROLL|TYPE|"
    "PRESS|HOTKEY|KEY|NAVIGATE|GOTO|BACK|GO_BACK|WAIT|FINISH|DONE|FAIL|CALL_USER"
)
# `[ \t]`, not `\s`: a line-anchored pattern that may cross newlines rescans the rest of
# the reply from every line start (issue 15: 20k newlines took 39 s).
_STATEMENT = re.compile(rf"(?im)^[ \t>*\-\d.)]*(?:action[ \t]*[:：][ \t]*)?({_VERBS})\b")
_TOKEN = re.compile(r"<\|[^<>|]*\|>")
_CLICKS = {"click": ("left", 1), "double_click": ("left", 2), "triple_click": ("left", 3),
           "right_click": ("right", 1), "middle_click": ("middle", 1)}  # fmt: skip


def _quoted_or_rest(args: str) -> str:
    """A quoted string if the argument starts with one, else the rest of the line."""
    stripped = args.strip()
    if stripped[:1] in ("'", '"'):
        try:
            return read_string(stripped, 0)[0]
        except LiteralError:
            return stripped[1:].rstrip("'\"")
    return stripped


class Qwen2VL(Dialect):
    """Qwen2-VL: box-token grounding, a verb-per-line action grammar, [0, 1000)."""

    name: ClassVar[str] = "qwen2vl"
    space: ClassVar[Space] = Space.NORM1000

    def system_prompt(
        self, task: str, mode: Mode = "computer", *, model_size: tuple[int, int] | None = None
    ) -> str:
        return _PROMPT.format(task=task)

    def grounding_prompt(self, instruction: str) -> str:
        return (
            "Output the bounding box of the element described below, as "
            "<|object_ref_start|>element<|object_ref_end|><|box_start|>(x1,y1),(x2,y2)"
            f"<|box_end|>.\n{instruction}"
        )

    def _parse(self, text: str) -> list[Action]:
        segment = action_segment(text)
        starts = list(islice(_STATEMENT.finditer(segment), MAX_ACTIONS + 1))
        if len(starts) > MAX_ACTIONS:
            raise ActionParseError(
                f"The reply holds more than {MAX_ACTIONS} actions; give a few at a time."
            )
        if not starts:
            groups = coordinate_groups(text, limit=1)
            if groups:  # a plain grounding answer
                return [Click(point=self.point_from(groups[0], "box"))]
            raise ActionParseError(
                "No action found. Reply with 'Thought: ...' then 'Action: ' and one action "
                "from the action space, e.g. CLICK <|box_start|>(x1,y1),(x2,y2)<|box_end|>."
            )
        actions = []
        for i, match in enumerate(starts):
            end = starts[i + 1].start() if i + 1 < len(starts) else len(segment)
            verb = match.group(1).lower()
            actions.append(self._statement(verb, segment[match.end() : end]))
        return actions

    def _statement(self, verb: str, args: str) -> Action:
        groups = coordinate_groups(args, limit=2)
        if verb in _CLICKS:
            button, clicks = _CLICKS[verb]
            return Click(point=self._target(groups, 0, verb), button=button, clicks=clicks)
        if verb == "hover":
            return Move(point=self._target(groups, 0, verb))
        if verb == "drag":
            return Drag(start=self._target(groups, 0, verb), end=self._target(groups, 1, verb))
        if verb == "scroll":
            direction = direction_in(_TOKEN.sub(" ", args))
            if direction is None:
                raise ActionParseError("SCROLL needs a direction: UP, DOWN, LEFT or RIGHT.")
            point = self.point_from(groups[0], "scroll target") if groups else None
            return Scroll(point=point, direction=direction)  # type: ignore[arg-type]
        if verb == "type":
            content = _quoted_or_rest(args)
            submit = content.endswith("\n")
            return Type(text=content[:-1] if submit else content, submit=submit)
        if verb in ("press", "hotkey", "key"):
            return key_action(_quoted_or_rest(args.strip().splitlines()[0] if args.strip() else ""))
        if verb in ("navigate", "goto"):
            url = _quoted_or_rest(args).split()
            if not url:
                raise ActionParseError("NAVIGATE needs a URL.")
            return Navigate(url=url[0])
        if verb in ("back", "go_back"):
            return GoBack()
        if verb == "wait":
            return Wait()
        if verb in ("finish", "done"):
            return Finish(status="success", answer=_quoted_or_rest(args) or None)
        if verb == "fail":
            return Finish(status="failure", answer=_quoted_or_rest(args) or None)
        return CallUser(question=_quoted_or_rest(args))

    def _target(self, groups: list[list[float]], index: int, verb: str) -> Point:
        if index >= len(groups):
            raise ActionParseError(
                f"{verb.upper()} needs {'two boxes' if verb == 'drag' else 'a box'}: "
                "<|box_start|>(x1,y1),(x2,y2)<|box_end|> with coordinates in 0-1000."
            )
        return self.point_from(groups[index], f"{verb.upper()} target")

    def format_grounding(self, box: Box, label: str = "") -> str:
        c = self.coord
        corners = f"({c(box.x1)},{c(box.y1)}),({c(box.x2)},{c(box.y2)})"
        return f"<|object_ref_start|>{label}<|object_ref_end|><|box_start|>{corners}<|box_end|>"

    def format_action(self, action: Action) -> str:
        def box(p: Point) -> str:
            return f"<|box_start|>({self.coord(p.x)},{self.coord(p.y)})<|box_end|>"

        if isinstance(action, Click):
            verb = {("left", 1): "CLICK", ("left", 2): "DOUBLE_CLICK",
                    ("left", 3): "TRIPLE_CLICK", ("right", 1): "RIGHT_CLICK",
                    ("middle", 1): "MIDDLE_CLICK"}.get((action.button, action.clicks))  # fmt: skip
            if verb is None:
                raise ValueError(f"{self.name} cannot express {action!r}")
            if action.point is None:
                raise ValueError(f"{self.name} clicks need a box")
            return f"{verb} {box(action.point)}"
        if isinstance(action, Move):
            return f"HOVER {box(action.point)}"
        if isinstance(action, Drag):
            if action.start is None:
                raise ValueError(f"{self.name} drags need a start point")
            return f"DRAG {box(action.start)} TO {box(action.end)}"
        if isinstance(action, Scroll):
            where = f" {box(action.point)}" if action.point else ""
            return f"SCROLL {action.direction.upper()}{where}"
        if isinstance(action, Type):
            return f"TYPE {_quote(action.text + chr(10) * action.submit)}"
        if isinstance(action, Key):
            return f"PRESS {'+'.join(action.keys)}"
        if isinstance(action, Navigate):
            return f"NAVIGATE {action.url}"
        if isinstance(action, GoBack):
            return "BACK"
        if isinstance(action, Wait):
            return "WAIT"
        if isinstance(action, Finish):
            verb = "FINISH" if action.status == "success" else "FAIL"
            return f"{verb} {_quote(action.answer)}" if action.answer else verb
        return f"CALL_USER {_quote(action.question)}"


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
