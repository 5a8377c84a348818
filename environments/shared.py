"""One Chromium process that many `BrowserEnvironment`s share, one context each.

Playwright's sync objects belong to the thread that made them, so threads cannot share
a `Browser` object; they can share the browser *process*. Playwright's own browser
server (`playwright launch-server`, shipped with the Python package) launches Debian's
Chromium with exactly the switches `chromium.launch()` uses (hidden scrollbars, hover
and pointer settings, no popup blocking...), so a context in it renders what a browser
of its own renders; each thread connects (`open_browser(ws_endpoint=...)`) and works in
its own isolated context (cookies, storage, pages). The server stops when its Chromium
dies; it is started again on the next `open()`, so a crash costs the episodes that were
running in it, not the rest of the run.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from .base import ControllerError
from .browser import CHROMIUM_ARGS, BrowserEnvironment, find_chromium


class SharedChromium:
    """A headless Chromium behind Playwright's browser server on 127.0.0.1; `open()`
    gives a `BrowserEnvironment` in a fresh context of it, from any thread."""

    def __init__(self, executable_path: str | None = None, start_timeout_s: float = 60.0) -> None:
        self.executable_path = executable_path or find_chromium()
        self.start_timeout_s = start_timeout_s
        self.launches = 0  # how many times a server was started (restarts included)
        self._lock = threading.Lock()
        self._server: subprocess.Popen[bytes] | None = None
        self._folder: Path | None = None
        self._endpoint: str | None = None

    @property
    def ws_endpoint(self) -> str:
        """The server's endpoint, starting (or restarting) it if need be."""
        with self._lock:
            if self._server is None or self._server.poll() is not None:
                self._start()
            assert self._endpoint is not None
            return self._endpoint

    @property
    def pid(self) -> int | None:
        """The server's process (Chromium runs under it); None when stopped."""
        return self._server.pid if self._server is not None else None

    def open(self, url: str | None = None, **options: Any) -> BrowserEnvironment:
        """A new context of the shared browser (same options as `open_browser`, less the
        ones that belong to a launch); closing it closes only that context."""
        from . import open_browser

        endpoint = self.ws_endpoint
        try:
            return open_browser(url, ws_endpoint=endpoint, **options)
        except Exception as error:  # a server whose Chromium just died is still closing
            if not any(s in str(error) for s in ("connect", "closed")) or not self._ended(endpoint):
                raise
        return open_browser(url, ws_endpoint=self.ws_endpoint, **options)

    def _ended(self, endpoint: str, wait_s: float = 10.0) -> bool:
        """Whether the server behind `endpoint` is gone (waiting a little for one that is
        on its way out), so that the next `ws_endpoint` starts a new one."""
        with self._lock:
            if self._endpoint != endpoint or self._server is None:
                return True  # another thread restarted it already
            try:
                self._server.wait(timeout=wait_s)
            except subprocess.TimeoutExpired:
                return False
            return True

    def _start(self) -> None:
        self._stop()
        self._folder = Path(tempfile.mkdtemp(prefix="pixelpilot-chromium-"))
        config = self._folder / "launch.json"
        config.write_text(json.dumps({
            "executablePath": self.executable_path, "headless": True, "args": CHROMIUM_ARGS,
            "host": "127.0.0.1",
        }))  # fmt: skip
        log = self._folder / "server.log"
        with log.open("wb") as stderr:
            self._server = subprocess.Popen(
                [*_driver(), "launch-server", "--browser", "chromium", "--config", str(config)],
                stdout=subprocess.PIPE, stderr=stderr, start_new_session=True,
            )  # fmt: skip
        self.launches += 1
        line = _first_line(self._server, time.monotonic() + self.start_timeout_s)
        if not line.startswith("ws://"):
            said = _why(line + log.read_text(errors="replace"))
            self._stop()
            raise ControllerError(f"the shared Chromium did not start: {said or 'timed out'}")
        self._endpoint = line
        threading.Thread(target=_drain, args=(self._server,), daemon=True).start()

    def _stop(self) -> None:
        """Stop the server and its Chromium: the whole process group, so nothing is
        left behind even if the server died first."""
        if self._server is not None:
            for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
                try:
                    os.killpg(self._server.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self._server.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
            if self._server.stdout is not None:
                self._server.stdout.close()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
        self._server = self._folder = self._endpoint = None

    def close(self) -> None:
        """Stop the browser (contexts still open in it die with it)."""
        with self._lock:
            self._stop()

    def __enter__(self) -> SharedChromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _why(output: str) -> str:
    """What Chromium itself said (Playwright tags its lines "[err]"), else the end."""
    said = [line.split("[err]", 1)[1].strip() for line in output.splitlines() if "[err]" in line]
    return "; ".join(s.strip("'\\n\" ") for s in said)[-500:] or output.strip()[-500:]


def _driver() -> list[str]:
    """Playwright's node and cli.js, run straight (so the server's pid is node's own, and
    stopping it stops its Chromium); `python -m playwright` where that is not exposed."""
    try:
        from playwright._impl._driver import compute_driver_executable

        return [str(part) for part in compute_driver_executable()]
    except (ImportError, TypeError, ValueError):
        return [sys.executable, "-m", "playwright"]


def _first_line(process: subprocess.Popen[bytes], deadline: float) -> str:
    """The first line the server prints (its endpoint), or "" if it exits or the
    deadline passes first."""
    assert process.stdout is not None
    fd, line = process.stdout.fileno(), b""
    while not line.endswith(b"\n") and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = os.read(fd, 1)
        if not chunk:  # it exited
            break
        line += chunk
    return line.decode(errors="replace").strip()


def _drain(process: subprocess.Popen[bytes]) -> None:
    """Read whatever else the server prints, so its pipe never fills."""
    stream = process.stdout
    if stream is None:
        return
    try:
        while os.read(stream.fileno(), 4096):
            pass
    except (OSError, ValueError):  # closed by _stop
        return
