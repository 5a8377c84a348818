"""The typed action space and coordinate geometry; depends on nothing else of ours."""

from .actions import (
    ACTION_TYPES,
    Action,
    ActionAdapter,
    ActionListAdapter,
    CallUser,
    Click,
    Drag,
    Finish,
    GoBack,
    Key,
    Move,
    Navigate,
    Scroll,
    Type,
    Wait,
    action_json_schema,
    convert_action,
)
from .errors import ActionParseError, CoordinateError
from .geometry import Box, Point, ScreenFrame, Space, check_in_bounds, convert_point
from .keys import normalize_chord, normalize_key

__all__ = [
    "ACTION_TYPES",
    "Action",
    "ActionAdapter",
    "ActionListAdapter",
    "ActionParseError",
    "Box",
    "CallUser",
    "Click",
    "CoordinateError",
    "Drag",
    "Finish",
    "GoBack",
    "Key",
    "Move",
    "Navigate",
    "Point",
    "ScreenFrame",
    "Scroll",
    "Space",
    "Type",
    "Wait",
    "action_json_schema",
    "check_in_bounds",
    "convert_action",
    "convert_point",
    "normalize_chord",
    "normalize_key",
]
