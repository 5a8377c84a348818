"""Evaluation reports: results.json for programs, report.md and report.html for people.

Both evaluations describe their report as a list of sections (a title, a paragraph, a
table whose cells may link somewhere); one renderer writes it as Markdown and one as
HTML, so the two never disagree. A run whose backend is an oracle says, at the top of
every report, that it is a pipeline check and not a model's accuracy.
"""

from __future__ import annotations

import html
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PIPELINE_CHECK = (
    "PIPELINE CHECK, not model accuracy: the backend is an oracle that answers from the "
    "page's DOM (or the record's box) in the dialect's exact output format. The score "
    "measures everything but the model: resize, prompt rendering, reply parsing, "
    "coordinate mapping and the controller."
)


@dataclass(frozen=True)
class Cell:
    text: str
    link: str | None = None  # relative to the report's folder


@dataclass
class Section:
    title: str
    text: str = ""
    headers: list[str] = field(default_factory=list)
    rows: list[list[Cell | str]] = field(default_factory=list)


def percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def number(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def write_reports(out_dir: Path, title: str, data: dict[str, Any], sections: list[Section]) -> None:
    """results.json, report.md and report.html in `out_dir` (each written atomically)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    _atomic(out_dir / "results.json", json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    _atomic(out_dir / "report.md", to_markdown(title, sections))
    _atomic(out_dir / "report.html", to_html(title, sections))


def _atomic(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def _cell(value: Cell | str) -> Cell:
    return value if isinstance(value, Cell) else Cell(str(value))


def to_markdown(title: str, sections: list[Section]) -> str:
    lines = [f"# {title}", ""]
    for section in sections:
        lines += [f"## {section.title}", ""]
        if section.text:
            lines += [section.text, ""]
        if section.headers:
            lines.append("| " + " | ".join(section.headers) + " |")
            lines.append("|" + "|".join("---" for _ in section.headers) + "|")
            for row in section.rows:
                cells = [_markdown_cell(_cell(c)) for c in row]
                lines.append("| " + " | ".join(cells) + " |")
            lines.append("")
    return "\n".join(lines)


def _markdown_cell(cell: Cell) -> str:
    text = " ".join(cell.text.replace("|", "\\|").split())
    return f"[{text}]({cell.link})" if cell.link else text


_STYLE = """body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:72em;padding:0 1em}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;
text-align:left;vertical-align:top}th{background:#f3f3f3}td{max-width:40em;overflow-wrap:anywhere}
.note{background:#fff4d6;border:1px solid #e0b84c;padding:.6em .8em}"""


def to_html(title: str, sections: list[Section]) -> str:
    esc = html.escape
    parts = [
        f"<!doctype html><meta charset='utf-8'><title>{esc(title)}</title>",
        f"<style>{_STYLE}</style><h1>{esc(title)}</h1>",
    ]
    for section in sections:
        parts.append(f"<h2>{esc(section.title)}</h2>")
        if section.text:
            kind = " class='note'" if section.text.startswith("PIPELINE CHECK") else ""
            parts.append(f"<p{kind}>{esc(section.text)}</p>")
        if section.headers:
            head = "".join(f"<th>{esc(h)}</th>" for h in section.headers)
            body = "".join(
                "<tr>" + "".join(_html_cell(_cell(c)) for c in row) + "</tr>"
                for row in section.rows
            )
            parts.append(f"<table><tr>{head}</tr>{body}</table>")
    return "\n".join(parts) + "\n"


def _html_cell(cell: Cell) -> str:
    text = html.escape(cell.text)
    if cell.link:
        return f"<td><a href='{html.escape(cell.link, quote=True)}'>{text}</a></td>"
    return f"<td>{text}</td>"
