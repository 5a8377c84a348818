"""A run as one self-contained HTML page: what the agent saw, said, did, and how long it took.

One file, no server, no network: screenshots are embedded as base64 JPEG, the style is
inline, there is no script, and a Content-Security-Policy forbids anything else, so the
report can be mailed, attached to a CI run or opened from disk. Everything the model
wrote (and everything else from the trajectory) is HTML-escaped: the model's text is
untrusted and a page it controls must not be able to inject markup into the report.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import time
from pathlib import Path
from typing import Any

from .trajectory import PARTIAL, paired, read_trajectory
from .video import annotate, describe_action, first_line, load_screenshot, step_actions

MAX_WIDTH = 1280
JPEG_QUALITY = 80

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1500px;padding:16px;
color:#1d1d1f;background:#f6f6f8}
h1{font-size:20px}h2{font-size:17px;margin:0 0 8px}h3{font-size:14px;margin:12px 0 4px}
table{border-collapse:collapse;margin:4px 0}td,th{border:1px solid #ccd;padding:3px 6px;
text-align:left;vertical-align:top}th{background:#eef}
pre{white-space:pre-wrap;word-break:break-word;background:#fff;border:1px solid #ccd;
padding:8px;max-height:24em;overflow:auto;margin:4px 0}
.step{background:#fff;border:1px solid #ccd;border-radius:6px;padding:12px;margin:16px 0}
figure{margin:0}img{max-width:100%;height:auto;border:1px solid #ccd}
.cols{display:flex;flex-wrap:wrap;gap:16px}.cols>div{flex:1 1 420px;min-width:0}
.cols>div.side{flex:0 1 320px}td code{display:block;min-width:16em}
.bad{color:#b00020;font-weight:600}.ok{color:#16794c}.muted{color:#667}
nav ul{columns:3 260px;padding-left:24px}code{font-size:12px;word-break:break-all}
"""
# The page has no script and needs nothing but its own style and data: URI images.
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def _e(value: Any) -> str:
    """HTML-escape anything (None becomes an empty string)."""
    return html.escape("" if value is None else str(value), quote=True)


def _seconds(value: Any) -> str:
    return f"{value:.3f}\u00a0s" if isinstance(value, int | float) else "-"


def _when(value: Any) -> str:
    """A header time: epoch seconds shown as local time, anything else as written."""
    if isinstance(value, int | float):
        return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(value))
    return str(value) if value else "-"


def _first(record: dict[str, Any], *keys: str) -> Any:
    return next((record[k] for k in keys if record.get(k) not in (None, "")), None)


def _rows(pairs: list[tuple[str, Any]]) -> str:
    """A two-column table of already-escaped HTML values."""
    body = "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in pairs)
    return f"<table>{body}</table>"


def _raw(title: str, record: dict[str, Any] | None) -> str:
    """The whole record as JSON, folded: fields this report does not know are still shown."""
    if not record:
        return ""
    text = json.dumps(record, indent=2, ensure_ascii=False, default=str)
    return f"<details><summary>{_e(title)}</summary><pre>{_e(text)}</pre></details>"


def _outcome(end: dict[str, Any] | None) -> str:
    if end is None:
        return '<span class="bad">did not finish</span> (no end record: the run was killed)'
    status = _e(end.get("status", "?"))
    css = "ok" if end.get("status") == "success" else "bad"
    out = f'<span class="{css}">{status}</span>'
    if end.get("answer") not in (None, ""):
        out += f" — answer: <q>{_e(end['answer'])}</q>"
    detail = _first(end, "error", "reason", "message")
    return out + (f" — {_e(detail)}" if detail else "")


def _header_html(run: dict[str, Any]) -> str:
    header, steps, end = run["header"], run["steps"], run["end"] or {}
    config = header.get("config") if isinstance(header.get("config"), dict) else {}
    rows = [
        ("Task", _e(header.get("task"))),
        ("Dialect", _e(header.get("dialect") or "-")),
        ("Backend", _e(header.get("backend") or "-")),
        ("Model", _e(_first(header, "model") or _first(config, "model") or "-")),
        ("Environment", _e(header.get("environment") or "-")),
        ("Started", _e(_when(_first(header, "created", "started", "start_time", "time")))),
        ("Steps", _e(len(steps))),
        ("Duration", _seconds(end.get("duration_s"))),
        ("Outcome", _outcome(run["end"])),
    ]
    return _rows(rows) + _raw("Header record", header) + _raw("End record", run["end"])


