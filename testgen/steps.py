"""A recorded step's actions as the statements of a generated test, and the targets whose
crops go beside it. Pure: reads trajectory records, writes nothing.

Only actions that ran and succeeded when recorded become statements (the ones replay runs
again). A pointer action's target keeps three ways to be found: the locator built from the
element recorded under it, a plain-words description, and its box for the crop.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pixelpilot.agent.trajectory import paired
from pixelpilot.environments.base import ElementInfo

from .locators import locator_source, narrowed
from .source import literal

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_ACTION_LINE = re.compile(r"(?im)^[ \t]*(\**action\**[ \t]*[:：]|<tool_call>|\{)")
_LABEL = re.compile(r"(?i)^[ \t]*(thought|reflection|action_summary)[ \t]*[:：][ \t]*")
#: the drag destination's crop when no element was recorded there: a square this wide
DESTINATION_CSS_PX = 48.0

_ROLE_WORDS = {
    "textbox": "text field", "searchbox": "search field", "combobox": "drop-down",
    "checkbox": "checkbox", "radio": "radio button", "button": "button", "link": "link",
    "img": "image", "slider": "slider", "spinbutton": "number field", "option": "option",
    "listitem": "list item", "heading": "heading", "tab": "tab", "menuitem": "menu item",
}  # fmt: skip


@dataclass(frozen=True)
class Target:
    """A target's crop: the 1-based step, the file suffix ("" or "-to"), its box in
    screenshot pixels, the recorded role and description, and the screenshot it is from."""

    step: int
    suffix: str
    box_px: tuple[float, float, float, float]
    role: str | None
    description: str
    screenshot: str
    point: tuple[float, float] | None = None  # desktop: where it acted (no element box)


@dataclass
class Converted:
    """The statements of one test body (each valid Python) and the targets to crop."""

    statements: list[str]
    targets: list[Target]
    uses_env: bool = False


def text_source(text: str, secrets: set[str], env_names: dict[str, str]) -> tuple[str, bool]:
    """Python source for typed `text`: each `{{NAME}}` of a secret becomes
    `os.environ["ENV"]` (never the value, which the record does not hold anyway)."""
    parts, used, last = [], False, 0
    for match in _PLACEHOLDER.finditer(text):
        if match.group(1) not in secrets:
            continue
        if match.start() > last:
            parts.append(literal(text[last : match.start()]))
        parts.append(
            f"os.environ[{literal(env_names.get(match.group(1), env_name(match.group(1))))}]"
        )
        used, last = True, match.end()
    if last < len(text) or not parts:
        parts.append(literal(text[last:]))
    return " + ".join(parts), used


def env_name(secret: str) -> str:
    """The environment variable a secret is read from by default: its name in capitals."""
    return re.sub(r"\W", "_", secret).upper()


def thought(record: dict[str, Any]) -> str | None:
    """The model's stated intent for a step: the free text before its action, first line."""
    completion = record.get("completion") or {}
    text = completion.get("text") if isinstance(completion, dict) else None
    if not isinstance(text, str):
        return None
    match = _ACTION_LINE.search(text)
    head = text[: match.start()] if match else ""
    for line in head.splitlines():
        line = _LABEL.sub("", line).strip()
        if line:
            return line[:160]
    return None


def built_description(info: ElementInfo | None) -> str:
    """'the 'Full name' text field' from the recorded role and name."""
    if info is None:
        return "the target"
    name = info.name or info.label or info.placeholder or info.alt or info.title or info.text
    kind = _ROLE_WORDS.get(
        info.role or "", info.role or (f"{info.tag} element" if info.tag else "element")
    )
    return f"the '{name}' {kind}" if name else f"the {kind}"


def _element(result: Any) -> ElementInfo | None:
    found = result.get("element") if isinstance(result, dict) else None
    if not isinstance(found, dict):
        return None
    try:
        return ElementInfo.model_validate(found)
    except ValueError:
        return None


def _box(info: ElementInfo | None) -> tuple[float, float, float, float] | None:
    if info is None or info.bbox is None:
        return None
    b = info.bbox
    return (b.x1, b.y1, b.x2, b.y2)


def _square(point: dict[str, Any], scale: float) -> tuple[float, float, float, float]:
    half = DESTINATION_CSS_PX * scale / 2
    x, y = float(point["x"]), float(point["y"])
    return (x - half, y - half, x + half, y + half)


