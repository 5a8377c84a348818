"""Per-step latency: pixelpilot after this change, pixelpilot before it, and browser-use, on
the same pages, the same instant fake model, the same system Chromium, runs interleaved.

Pages (served from one local HTTP server): a form that cannot scroll, and a page of about
2,000 elements (400 rows of a label, a link, a button and a field) that can. The step plan
is fixed: clicks on odd steps, scrolls down on even steps, 20 steps; steps 2-20 are the
warm ones reported. Each run is its own process (a fresh browser), and the rounds go
before, after, browser-use, before, after, ... so a loaded machine hurts them alike.

Per step, pixelpilot's whole step is the agent loop's own (observe, the scripted model,
execute with its settle; no recording); its settle and action times are the controller's.
Beside them, in the same run after every step and outside it: one raw CDP capture (the call
observe() makes) and one raw mouse click at an inert point (Playwright's mouse, what an
action sends). browser-use's whole step is the time between two calls of its model (its
state capture, DOM serialisation, message building and action); its raw capture and click
are the CDP calls it makes itself, timed the same way in the same run.

"Before" is another commit checked out with `git worktree add` (never a stash), imported
through a shim package that maps `pixelpilot.*` onto it. browser-use lives in its own
virtual environment, never in .venv:

    python3 -m venv /tmp/bu-venv && /tmp/bu-venv/bin/pip install 'browser-use==0.13.*'
    git worktree add /tmp/before <commit>
    .venv/bin/python bench/vs_browser_use.py [--rounds 3] [--before /tmp/before]
        [--browser-use-python /tmp/bu-venv/bin/python] [--skip-browser-use]

Prints tables; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

STEPS = 20
VIEWPORT = (1280, 720)
INERT = (4, 4)  # CSS px: the body's margin on every page, no handler there
TARGETS = {"form": (90, 148), "heavy": (90, 30)}  # CSS px: the button each click presses
SCROLL_PX = 500  # pixelpilot's uitars scroll: 5 notches of 100 px
FORM = """<!doctype html><html><head><meta charset=utf-8><title>form</title></head>
<body style="font:16px sans-serif;margin:20px">
<p><label for=name>Full name</label> <input id=name style="width:400px"></p>
<p><textarea id=notes aria-label=Notes rows=3 cols=40></textarea></p>
<button id=save style="width:140px;height:40px"
 onclick="out.textContent = 'saved ' + (++window.n || (window.n = 1))">Save</button>