def _step_number(step: dict[str, Any], index: int) -> Any:
    return step.get("step", index)


def _toc(steps: list[dict[str, Any]]) -> str:
    items = []
    for index, step in enumerate(steps):
        number = _step_number(step, index)
        summary = "; ".join(describe_action(a) for a in step_actions(step)) or "no actions"
        bad = step.get("parse_error") or any(
            isinstance(r, dict) and not r.get("ok", True) for r in step.get("results") or []
        )
        mark = ' <span class="bad">(error)</span>' if bad else ""
        link = f'<a href="#step-{_e(number)}">Step {_e(number)}</a>'
        items.append(f"<li>{link}: {_e(summary)}{mark}</li>")
    return f"<nav><h2>Steps</h2><ul>{''.join(items)}</ul></nav>"


def _image_html(run_dir: Path, step: dict[str, Any], number: Any) -> str:
    """The annotated screenshot as an inline JPEG, at most MAX_WIDTH pixels wide."""
    image = load_screenshot(run_dir, step)
    if image is None:
        return f'<p class="bad">Screenshot {_e(step.get("screenshot"))} is missing.</p>'
    image = annotate(image, step, caption=False)
    if image.width > MAX_WIDTH:
        image = image.resize((MAX_WIDTH, round(image.height * MAX_WIDTH / image.width)))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return (
        f'<img src="data:image/jpeg;base64,{data}" width="{image.width}" '
        f'height="{image.height}" alt="Step {_e(number)} screenshot with its actions drawn">'
    )


def _element(element: Any) -> str:
    """What was under the pointer, e.g. button role=button name="Save"."""
    if not isinstance(element, dict):
        return ""
    parts = [str(element.get("tag") or "?")]
    for key in ("role", "name", "label", "text", "test_id"):
        if element.get(key):
            parts.append(f'{key}="{element[key]}"')
    return _e(" ".join(parts))


def _result(result: Any) -> str:
    if not isinstance(result, dict):
        return '<span class="muted">not run</span>'
    out = '<span class="ok">ok</span>' if result.get("ok") else '<span class="bad">failed</span>'
    if result.get("error"):
        out += f'<br><span class="bad">{_e(result["error"])}</span>'
    if result.get("note"):
        out += f"<br>note: {_e(result['note'])}"
    return out


def _decision(decision: Any) -> str:
    if not isinstance(decision, dict):
        return '<span class="muted">-</span>'
    reason = f": {_e(decision['reason'])}" if decision.get("reason") else ""
    return f"{_e(decision.get('verdict'))}{reason}"


def _action_row(index: int, pair: Any, action: Any, decision: Any, result: Any) -> str:
    model = pair.get("model") if isinstance(pair, dict) and "model" in pair else pair
    done = result if isinstance(result, dict) else {}
    timings = done.get("timings") or {}
    cells = [
        _e(index),
        _e(describe_action(action)),
        f"<code>{_e(json.dumps(model, ensure_ascii=False))}</code>",
        _decision(decision),
        _result(result),
        _element(done.get("element")),
        _seconds(timings.get("action_s")),
        _seconds(timings.get("settle_s")),
    ]
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def _actions_html(step: dict[str, Any]) -> str:
    """One row per parsed action: summary, model JSON, policy decision, result, element."""
    pairs = step.get("actions") or []
    if not pairs:
        return '<p class="muted">No actions.</p>'
    rows = [
        _action_row(index, pair, action, decision, result)
        for index, (action, (pair, decision, result)) in enumerate(
            zip(step_actions(step), paired(step), strict=True)
        )
    ]
    names = ("#", "Action", "As the model wrote it", "Policy", "Result", "Element", "Action",
             "Settle")  # fmt: skip
    head = "<tr>" + "".join(f"<th>{name}</th>" for name in names) + "</tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def _timings_html(step: dict[str, Any]) -> str:
    """Where the step's time went: model, actions, settling, and the step's own totals."""
    completion = step.get("completion") or {}
    model = completion.get("timings") or {}
    results = [r for r in step.get("results") or [] if isinstance(r, dict)]
    action = sum((r.get("timings") or {}).get("action_s", 0.0) for r in results)
    settle = sum((r.get("timings") or {}).get("settle_s", 0.0) for r in results)
    rows = [
        ("Preprocess", _seconds(model.get("preprocess_s"))),
        ("Model", _seconds(model.get("model_s"))),
        ("Actions", _seconds(action)),
        ("Settle", _seconds(settle)),
    ]
    rows += [(f"Step {key}", _seconds(value)) for key, value in (step.get("timings") or {}).items()]
    usage = completion.get("usage") or {}
    if usage:
        tokens = ", ".join(f"{_e(k)} {_e(v)}" for k, v in usage.items())
        rows.append(("Tokens", tokens))
    return _rows(rows)


