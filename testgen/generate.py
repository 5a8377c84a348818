"""`pixelpilot testgen`: a successful run directory becomes a pytest file a person would have
written, plus the crops the healing runtime needs, beside it:

    tests/test_create_an_account.py
    tests/__pixelpilot__/test_create_an_account/step-01.png ... steps.json

The shape is fixed by the interface the runtime (`Healer`) is written to. What a run gives
and where it goes:

- each replayed action becomes one `pilot.*` call (a click then typing in one step is a
  `fill`; a typed trailing newline is a `press("Enter")`); a target keeps its locator
  (`locators.py`), a description (the model's stated intent, Pilot's own description, else
  one built from role and name) and a crop of the recorded screenshot (already masked
  where a secret was typed, by the controller that took it);
- secrets are `os.environ["NAME"]`: a record holds only their `{{name}}` placeholders;
- assertions come from the screen after the last action: the Finish answer as visible
  text, the URL path when it changed, the title. They are plain `expect` calls, which the
  runtime never heals. The trajectory records no DOM text, so the answer is asserted as
  the model gave it: an answer that is not on the page makes the test fail, never pass.

Same trajectory, same bytes: nothing depends on time, paths given, or dictionary order.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pixelpilot.agent.trajectory import paired, read_trajectory
from pixelpilot.tools import FixableError

from .source import docstring, literal, module_docstring, statement
from .steps import Converter, Target

log = logging.getLogger("pixelpilot.testgen")
CROPS = "__pixelpilot__"
_MAX_WORDS = 6
_SECRET = re.compile(r"\{\{\s*[A-Za-z_]\w*\s*\}\}")  # a redacted value


class TestgenError(FixableError, ValueError):
    """A run that cannot become a test (not finished successfully, not a browser or desktop
    run, nothing to assert); the message says why and what to do."""

    __test__ = False  # not a pytest test class, whatever its name


@dataclass(frozen=True)
class Generated:
    """What was written: the test file, its test function, its crops folder."""

    path: Path
    test_name: str
    crops: Path
    statements: int
    assertions: int


def function_name(task: str) -> str:
    """`test_create_an_account_on_pilot_shop`: the task's first words, ASCII, no secrets."""
    text = unicodedata.normalize("NFKD", re.sub(r"\{\{[^}]*\}\}", " ", task))
    words = re.findall(r"[a-z0-9]+", text.encode("ascii", "ignore").decode().lower())
    return "test_" + ("_".join(words[:_MAX_WORDS]) or "recorded_run")