<p id=out></p></body></html>"""


def heavy_page() -> str:
    rows = "\n".join(
        f"<div class=row><span>row {i}</span> <a href='#r{i}'>link {i}</a> "
        f"<button>act {i}</button> <input aria-label='field {i}'></div>"
        for i in range(400)
    )
    return (
        "<!doctype html><html><head><meta charset=utf-8><title>heavy</title><style>"
        "body{font:14px sans-serif;margin:10px} .row{height:28px}</style></head><body>"
        "<button id=go style='width:160px;height:40px' "
        'onclick="count.textContent = ++window.n || (window.n = 1)">Count</button> '
        f"<span id=count>0</span>\n{rows}</body></html>"
    )


def plan(step: int) -> str:
    """The action of 1-based step `step`: clicks on odd steps, scrolls on even ones."""
    return "click" if step % 2 else "scroll"


def summary(values: list[float]) -> str:
    if not values:
        return f"{'-':>13}"
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return f"{statistics.median(ordered):6.1f}/{p90:6.1f}"


# -- the pixelpilot worker (this repository's, or another commit's through the shim) -------
def pixelpilot_worker(url: str, page: str) -> list[dict[str, Any]]:
    from pixelpilot.agent.loop import Agent, AgentConfig
    from pixelpilot.environments import open_browser
    from pixelpilot.environments._capture import capture
    from pixelpilot.vlm.backends.scripted import ScriptedBackend

    tx, ty = TARGETS[page]
    box = f"<|box_start|>({tx * 1000 // VIEWPORT[0]},{ty * 1000 // VIEWPORT[1]})<|box_end|>"
    middle = "<|box_start|>(500,600)<|box_end|>"
    replies = [
        f"Action: click(start_box='{box}')"
        if plan(step) == "click"
        else f"Action: scroll(start_box='{middle}', direction='down')"
        for step in range(1, STEPS + 1)
    ]
    config = AgentConfig(max_steps=STEPS, max_failures=STEPS, record=None, video=False,
                         report=False)  # fmt: skip
    rows = []
    with open_browser(url, viewport=VIEWPORT) as env:
        agent = Agent(ScriptedBackend(replies), env, dialect="uitars", config=config)
        for step in agent.stream("follow the plan"):
            result = step.results[0] if step.results else None
            session = env._sessions.get(env.page)
            started = time.perf_counter()
            capture(session, env.page)
            captured = time.perf_counter()
            env.page.mouse.move(*INERT)
            env.page.mouse.down()
            env.page.mouse.up()
            clicked = time.perf_counter()
            rows.append({
                "kind": plan(step.index + 1),
                "step_ms": 1000 * step.timings["total_s"],
                "observe_ms": 1000 * step.timings["observe_s"],
                "settle_ms": 1000 * result.timings.settle_s if result else None,
                "action_ms": 1000 * result.timings.action_s if result else None,
                "capture_ms": 1000 * (captured - started),
                "mouse_ms": 1000 * (clicked - captured),
                "ok": bool(result and result.ok),
                "note": result.note if result else step.parse_error,
            })  # fmt: skip
    return rows


# -- the browser-use worker (runs in browser-use's own virtual environment) ----------------
class _FakeLLM:
    """An instant model for browser-use: answers the step plan, notes when it was asked."""

    model = "browser-use/fake-instant"  # the name turns on browser-use's coordinate clicks
    provider = "fake"
    name = "fake-instant"
    _verified_api_keys = True

    def __init__(self, page: str) -> None:
        self.page, self.asked = page, []

    @property
    def model_name(self) -> str:
        return self.model

    async def ainvoke(self, messages: Any, output_format: Any = None, **kwargs: Any) -> Any:
        from browser_use.llm.views import ChatInvokeCompletion

        self.asked.append(time.perf_counter())
        step = len(self.asked)
        if step > STEPS:
            action = {"done": {"text": "done", "success": True}}
        elif plan(step) == "click":
            x, y = TARGETS[self.page]
            action = {"click": {"coordinate_x": x, "coordinate_y": y}}
        else:
            action = {"scroll": {"down": True, "pages": SCROLL_PX / VIEWPORT[1]}}
        reply = {"memory": "", "next_goal": "", "evaluation_previous_goal": "",
                 "action": [action]}  # fmt: skip
        completion = output_format.model_validate(reply) if output_format else json.dumps(reply)
        return ChatInvokeCompletion(completion=completion, usage=None)


async def _browser_use_run(url: str, page: str, chromium: str) -> list[dict[str, Any]]:
    from browser_use import Agent, BrowserProfile, BrowserSession

    profile = BrowserProfile(executable_path=chromium, headless=True, chromium_sandbox=False,
                             viewport={"width": VIEWPORT[0], "height": VIEWPORT[1]},
                             window_size={"width": VIEWPORT[0], "height": VIEWPORT[1]},
                             user_data_dir=None, keep_alive=True)  # fmt: skip
    session = BrowserSession(browser_profile=profile)
    llm = _FakeLLM(page)
    raw: list[tuple[float, float]] = []

    async def after_step(agent: Any) -> None:  # outside the step: raw CDP calls, same run
        cdp = await session.get_or_create_cdp_session()
        send = cdp.cdp_client.send
        started = time.perf_counter()
        await send.Page.captureScreenshot(params={"format": "png"}, session_id=cdp.session_id)
        captured = time.perf_counter()
        for kind in ("mousePressed", "mouseReleased"):
            await send.Input.dispatchMouseEvent(
                params={"type": kind, "x": INERT[0], "y": INERT[1], "button": "left",
                        "clickCount": 1},
                session_id=cdp.session_id,
            )  # fmt: skip
        raw.append((captured - started, time.perf_counter() - captured))

    agent = Agent(task=f"open {url} and follow the plan", llm=llm, browser_session=session,
                  initial_actions=[{"navigate": {"url": url, "new_tab": False}}],
                  use_judge=False, enable_planning=False, loop_detection_enabled=False,
                  flash_mode=True, calculate_cost=False, enable_signal_handler=False,
                  max_failures=STEPS, directly_open_url=False)  # fmt: skip
    pauses: list[float] = []

    async def on_step_end(agent: Any) -> None:
        started = time.perf_counter()
        await after_step(agent)
        pauses.append(time.perf_counter() - started)

    try:
        await agent.run(max_steps=STEPS + 1, on_step_end=on_step_end)  # the last: done
    finally:
        with contextlib.suppress(Exception):
            await session.kill()
    rows = []
    for index in range(min(STEPS, len(llm.asked) - 1)):
        interval = llm.asked[index + 1] - llm.asked[index] - pauses[index]
        capture_s, mouse_s = raw[index]
        rows.append({"kind": plan(index + 1), "step_ms": 1000 * interval, "observe_ms": None,
                     "settle_ms": None, "action_ms": None, "capture_ms": 1000 * capture_s,
                     "mouse_ms": 1000 * mouse_s, "ok": True, "note": None})  # fmt: skip
    return rows


def browser_use_worker(url: str, page: str, chromium: str) -> list[dict[str, Any]]:
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "false")
    os.environ.setdefault("BROWSER_USE_CLOUD_SYNC", "false")
    os.environ.setdefault("BROWSER_USE_LOGGING_LEVEL", "warning")
    return asyncio.run(_browser_use_run(url, page, chromium))


# -- the orchestrator --------------------------------------------------------------------
def shim(tree: Path, into: Path) -> Path:
    """A folder whose `pixelpilot` package maps each subpackage onto `tree`'s folder, as
    pyproject's package-dir does; first on the path, it wins over the editable install."""
    package = into / "pixelpilot"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    for name in ("agent", "cli", "environments", "evaluation", "mcpserver", "testgen",
                 "tools", "vlm"):  # fmt: skip
        if (tree / name).is_dir():
            (package / name).symlink_to(tree / name)
    return into


