"""The typed action space every dialect parses into and every controller executes.

One discriminated union on `action`, `extra="forbid"` everywhere: a field a model or a
caller misspells is an error, not a silently ignored argument. Coordinates are `Point`s
that carry their space; `tools.geometry.convert_point` is the only way to change it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from .geometry import Point, ScreenFrame, Space, convert_point
from .keys import normalize_chord


class _Action(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def points(self) -> dict[str, Point]:
        """The action's coordinates by field name (empty for keyboard and control actions)."""
        return {
            name: value
            for name in type(self).model_fields
            if isinstance(value := getattr(self, name), Point)
        }

    def with_points(self, points: dict[str, Point]) -> _Action:
        return self.model_copy(update=points)


class Click(_Action):
    """Press and release a mouse button at a point, one to three times.

    `point=None` clicks wherever the pointer is, like `Scroll` and `Drag` without a start:
    Qwen2.5-VL's `left_click` with no coordinate does that (the cookbook's computer_use
    clicks at the pointer), typically after a `mouse_move`.
    """

    action: Literal["click"] = "click"
    point: Point | None = Field(description="Where to click; None clicks wherever the pointer is.")
    button: Literal["left", "right", "middle"] = Field("left", description="Mouse button.")
    clicks: int = Field(1, ge=1, le=3, description="1 = click, 2 = double, 3 = triple.")


class Move(_Action):
    """Move the pointer to a point without pressing anything (hover)."""

    action: Literal["move"] = "move"
    point: Point = Field(description="Where to move the pointer.")


class Drag(_Action):
    """Press the left button, move with intermediate steps, release."""

    action: Literal["drag"] = "drag"
    start: Point | None = Field(
        None, description="Where to press; None starts at the current pointer position."
    )
    end: Point = Field(description="Where to release.")


class Scroll(_Action):
    """Turn the mouse wheel, optionally after moving the pointer to a point."""

    action: Literal["scroll"] = "scroll"
    point: Point | None = Field(
        None, description="Where to scroll; None scrolls wherever the pointer is."
    )
    direction: Literal["up", "down", "left", "right"] = Field(
        description="Which way the content should move into view."
    )
    amount: int = Field(5, ge=1, le=100, description="Wheel notches to turn.")


class Type(_Action):
    """Type text into whatever has the keyboard focus."""

    action: Literal["type"] = "type"
    text: str = Field(description="The exact text to type, any Unicode.")
    submit: bool = Field(False, description="Press Enter after typing.")


class Key(_Action):
    """Press one key or a chord; keys use the canonical names of `tools.keys`."""

    action: Literal["key"] = "key"
    keys: tuple[str, ...] = Field(
        description="Canonical key names, modifiers first, e.g. ['ctrl', 'shift', 't']."
    )

    @field_validator("keys", mode="before")
    @classmethod
    def _normalize(cls, value: Any) -> tuple[str, ...]:
        if isinstance(value, str | list | tuple):
            return normalize_chord(value)
        raise ValueError("keys must be a chord string or a list of key names")


class Navigate(_Action):
    """Open a URL in the current tab."""

    action: Literal["navigate"] = "navigate"
    url: str = Field(min_length=1, description="Absolute URL to open.")


class GoBack(_Action):
    """Go back one page in the history."""

    action: Literal["go_back"] = "go_back"


class Wait(_Action):
    """Do nothing for a while, to let the screen change."""

    action: Literal["wait"] = "wait"
    seconds: float = Field(1.0, ge=0, le=600, description="How long to wait.")


class Finish(_Action):
    """End the task, saying whether it succeeded and optionally giving an answer."""

    action: Literal["finish"] = "finish"
    status: Literal["success", "failure"] = Field("success", description="Outcome.")
    answer: str | None = Field(None, description="Answer text, for questions.")


class CallUser(_Action):
    """Stop and ask the user a question the agent cannot answer itself."""

    action: Literal["call_user"] = "call_user"
    question: str = Field("", description="What the user should be asked.")


Action = Annotated[
    Union[Click, Move, Drag, Scroll, Type, Key, Navigate, GoBack, Wait, Finish, CallUser],  # noqa: UP007
    Field(discriminator="action"),
]
ACTION_TYPES: tuple[type[_Action], ...] = (
    Click, Move, Drag, Scroll, Type, Key, Navigate, GoBack, Wait, Finish, CallUser,
)  # fmt: skip
ActionAdapter: TypeAdapter[Action] = TypeAdapter(Action)
ActionListAdapter: TypeAdapter[list[Action]] = TypeAdapter(list[Action])


def action_json_schema() -> dict[str, Any]:
    """JSON schema of one action (the union), for docs, validation and function calling."""
    return ActionAdapter.json_schema()


def convert_action(
    action: _Action,
    to: Space,
    *,
    frame: ScreenFrame,
    model_size: tuple[int, int] | None = None,
    check: bool = True,
) -> _Action:
    """Convert every point of `action` with `convert_point`; other fields are kept."""
    points = action.points()
    if not points:
        return action
    converted = {
        name: convert_point(p, to, frame=frame, model_size=model_size, check=check)
        for name, p in points.items()
    }
    return action.with_points(converted)
