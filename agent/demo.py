"""The bundled demo shop, served on 127.0.0.1, and the tasks the demo runs on it."""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Literal


@dataclass(frozen=True)
class PlanStep:
    """One thing to do: click a CSS selector's centre, type text, or finish."""

    kind: Literal["click", "type", "finish"]
    target: str = ""  # CSS selector for clicks, the text for typing, the answer to finish
    thought: str = ""


DEMO_APP = Path(__file__).resolve().parent / "demo_app"

SIGNUP_TASK = (
    "Create an account on Pilot Shop for Ada Lovelace with the email ada@example.com and the "
    "password {{password}}."
)
SIGNUP_PLAN = [
    PlanStep("click", "#name", "Click the Full name field."),
    PlanStep("type", "Ada Lovelace", "Type the name."),
    PlanStep("click", "#email", "Click the Email field."),
    PlanStep("type", "ada@example.com", "Type the email address."),
    PlanStep("click", "#password", "Click the Password field."),
    PlanStep("type", "{{password}}", "Type the password placeholder."),
    PlanStep("click", "#submit", "Submit the form."),
    PlanStep("finish", "Account created for Ada Lovelace", "The welcome message is shown."),
]
#: the check that the signup really happened, read from the page after the run
SIGNUP_DONE = "document.getElementById('done') && !document.getElementById('done').hidden"


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def serve_demo(port: int = 0) -> contextlib.AbstractContextManager[str]:
    """Serve the demo shop on 127.0.0.1; yields its base URL."""
    return serve_directory(DEMO_APP, port)


@contextlib.contextmanager
def serve_directory(directory: str | Path, port: int = 0) -> Iterator[str]:
    """Serve a folder of static pages on 127.0.0.1 (never another interface); yields
    the base URL. Used for the demo, and by tests and benchmarks for their pages."""
    handler = functools.partial(_Quiet, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