def _step_html(run_dir: Path, step: dict[str, Any], index: int) -> str:
    number = _step_number(step, index)
    completion = step.get("completion") or {}
    where = " · ".join(_e(v) for v in (step.get("title"), step.get("url")) if v)
    parse_error = step.get("parse_error")
    error = f'<p class="bad">Parse error: {_e(parse_error)}</p>' if parse_error else ""
    if step.get("feedback"):  # what the loop told the model about this step's failure
        error += f"<h3>Fed back to the model</h3><pre>{_e(step['feedback'])}</pre>"
    return (
        f'<section class="step" id="step-{_e(number)}"><h2>Step {_e(number)} '
        f'<span class="muted">{where}</span></h2>'
        f"<figure>{_image_html(run_dir, step, number)}</figure>"
        f'<div class="cols"><div><h3>Model output</h3><pre>{_e(completion.get("text"))}</pre>'
        f'{error}</div><div class="side"><h3>Timings</h3>{_timings_html(step)}</div></div>'
        f"<h3>Actions</h3>{_actions_html(step)}"
        f"{_raw('Step record', {k: v for k, v in step.items() if k != 'request'})}"
        "</section>"
    )


def render_report(run_dir: str | Path, *, out_name: str = "report.html") -> Path:
    """Write `run_dir/out_name` (atomically: temporary name, then rename) and return it.
    Written step by step, so one step's image is in memory at a time, however long the
    run; text a browser cannot hold as UTF-8 (a lone surrogate) becomes a character
    reference rather than an error."""
    run_dir = Path(run_dir)
    run = read_trajectory(run_dir)
    task = run["header"].get("task") or run_dir.name
    out, partial = run_dir / out_name, run_dir / f".{out_name}{PARTIAL}"
    try:
        with partial.open("w", encoding="utf-8", errors="xmlcharrefreplace") as file:
            file.write(
                '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
                f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
                '<meta name="viewport" content="width=device-width, initial-scale=1">'
                f"<title>pixelpilot: {_e(first_line(task))}</title><style>{_STYLE}</style>"
                f"</head><body><h1>pixelpilot run: {_e(first_line(task))}</h1>"
                f"{_header_html(run)}{_toc(run['steps'])}"
            )
            for index, step in enumerate(run["steps"]):
                file.write(_step_html(run_dir, step, index))
            if not run["steps"]:
                file.write("<p class=muted>No steps were recorded.</p>")
            file.write("</body></html>\n")
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, out)
    return out


def ensure_derived(run_dir: str | Path) -> tuple[Path, list[str]]:
    """Make a run directory whole again for viewing: remove the `.partial` files a killed
    process left, and rebuild `run.mp4` (if the run recorded video) and `report.html`
    when they are missing, from the trajectory and the PNGs. Returns the report's path
    and one line per thing done or not done (a video that could not be rebuilt is a
    note, not an error: the report still shows every step). Raises `TrajectoryError`
    for a run directory that cannot be read."""
    from .trajectory import clean_partials

    run_dir = Path(run_dir)
    run = read_trajectory(run_dir)  # first: a missing or damaged run says so, and why
    notes = [f"removed {p.name}, left by an interrupted write" for p in clean_partials(run_dir)]
    config = run["header"].get("config") if isinstance(run["header"].get("config"), dict) else {}
    video = run_dir / "run.mp4"
    if config.get("video", True) and run["steps"] and not video.exists():
        try:
            from .video import render_video

            render_video(run_dir)
            notes.append(f"rebuilt {video.name} from {len(run['steps'])} screenshots")
        except Exception as error:  # PyAV missing, a codec refusing: the report still works
            notes.append(f"could not rebuild {video.name}: {error}")
    report = run_dir / "report.html"
    if not report.exists():
        report = render_report(run_dir)
        notes.append(f"wrote {report.name}")
    return report, notes
