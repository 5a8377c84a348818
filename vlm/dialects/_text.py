"""Reading model text without ever evaluating it.

Models write Python-ish calls (`click(start_box='(1,2)')`), Python dict reprs
(`{'action': 'CLICK', 'value': None}`) and JSON with small mistakes. One lenient literal
reader and one call reader serve every dialect; nothing here calls eval, exec or
ast.literal_eval, and nesting depth is bounded so hostile text cannot exhaust the stack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_MAX_DEPTH = 32
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WORDS = {"None": None, "null": None, "True": True, "true": True, "False": False, "false": False}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "0": "\0",
            "\\": "\\", "'": "'", '"': '"', "/": "/"}  # fmt: skip


class LiteralError(ValueError):
    """Text that is not a literal; the message says where."""


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def read_string(text: str, pos: int) -> tuple[str, int]:
    """Read a quoted string at `pos` (its quote char); return (value, index after it)."""
    quote = text[pos]
    i = pos + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == quote:
            return unescape(text[pos + 1 : i]), i + 1
        i += 1
    raise LiteralError(f"unterminated string starting at character {pos}")


def unescape(raw: str) -> str:
    """Resolve backslash escapes the way a Python or JSON string literal would."""
    if "\\" not in raw:
        return raw
    out: list[str] = []
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\" and i + 1 < len(raw):
            nxt = raw[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
                continue
            code = _hex_escape(raw, i)
            if code is not None:
                out.append(code[0])
                i = code[1]
                continue
        out.append(ch)  # unknown escape: keep the backslash, as Python does
        i += 1
    return "".join(out)


def _hex_escape(text: str, i: int) -> tuple[str, int] | None:
    kind = text[i + 1]
    width = {"u": 4, "x": 2, "U": 8}.get(kind)
    if width is None:
        return None
    digits = text[i + 2 : i + 2 + width]
    if len(digits) != width or not all(c in "0123456789abcdefABCDEF" for c in digits):
        return None
    value = int(digits, 16)
    if value > 0x10FFFF:
        return None
    # JSON writes astral characters as surrogate pairs: join them.
    if kind == "u" and 0xD800 <= value < 0xDC00 and text[i + 6 : i + 8] == "\\u":
        low_digits = text[i + 8 : i + 12]
        if len(low_digits) == 4 and all(c in "0123456789abcdefABCDEF" for c in low_digits):
            low = int(low_digits, 16)
            if 0xDC00 <= low < 0xE000:
                return chr(0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00)), i + 12
    if 0xD800 <= value < 0xE000:
        return None
    return chr(value), i + 2 + width


def read_literal(text: str, pos: int = 0, depth: int = 0) -> tuple[Any, int]:
    """Read one JSON/Python literal at `pos`; return (value, index after it).

    Lenient: single or double quotes, None/null/True/true, tuples as lists, trailing
    commas, bare words as strings.
    """
    if depth > _MAX_DEPTH:
        raise LiteralError("nesting too deep")
    pos = _skip_ws(text, pos)
    if pos >= len(text):
        raise LiteralError("expected a value, found the end of the text")
    ch = text[pos]
    if ch in "'\"":
        return read_string(text, pos)
    if ch == "{":
        return _read_dict(text, pos, depth)
    if ch in "[(":
        return _read_list(text, pos, depth)
    number = _NUMBER.match(text, pos)
    if number:
        raw = number.group()
        value = float(raw) if any(c in raw for c in ".eE") else int(raw)
        return value, number.end()
    ident = _IDENT.match(text, pos)
    if ident:
        word = ident.group()
        return _WORDS.get(word, word), ident.end()
    raise LiteralError(f"unexpected {ch!r} at character {pos}")


def _read_list(text: str, pos: int, depth: int) -> tuple[list[Any], int]:
    close = "]" if text[pos] == "[" else ")"
    items: list[Any] = []
    i = pos + 1
    while True:
        i = _skip_ws(text, i)
        if i >= len(text):
            raise LiteralError(f"unclosed {text[pos]!r} at character {pos}")
        if text[i] == close:
            return items, i + 1
        value, i = read_literal(text, i, depth + 1)
        items.append(value)
        i = _skip_ws(text, i)
        if i < len(text) and text[i] == ",":
            i += 1


def _read_dict(text: str, pos: int, depth: int) -> tuple[dict[Any, Any], int]:
    result: dict[Any, Any] = {}
    i = pos + 1
    while True:
        i = _skip_ws(text, i)
        if i >= len(text):
            raise LiteralError(f"unclosed '{{' at character {pos}")
        if text[i] == "}":
            return result, i + 1
        key, i = read_literal(text, i, depth + 1)
        i = _skip_ws(text, i)
        if i >= len(text) or text[i] not in ":=":
            raise LiteralError(f"expected ':' after key {key!r} at character {i}")
        value, i = read_literal(text, i + 1, depth + 1)
        if isinstance(key, list | dict):
            raise LiteralError("a dictionary key must be a string or number")
        result[key] = value
        i = _skip_ws(text, i)
        if i < len(text) and text[i] == ",":
            i += 1


def find_literals(text: str, openers: str = "{") -> list[Any]:
    """Every top-level literal starting with one of `openers` in free text, in order.

    Text between them (Thought, code fences, prose) is skipped; an opener that does not
    start a readable literal is skipped too. A literal inside another is not listed.
    """
    found: list[Any] = []
    starts = re.compile("[" + re.escape(openers) + "]")
    i = 0
    while match := starts.search(text, i):
        try:
            value, end = read_literal(text, match.start())
        except LiteralError:
            i = match.start() + 1
            continue
        found.append(value)
        i = end
    return found


def flat_numbers(value: Any) -> list[float] | None:
    """[x, y], [x1, y1, x2, y2] or [[x1, y1], [x2, y2]] as a flat list of floats, else None."""
    if not isinstance(value, list):
        return None
    flat = [v for item in value for v in (item if isinstance(item, list) else [item])]
    if flat and all(isinstance(v, int | float) and not isinstance(v, bool) for v in flat):
        return [float(v) for v in flat]
    return None


@dataclass
class Call:
    """A function call the model wrote: `name(key=value, ...)` or with positional values."""

    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    args: list[Any] = field(default_factory=list)
    start: int = 0
    end: int = 0


_ARG_NAME = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*[=:]")
_STRING_END = re.compile(r"\s*(?:,\s*[A-Za-z_][A-Za-z0-9_]*\s*=|\))")


def _read_arg_value(text: str, pos: int) -> tuple[Any, int]:
    """A call argument; a string whose inner quotes the model forgot to escape is read
    up to the quote that is followed by the next argument or the closing parenthesis."""
    pos = _skip_ws(text, pos)
    if pos < len(text) and text[pos] in "'\"":
        try:
            value, end = read_string(text, pos)
            if _STRING_END.match(text, end):
                return value, end
        except LiteralError:
            pass
        quote = text[pos]
        j = pos + 1
        while (j := text.find(quote, j)) != -1:
            if text[j - 1] != "\\" and _STRING_END.match(text, j + 1):
                return unescape(text[pos + 1 : j]), j + 1
            j += 1
        # No closing quote: the reply was cut off; keep what it managed to say.
        return unescape(text[pos + 1 :].rstrip().rstrip(")").rstrip("'\"")), len(text)
    return read_literal(text, pos)


def read_call(text: str, pos: int, name: str) -> Call:
    """Read the arguments of a call whose name ends just before the '(' at `pos`."""
    call = Call(name=name, start=pos)
    i = pos + 1
    while True:
        i = _skip_ws(text, i)
        if i >= len(text):
            call.end = len(text)  # a reply cut off before ')' still says what it meant
            return call
        if text[i] == ")":
            call.end = i + 1
            return call
        named = _ARG_NAME.match(text, i)
        if named:
            value, i = _read_arg_value(text, named.end())
            call.kwargs[named.group(1).lower()] = value
        else:
            value, i = _read_arg_value(text, i)
            call.args.append(value)
        i = _skip_ws(text, i)
        if i < len(text) and text[i] == ",":
            i += 1


def find_calls(text: str, names: set[str]) -> list[Call]:
    """Calls of the given names (case-insensitive) in order; text inside one call's
    arguments is never read as another call."""
    pattern = re.compile(r"\b(" + "|".join(sorted(map(re.escape, names))) + r")\s*\(", re.I)
    calls: list[Call] = []
    i = 0
    while match := pattern.search(text, i):
        try:
            call = read_call(text, match.end() - 1, match.group(1).lower())
        except LiteralError:
            i = match.end()
            continue
        call.start = match.start()
        calls.append(call)
        i = max(call.end, match.end())
    return calls


_GROUP = re.compile(
    r"<\|box_start\|>(?P<box>.*?)(?:<\|box_end\|>|$)"
    r"|<point>(?P<point>.*?)</point>"
    r"|<bbox>(?P<bbox>.*?)</bbox>"
    r"|(?P<paren>\(\s*[-+\d.]+\s*,\s*[-+\d.]+\s*\)(?:\s*,\s*\(\s*[-+\d.]+\s*,\s*[-+\d.]+\s*\))?)"
    r"|(?P<bracket>\[\s*[-+\d.]+(?:\s*,\s*[-+\d.]+){1,3}\s*\])",
    re.S,
)


def numbers_in(text: str) -> list[float]:
    return [float(n) for n in _NUMBER.findall(text)]


def coordinate_groups(text: str) -> list[list[float]]:
    """Coordinate groups in order: box tokens, <point>, <bbox>, (x,y)[,(x,y)], [x,y(,x,y)]."""
    groups = []
    for match in _GROUP.finditer(text):
        numbers = numbers_in(next(g for g in match.groups() if g is not None))
        if numbers:
            groups.append(numbers)
    return groups


_ACTION_MARKER = re.compile(r"(?im)^\s*\**action\**\s*[:：]\s*")


def action_segment(text: str) -> str:
    """The part of a reply that holds actions: after the first 'Action:' line marker
    (Thought, Reflection and Action_Summary text before it is never read as an action),
    or the whole reply when the model left the marker out."""
    match = _ACTION_MARKER.search(text)
    return text[match.end() :] if match else text


def thought_of(text: str) -> str:
    """The free text before the actions (Thought/Reflection), without its label."""
    match = _ACTION_MARKER.search(text)
    head = text[: match.start()] if match else ""
    return re.sub(r"(?im)^\s*(thought|reflection|action_summary)\s*[:：]\s*", "", head).strip()


def direction_in(text: str) -> str | None:
    """The first of up/down/left/right named in `text` (UI-TARS writes 'down or up')."""
    match = re.search(r"\b(up|down|left|right)\b", text, re.I)
    return match.group(1).lower() if match else None
