r"""Reading model text without ever evaluating it, in time linear in the text.

Models write Python-ish calls (`click(start_box='(1,2)')`), Python dict reprs
(`{'action': 'CLICK', 'value': None}`) and JSON with small mistakes. One lenient literal
reader and one call reader serve every dialect; nothing here calls eval, exec or
ast.literal_eval.

Hostile or broken text must cost no more than its length (issue 15: a reply of 100k
newlines took minutes), so:
- no regex can backtrack across lines or rescan from every start position: line-anchored
  patterns use `[ \t]*`, never `\s*`, and "up to the closing token" patterns stop at the
  next opening token;
- a literal that starts inside another one that failed is read once: a `_Reader` keeps
  what it read at each position, so restarting one character later reuses it;
- nesting deeper than `_MAX_DEPTH` is junk: the scan skips past it instead of retrying
  every opener inside it;
- numbers are bounded: more than `_MAX_INT_DIGITS` digits read as a float (possibly
  inf, which the dialects reject as "not a finite number"), so Python's int-digit limit
  and float overflow are never reached.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

#: real replies nest 3 deep ({"arguments": {"coordinate": [x, y]}}, [[x1, y1], [x2, y2]])
_MAX_DEPTH = 16
#: a run of more openers than that can start no readable literal but its last ones
_OPENER_RUN = re.compile(r"(?:[\[({]\s*){" + str(_MAX_DEPTH + 1) + ",}")
_MAX_INT_DIGITS = 15
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WS = re.compile(r"\s*")
_STRINGS = {
    q: re.compile(q + r"([^" + q + r"\\]*(?:\\.[^" + q + r"\\]*)*)" + q, re.S) for q in "'\""
}
_WORDS = {"None": None, "null": None, "True": True, "true": True, "False": False, "false": False}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "0": "\0",
            "\\": "\\", "'": "'", '"': '"', "/": "/"}  # fmt: skip
_H = "[0-9a-fA-F]"
_ESCAPE = re.compile(
    rf"\\(?:u([dD][89abAB]{_H}{{2}})\\u([dD][c-fC-F]{_H}{{2}})"  # a JSON surrogate pair
    rf"|u({_H}{{4}})|U({_H}{{8}})|x({_H}{{2}})|(.))",
    re.S,
)


class LiteralError(ValueError):
    """Text that is not a literal; the message says where."""


class DepthError(LiteralError):
    """Nesting deeper than `_MAX_DEPTH`; `pos` is where the scan may resume."""

    def __init__(self, pos: int) -> None:
        super().__init__("nesting too deep")
        self.pos = pos


def _skip_ws(text: str, pos: int) -> int:
    return _WS.match(text, pos).end()  # type: ignore[union-attr]


def read_string(text: str, pos: int) -> tuple[str, int]:
    """Read a quoted string at `pos` (its quote char); return (value, index after it)."""
    match = _STRINGS[text[pos]].match(text, pos)
    if match is None:
        raise LiteralError(f"unterminated string starting at character {pos}")
    return unescape(match.group(1)), match.end()


def _escaped(match: re.Match[str]) -> str:
    high, low, u4, u8, x2, other = match.groups()
    if high is not None:
        return chr(0x10000 + ((int(high, 16) - 0xD800) << 10) + (int(low, 16) - 0xDC00))
    if other is not None:  # unknown escape: keep the backslash, as Python does
        return _ESCAPES.get(other, "\\" + other)
    digits = u4 or u8 or x2
    value = int(digits, 16)
    if value > 0x10FFFF or 0xD800 <= value < 0xE000:  # never make a lone surrogate
        return match.group()
    return chr(value)


def unescape(raw: str) -> str:
    """Resolve backslash escapes the way a Python or JSON string literal would."""
    if "\\" not in raw:
        return raw
    return _ESCAPE.sub(_escaped, raw)


def number_value(raw: str) -> int | float:
    """A number's value; huge integers become floats (see the module docstring)."""
    if any(c in raw for c in ".eE") or len(raw) > _MAX_INT_DIGITS:
        return float(raw)  # never raises for _NUMBER's matches: overflow gives inf
    return int(raw)


