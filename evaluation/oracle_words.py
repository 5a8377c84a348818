"""What each model family writes, worked out from its documentation: the oracles' words.

An oracle measures the pipeline's ceiling only if it cannot share a mistake with the
pipeline. So nothing here calls the code it checks (the dialects' formatters and parsers,
`tools.geometry`, `vlm.resize`): the resize rule, the coordinate arithmetic and the
reply grammars are written again, from the models' own documents.

- Resize: Qwen2-VL's `smart_resize` (qwen-vl-utils, `vision_process.py`): sides rounded
  to multiples of 28 with Python's `round`, aspect ratio kept, pixel count clamped by
  scaling with sqrt(pixels / limit), flooring when over the maximum, ceiling when under
  the minimum. Limits: `min_pixels` 3,136 and `max_pixels` 12,845,056 in the Qwen2-VL,
  Qwen2.5-VL and UI-TARS checkpoints' `preprocessor_config.json`; the `ui-tars` package
  maps UI-TARS 1.5 points with min 100*28*28; ShowUI's quick start uses 256*28*28 and
  1344*28*28.
- Coordinates: Qwen2-VL and UI-TARS 1.0 write integers relative to the image, x / width
  * 1000 in [0, 1000); Qwen2.5-VL and UI-TARS 1.5 integer pixels of the resized image,
  x * resized_width / width; ShowUI floats x / width in [0, 1] with two decimals. The
  model writes the nearest value on that grid (halves round up).
- Grammars: each writer below cites the format it follows.

A grammar too coarse to say a small target's centre says the nearest grid value that
still falls inside the target, axis by axis, found by this module's own arithmetic (a
box narrower than one grid step stays a miss, and the report shows it).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass

from pixelpilot.tools import Action, Click, Drag, Finish, Move, Scroll, Type

FACTOR = 28  # 14 px patches, 2x2 merged: one visual token covers 28x28 pixels
_CHECKPOINT = (3136, 16384 * 28 * 28)  # min_pixels, max_pixels in preprocessor_config.json

#: dialect name -> (coordinate space, min_pixels, max_pixels, decimals written)
GRAMMARS: dict[str, tuple[str, int, int, int]] = {
    "qwen2vl": ("norm1000", *_CHECKPOINT, 0),
    "uitars": ("norm1000", *_CHECKPOINT, 0),
    "qwen25vl": ("resized_px", *_CHECKPOINT, 0),
    "uitars15": ("resized_px", 100 * 28 * 28, _CHECKPOINT[1], 0),
    "showui": ("norm1", 256 * 28 * 28, 1344 * 28 * 28, 2),
}


def smart_resize(
    height: int, width: int, min_pixels: int, max_pixels: int, factor: int = FACTOR
) -> tuple[int, int]:
    """(height, width) of the image the model sees, by Qwen2-VL's published rule."""
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h_bar = math.floor(height / beta / factor) * factor
        w_bar = math.floor(width / beta / factor) * factor
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def _nearest(value: float, step: float) -> float:
    """The grid value nearest `value`, halves up, as a model writes a rounded number."""
    return math.floor(value / step + 0.5) * step


@dataclass(frozen=True)
class Grid:
    """One screenshot as a model family addresses it: how many model units a screenshot
    pixel is along each axis, the largest value it writes, and its step."""

    width: int  # the screenshot, in its own pixels
    height: int
    per_px: tuple[float, float]
    top: tuple[float, float]
    step: float
    decimals: int
    #: the resized image's (width, height), for the grammars that write its pixels
    model_size: tuple[int, int] | None = None

    @classmethod
    def of(
        cls,
        name: str,
        size: tuple[int, int],
        *,
        min_pixels: int | None = None,
        max_pixels: int | None = None,
    ) -> Grid:
        """The grid of dialect `name` for a screenshot of `size` (width, height); the
        pixel limits are the server's when it was told others."""
        if name not in GRAMMARS:  # a new dialect needs its documented words here first
            raise ValueError(f"the oracle has no words for dialect {name!r}")
        space, low, high, decimals = GRAMMARS[name]
        width, height = size
        step = 10.0**-decimals
        if space == "norm1000":
            return cls(width, height, (1000 / width, 1000 / height), (999.0, 999.0), step,
                       decimals)  # fmt: skip  # [0, 1000): 1000 itself is never written
        if space == "norm1":
            return cls(width, height, (1 / width, 1 / height), (1.0, 1.0), step, decimals)
        h, w = smart_resize(height, width, min_pixels or low, max_pixels or high)
        per_px, top = (w / width, h / height), (w - 1.0, h - 1.0)
        return cls(width, height, per_px, top, step, decimals, model_size=(w, h))

    def value(
        self, px: float, axis: int, lo: float | None = None, hi: float | None = None
    ) -> float:
        """Screenshot coordinate `px` on `axis` (0 = x) as the model writes it; with a
        target span [lo, hi] (screenshot px), the nearest written value inside it."""
        scale, step = self.per_px[axis], self.step
        chosen = min(max(_nearest(px * scale, step), 0.0), self.top[axis])
        if lo is not None and hi is not None and not lo <= chosen / scale <= hi:
            first = math.ceil(lo * scale / step - 1e-9)
            last = math.floor(min(hi * scale, self.top[axis]) / step + 1e-9)
            inside = [k * step for k in range(first, last + 1)]
            if inside:
                chosen = min(inside, key=lambda v: abs(v - px * scale))
        return round(chosen, self.decimals)

    def text(self, value: float) -> str:
        return f"{value:.{self.decimals}f}"

    def xy(
        self, x: float, y: float, box: tuple[float, float, float, float] | None = None
    ) -> tuple[str, str]:
        """A screenshot point as the two numbers the model writes (inside `box` if given)."""
        x1, y1, x2, y2 = box if box is not None else (None, None, None, None)
        return self.text(self.value(x, 0, x1, x2)), self.text(self.value(y, 1, y1, y2))


