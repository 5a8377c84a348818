"""Generated and mutated model replies, for the fuzz test and `bench/fuzz_parse.py`.

Two sources (issue 14 item 10): hypothesis strategies that build replies in each
dialect's grammar with arbitrary values where the values go (any JSON in a tool call's
arguments, any literal in a UI-TARS call, any value in a ShowUI dict), and a mutation
corpus: the golden replies of tests/unit/vlm/test_golden_*.py, each dialect's prompt in
tests/fixtures/prompts, mangled by character flips, truncation, duplication, splicing,
numeric blow-ups and hostile Unicode (U+0085, U+2028/9, lone surrogates, NUL). The
oracle is the parser's contract: `ActionParseError`, or a list of valid actions whose
points are finite screenshot pixels. Nothing else may come out.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import strategies as st

from pixelpilot.tools import ACTION_TYPES, Space
from pixelpilot.vlm import ActionParseError, parse_actions

from . import test_golden_qwen, test_golden_showui, test_golden_uitars

DIALECT_NAMES = ("qwen2vl", "qwen25vl", "uitars", "uitars15", "showui")
SIZES = ((1920, 1080), (1932, 1092), (400, 300), (1080, 2400), (3440, 1440), (28, 28))
PROMPTS = Path(__file__).resolve().parents[2] / "fixtures" / "prompts"

HOSTILE = ["\x85", "\u2028", "\u2029", "\ud800", "\udfff", "\udbff\udc00", "\x00", "\r",
           "\ufeff", "\u200b", "😀", "東", "\\", "\\u", "\\ud800", "\\x", "'", '"', "(", ")",
           "[", "]", "{", "}", ",", ":", "=", "<", ">", "|", "\n", "\t", " ", "-", "+", ".",
           "e", "E", "0", "9", "None", "null", "true", "<|box_start|>", "<|box_end|>",
           "<point>", "</point>", "<tool_call>", "</tool_call>", "Action: ", "Thought: "]  # fmt: skip
HUGE = ["9" * 400, "1" * 5000, "1e999", "-1e999", "1e-999", "nan", "inf", "-0",
        "123456789012345678901234567890", "0." + "3" * 2000, "1" * 4301, "-" + "9" * 20]  # fmt: skip


def golden_corpus() -> dict[str, list[str]]:
    """The golden replies of each dialect, plus the action lines of its prompts."""
    corpus = {
        "qwen2vl": [r for r, _ in test_golden_qwen.QWEN2VL],
        "qwen25vl": [r for r, _, _ in test_golden_qwen.QWEN25VL],
        "uitars": [r for r, _ in test_golden_uitars.UITARS],
        "uitars15": [r for r, _, _ in test_golden_uitars.UITARS15],
        "showui": [r for r, _ in test_golden_showui.SHOWUI],
    }
    for path in sorted(PROMPTS.glob("*.txt")):
        dialect = path.name.split("_")[0]
        lines = [ln for ln in path.read_text().splitlines() if "(" in ln or "{" in ln]
        corpus[dialect].extend("Action: " + ln for ln in lines)
        corpus[dialect].append(path.read_text())
    return corpus


# -- mutation ----------------------------------------------------------------------
def _flip(rng: random.Random, text: str, corpus: list[str]) -> str:
    if not text:
        return rng.choice(HOSTILE)
    i = rng.randrange(len(text))
    return text[:i] + rng.choice(HOSTILE) + text[i + 1 :]


def _insert(rng: random.Random, text: str, corpus: list[str]) -> str:
    i = rng.randint(0, len(text))
    return text[:i] + rng.choice(HOSTILE) * rng.choice((1, 1, 2, 7, 40)) + text[i:]


def _truncate(rng: random.Random, text: str, corpus: list[str]) -> str:
    return (
        text[: rng.randint(0, len(text))]
        if rng.random() < 0.7
        else text[rng.randint(0, len(text)) :]
    )


def _delete(rng: random.Random, text: str, corpus: list[str]) -> str:
    i = rng.randint(0, len(text))
    return text[:i] + text[i + rng.randint(1, 8) :]


def _duplicate(rng: random.Random, text: str, corpus: list[str]) -> str:
    i = rng.randint(0, len(text))
    j = rng.randint(i, min(len(text), i + 60))
    return text[:j] + text[i:j] * rng.choice((1, 2, 5, 30)) + text[j:]


def _splice(rng: random.Random, text: str, corpus: list[str]) -> str:
    other = rng.choice(corpus)
    return text[: rng.randint(0, len(text))] + other[rng.randint(0, len(other)) :]


def _numbers(rng: random.Random, text: str, corpus: list[str]) -> str:
    digits = [i for i, c in enumerate(text) if c.isdigit()]
    if not digits:
        return text + rng.choice(HUGE)
    i = rng.choice(digits)
    j = i
    while j < len(text) and (text[j].isdigit() or text[j] == "."):
        j += 1
    return text[:i] + rng.choice(HUGE) + text[j:]


def _retype(rng: random.Random, text: str, corpus: list[str]) -> str:
    """Swap a value for one of another type (the class of bug in issue 14 item 10)."""
    values = ["null", "None", "true", "[]", "{}", "[1, 2]", "[[\"ctrl\"]]", "5", "\"x\"",
              "[null]", "[true]", "['ctrl', 5]", "[0\"enter\"]", "(0.3, 0.4)", "-1"]  # fmt: skip
    for opener in ("[", "'", '"'):
        i = text.find(opener, rng.randint(0, max(0, len(text) - 1)))
        if i != -1:
            close = {"[": "]", "'": "'", '"': '"'}[opener]
            j = text.find(close, i + 1)
            if j != -1:
                return text[:i] + rng.choice(values) + text[j + 1 :]
    return text + rng.choice(values)


MUTATORS: tuple[Callable[[random.Random, str, list[str]], str], ...] = (
    _flip, _insert, _truncate, _delete, _duplicate, _splice, _numbers, _retype,
)  # fmt: skip


def mutate(rng: random.Random, text: str, corpus: list[str]) -> str:
    """One to four mutations of `text`."""
    for _ in range(rng.choice((1, 1, 2, 3, 4))):
        text = rng.choice(MUTATORS)(rng, text, corpus)
    return text[:20_000]


def mutated(seed: int, count: int) -> Iterator[tuple[str, str]]:
    """`count` (dialect, reply) pairs: mutants of the golden corpus, each parsed by its
    own dialect and every fifth by another one (grammars mixed up is a real failure)."""
    rng = random.Random(seed)
    corpus = golden_corpus()
    everything = [r for replies in corpus.values() for r in replies]
    for n in range(count):
        dialect = DIALECT_NAMES[n % len(DIALECT_NAMES)]
        base = rng.choice(corpus[dialect] if n % 25 else everything)
        target = dialect if n % 5 else rng.choice(DIALECT_NAMES)
        yield target, mutate(rng, base, everything)


# -- hypothesis strategies -----------------------------------------------------------
_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12),
    st.sampled_from(["ctrl", "enter", "ctrl+c", "left_click", "CLICK", "down", "\ud800", "\x85"]),
)  # fmt: skip
json_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=12,
)
_QWEN25_ACTIONS = ["key", "type", "mouse_move", "left_click", "left_click_drag", "right_click",
                   "middle_click", "double_click", "triple_click", "scroll", "hscroll", "wait",
                   "terminate", "answer", "system_button", "swipe", "call_user", "fly"]  # fmt: skip
_ARG_KEYS = ["keys", "text", "coordinate", "coordinate2", "pixels", "time", "status", "button"]


def _py(value: object) -> str:
    """A value as a model would write it in Python-ish text (repr, never evaluated)."""
    return repr(value)


@st.composite
def qwen25vl_replies(draw: st.DrawFn) -> str:
    import json

    args = {"action": draw(st.sampled_from(_QWEN25_ACTIONS) | _scalars)}
    for key in draw(st.lists(st.sampled_from(_ARG_KEYS), max_size=4, unique=True)):
        args[key] = draw(json_values)
    body = json.dumps({"name": "computer_use", "arguments": args}, ensure_ascii=draw(st.booleans()))
    return (
        draw(st.sampled_from(["", "Thought.\n", "```json\n"]))
        + f"<tool_call>\n{body}\n</tool_call>"
    )


_UITARS_NAMES = ["click", "left_double", "right_single", "drag", "hotkey", "type", "scroll",
                 "wait", "finished", "call_user", "keydown", "keyup", "hover", "press_back"]  # fmt: skip
_UITARS_KEYS = ["start_box", "end_box", "point", "start_point", "end_point", "key", "content",
                "direction"]  # fmt: skip


@st.composite
def uitars_replies(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from(_UITARS_NAMES))
        keys = draw(st.lists(st.sampled_from(_UITARS_KEYS), max_size=3, unique=True))
        inner = [f"{k}={_py(draw(json_values))}" for k in keys]
        box = draw(st.sampled_from(["<|box_start|>({0},{1})<|box_end|>", "<point>{0} {1}</point>",
                                    "({0},{1})", "[{0}, {1}, {0}, {1}]"]))  # fmt: skip
        numbers = [
            draw(st.sampled_from(["1", "500", "-3", "1e999", "9" * 50, "0.5"])) for _ in "xy"
        ]
        inner.append(f"start_box='{box.format(*numbers)}'")
        parts.append(f"{name}({', '.join(inner)})")
    return "Thought: t\nAction: " + "\n\n".join(parts)


_SHOWUI_KINDS = ["CLICK", "INPUT", "SELECT", "HOVER", "ANSWER", "ENTER", "SCROLL", "SELECT_TEXT",
                 "COPY", "TAP", "SWIPE"]  # fmt: skip


@st.composite
def showui_replies(draw: st.DrawFn) -> str:
    obj = {
        "action": draw(st.sampled_from(_SHOWUI_KINDS) | _scalars),
        "value": draw(json_values),
        "position": draw(json_values | st.tuples(st.floats(), st.floats()).map(list)),
    }
    if draw(st.booleans()):
        return _py(obj)
    return _py(draw(st.tuples(st.floats(), st.floats())))  # a grounding answer as a tuple


_QWEN2_VERBS = ["CLICK", "DOUBLE_CLICK", "RIGHT_CLICK", "HOVER", "DRAG", "SCROLL", "TYPE",
                "PRESS", "NAVIGATE", "BACK", "WAIT", "FINISH", "FAIL", "CALL_USER"]  # fmt: skip


@st.composite
def qwen2vl_replies(draw: st.DrawFn) -> str:
    lines = []
    for _ in range(draw(st.integers(1, 3))):
        verb = draw(st.sampled_from(_QWEN2_VERBS))
        numbers = draw(st.lists(st.sampled_from(["1", "999", "1000", "-1", "1e999", "9" * 60, "0.5"]),
                                min_size=0, max_size=5))  # fmt: skip
        box = "<|box_start|>(" + ",".join(numbers) + ")<|box_end|>"
        lines.append(
            f"{verb} {draw(st.text(max_size=10))} {box} {draw(st.sampled_from(['', 'UP', 'TO']))}"
        )
    return "Thought: t\nAction: " + "\n".join(lines)


STRATEGIES = {
    "qwen2vl": qwen2vl_replies(),
    "qwen25vl": qwen25vl_replies(),
    "uitars": uitars_replies(),
    "uitars15": uitars_replies(),
    "showui": showui_replies(),
}
#: any reply in any dialect: the grammars' own strategies, mixed, plus arbitrary text
any_reply = st.tuples(
    st.sampled_from(DIALECT_NAMES),
    st.one_of(*STRATEGIES.values(), st.text(max_size=200)),
    st.sampled_from(SIZES),
)


# -- the oracle ------------------------------------------------------------------------
@dataclass
class Outcome:
    """What a batch of replies produced: counts, and every contract violation."""

    parsed: int = 0
    refused: int = 0
    crashes: list[tuple[str, str, str]] = field(default_factory=list)


def check(dialect: str, reply: str, size: tuple[int, int], outcome: Outcome) -> None:
    """Parse one reply; anything but ActionParseError or valid actions is recorded."""
    try:
        actions = parse_actions(reply, dialect, screenshot_size=size)
    except ActionParseError:
        outcome.refused += 1
        return
    except Exception as error:  # finding these is the point
        outcome.crashes.append((dialect, f"{type(error).__name__}: {error}"[:300], reply))
        return
    problem = _invalid_result(actions, size)
    if problem:
        outcome.crashes.append((dialect, problem, reply))
    else:
        outcome.parsed += 1


def _invalid_result(actions: object, size: tuple[int, int]) -> str | None:
    if not isinstance(actions, list) or not actions:
        return f"not a non-empty list of actions: {actions!r}"[:300]
    for action in actions:
        if not isinstance(action, ACTION_TYPES):
            return f"not an action: {action!r}"[:300]
        for point in action.points().values():
            if point.space is not Space.SCREENSHOT_PX:
                return f"point in {point.space}"
            if not (math.isfinite(point.x) and math.isfinite(point.y)):
                return f"non-finite point {point}"
            if not (0 <= point.x <= size[0] and 0 <= point.y <= size[1]):
                return f"point off the screenshot {point}"
    return None