class Converter:
    """Walks a browser run's step records in order, collecting statements and targets."""

    def __init__(self, header: dict[str, Any], origin: str, env_names: dict[str, str]) -> None:
        self.secrets = set(header.get("secrets") or [])
        self.origin = origin
        self.env_names = env_names
        self.out = Converted([], [])

    def url(self, url: str) -> str:
        """`page.goto` source: relative to the base URL on the recorded origin."""
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" != self.origin:
            return f"page.goto({literal(url)})"
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return f"page.goto(pilot.url({literal(path)}))"

    def text(self, text: str) -> str:
        source, used = text_source(text, self.secrets, self.env_names)
        self.out.uses_env |= used
        return source

    def step(self, record: dict[str, Any]) -> None:
        """The statements of one recorded step (nothing for a step whose actions did not run)."""
        number = record["step"] + 1
        ran = [(a.get("screenshot") or {}, r) for a, _, r in paired(record)
               if isinstance(r, dict) and r.get("ok") and isinstance(a, dict)]  # fmt: skip
        self._said = self._descriptions(record)
        self._pointer = 0
        index = 0
        while index < len(ran):
            action, result = ran[index]
            after = ran[index + 1][0] if index + 1 < len(ran) else {}
            if _plain_click(action) and after.get("action") == "type":
                self._target(record, number, action, result, fill=after)
                index += 2
                continue
            self._one(record, number, action, result)
            index += 1

    def _descriptions(self, record: dict[str, Any]) -> list[str]:
        """What the step said about its targets, in order: Pilot's descriptions (one per
        located target), else the model's thought."""
        if record.get("kind") not in ("agent", "act", None):
            located = [loc.get("description") for loc in record.get("located") or []
                       if isinstance(loc, dict)]  # fmt: skip
            said = [d for d in located if isinstance(d, str) and d]
            if not said and isinstance(record.get("description"), str):
                said = [record["description"]]
            return said
        intent = thought(record)
        return [intent] if intent else []

    def _describe(self, info: ElementInfo | None) -> str:
        said = self._said[self._pointer] if self._pointer < len(self._said) else None
        self._pointer += 1
        return said or built_description(info)

    def _one(
        self, record: dict[str, Any], number: int, action: dict[str, Any], result: Any
    ) -> None:
        kind, emit = action.get("action"), self.out.statements.append
        if kind in ("click", "move", "drag"):
            self._target(record, number, action, result)
        elif kind == "type":
            self._type(action)
        elif kind == "key":
            from pixelpilot.environments.browser import playwright_key

            keys = "+".join(playwright_key(k) for k in action.get("keys") or ())
            emit(f"pilot.press({literal(keys)})")
        elif kind == "scroll":
            self._scroll_target(record, number, action, result)
            emit(f"pilot.scroll({literal(action['direction'])}, {int(action.get('amount', 5))})")
        elif kind == "wait":
            emit(f"pilot.wait({float(action.get('seconds', 1.0))!r})")
        elif kind == "navigate":
            emit(self.url(action["url"]))
        elif kind == "go_back":
            emit("page.go_back()")

    def _scroll_target(self, record: dict[str, Any], number: int, action: dict[str, Any],
                       result: Any) -> None:  # fmt: skip
        """A scroll at a point wheels over what is there (an inner list scrolls, not the
        page): the pointer goes there first, when the element has a locator unique at
        record time (a positional `nth(k)` could move it somewhere else)."""
        info = _element(result)
        if action.get("point") is None or info is None or narrowed(info):
            return
        self._target(record, number, {"action": "move", "point": action["point"]}, result)

    def _type(self, action: dict[str, Any]) -> None:
        text = str(action.get("text", ""))
        enter = bool(action.get("submit")) or text.endswith("\n")
        text = text[:-1] if text.endswith("\n") else text
        if text:
            self.out.statements.append(f"pilot.type({self.text(text)})")
        if enter:
            self.out.statements.append('pilot.press("Enter")')

    def _target(self, record: dict[str, Any], number: int, action: dict[str, Any], result: Any,
                fill: dict[str, Any] | None = None) -> None:  # fmt: skip
        info = _element(result)
        locator = locator_source(info) if info is not None else "None"
        description = self._describe(info)
        role = f", role={literal(info.role)}" if info is not None and info.role else ""
        first = self._pointer == 1  # only the step's first target has the step's crop
        self._crop(record, number, "", _box(info), info, description, first)
        kind, quoted = action.get("action"), literal(description)
        if fill is not None:
            text = str(fill.get("text", ""))
            body = self.text(text[:-1] if text.endswith("\n") else text)
            self.out.statements.append(
                f"pilot.fill({locator}, {body}, {quoted}, step={number}{role})"
            )
            if fill.get("submit") or text.endswith("\n"):
                self.out.statements.append('pilot.press("Enter")')
        elif kind == "click":
            extra = (
                ""
                if action.get("button", "left") == "left"
                else f", button={literal(action['button'])}"
            )
            extra += (
                "" if int(action.get("clicks", 1)) == 1 else f", clicks={int(action['clicks'])}"
            )
            self.out.statements.append(
                f"pilot.click({locator}, {quoted}, step={number}{role}{extra})"
            )
        elif kind == "move":
            self.out.statements.append(f"pilot.hover({locator}, {quoted}, step={number}{role})")
        else:
            self._drag(record, number, action, locator, quoted, role, first)

    def _drag(self, record: dict[str, Any], number: int, action: dict[str, Any], locator: str,
              quoted: str, role: str, first: bool) -> None:  # fmt: skip
        said = self._said[self._pointer] if self._pointer < len(self._said) else None
        self._pointer += 1
        to = said or f"where the drag of step {number} ended"
        scale = float((record.get("frame") or {}).get("scale") or 1.0)
        self._crop(record, number, "-to", _square(action["end"], scale), None, to, first)
        self.out.statements.append(
            f"pilot.drag({locator}, {quoted}, None, {literal(to)}, step={number}{role})"
        )

    def _crop(self, record: dict[str, Any], number: int, suffix: str, box: Any,
              info: ElementInfo | None, description: str, first: bool) -> None:  # fmt: skip
        if box is None or not first or not record.get("screenshot"):
            return
        role = info.role if info is not None else None
        self.out.targets.append(
            Target(number, suffix, box, role, description, record["screenshot"])
        )


def _plain_click(action: dict[str, Any]) -> bool:
    """A left single click (what a fill's focusing click is)."""
    return (action.get("action") == "click" and action.get("button", "left") == "left"
            and int(action.get("clicks", 1)) == 1)  # fmt: skip
