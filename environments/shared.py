"""One Chromium process that many `BrowserEnvironment`s share, one context each.

Playwright's sync objects belong to the thread that made them, so threads cannot share
a `Browser` object; they can share the browser *process*: it is launched here with a
DevTools port, and each thread connects to it (`open_browser(cdp_url=...)`) and works in
its own isolated context (cookies, storage, pages). That costs one browser process for
N parallel episodes instead of N. The process is restarted if it died, so a crash costs
the episodes that were running in it, not the rest of the run.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from .base import ControllerError
from .browser import CHROMIUM_ARGS, BrowserEnvironment, find_chromium


class SharedChromium:
    """A headless Chromium listening on a local DevTools port; `open()` gives a
    `BrowserEnvironment` in a fresh context of it, from any thread."""

    def __init__(self, executable_path: str | None = None, start_timeout_s: float = 30.0) -> None:
        self.executable_path = executable_path or find_chromium()
        self.start_timeout_s = start_timeout_s
        self.launches = 0  # how many times a process was started (restarts included)
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._profile: Path | None = None
        self._url: str | None = None

    @property
    def cdp_url(self) -> str:
        """The DevTools endpoint, starting (or restarting) the browser if need be."""
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                self._start()
            assert self._url is not None
            return self._url

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def open(self, url: str | None = None, **options: Any) -> BrowserEnvironment:
        """A new context of the shared browser (same options as `open_browser`, less the
        ones that belong to a launch); closing it closes only that context."""
        from . import open_browser

        return open_browser(url, cdp_url=self.cdp_url, **options)

    def _start(self) -> None:
        self._stop()
        self._profile = Path(tempfile.mkdtemp(prefix="pixelpilot-chromium-"))
        port_file = self._profile / "DevToolsActivePort"  # Chromium writes its port here
        log = self._profile / "stderr.log"
        with log.open("wb") as stderr:
            self._process = subprocess.Popen(
                [self.executable_path, "--headless", "--remote-debugging-port=0",
                 "--remote-debugging-address=127.0.0.1", f"--user-data-dir={self._profile}",
                 *CHROMIUM_ARGS, "about:blank"],
                stdout=subprocess.DEVNULL, stderr=stderr,
            )  # fmt: skip
        self.launches += 1
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                said = log.read_text(errors="replace").strip()[-500:]
                self._stop()
                raise ControllerError(f"Chromium exited at start: {said}")
            text = port_file.read_text() if port_file.exists() else ""
            if text.strip():
                self._url = f"http://127.0.0.1:{text.split()[0]}"
                return
            time.sleep(0.02)
        self._stop()
        raise ControllerError(
            f"Chromium did not open its DevTools port in {self.start_timeout_s} s"
        )

    def _stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._profile is not None:
            shutil.rmtree(self._profile, ignore_errors=True)
        self._process = self._profile = self._url = None

    def close(self) -> None:
        """Stop the browser (contexts still open in it die with it)."""
        with self._lock:
            self._stop()

    def __enter__(self) -> SharedChromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
