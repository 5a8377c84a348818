"""A Playwright locator, as Python source, for an element recorded under a pointer action.

Candidates go in the order Playwright's codegen prefers them (test id, role and name,
placeholder, label, alt text, text, title, CSS id). A candidate is kept only if it matched
exactly one element on the page when the step was recorded (`ElementInfo.counts`); when
none did, the first one that exists is narrowed with `.nth(k)` (the element's own index
among its matches) as the last resort, and an
element with nothing to name it by is found by its tag. Generation needs no live page.
"""

from __future__ import annotations

import json
import re

from pixelpilot.environments.base import ElementInfo

from .source import literal

# Form fields whose `text` is their value (never a locator for them: get_by_text does not
# read values) and a locator must not hold what was typed.
_FIELDS = {"input", "textarea", "select"}


def _quote(value: str) -> str:
    """A Python string literal for `value`, quoted the way ruff format quotes it."""
    return literal(value)


def candidates(info: ElementInfo) -> list[tuple[str, str]]:
    """(counts key, source) for every locator `info` supports, in codegen order."""
    out: list[tuple[str, str]] = []
    if info.test_id:
        out.append(("test_id", f"page.get_by_test_id({_quote(info.test_id)})"))
    if info.role and info.name:
        out.append(("role", f"page.get_by_role({_quote(info.role)}, name={_quote(info.name)})"))
    if info.placeholder:
        out.append(("placeholder", f"page.get_by_placeholder({_quote(info.placeholder)})"))
    if info.label:
        out.append(("label", f"page.get_by_label({_quote(info.label)})"))
    if info.alt:
        out.append(("alt", f"page.get_by_alt_text({_quote(info.alt)})"))
    if info.text and (info.tag or "") not in _FIELDS:
        out.append(("text", f"page.get_by_text({_quote(info.text)})"))
    if info.title:
        out.append(("title", f"page.get_by_title({_quote(info.title)})"))
    if info.css_id:
        plain = re.fullmatch(r"[A-Za-z_][\w-]*", info.css_id)
        css = f"#{info.css_id}" if plain else f"[id={json.dumps(info.css_id)}]"  # a CSS string
        out.append(("css_id", f"page.locator({_quote(css)})"))
    return out


def locator_source(info: ElementInfo) -> str:
    """The first candidate unique at record time; without counts (an old trajectory) the
    first candidate; if none was unique, the first narrowed by the element's own index
    among its matches (`.nth(k)`, recorded with the counts: `.nth(0)` would pick the first
    look-alike, not the one the run acted on); else the tag."""
    found = candidates(info)
    if info.counts is None and found:
        return found[0][1]
    counts = info.counts or {}
    for key, source in found:
        if counts.get(key) == 1:
            return source
    if found:
        key, source = found[0]
        return f"{source}.nth({(info.nth or {}).get(key, 0)})"
    return f"page.locator({_quote(info.tag or '*')}).nth(0)"


def narrowed(info: ElementInfo) -> bool:
    """Whether the locator is positional (no candidate was unique when recorded)."""
    return ".nth(" in locator_source(info)
