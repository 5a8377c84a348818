"""Servers for the openai backend's tests: real HTTP and TCP servers on 127.0.0.1.

`FakeServer` speaks chat completions: it records every request and answers from a
per-test script (and `/v1/models` from `models`), so retries, timeouts and error handling
run through real sockets. `SilentServer` accepts connections and never answers (or
trickles a body byte by byte), the server the request deadline is for.
"""

from __future__ import annotations

import base64
import io
import json
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from PIL import Image

from pixelpilot.vlm.backends.openai import OpenAIBackend


@dataclass
class Reply:
    """One scripted answer: a dict body goes out as JSON, a str as it is."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: Any


def chat(text: str, *, prompt_tokens: int = 11, completion_tokens: int = 3) -> Reply:
    return Reply(
        body={
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
    )


class FakeServer:
    """A chat-completions server: scripted replies first, then `fallback` (if set)."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.script: deque[Reply] = deque()
        self.fallback: Callable[[Any], Reply] | None = None
        self.models: Any = None  # the GET /v1/models answer; None answers 404
        self.gets: list[str] = []
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def push(self, *replies: Reply) -> None:
        with self.lock:
            self.script.extend(replies)

    def wait_for(self, count: int, deadline_s: float = 10.0) -> list[Recorded]:
        """The requests once `count` have arrived (a timed-out client may beat the server)."""
        end = time.monotonic() + deadline_s
        while len(self.requests) < count and time.monotonic() < end:
            time.sleep(0.01)
        return list(self.requests)

    def _answer(self, body: Any) -> Reply:
        with self.lock:
            if self.script:
                return self.script.popleft()
        if self.fallback is not None:
            return self.fallback(body)
        return Reply(status=500, body={"error": {"message": "no scripted reply left"}})

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw
                with server.lock:
                    server.requests.append(Recorded(self.path, dict(self.headers), body))
                reply = server._answer(body)
                time.sleep(reply.delay_s)
                data = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data.encode())))
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data.encode())
                except OSError:  # the client gave up waiting (timeout tests)
                    pass

            def do_GET(self) -> None:
                server.gets.append(self.path)
                found = self.path == "/v1/models" and server.models is not None
                data = json.dumps(server.models if found else {"detail": "Not Found"}).encode()
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


@pytest.fixture(autouse=True)
def _no_proxy_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Talk to 127.0.0.1 directly, and start without an API key in the environment."""
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("ALL_PROXY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


@pytest.fixture
def server() -> Iterator[FakeServer]:
    fake = FakeServer()
    fake.thread.start()
    yield fake
    fake.httpd.shutdown()
    fake.httpd.server_close()


def backend(fake: FakeServer, **options: Any) -> OpenAIBackend:
    options.setdefault("backoff_s", 0.01)
    options.setdefault("timeout_s", 30.0)
    return OpenAIBackend(fake.base_url, "qwen2-vl-7b", **options)


def decode(url: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(url.split("base64,", 1)[1])))
    image.load()
    return image


def screenshot(width: int, height: int) -> Image.Image:
    return Image.new("RGB", (width, height), (30, 120, 200))


def user_turn(text: str, *images: Any) -> list[dict[str, Any]]:
    content = [{"type": "image", "image": image} for image in images]
    return [{"role": "user", "content": [*content, {"type": "text", "text": text}]}]


class SilentServer:
    """A real TCP server that accepts every connection and then never answers; with
    `trickle`, it sends a response's headers and then one body byte every 50 ms, so no
    socket timeout ever fires."""

    def __init__(self, trickle: bool = False) -> None:
        self.trickle = trickle
        self.accepted: list[socket.socket] = []
        self.stop = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted.append(conn)
            if self.trickle:
                threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        try:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 100000\r\n\r\n")  # fmt: skip
            while not self.stop.wait(0.05):
                conn.sendall(b" ")
        except OSError:  # the client gave up, as it should
            pass

    def close(self) -> None:
        self.stop.set()
        self.sock.close()
        for conn in self.accepted:
            conn.close()


#: `pixelpilot ...` as a subprocess, run by the interpreter of this test session
CLI = [sys.executable, "-c", "from pixelpilot.cli import main; raise SystemExit(main())"]
