"""Replies of 1 MB in the shapes that made the parser quadratic (issue 15 item 4), for
`bench/bench_parse.py` and tests/unit/vlm/test_linear.py.

Each shape is text a broken or hostile model could send: many lines (the line-anchored
regexes that could cross newlines), one long line, many `Action:` markers, nested
brackets (the literal reader's retries), many box/point tokens left open (the
"up to the closing token" patterns), calls and strings left open.
"""

from __future__ import annotations

from collections.abc import Callable

MB = 1_000_000


def _fill(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


SHAPES: dict[str, Callable[[int], str]] = {
    "100k newlines": lambda n: _fill("Thought x\n", n),
    "only newlines": lambda n: "\n" * n,
    "blank-ish lines": lambda n: _fill(" \t\n* 1. \n", n),
    "one long line": lambda n: _fill("click the button ", n),
    "many Action: lines": lambda n: _fill("Action: click(start_box='(100,200)')\n", n),
    "many Action: markers": lambda n: _fill("Action:\n", n),
    "nested brackets": lambda n: "[" * (n // 2) + "]" * (n // 2),
    "mixed openers": lambda n: _fill("{[(", n),
    "lists left open": lambda n: _fill("[1, ", n),
    "lists left open, one ]": lambda n: _fill("[1, ", n - 1) + "]",
    "box tokens": lambda n: _fill("<|box_start|>(100,200),(300,400)<|box_end|> ", n),
    "box tokens left open": lambda n: _fill("<|box_start|>(1,", n),
    "points left open": lambda n: _fill("<point>1 ", n),
    "calls left open": lambda n: _fill("click(start_box='", n),
    "dicts left open": lambda n: _fill("{'a': '", n),
    "dicts left open, one }": lambda n: _fill("{'a': '", n - 1) + "}",
    "tool calls left open": lambda n: _fill("<tool_call>{", n),
    "digits": lambda n: "9" * n,
}
