"""Heal "rewrite": a new locator for the element a healed step actually used, and the
test file with the step's old locator replaced by it.

The locator is built the way the generator builds one (testgen/locators.py's
`candidates`, in codegen's order) from the live element (environments' ELEMENT_AT), and
each candidate is checked on the live page through Playwright itself: the first that
resolves to exactly one visible element is kept. With none unique, nothing is rewritten
(a `.nth(0)` guess would only break again). The file is edited by the syntax tree (the
call `pilot.<verb>(...)` with `step=N` in the test function), so nothing else changes.
"""

from __future__ import annotations

import ast
import difflib
import logging
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("pixelpilot.testgen.relocate")

TARGET_VERBS = {"click", "hover", "fill", "drag"}


def _live(page: Any, key: str, info: Any) -> Any:
    """The Playwright locator that candidate `key` of `info` stands for."""
    if key == "test_id":
        return page.get_by_test_id(info.test_id)
    if key == "role":
        return page.get_by_role(info.role, name=info.name)
    if key == "css_id":
        return page.locator(f'[id="{info.css_id}"]')
    method = {
        "placeholder": page.get_by_placeholder,
        "label": page.get_by_label,
        "alt": page.get_by_alt_text,
        "text": page.get_by_text,
        "title": page.get_by_title,
    }
    return method[key](getattr(info, key))


def unique_locator(page: Any, point: tuple[float, float]) -> str | None:
    """Source of the first candidate locator for the element at `point` (CSS px) that
    matches exactly one visible element now; None if none does."""
    from pixelpilot.environments import ElementInfo
    from pixelpilot.environments._browser_js import ELEMENT_AT
    from pixelpilot.tools import Box, Space

    from .locators import candidates

    found = page.evaluate(ELEMENT_AT, [point[0], point[1], 1.0])
    if not isinstance(found, dict) or "bbox" not in found:
        return None
    x1, y1, x2, y2 = found.pop("bbox")
    info = ElementInfo(**found, bbox=Box.from_corners(x1, y1, x2, y2, Space.SCREENSHOT_PX))
    for key, source in candidates(info):
        try:
            live = _live(page, key, info)
            if live.count() == 1 and live.is_visible():
                return source
        except Exception as error:  # a candidate Playwright rejects is skipped
            log.debug("candidate %s rejected: %s", source, error)
    return None


@dataclass(frozen=True)
class Edit:
    """Replace the locator of `test`'s step `step` (a drag's destination when `to`)."""

    test: str
    step: int
    to: bool
    source: str


def rewrite(text: str, edits: list[Edit]) -> tuple[str, list[Edit]]:
    """`text` with every edit applied, and the edits that found no call to change."""
    tree = ast.parse(text)
    lines = text.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line.encode("utf-8")))
    data = text.encode("utf-8")
    spans: list[tuple[int, int, str]] = []
    missed: list[Edit] = []
    for edit in edits:
        node = _argument(tree, edit)
        if node is None:
            missed.append(edit)
            continue
        begin = starts[node.lineno - 1] + node.col_offset
        end = starts[(node.end_lineno or node.lineno) - 1] + (node.end_col_offset or 0)
        spans.append((begin, end, edit.source))
    for begin, end, source in sorted(set(spans), reverse=True):
        data = data[:begin] + source.encode("utf-8") + data[end:]
    return data.decode("utf-8"), missed


def _argument(tree: ast.Module, edit: Edit) -> ast.expr | None:
    """The locator argument of the step's call in the test function."""
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef) or function.name != edit.test:
            continue
        for call in ast.walk(function):
            if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)):
                continue
            if call.func.attr not in TARGET_VERBS:
                continue
            step = next((k.value for k in call.keywords if k.arg == "step"), None)
            if not (isinstance(step, ast.Constant) and step.value == edit.step):
                continue
            index = 2 if edit.to else 0
            if call.func.attr == "drag" or not edit.to:
                return call.args[index] if len(call.args) > index else None
    return None


def unified(before: str, after: str, path: str) -> str:
    """The change as a unified diff."""
    return "".join(difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True),
        fromfile=f"a/{path}", tofile=f"b/{path}",
    ))  # fmt: skip
