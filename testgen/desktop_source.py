"""A desktop run as the source of a test on the `pixelpilot_desktop` fixture (desktop.py).

There is no DOM on an X desktop, so a pointer step's target keeps a description (the
model's stated intent, Pilot's description, else "the target of step N in the 'W'
window") and a crop of `desktop.CROP_PX` X pixels around the point it acted on, with that
point in steps.json; the end screen is kept whole for the one assertion.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pixelpilot.agent.replay import recorded_region
from pixelpilot.agent.trajectory import paired

from .desktop import CROP_PX
from .generate import TestgenError, end_state, function_name
from .source import docstring, literal, module_docstring, statement
from .steps import Target, text_source, thought


class DesktopConverter:
    """Walks a desktop run's step records, collecting statements and targets."""

    def __init__(self, header: dict[str, Any], env_names: dict[str, str]) -> None:
        self.secrets, self.env_names = set(header.get("secrets") or []), env_names
        self.body: list[str] = []
        self.targets: list[Target] = []
        self.uses_env = False

    def step(self, record: dict[str, Any]) -> None:
        number, said = record["step"] + 1, _said(record)
        for index, action in enumerate(_ran(record)):
            kind = action.get("action")
            if kind in ("click", "move", "drag") or (kind == "scroll" and action.get("point")):
                self._pointer(record, number, action, said, first=index == 0)
            if kind == "scroll":
                amount = int(action.get("amount", 5))
                self.body.append(f"desktop.scroll({literal(action['direction'])}, {amount})")
            elif kind == "type":
                self._type(action)
            elif kind == "key":
                self.body.append(f"desktop.press({literal('+'.join(action.get('keys') or ()))})")
            elif kind == "wait":
                self.body.append(f"desktop.wait({float(action.get('seconds', 1.0))!r})")

    def _pointer(self, record: dict[str, Any], number: int, action: dict[str, Any],
                 said: list[str], *, first: bool) -> None:  # fmt: skip
        """A click, hover (a scroll's pointer too) or drag; only the step's first pointer
        action keeps the step's crop (a second would overwrite it)."""
        kind, point = action.get("action"), action.get("point") or action.get("start")
        if point is None:
            return
        description = said.pop(0) if said else _built(record, number)
        if first:
            self.targets.append(_target(record, number, "", point, description))
        if kind == "drag":
            to = said.pop(0) if said else f"where step {number} dropped it"
            if first:
                self.targets.append(_target(record, number, "-to", action["end"], to))
            self.body.append(f"desktop.drag({literal(description)}, {literal(to)}, step={number})")
        elif kind in ("move", "scroll"):
            self.body.append(f"desktop.hover({literal(description)}, step={number})")
        else:
            extra = (
                ""
                if action.get("button", "left") == "left"
                else f", button={literal(action['button'])}"
            )
            extra += (
                "" if int(action.get("clicks", 1)) == 1 else f", clicks={int(action['clicks'])}"
            )
            self.body.append(f"desktop.click({literal(description)}, step={number}{extra})")

    def _type(self, action: dict[str, Any]) -> None:
        text = str(action.get("text", ""))
        enter = bool(action.get("submit")) or text.endswith("\n")
        text = text[:-1] if text.endswith("\n") else text
        if text:
            source, used = text_source(text, self.secrets, self.env_names)
            self.uses_env |= used
            self.body.append(f"desktop.type({source})")
        if enter:
            self.body.append('desktop.press("enter")')


def render_desktop(
    run: dict[str, Any], env_names: dict[str, str] | None = None
) -> tuple[str, list[Target]]:
    """The test file's source and the targets to crop for a checked desktop run."""
    header, steps = run["header"], run["steps"]
    converter = DesktopConverter(header, env_names or {})
    for record in steps:
        converter.step(record)
    final = end_state(steps)
    if final is None or not final.get("screenshot"):
        raise TestgenError(f"{run['run_dir']}: no screen was recorded after the last action, "
                           "so there is nothing to assert")  # fmt: skip
    end, frame = final["step"] + 1, final.get("frame") or {}
    whole = (0.0, 0.0, float(frame.get("width", 0)), float(frame.get("height", 0)))
    converter.targets.append(
        Target(end, "", whole, None, "the screen after the last action", final["screenshot"])
    )
    task = str(header.get("task") or "a recorded run")
    lines = [
        module_docstring(Path(run["run_dir"]).name, task),
        "",
        *(["import os", ""] if converter.uses_env else []),
        "from pixelpilot.testgen.desktop import DesktopHealer",
        "",
        f"RECORDED_REGION = {recorded_region(steps[0]['frame'])!r}  # left, top, width, height",
        f"RECORDED_SCALE = {_scale(steps[0])!r}  # screenshot pixels per X pixel",
        "",
        "",
        f"def {function_name(task)}(pixelpilot_desktop: DesktopHealer) -> None:",
        docstring(task, "    "),
        "    desktop = pixelpilot_desktop",
        *(statement(s) for s in [*converter.body, f"desktop.expect_screen(step={end})"]),
    ]
    return "\n".join(lines) + "\n", converter.targets


def _ran(record: dict[str, Any]) -> list[dict[str, Any]]:
    return [(a.get("screenshot") or {}) for a, _, r in paired(record)
            if isinstance(r, dict) and r.get("ok") and isinstance(a, dict)]  # fmt: skip


def _said(record: dict[str, Any]) -> list[str]:
    """Pilot's descriptions of the step's targets, else the model's thought."""
    located = [
        loc.get("description") for loc in record.get("located") or [] if isinstance(loc, dict)
    ]
    said = [d for d in located if isinstance(d, str) and d]
    if record.get("kind") in ("agent", "act", None) or not said:
        intent = thought(record)
        said = [intent] if intent else said
    return said


def _built(record: dict[str, Any], number: int) -> str:
    elements = [r["element"] for r in record.get("results") or []
                if isinstance(r, dict) and isinstance(r.get("element"), dict)]  # fmt: skip
    window = elements[0].get("name") if elements else None
    where = f" in the '{window}' window" if window else ""
    return f"the target of step {number}{where}"


def _target(record: dict[str, Any], number: int, suffix: str, point: dict[str, Any],
            description: str) -> Target:  # fmt: skip
    scale = _scale(record)
    half, x, y = CROP_PX * scale / 2, float(point["x"]), float(point["y"])
    box = (x - half, y - half, x + half, y + half)
    return Target(number, suffix, box, None, description, record["screenshot"], point=(x, y))


def _scale(record: dict[str, Any]) -> float:
    return float((record.get("frame") or {}).get("scale") or 1.0)
