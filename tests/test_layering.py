"""Imports point one way (DESIGN.md): tools <- vlm, environments <- agent <- evaluation,
testgen, mcp <- cli. Checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ALLOWED = {
    "tools": set(),
    "vlm": {"tools"},
    "environments": {"tools"},
    "agent": {"tools", "vlm", "environments"},
    # the layers above the agent: never each other's internals
    "evaluation": {"tools", "vlm", "environments", "agent"},
    "testgen": {"tools", "vlm", "environments", "agent"},
    "mcpserver": {"tools", "vlm", "environments", "agent"},
    # the command line assembles everything
    "cli": {"tools", "vlm", "environments", "agent", "evaluation", "testgen", "mcpserver"},
}


def _our_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "pixelpilot" and len(parts) > 1:
                found.add(parts[1])
            elif parts[0] in ALLOWED:  # a bare "import tools" would bypass the package
                found.add(parts[0])
    return found


def test_packages_import_only_what_their_layer_allows() -> None:
    wrong = []
    for package, allowed in ALLOWED.items():
        for path in (ROOT / package).rglob("*.py"):
            for imported in _our_imports(path) - allowed - {package}:
                wrong.append(f"{path.relative_to(ROOT)} imports {imported}")
    assert not wrong, "\n".join(wrong)


def test_the_check_sees_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from pixelpilot.agent import cli\nimport pixelpilot.vlm.resize\n")
    assert _our_imports(bad) == {"agent", "vlm"}
