"""HTTP for the openai backend: one deadline over a whole request, readable server errors,
local files as data URLs.

A socket timeout bounds each blocking read, not a request: a server that accepts the
connection and trickles a byte now and then, or one that never answers, would hold a run
for `attempts x timeout`. `Deadline` is the one clock a request and all its retries share,
and `fetch` runs each attempt on a daemon thread the caller stops waiting for when the
deadline passes, whatever the socket is doing (the thread ends at its own socket timeout,
which is never longer than what was left).
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from ..backend import BackendError

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER_S = 30.0
#: URLError (refused, DNS), TimeoutError and ConnectionError are all OSErrors.
NETWORK_ERRORS = (OSError, http.client.HTTPException)


class DeadlineExpired(Exception):
    """The request's deadline passed while an attempt was still waiting for the server."""


class Deadline:
    """Seconds left of a budget that started when the request did."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()

    def sub(self, seconds: float) -> Deadline:
        """A shorter budget inside this one (never ending after it)."""
        return Deadline(min(seconds, max(self.left(), 0.0)))


def fetch(
    opener: urllib.request.OpenerDirector,
    request: urllib.request.Request,
    deadline: Deadline,
    timeout_s: float,
) -> bytes:
    """The response body of one attempt, or the attempt's own error (HTTPError, OSError...);
    `DeadlineExpired` when the deadline passes first."""
    left = deadline.left()
    if left <= 0:
        raise DeadlineExpired
    box: dict[str, Any] = {}

    def attempt() -> None:
        try:
            with opener.open(request, timeout=min(timeout_s, left)) as response:
                box["body"] = response.read()
        except BaseException as error:  # handed to the waiting caller, re-raised there
            box["error"] = error

    worker = threading.Thread(target=attempt, name="openai-request", daemon=True)
    worker.start()
    worker.join(left)
    if worker.is_alive():
        raise DeadlineExpired
    if "error" in box:
        raise box["error"]
    return box["body"]


def short(value: Any, limit: int = 300) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def server_message(error: urllib.error.HTTPError) -> str:
    """The human part of an error body: OpenAI's {"error": {"message"}}, vLLM's
    {"message"}, FastAPI's {"detail"}, or else the raw text."""
    raw = ""
    try:
        raw = error.read().decode("utf-8", "replace").strip()
        data = json.loads(raw)
    except (OSError, ValueError):  # the body is a courtesy; the status is reported anyway
        return short(raw or str(error.reason))
    if isinstance(data, dict):
        inner = data.get("error")
        inner = inner.get("message") if isinstance(inner, dict) else inner
        for candidate in (inner, data.get("message"), data.get("detail")):
            if candidate:
                return short(str(candidate))
    return short(raw)


def retry_after(headers: Any) -> float | None:
    """Retry-After in seconds (HTTP dates are ignored), capped so a server cannot stall us."""
    value = headers.get("Retry-After") if headers is not None else None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def video_data_url(path: Any) -> str:
    """A local recording as a base64 data URL: the server cannot read our disk, and vLLM
    decodes and samples `video_url` data URLs itself."""
    import base64
    import mimetypes
    from pathlib import Path

    file = Path(str(path).removeprefix("file://"))
    if not file.is_file():
        raise BackendError(f"no video file at {short(str(file), 120)}")
    mime = mimetypes.guess_type(file.name)[0] or "video/mp4"
    return f"data:{mime};base64," + base64.b64encode(file.read_bytes()).decode("ascii")