def run_worker(runner: str, url: str, page: str, args: argparse.Namespace, shims: dict) -> list:
    script = str(Path(__file__).resolve())
    env = dict(os.environ)
    if runner == "browser-use":
        command = [args.browser_use_python, script, "--worker", runner]
    else:
        command = [sys.executable, script, "--worker", "pixelpilot"]
        if runner == "before":
            env["PYTHONPATH"] = str(shims["before"])
    command += ["--url", f"{url}/{page}.html", "--page", page, "--chromium", args.chromium]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    if done.returncode != 0:
        print(f"  [{runner} on {page} failed: {done.stderr.strip().splitlines()[-3:]}]")
        return []
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(results: dict[tuple[str, str], list[dict[str, Any]]], runners: list[str]) -> None:
    print("\nper step, warm steps 2-20, median/p90 ms (raw capture and raw click: same run)")
    head = f"{'runner':>11} {'page':>6} {'kind':>6} {'n':>3} {'whole step':>13} {'observe':>13}"
    print(f"{head} {'settle':>13} {'action':>13} {'raw capture':>13} {'raw click':>13} ok")
    for page in ("form", "heavy"):
        for kind in ("click", "scroll"):
            for runner in runners:
                rows = [r for i, r in enumerate(results.get((runner, page), [])) if i % STEPS]
                rows = [r for r in rows if r["kind"] == kind]
                if not rows:
                    continue
                cols = [summary([r[k] for r in rows if r[k] is not None])
                        for k in ("step_ms", "observe_ms", "settle_ms", "action_ms",
                                  "capture_ms", "mouse_ms")]  # fmt: skip
                ok = sum(r["ok"] for r in rows)
                print(f"{runner:>11} {page:>6} {kind:>6} {len(rows):>3} "
                      + " ".join(f"{c:>13}" for c in cols) + f" {ok}/{len(rows)}")  # fmt: skip
    for runner in runners:
        notes = {r["note"] for rows in (v for (n, _), v in results.items() if n == runner)
                 for r in rows if r.get("note")}  # fmt: skip
        if notes:
            print(f"  {runner} notes seen: {sorted(notes)}")
    ratios(results, runners)


