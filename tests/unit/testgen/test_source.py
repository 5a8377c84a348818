"""source.py prints what ruff format would print: checked against ruff itself (the
reference) and against Python's own parser (the value and the tree are unchanged)."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from pixelpilot.testgen.source import docstring, literal, statement

STRINGS = [
    "plain",
    'say "hi"',
    "it's",
    "it's \"both\" 'kinds'",
    "one \" and one '",
    "back\\slash",
    "line\nbreak\tand\rreturn",
    "bell\x07 and del\x7f",
    "café — Zürich 東京 🙂",
    "sep\u2028arator",
    "",
    "{{password}}",
]

LONG = "Create an account on Pilot Shop for Ada Lovelace with the email address"
STATEMENTS = [
    'pilot.click(page.get_by_role("button", name="Go"), "the Go button", step=1)',
    f'pilot.click(page.get_by_role("button", name="{LONG}").nth(0), "{LONG}", step=12, '
    'role="button", button="right", clicks=2)',
    f'expect(page.get_by_text("{LONG}, and more text to push it over").first).to_be_visible()',
    f'pilot.fill(page.get_by_label("{LONG}"), "prefix " + os.environ["SHOP_PASSWORD"], '
    '"the field", step=3)',
    f'page.goto(pilot.url("/a/very/long/path/{"x" * 80}?q=1"))',
    f'pilot.drag(page.locator("#a"), "{LONG}", None, "{LONG}", step=4, role="img")',
    'pilot.press("Enter")',
]


def _ruff_format_check(tmp_path, source: str) -> None:
    path = tmp_path / "case.py"
    path.write_text(source)
    for width in ("88", "100"):
        done = subprocess.run(
            [sys.executable, "-m", "ruff", "format", "--isolated", "--diff", "--line-length",
             width, str(path)], capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, (width, done.stdout, done.stderr)


@pytest.mark.parametrize("value", STRINGS)
def test_literal_is_the_value(value) -> None:
    assert ast.literal_eval(literal(value)) == value


def test_literals_are_quoted_as_ruff_quotes_them(tmp_path) -> None:
    source = "".join(f"value_{i} = {literal(v)}\n" for i, v in enumerate(STRINGS))
    _ruff_format_check(tmp_path, source)


def test_statements_are_split_as_ruff_keeps_them(tmp_path) -> None:
    body = [statement(s) for s in STATEMENTS]
    for original, printed in zip(STATEMENTS, body, strict=True):
        assert ast.dump(ast.parse(original)) == ast.dump(ast.parse(printed.strip()))
    assert "\n" not in body[0] and "\n" not in body[-1]  # short ones stay on one line
    assert all("\n" in b for b in body[1:-1])
    _ruff_format_check(tmp_path, "def test(page, pilot, os, expect):\n" + "\n".join(body) + "\n")


@pytest.mark.parametrize(
    "text",
    [
        "Short task",
        LONG + " " + LONG + " and the password {{password}}.",
        'Ends with a "quote"',
        'Has """ triple quotes and a back\\slash',
        "Two\nparagraphs",
    ],
)
def test_docstrings(tmp_path, text) -> None:
    module = docstring(text) + "\n\n\ndef f():\n" + docstring(text, "    ") + "\n"
    tree = ast.parse(module)
    assert ast.get_docstring(tree, clean=False).split() == text.split()
    _ruff_format_check(tmp_path, module)