class _Reader:
    """Reads literals in one text, remembering each position's outcome (linear rescans).

    The hot loops inline the whitespace skip (`_WS` only when a space is there): a hostile
    reply makes them run once per character, so a function call per step shows.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.size = len(text)
        #: position -> (value, end), or the message of the LiteralError it raised (a new
        #: exception each time: re-raising one object would grow its traceback forever)
        self.memo: dict[int, tuple[Any, int] | str] = {}

    def literal(self, pos: int, depth: int = 0) -> tuple[Any, int]:
        """Read one JSON/Python literal at `pos`; return (value, index after it).

        Lenient: single or double quotes, None/null/True/true, tuples as lists, trailing
        commas, bare words as strings.
        """
        text = self.text
        if depth > _MAX_DEPTH:
            raise DepthError(pos)
        if pos < self.size and text[pos].isspace():
            pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
        if pos >= self.size:
            raise LiteralError("expected a value, found the end of the text")
        ch = text[pos]
        if ch == "'" or ch == '"':
            return read_string(text, pos)
        if ch != "{" and ch != "[" and ch != "(":
            return self._scalar(pos)
        known = self.memo.get(pos)
        if known is not None:
            if isinstance(known, str):
                raise LiteralError(known)
            return known
        try:
            result = self._dict(pos, depth) if ch == "{" else self._list(pos, depth)
        except DepthError:
            raise  # depends on depth: not remembered
        except LiteralError as error:
            self.memo[pos] = str(error)
            raise
        self.memo[pos] = result
        return result

    def _scalar(self, pos: int) -> tuple[Any, int]:
        number = _NUMBER.match(self.text, pos)
        if number:
            return number_value(number.group()), number.end()
        ident = _IDENT.match(self.text, pos)
        if ident:
            word = ident.group()
            return _WORDS.get(word, word), ident.end()
        raise LiteralError(f"unexpected {self.text[pos]!r} at character {pos}")

    def _list(self, pos: int, depth: int) -> tuple[list[Any], int]:
        text, size, ws = self.text, self.size, _WS.match
        close = "]" if text[pos] == "[" else ")"
        items: list[Any] = []
        i = pos + 1
        while True:
            if i < size and text[i].isspace():
                i = ws(text, i).end()  # type: ignore[union-attr]
            if i >= size:
                raise LiteralError(f"unclosed {text[pos]!r} at character {pos}")
            if text[i] == close:
                return items, i + 1
            value, i = self.literal(i, depth + 1)
            items.append(value)
            if i < size and text[i].isspace():
                i = ws(text, i).end()  # type: ignore[union-attr]
            if i < size and text[i] == ",":
                i += 1

    def _dict(self, pos: int, depth: int) -> tuple[dict[Any, Any], int]:
        text, size, ws = self.text, self.size, _WS.match
        result: dict[Any, Any] = {}
        i = pos + 1
        while True:
            if i < size and text[i].isspace():
                i = ws(text, i).end()  # type: ignore[union-attr]
            if i >= size:
                raise LiteralError(f"unclosed '{{' at character {pos}")
            if text[i] == "}":
                return result, i + 1
            key, i = self.literal(i, depth + 1)
            if i < size and text[i].isspace():
                i = ws(text, i).end()  # type: ignore[union-attr]
            if i >= size or text[i] not in ":=":
                raise LiteralError(f"expected ':' after a key at character {i}")
            value, i = self.literal(i + 1, depth + 1)
            if isinstance(key, list | dict):
                raise LiteralError("a dictionary key must be a string or number")
            result[key] = value
            if i < size and text[i].isspace():
                i = ws(text, i).end()  # type: ignore[union-attr]
            if i < size and text[i] == ",":
                i += 1


def read_literal(text: str, pos: int = 0) -> tuple[Any, int]:
    """Read one JSON/Python literal at `pos`; return (value, index after it)."""
    return _Reader(text).literal(pos)


def find_literals(text: str, openers: str = "{", limit: int | None = None) -> list[Any]:
    """Top-level literals starting with one of `openers` in free text, in order (at most
    `limit` of them).

    Text between them (Thought, code fences, prose) is skipped; an opener that does not
    start a readable literal is skipped too. A literal inside another is not listed.
    """
    found: list[Any] = []
    starts = re.compile("[" + re.escape(openers) + "]")
    reader = _Reader(text)
    # An opener after the last closer of its kind cannot start a literal: skip it unread.
    last_close = {o: text.rfind(c) for o, c in (("{", "}"), ("[", "]"), ("(", ")"))}
    i = 0
    while (limit is None or len(found) < limit) and (match := starts.search(text, i)):
        if match.start() > last_close[match.group()]:
            i = match.start() + 1
            continue
        run = _OPENER_RUN.match(text, match.start())
        if run:  # skip to where a literal could still fit under the depth limit
            i = max(match.start() + 1, _last_openers(text, run.end()))
            continue
        try:
            value, end = reader.literal(match.start())
        except DepthError as error:
            i = max(error.pos, match.start() + 1)
            continue
        except LiteralError:
            i = match.start() + 1
            continue
        found.append(value)
        i = end
    return found


def _last_openers(text: str, end: int) -> int:
    """The start of the last `_MAX_DEPTH` openers of the run that ends at `end`."""
    count, i = 0, end
    while i > 0 and count < _MAX_DEPTH:
        i -= 1
        if text[i] in "[({":
            count += 1
    return i


def finite(value: Any) -> float | None:
    """`value` as a finite float, or None for anything else (bools, strings, inf, nan)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def flat_numbers(value: Any) -> list[float] | None:
    """[x, y], [x1, y1, x2, y2] or [[x1, y1], [x2, y2]] as a flat list of finite floats,
    else None. Tuples count as lists (ShowUI writes `(0.3, 0.4)`)."""
    if not isinstance(value, list | tuple) or len(value) > 8:
        return None
    flat = [v for item in value for v in (item if isinstance(item, list | tuple) else [item])]
    numbers = [finite(v) for v in flat]
    if flat and len(flat) <= 8 and all(n is not None for n in numbers):
        return numbers  # type: ignore[return-value]
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