# -- the grammars -------------------------------------------------------------------------
Statement = Callable[[Action, Grid], list[str]]


def _sq(text: str) -> str:
    """Inside '...' as UI-TARS documents: escape \\, ' and newlines."""
    return text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")


def _qwen2vl(action: Action, g: Grid) -> list[str]:
    """pixelpilot's Qwen2-VL prompt (vlm/dialects/qwen2vl.py): one verb a line, targets in
    Qwen2-VL's box tokens, `<|box_start|>(x,y)<|box_end|>` for a point."""

    def at(p) -> str:
        x, y = g.xy(p.x, p.y)
        return f"<|box_start|>({x},{y})<|box_end|>"

    if isinstance(action, Click) and (action.button, action.clicks) == ("left", 1):
        return [f"CLICK {at(action.point)}"]
    if isinstance(action, Move):
        return [f"HOVER {at(action.point)}"]
    if isinstance(action, Drag) and action.start is not None:
        return [f"DRAG {at(action.start)} TO {at(action.end)}"]
    if isinstance(action, Scroll):
        where = f" {at(action.point)}" if action.point is not None else ""
        return [f"SCROLL {action.direction.upper()}{where}"]
    if isinstance(action, Type):
        return [f"TYPE {json.dumps(action.text + chr(10) * action.submit, ensure_ascii=False)}"]
    if isinstance(action, Finish):
        verb = "FINISH" if action.status == "success" else "FAIL"
        answer = json.dumps(action.answer, ensure_ascii=False) if action.answer else ""
        return [f"{verb} {answer}".rstrip()]
    raise ValueError(f"the oracle has no qwen2vl words for {action!r}")


def _tool_call(arguments: dict) -> str:
    """Qwen2.5-VL cookbook (computer_use): `<tool_call>\\n{"name": "computer_use",
    "arguments": {...}}\\n</tool_call>`."""
    call = {"name": "computer_use", "arguments": arguments}
    return f"<tool_call>\n{json.dumps(call, ensure_ascii=False)}\n</tool_call>"


def _qwen25vl(action: Action, g: Grid) -> list[str]:
    """The cookbook's computer_use actions, coordinates in resized pixels. `coordinate`
    belongs to mouse_move, the clicks and left_click_drag (which starts at the pointer),
    so a drag or a scroll at a point moves there first."""

    def at(p) -> list[int]:
        return [int(v) for v in g.xy(p.x, p.y)]

    if isinstance(action, Click) and (action.button, action.clicks) == ("left", 1):
        return [_tool_call({"action": "left_click", "coordinate": at(action.point)})]
    if isinstance(action, Move):
        return [_tool_call({"action": "mouse_move", "coordinate": at(action.point)})]
    if isinstance(action, Drag) and action.start is not None:
        start = _tool_call({"action": "mouse_move", "coordinate": at(action.start)})
        return [start, _tool_call({"action": "left_click_drag", "coordinate": at(action.end)})]
    if isinstance(action, Scroll) and action.direction in ("up", "down"):
        moves = [] if action.point is None else _qwen25vl(Move(point=action.point), g)
        pixels = action.amount if action.direction == "up" else -action.amount  # + is up
        return [*moves, _tool_call({"action": "scroll", "pixels": pixels})]
    if isinstance(action, Type):
        enter = [_tool_call({"action": "key", "keys": ["enter"]})] if action.submit else []
        return [_tool_call({"action": "type", "text": action.text}), *enter]
    if isinstance(action, Finish):
        return [_tool_call({"action": "terminate", "status": action.status})]
    raise ValueError(f"the oracle has no qwen25vl words for {action!r}")


def _uitars(point_arg: Callable[[str, str, str], str]) -> Statement:
    """UI-TARS's computer action space (its `prompts.py`); only the point syntax differs
    between 1.0 and 1.5."""

    def statement(action: Action, g: Grid) -> list[str]:
        def at(which: str, p) -> str:
            return point_arg(which, *g.xy(p.x, p.y))

        if isinstance(action, Click) and (action.button, action.clicks) == ("left", 1):
            return [f"click({at('start', action.point)})"]
        if isinstance(action, Drag) and action.start is not None:
            return [f"drag({at('drag_start', action.start)}, {at('drag_end', action.end)})"]
        if isinstance(action, Scroll) and action.point is not None:
            return [f"scroll({at('start', action.point)}, direction='{action.direction}')"]
        if isinstance(action, Type):
            return [f"type(content='{_sq(action.text + chr(10) * action.submit)}')"]
        if isinstance(action, Finish) and action.status == "success":
            return [f"finished(content='{_sq(action.answer)}')" if action.answer else "finished()"]
        raise ValueError(f"the oracle has no UI-TARS words for {action!r}")

    return statement