def ratios(results: dict[tuple[str, str], list[dict[str, Any]]], runners: list[str]) -> None:
    print("\ntargets (medians, warm steps): click step / (raw capture + raw click) <= 2;")
    print("scroll step <= 100 ms; observe / raw capture <= 1.2")
    for runner in runners:
        for page in ("form", "heavy"):
            rows = [r for i, r in enumerate(results.get((runner, page), [])) if i % STEPS]
            clicks = [r for r in rows if r["kind"] == "click"]
            scrolls = [r for r in rows if r["kind"] == "scroll"]
            if not clicks:
                continue
            med = lambda rs, k: statistics.median(r[k] for r in rs)  # noqa: E731
            click = med(clicks, "step_ms") / (med(clicks, "capture_ms") + med(clicks, "mouse_ms"))
            scroll = med(scrolls, "step_ms")
            line = f"  {runner:>11} {page:>6}: click {click:4.2f}x, scroll {scroll:6.1f} ms"
            if rows[0]["observe_ms"] is not None:
                line += f", observe {med(rows, 'observe_ms') / med(rows, 'capture_ms'):4.2f}x"
            print(line)


def orchestrate(args: argparse.Namespace) -> None:
    from pixelpilot.agent.demo import serve_directory

    runners = ["after"]
    shims: dict[str, Path] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if args.before:
            shims["before"] = shim(Path(args.before).resolve(), Path(tmp) / "shim")
            runners.insert(0, "before")
        if not args.skip_browser_use:
            if Path(args.browser_use_python).exists():
                runners.append("browser-use")
            else:
                print(f"no browser-use at {args.browser_use_python}: pixelpilot only")
        site = Path(tmp) / "site"
        site.mkdir()
        (site / "form.html").write_text(FORM)
        (site / "heavy.html").write_text(heavy_page())
        results: dict[tuple[str, str], list[dict[str, Any]]] = {}
        with serve_directory(site) as url:
            print(f"{args.rounds} rounds x {runners} x pages form, heavy; {STEPS} steps; "
                  f"Chromium {args.chromium}; {os.cpu_count()} CPUs")  # fmt: skip
            for round_ in range(args.rounds):
                for page in ("form", "heavy"):
                    for runner in runners:
                        started = time.perf_counter()
                        rows = run_worker(runner, url, page, args, shims)
                        results.setdefault((runner, page), []).extend(rows)
                        took = time.perf_counter() - started
                        print(f"  round {round_ + 1} {page:>5} {runner:>11}: {len(rows)} steps, "
                              f"{took:.1f} s", flush=True)  # fmt: skip
        report(results, runners)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", help="a worktree of the commit to compare with")
    parser.add_argument("--browser-use-python", default="/tmp/bu-venv/bin/python")
    parser.add_argument("--skip-browser-use", action="store_true")
    parser.add_argument("--chromium", default="/usr/lib/chromium/chromium")
    parser.add_argument("--worker", choices=["pixelpilot", "browser-use"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--page", choices=sorted(TARGETS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "pixelpilot":
        print(json.dumps(pixelpilot_worker(args.url, args.page)))
    elif args.worker == "browser-use":
        print(json.dumps(browser_use_worker(args.url, args.page, args.chromium)))
    else:
        orchestrate(args)


if __name__ == "__main__":
    main()
