"""A desktop run on a real Tk window under Xvfb -> `pixelpilot testgen` -> pytest on the
generated file in a subprocess, on a fresh copy of the window: it passes, and the
application itself reports the click and the text the generated test made (visual tier:
the recorded crops found again; no model). A window whose target changed colour fails."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pixelpilot.agent.loop import Agent, AgentConfig
from pixelpilot.environments import open_desktop
from pixelpilot.vlm import load_backend
from tests.integration.desktop_fixtures import tk_app, xvfb_display  # noqa: F401

EXE = str(Path(sys.executable).parent / "pixelpilot")
GEOMETRY = "680x590+100+100"
TIMEOUT = 300


def _norm(app, ident: str) -> str:
    """The widget's centre in UI-TARS 1.0's 0-1000 space of the window's region."""
    g, w = app.geometry[ident], app.window
    x = (g["x"] + g["width"] / 2 - w["x"]) / w["width"] * 1000
    y = (g["y"] + g["height"] / 2 - w["y"]) / w["height"] * 1000
    return f"({round(x)},{round(y)})"


def _record(app, root: Path, display: str) -> Path:
    w = app.window
    replies = [
        f"Thought: Click the purple button.\nAction: click(start_box='{_norm(app, 'b5')}')",
        f"Thought: Click the text field.\nAction: click(start_box='{_norm(app, 'entry')}')",
        "Thought: Type the greeting.\nAction: type(content='hello desktop')",
        "Thought: Done.\nAction: finished()",
    ]
    region = (w["x"], w["y"], w["width"], w["height"])
    with open_desktop(display, monitor=region) as env:
        config = AgentConfig(record=root, max_steps=6, video=False, report=False)
        backend = load_backend("scripted", replies=replies)
        result = Agent(backend, env, dialect="uitars", config=config).run("Greet the desktop")
    assert result.status == "success", result
    app.wait_for("click", lambda e: e["id"] == "b5")
    app.wait_for("text", lambda e: e["value"] == "hello desktop")
    return result.trajectory_dir


def _pytest(test: Path, display: str, *options: str):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIXELPILOT_")}
    env["DISPLAY"] = display
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test), *options],
        capture_output=True, text=True, timeout=TIMEOUT, env=env, cwd=test.parent,
    )  # fmt: skip


@pytest.fixture
def generated(xvfb_display, tk_app, tmp_path):  # noqa: F811
    first = tk_app(GEOMETRY)
    run_dir = _record(first, tmp_path / "runs", xvfb_display)
    first.close()
    test = tmp_path / "suite" / "test_greet.py"
    made = subprocess.run([EXE, "testgen", str(run_dir), "-o", str(test)],
                          capture_output=True, text=True, timeout=TIMEOUT)  # fmt: skip
    assert made.returncode == 0, made.stderr
    return test


def test_desktop_test_replays_on_a_fresh_window(generated, xvfb_display, tk_app) -> None:  # noqa: F811
    source = generated.read_text()
    assert "def test_greet_the_desktop(pixelpilot_desktop: DesktopHealer) -> None:" in source
    assert 'desktop.click("Click the purple button.", step=1)' in source
    assert 'desktop.type("hello desktop")' in source
    assert "desktop.expect_screen(step=4)" in source
    app = tk_app(GEOMETRY)
    run = _pytest(generated, xvfb_display, "--pixelpilot-heal", "off")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout
    # what the application received, not what the test believes it sent
    app.wait_for("click", lambda e: e["id"] == "b5")
    app.wait_for("text", lambda e: e["value"] == "hello desktop")


def test_a_target_that_changed_fails(generated, xvfb_display, tk_app, tmp_path) -> None:  # noqa: F811
    # the same window, but the purple button is drawn in another colour: the crop is a miss
    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "tk_app.py"
    changed = tmp_path / "tk_app_changed.py"
    changed.write_text(fixture.read_text().replace('"#911eb4"', '"#404040"'))
    assert changed.read_text() != fixture.read_text()
    env = {**os.environ, "DISPLAY": xvfb_display}
    app = subprocess.Popen([sys.executable, str(changed), "--geometry", GEOMETRY], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)  # fmt: skip
    try:
        assert any('"ready"' in line for line in app.stdout)  # it reads until ready
        run = _pytest(generated, xvfb_display)
    finally:
        app.kill()
        app.wait(timeout=30)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "step 1: Click the purple button. not found (tiers tried: visual" in run.stdout