def _box_arg(which: str, x: str, y: str) -> str:
    """UI-TARS 1.0: start_box='<|box_start|>(x1,y1)<|box_end|>', drags add end_box."""
    key = "end_box" if which == "drag_end" else "start_box"
    return f"{key}='<|box_start|>({x},{y})<|box_end|>'"


def _point_arg(which: str, x: str, y: str) -> str:
    """UI-TARS 1.5: point='<point>x1 y1</point>'; drags start_point= and end_point=."""
    key = {"start": "point", "drag_start": "start_point", "drag_end": "end_point"}[which]
    return f"{key}='<point>{x} {y}</point>'"


def _showui(action: Action, g: Grid) -> list[str]:
    """ShowUI's web action map: {'action': 'CLICK', 'value': None, 'position': [x, y]} as
    a Python dict, positions in [0, 1] with two decimals. SCROLL has no position, so a
    scroll at a point hovers there first."""

    def at(p) -> str:
        x, y = g.xy(p.x, p.y)
        return f"[{x}, {y}]"

    def say(kind: str, value: str | None, position: str = "None") -> str:
        return f"{{'action': '{kind}', 'value': {value!r}, 'position': {position}}}"

    if isinstance(action, Click) and (action.button, action.clicks) == ("left", 1):
        return [say("CLICK", None, at(action.point))]
    if isinstance(action, Move):
        return [say("HOVER", None, at(action.point))]
    if isinstance(action, Drag) and action.start is not None:
        return [say("SELECT_TEXT", None, f"[{at(action.start)}, {at(action.end)}]")]
    if isinstance(action, Scroll):
        hover = [] if action.point is None else [say("HOVER", None, at(action.point))]
        return [*hover, say("SCROLL", action.direction)]
    if isinstance(action, Type):  # the field was clicked the step before
        return [say("INPUT", action.text), *([say("ENTER", None)] if action.submit else [])]
    if isinstance(action, Finish) and action.status == "success":
        return [say("ANSWER", action.answer)]
    raise ValueError(f"the oracle has no ShowUI words for {action!r}")


STATEMENTS: dict[str, Statement] = {
    "qwen2vl": _qwen2vl, "qwen25vl": _qwen25vl, "uitars": _uitars(_box_arg),
    "uitars15": _uitars(_point_arg), "showui": _showui,
}  # fmt: skip


def reply(name: str, actions: list[Action], grid: Grid, thought: str = "") -> str:
    """A whole reply in dialect `name`'s layout: Qwen2-VL and UI-TARS `Thought: ...` then
    `Action: ...`; Qwen2.5-VL its text then the tool calls; ShowUI only its dicts."""
    lines = [line for action in actions for line in STATEMENTS[name](action, grid)]
    if name == "showui":
        return "\n".join(lines)
    if name == "qwen25vl":
        return "\n".join([thought, *lines] if thought else lines)
    return f"Thought: {thought}\nAction: " + "\n".join(lines)


def grounding_reply(
    name: str, box: tuple[float, float, float, float], grid: Grid, label: str = ""
) -> str:
    """The answer to a grounding prompt for a target `box` (x1, y1, x2, y2, screenshot
    px): Qwen2-VL its box tokens, Qwen2.5-VL `bbox_2d` JSON (both the box itself when
    its centre lands inside, else the inside point as a box of no size), UI-TARS a click
    at the centre, ShowUI `[x, y]`."""
    x1, y1, x2, y2 = box
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    px, py = g_xy = grid.xy(cx, cy, box)
    if name in ("qwen2vl", "qwen25vl"):
        corners = [grid.value(x1, 0), grid.value(y1, 1), grid.value(x2, 0), grid.value(y2, 1)]
        mid_x = (corners[0] + corners[2]) / 2 / grid.per_px[0]
        mid_y = (corners[1] + corners[3]) / 2 / grid.per_px[1]
        if not (x1 <= mid_x <= x2 and y1 <= mid_y <= y2):
            corners = [float(px), float(py)] * 2
        if name == "qwen25vl":
            answer = json.dumps({"bbox_2d": [int(v) for v in corners], "label": label},
                                ensure_ascii=False)  # fmt: skip
            return f"```json\n[\n\t{answer}\n]\n```"
        a, b, c, d = (grid.text(v) for v in corners)
        ref = f"<|object_ref_start|>{label}<|object_ref_end|>"
        return f"{ref}<|box_start|>({a},{b}),({c},{d})<|box_end|>"
    if name == "uitars":
        return f"Action: click({_box_arg('start', *g_xy)})"
    if name == "uitars15":
        return f"Action: click({_point_arg('start', *g_xy)})"
    return f"[{px}, {py}]"