def check_run(run: dict[str, Any]) -> str:
    """The run's environment kind ("browser" or "desktop"), or a `TestgenError` saying why
    the run cannot become a test."""
    where, end = run["run_dir"], run["end"]
    if end is None:
        raise TestgenError(f"{where}: the run did not finish (no end record); only a "
                           "successful run becomes a test")  # fmt: skip
    if end.get("status") != "success":
        raise TestgenError(f"{where}: the run ended with status {end.get('status')!r} "
                           f"({end.get('reason') or 'no reason'}); only a successful run "
                           "becomes a test")  # fmt: skip
    if not run["steps"]:
        raise TestgenError(f"{where}: the run has no steps")
    environment = str(run["header"].get("environment") or "")
    if "Desktop" in environment:
        return "desktop"
    if "Browser" in environment:
        return "browser"
    raise TestgenError(f"{where}: a {environment or 'unknown'} run; tests are generated from "
                       "browser and desktop runs only")  # fmt: skip


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def end_state(steps: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first step recorded after the last action that ran: its screenshot, URL and
    title are the screen the actions left. None when the run ends on an action."""
    last = max((i for i, s in enumerate(steps) if _ran(s)), default=-1)
    return steps[last + 1] if last + 1 < len(steps) else None


def _ran(step: dict[str, Any]) -> bool:
    return any(isinstance(r, dict) and r.get("ok") for _, _, r in paired(step))


def assertions(run: dict[str, Any], start_url: str | None) -> list[str]:
    """`expect` statements for the end state: new text, the URL, the title."""
    steps = run["steps"]
    final, out = end_state(steps), []
    if final is None:
        return out
    answer = (run["end"] or {}).get("answer")
    line = supporting_text(_last_acted(steps), final, answer if isinstance(answer, str) else "")
    if line is not None:
        out.append(f"expect(page.get_by_text({literal(line)}).first).to_be_visible()")
    url = final.get("url")
    gone = _gone(run, final, answer if isinstance(answer, str) else "")
    if gone is not None:
        out.append(gone)
    if isinstance(url, str) and start_url and _path(url) != _path(start_url):
        parts = urlsplit(url)
        if origin(url) == origin(start_url):
            out.append(f"expect(page).to_have_url(pilot.url_pattern({literal(parts.path)}))")
        else:
            out.append(f"expect(page).to_have_url({literal(url)})")
    if isinstance(final.get("title"), str) and final["title"].strip():
        out.append(f"expect(page).to_have_title({literal(final['title'])})")
    return out


def _gone(run: dict[str, Any], final: dict[str, Any], answer: str) -> str | None:
    """An `expect` that the text the last action removed from the page stays gone."""
    before = _last_acted(run["steps"])
    url, was = final.get("url"), (before or {}).get("url")
    if isinstance(url, str) and isinstance(was, str) and _path(url) != _path(was):
        return None  # another page: everything of the old one vanished
    task = str(run["header"].get("task") or "")
    line = vanished_text(before, final, f"{task} {answer}")
    if line is None:
        return None
    visible = f"page.get_by_text({literal(line)}, exact=True).filter(visible=True)"
    return f"expect({visible}).to_have_count(0)"


def _last_acted(steps: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((s for s in reversed(steps) if _ran(s)), None)


def supporting_text(
    before: dict[str, Any] | None, final: dict[str, Any], answer: str
) -> str | None:
    """The line of page text that appeared after the last action (in the end state's
    recorded text, not in the text seen before that action) sharing the most words with
    the Finish answer; the first new line when none shares a word. None when the run
    recorded no page text (an older pixelpilot) or nothing new appeared."""
    now = final.get("text")
    if not isinstance(now, list):
        log.warning("the run records no page text: no text assertion (re-record the run)")
        return None
    seen = set((before or {}).get("text") or [])
    fresh = [line for line in now if isinstance(line, str) and line not in seen
             and not _SECRET.search(line) and len(line) <= 200]  # fmt: skip
    if not fresh:
        return None
    wanted = set(_words(answer))
    return max(fresh, key=lambda line: len(wanted & set(_words(line))))  # first of the best


def vanished_text(
    before: dict[str, Any] | None, final: dict[str, Any], wanted_text: str
) -> str | None:
    """A line of page text the last action made disappear from the same page, sharing the
    most words (at least one) with the task and the answer: what a removal removed. Without
    it a test that removes the wrong one of several look-alikes would pass. None when the
    run recorded no text, nothing vanished, or nothing that vanished is about the task."""
    now, then = final.get("text"), (before or {}).get("text")
    if not isinstance(now, list) or not isinstance(then, list):
        return None
    present = set(now)
    gone = [line for line in then if isinstance(line, str) and line not in present
            and not _SECRET.search(line) and len(line) <= 200]  # fmt: skip
    wanted = set(_words(wanted_text))
    scored = [(len(wanted & set(_words(line))), line) for line in gone]
    best = max((n for n, _ in scored), default=0)
    return next((line for n, line in scored if n == best), None) if best else None


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def _generated(path: Path) -> bool:
    """Whether `path` is a file this generator wrote (its docstring says so), so that
    regenerating replaces it while a hand-written file is never overwritten."""
    try:
        with path.open(encoding="utf-8") as file:
            return file.read(64).startswith('"""Generated by pixelpilot testgen from')
    except (OSError, UnicodeDecodeError):
        return False


def _urls(step: dict[str, Any]) -> list[Any]:
    """The page a step saw, then the pages its navigations that ran opened."""
    opened = [(a.get("screenshot") or {}).get("url") for a, _, r in paired(step)
              if isinstance(a, dict) and isinstance(r, dict) and r.get("ok")
              and (a.get("screenshot") or {}).get("action") == "navigate"]  # fmt: skip
    return [step.get("url"), *opened]


def _web(url: Any) -> bool:
    return isinstance(url, str) and urlsplit(url).scheme in ("http", "https", "file")


def _path(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.path or "/", parts.query


def render(
    run: dict[str, Any], env_names: dict[str, str] | None = None
) -> tuple[str, list[Target]]:
    """The test file's source and the targets to crop, for a checked browser run."""
    header, steps = run["header"], run["steps"]
    web = [url for s in steps for url in _urls(s) if _web(url)]
    if not web:
        raise TestgenError(f"{run['run_dir']}: the run never shows a web page (http, https "
                           "or file): there is no page to test")  # fmt: skip
    start_url = web[0]
    converter = Converter(header, origin(start_url), env_names or {})
    # a run that started on about:blank reaches its first page by a recorded navigation
    body = [converter.url(start_url)] if _web(steps[0].get("url")) else []
    for step in steps:
        converter.step(step)
    body += converter.out.statements
    checks = assertions(run, start_url)
    if not checks and end_state(steps) is None:
        raise TestgenError(f"{run['run_dir']}: no screen was recorded after the last action, "
                           "so there is nothing to assert; end a Pilot script with a check "
                           "(pilot.expect) or a read")  # fmt: skip
    if not checks:
        raise TestgenError(f"{run['run_dir']}: the screen after the last action shows no new "
                           "text, no new address and no title: nothing to assert")  # fmt: skip
    task = str(header.get("task") or "a recorded run")
    name = function_name(task)
    imports = ["import os", ""] if converter.out.uses_env else []
    lines = [
        module_docstring(Path(run["run_dir"]).name, task),
        "",
        *imports,
        "from pixelpilot.testgen import Healer",  # third-party where the test lives: one
        "from playwright.sync_api import Page, expect",  # block, sorted (ruff's isort)
        "",
        f"RECORDED_ORIGIN = {literal(origin(start_url))}",
        "",
        "",
        f"def {name}(page: Page, pilot: Healer) -> None:",
        docstring(task, "    "),
        *(statement(s) for s in [*body, *checks]),
    ]
    return "\n".join(lines) + "\n", converter.out.targets


def write_crops(run: dict[str, Any], targets: list[Target], folder: Path) -> None:
    """`step-NN.png` (`-to` for a drag's destination) cut from the recorded screenshots,
    and `steps.json`, into `folder` (emptied of earlier crops first)."""
    from PIL import Image

    frames = {s["step"] + 1: s.get("frame") or {} for s in run["steps"]}
    folder.mkdir(parents=True, exist_ok=True)
    for old in [*folder.glob("step-*.png"), folder / "steps.json"]:
        old.unlink(missing_ok=True)
    table: dict[str, dict[str, Any]] = {}
    for target in targets:
        frame = frames.get(target.step, {})
        scale = float(frame.get("scale") or 1.0)
        with Image.open(Path(run["run_dir"]) / target.screenshot) as shot:
            image = shot.convert("RGB")
        x0, y0, x1, y1 = target.box_px
        clip = (max(0, round(x0)), max(0, round(y0)),
                min(image.width, round(x1)), min(image.height, round(y1)))  # fmt: skip
        if clip[2] <= clip[0] or clip[3] <= clip[1]:
            log.warning("step %d: the target lies outside the screenshot; no crop", target.step)
            continue
        image.crop(clip).save(folder / f"step-{target.step:02d}{target.suffix}.png", format="PNG")
        entry = {
            "box": [round(v / scale, 2) for v in clip],
            "role": target.role,
            "description": target.description,
            "dpr": scale,
            "viewport": [round(image.width / scale), round(image.height / scale)],
        }
        if target.point is not None:  # a desktop target: the point acted on, in X pixels
            entry["point"] = [round(v / scale, 2) for v in target.point]
        key = f"{target.step:02d}"
        if target.suffix == "-to":
            table.setdefault(key, {})["to"] = entry
        else:
            table[key] = {**entry, **table.get(key, {})}
    text = json.dumps(table, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    (folder / "steps.json").write_text(text, encoding="utf-8")


def generate(run_dir: str | Path, output: str | Path | None = None, *,
             env_names: dict[str, str] | None = None) -> Generated:  # fmt: skip
    """Write the test for `run_dir` to `output` (default `test_<task words>.py` here) and
    its crops to `<output's folder>/__pixelpilot__/<test name>/`."""
    run = read_trajectory(run_dir)
    kind = check_run(run)
    if kind == "desktop":
        from .desktop_source import render_desktop

        source, targets = render_desktop(run, env_names)
    else:
        source, targets = render(run, env_names)
    name = function_name(str(run["header"].get("task") or "a recorded run"))
    path = Path(output) if output is not None else Path(f"{name}.py")
    if path.suffix != ".py":
        raise TestgenError(f"{path}: the output must be a .py file (pytest collects test_*.py)")
    if path.exists() and not _generated(path):
        raise TestgenError(f"{path} exists and was not written by pixelpilot testgen: not "
                           "overwritten (remove it or choose another -o)")  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    crops = path.parent / CROPS / name
    write_crops(run, targets, crops)
    path.write_text(source, encoding="utf-8")
    calls = source.count("\n    pilot.") + source.count("\n    page.goto(")
    return Generated(path, name, crops, calls, source.count("\n    expect("))
