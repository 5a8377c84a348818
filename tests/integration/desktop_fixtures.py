"""Fixtures for tests on a real X display: a private Xvfb and a real Tk application.

Import them where needed (`from tests.integration.desktop_fixtures import tk_app,
xvfb_display`). `xvfb_display` is the display name (":N") of one Xvfb per test session;
`tk_app` starts `tests/fixtures/tk_app.py` on it and hands back a `TkApp` whose events
(JSON lines the application prints) arrive through a queue fed by a reader thread, so a
test waits for what the application actually received, with a generous timeout, instead
of sleeping.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

TK_APP = Path(__file__).resolve().parents[1] / "fixtures" / "tk_app.py"
__all__ = ["TkApp", "tk_app", "xvfb_display"]

EVENT_TIMEOUT_S = 30.0  # generous: CI machines are slow and shared; success is fast anyway


def _require(binary: str, package: str) -> None:
    """Skip where the X tools are not installed, but never on CI, which must have them."""
    if shutil.which(binary) is not None:
        return
    message = f"{binary} is not installed (apt-get install {package}); desktop tests need it"
    if os.environ.get("CI"):
        pytest.fail(f"{message}, and CI is set: the CI image must provide it")
    pytest.skip(message)


@pytest.fixture(scope="session")
def xvfb_display() -> Iterator[str]:
    """ ":N" of a private 1920x1080x24 Xvfb, started once per session."""
    _require("Xvfb", "xvfb")
    _require("xdotool", "xdotool")
    from pixelpilot.environments.xvfb import Xvfb

    with Xvfb(1920, 1080, 24) as server:
        yield server.display


class TkApp:
    """A running `tk_app.py`: its `geometry` (widget id -> screen box and colour), its
    `window` box, and its `events` queue."""

    def __init__(self, process: subprocess.Popen[str], stderr: Any) -> None:
        self.process = process
        self._stderr = stderr
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.history: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.ready = self.wait_for("ready", timeout=60.0)
        self.geometry: dict[str, dict[str, Any]] = self.ready["widgets"]
        self.window: dict[str, int] = self.ready["window"]
        self.title: str = self.ready["title"]

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                self.events.put(json.loads(line))
            except json.JSONDecodeError:
                self.events.put({"kind": "noise", "line": line.rstrip()})
        self.events.put({"kind": "exit", "returncode": self.process.wait()})

    def wait_for(
        self,
        kind: str,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        timeout: float = EVENT_TIMEOUT_S,
    ) -> dict[str, Any]:
        """The next event of `kind` matching `predicate`; earlier ones are consumed."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                event = self.events.get(timeout=max(remaining, 0.001))
            except queue.Empty:
                raise AssertionError(
                    f"no {kind!r} event matching within {timeout} s; last events: "
                    f"{self.history[-12:]}; stderr: {self.stderr()[-2000:]}"
                ) from None
            self.history.append(event)
            if event["kind"] == "exit":
                raise AssertionError(f"tk_app exited: {event}; stderr: {self.stderr()}")
            if event["kind"] == kind and (predicate is None or predicate(event)):
                return event

    def drain(self) -> list[dict[str, Any]]:
        """Consume what has arrived so far, so the next wait sees only new events."""
        drained = []
        while True:
            try:
                drained.append(self.events.get_nowait())
            except queue.Empty:
                self.history += drained
                return drained

    def stderr(self) -> str:
        self._stderr.flush()
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._stderr.close()


@pytest.fixture
def tk_app(xvfb_display: str) -> Iterator[Callable[..., TkApp]]:
    """Factory: `tk_app("680x590+100+100")` starts the app there, waits until it is ready
    and returns a `TkApp`; every app started is killed at teardown."""
    started: list[TkApp] = []
    env = {**os.environ, "DISPLAY": xvfb_display, "PYTHONIOENCODING": "utf-8"}

    def start(geometry: str = "680x590+100+100") -> TkApp:
        stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed by TkApp.close)
        process = subprocess.Popen(
            [sys.executable, str(TK_APP), "--geometry", geometry],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            encoding="utf-8",
        )
        try:
            app = TkApp(process, stderr)
        except BaseException:
            process.kill()
            process.wait(timeout=10)
            stderr.close()
            raise
        started.append(app)
        return app

    yield start
    for app in started:
        app.close()
