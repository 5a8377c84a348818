"""Python source the way `ruff format` writes it, for the few shapes a generated test holds.

Why not run ruff on the output: ruff is a development tool, not something installing
pixelpilot brings, and a generated file must be ruff-clean on every machine. The shapes are
few (calls, attributes, string literals, `os.environ[...]`, `+`), so they are printed here:
a statement stays on one line when it fits in 88 columns (ruff's default width), else each
call that does not fit is split one argument a line with a trailing comma. A trailing comma
keeps ruff from joining the lines again at any width, so the file is stable at 88 and at a
project's wider setting (pixelpilot's own is 100) alike.
"""

from __future__ import annotations

import ast
import textwrap

WIDTH = 88
INDENT = "    "


def literal(value: str) -> str:
    """A string literal as ruff format writes it: double quotes unless the text holds more
    double quotes than single ones; backslashes, the quote and control characters escaped."""
    quote = "'" if value.count('"') > value.count("'") else '"'
    out = []
    for char in value:
        if char in ("\\", quote):
            out.append("\\" + char)
        elif char in "\n\r\t":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}[char])
        elif ord(char) < 32 or ord(char) == 127:
            out.append(f"\\x{ord(char):02x}")
        elif char in "\x85\u2028\u2029":
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return quote + "".join(out) + quote


def _flat(node: ast.AST) -> str:
    """One-line source of an expression of the supported shapes."""
    if isinstance(node, ast.Constant):
        return literal(node.value) if isinstance(node.value, str) else repr(node.value)
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_flat(node.value)}.{node.attr}"
    if isinstance(node, ast.Subscript):
        return f"{_flat(node.value)}[{_flat(node.slice)}]"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return f"{_flat(node.left)} + {_flat(node.right)}"
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return f"-{_flat(node.operand)}"
    if isinstance(node, ast.Call):
        return f"{_flat(node.func)}({', '.join(_flat_arg(a) for a in _arguments(node))})"
    raise ValueError(f"cannot print a {type(node).__name__} expression")


def _arguments(node: ast.Call) -> list[ast.AST]:
    return [*node.args, *node.keywords]


def _flat_arg(arg: ast.AST) -> str:
    if isinstance(arg, ast.keyword):
        return f"{arg.arg}={_flat(arg.value)}"
    return _flat(arg)


def _split(node: ast.AST, indent: str) -> str:
    """`node` starting at column len(indent), split where it does not fit (the first
    line's text is what follows `indent`; later lines carry their own indentation)."""
    flat = _flat(node)
    if len(indent) + len(flat) <= WIDTH:
        return flat
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Call):  # call(...).first
        return f"{_split(node.value, indent)}.{node.attr}"
    if not isinstance(node, ast.Call):
        return flat
    inner = indent + INDENT
    func = node.func
    head = _split(func.value, indent) + "." + func.attr if isinstance(func, ast.Attribute) else None
    if head is None or "\n" not in head:
        head = _flat(func)
        if _constant_tail(node):  # expect(...).to_have_count(0): split expect's call, as ruff
            tail = f"{_forced(func.value, indent)}.{func.attr}({_flat_args(node)})"  # type: ignore[union-attr]
            if len(tail.rsplit("\n", 1)[1]) <= WIDTH:
                return tail
    if not _arguments(node):
        return f"{head}()"
    tail = f"{head}({', '.join(_flat_arg(a) for a in _arguments(node))})"
    if "\n" in head and len(tail.rsplit("\n", 1)[1]) <= WIDTH:  # `).nth(0)` after a split
        return tail
    lines = [f"{head}("]
    for arg in _arguments(node):
        if isinstance(arg, ast.keyword):
            value = _split(arg.value, inner + arg.arg + "=")
            lines.append(f"{inner}{arg.arg}={value},")
        else:
            lines.append(f"{inner}{_split(arg, inner)},")
    lines.append(f"{indent})")
    return "\n".join(lines)


def _constant_tail(node: ast.Call) -> bool:
    """`call(...).method(constants)`: ruff splits the first call's arguments and keeps the
    short constant tail on the closing line."""
    func = node.func
    return (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Call)
            and bool(_arguments(func.value)) and not node.keywords
            and all(isinstance(a, ast.Constant) for a in node.args))  # fmt: skip


def _flat_args(node: ast.Call) -> str:
    return ", ".join(_flat_arg(a) for a in _arguments(node))


def _forced(node: ast.Call, indent: str) -> str:
    """`node` split one argument a line with a trailing comma (which ruff keeps split)."""
    inner = indent + INDENT
    lines = [f"{_flat(node.func)}("]
    for arg in _arguments(node):
        if isinstance(arg, ast.keyword):
            lines.append(f"{inner}{arg.arg}={_split(arg.value, inner + arg.arg + '=')},")
        else:
            lines.append(f"{inner}{_split(arg, inner)},")
    lines.append(f"{indent})")
    return "\n".join(lines)


def statement(source: str, indent: str = INDENT) -> str:
    """One expression statement (given as valid Python in any layout), formatted."""
    tree = ast.parse(source.strip(), mode="eval")
    return indent + _split(tree.body, indent)


def docstring(text: str, indent: str = "") -> str:
    """A docstring for `text`, wrapped to the width; nothing in it ends the string early."""
    body = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"').strip()
    one = f'"""{body} """' if body.endswith('"') else f'"""{body}"""'  # ruff's space
    if "\n" not in body and len(indent) + len(one) <= WIDTH:
        return indent + one
    lines: list[str] = []
    for number, paragraph in enumerate(body.splitlines()):
        lines += textwrap.wrap(
            paragraph.rstrip(), WIDTH - len(indent), initial_indent='"""' if number == 0 else "",
            break_long_words=False, break_on_hyphens=False,
        ) or [""]  # fmt: skip
    return "\n".join([*(indent + line if line else "" for line in lines), indent + '"""'])


def module_docstring(run_name: str, task: str) -> str:
    """`Generated by pixelpilot testgen from RUN: TASK` on one line when it fits, else the
    origin line and the task as a paragraph of its own."""
    one = docstring(f"Generated by pixelpilot testgen from {run_name}: {task}")
    if "\n" not in one:
        return one
    return docstring(f"Generated by pixelpilot testgen from {run_name}:\n\n{task}")
