"""A private X server (Xvfb) for tests and headless runs.

The display number is chosen by Xvfb itself (`-displayfd`): a fixed `:99` collides with
a parallel test run or a stale lock file and then fails in ways that look like input
bugs. `-noreset` keeps the server from resetting whenever its last client disconnects,
which otherwise makes input tools flake between tests. Nothing here touches
`os.environ`: pass `display` to `DesktopEnvironment`, or `child_env()` to a subprocess,
so two servers in one process never fight over `$DISPLAY`.
"""

from __future__ import annotations

import os
import select
import shutil
import socket
import subprocess
import tempfile
import time
import weakref
from typing import IO

from .base import ControllerError

_SOCKET_DIR = "/tmp/.X11-unix"


def _terminate(process: subprocess.Popen[bytes]) -> None:
    """Stop the server; also registered as a finalizer so a forgotten one dies with us."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _accepts(address: str) -> bool:
    """Whether a Unix socket (a leading NUL: Linux's abstract namespace, which Xvfb also
    listens on, and the only one where /tmp/.X11-unix cannot be created) takes a
    connection."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(address)
        except OSError:
            return False
    return True


class Xvfb:
    """`with Xvfb() as x: DesktopEnvironment(x.display)`; `stop()` may be called twice."""

    def __init__(
        self,
        width: int = 1920,
        height: int = 1080,
        depth: int = 24,
        *,
        start_timeout_s: float = 30.0,
    ) -> None:
        if width <= 0 or height <= 0 or depth not in (8, 16, 24, 32):
            raise ValueError(f"bad Xvfb screen {width}x{height}x{depth}")
        self.width, self.height, self.depth = width, height, depth
        self.start_timeout_s = start_timeout_s
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._display: str | None = None
        self._finalizer: weakref.finalize | None = None

    @property
    def display(self) -> str:
        """The display name, ':N'."""
        if self._display is None:
            raise ControllerError("Xvfb is not running: call start() or use it as a context")
        return self._display

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def child_env(self) -> dict[str, str]:
        """A copy of os.environ with DISPLAY pointing here, for subprocesses."""
        return {**os.environ, "DISPLAY": self.display}

    def start(self) -> Xvfb:
        """Launch the server and return once it accepts connections."""
        if self.running:
            return self
        binary = shutil.which("Xvfb")
        if binary is None:
            raise ControllerError(
                "Xvfb is not installed (Debian/Ubuntu: apt-get install xvfb); it is needed "
                "to run a private X display"
            )
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the server)
        read_fd, write_fd = os.pipe()
        screen = f"{self.width}x{self.height}x{self.depth}"
        command = [binary, "-displayfd", str(write_fd), "-screen", "0", screen]
        try:
            self._process = subprocess.Popen(
                [*command, "-nolisten", "tcp", "-noreset"],
                pass_fds=(write_fd,),
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=self._log,
                start_new_session=True,  # a Ctrl-C in the terminal is ours to handle
            )
        except OSError as error:
            os.close(read_fd)
            raise ControllerError(f"could not launch Xvfb: {error}") from error
        finally:
            os.close(write_fd)
        self._finalizer = weakref.finalize(self, _terminate, self._process)
        try:
            number = self._read_display_number(read_fd)
            self._wait_for_socket(number)
        except ControllerError:
            self.stop()
            raise
        finally:
            os.close(read_fd)
        self._display = f":{number}"
        return self

    def _read_display_number(self, read_fd: int) -> int:
        """Xvfb writes 'N\\n' to the fd once it listens; EOF first means it died."""
        deadline = time.monotonic() + self.start_timeout_s
        data = b""
        while not data.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ControllerError(f"Xvfb did not start within {self.start_timeout_s} s")
            ready, _, _ = select.select([read_fd], [], [], min(remaining, 0.5))
            if not ready:
                continue
            chunk = os.read(read_fd, 64)
            if not chunk:
                raise ControllerError(f"Xvfb failed to start: {self._log_tail()}")
            data += chunk
        return int(data.strip())

    def _wait_for_socket(self, number: int) -> None:
        """Connect once to the server's socket, the way clients will: -displayfd says
        which number it took, not that it accepts connections yet."""
        path = f"{_SOCKET_DIR}/X{number}"
        deadline = time.monotonic() + self.start_timeout_s
        while not any(_accepts(address) for address in ("\0" + path, path)):
            if self._process is None or self._process.poll() is not None:
                raise ControllerError(f"Xvfb exited: {self._log_tail()}")
            if time.monotonic() > deadline:
                raise ControllerError(f"Xvfb :{number} refuses connections: {self._log_tail()}")
            time.sleep(0.05)

    def _log_tail(self) -> str:
        if self._log is None:
            return "(no log)"
        self._log.seek(0)
        text = self._log.read().decode(errors="replace").strip()
        return text[-2000:] or "(no output)"

    def stop(self) -> None:
        """Terminate the server (kill it if it will not go); a second call does nothing."""
        if self._finalizer is not None:
            self._finalizer()  # runs _terminate once, then is dead
            self._finalizer = None
        self._process = None
        self._display = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Xvfb:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = self._display if self.running else "stopped"
        return f"Xvfb({self.width}x{self.height}x{self.depth}, {state})"