def _read_arg_value(reader: _Reader, pos: int) -> tuple[Any, int]:
    """A call argument; a string whose inner quotes the model forgot to escape is read
    up to the quote that is followed by the next argument or the closing parenthesis."""
    text = reader.text
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
    return reader.literal(pos)


def _read_call(reader: _Reader, pos: int, name: str) -> Call:
    """Read the arguments of a call whose name ends just before the '(' at `pos`."""
    text = reader.text
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
            value, i = _read_arg_value(reader, named.end())
            call.kwargs[named.group(1).lower()] = value
        else:
            value, i = _read_arg_value(reader, i)
            call.args.append(value)
        i = _skip_ws(text, i)
        if i < len(text) and text[i] == ",":
            i += 1


def read_call(text: str, pos: int, name: str) -> Call:
    """Read the arguments of a call whose name ends just before the '(' at `pos`."""
    return _read_call(_Reader(text), pos, name)


def find_calls(text: str, names: set[str]) -> list[Call]:
    """Calls of the given names (case-insensitive) in order; text inside one call's
    arguments is never read as another call."""
    pattern = re.compile(r"\b(" + "|".join(sorted(map(re.escape, names))) + r")[ \t]*\(", re.I)
    reader = _Reader(text)
    calls: list[Call] = []
    i = 0
    while match := pattern.search(text, i):
        try:
            call = _read_call(reader, match.end() - 1, match.group(1).lower())
        except DepthError as error:
            i = max(error.pos, match.end())
            continue
        except LiteralError:
            i = match.end()
            continue
        call.start = match.start()
        calls.append(call)
        i = max(call.end, match.end())
    return calls


# Each "up to the closing token" group stops at the next opening token too, so an
# unclosed token costs the text up to the next one, not the rest of the reply.
_GROUP = re.compile(
    r"<\|box_start\|>(?P<box>(?:(?!<\|box_(?:start|end)\|>).)*)(?:<\|box_end\|>)?"
    r"|<point>(?P<point>(?:(?!</?point>).)*)</point>"
    r"|<bbox>(?P<bbox>(?:(?!</?bbox>).)*)</bbox>"
    r"|(?P<paren>\(\s*[-+\d.]+\s*,\s*[-+\d.]+\s*\)(?:\s*,\s*\(\s*[-+\d.]+\s*,\s*[-+\d.]+\s*\))?)"
    r"|(?P<bracket>\[\s*[-+\d.]+(?:\s*,\s*[-+\d.]+){1,3}\s*\])",
    re.S,
)


def numbers_in(text: str) -> list[float]:
    return [float(n) for n in _NUMBER.findall(text)]


def coordinate_groups(text: str, limit: int | None = None) -> list[list[float]]:
    """Coordinate groups in order: box tokens, <point>, <bbox>, (x,y)[,(x,y)], [x,y(,x,y)]
    (at most `limit` of them; a group's numbers are those of its first 8)."""
    groups: list[list[float]] = []
    for match in _GROUP.finditer(text):
        inner = next(g for g in match.groups() if g is not None)
        numbers = [float(m.group()) for m in islice(_NUMBER.finditer(inner), 8)]
        if numbers:
            groups.append(numbers)
            if limit is not None and len(groups) >= limit:
                break
    return groups


# Line-anchored: `[ \t]*`, never `\s*`, which would rescan the rest of the reply from
# every line start (quadratic in the number of lines).
_ACTION_MARKER = re.compile(r"(?im)^[ \t]*\**action\**[ \t]*[:：][ \t]*")
_LABEL = re.compile(r"(?im)^[ \t]*(thought|reflection|action_summary)[ \t]*[:：][ \t]*")


def action_segment(text: str, *, last: bool = False) -> str:
    """The part of a reply that holds actions: after the first 'Action:' line marker
    (Thought, Reflection and Action_Summary text before it is never read as an action),
    or the whole reply when the model left the marker out. With `last`, after the last
    marker instead (the UI-TARS rule: earlier 'Action:' lines are not run)."""
    match = None
    for match in _ACTION_MARKER.finditer(text):  # noqa: B007 - keep the last one
        if not last:
            break
    return text[match.end() :] if match else text


def thought_of(text: str) -> str:
    """The free text before the actions (Thought/Reflection), without its label."""
    match = _ACTION_MARKER.search(text)
    head = text[: match.start()] if match else ""
    return _LABEL.sub("", head).strip()


_DIRECTION = re.compile(r"\b(up|down|left|right)\b", re.I)


def direction_in(text: str) -> str | None:
    """The first of up/down/left/right named in `text` (UI-TARS writes 'down or up')."""
    match = _DIRECTION.search(text)
    return match.group(1).lower() if match else None
