"""OpenAIBackend against a real HTTP server on 127.0.0.1 that speaks chat completions.

The server records every request and answers from a per-test script, so retries,
timeouts and error handling run through real sockets. No timing is asserted except lower
bounds (a Retry-After wait), so a slow machine cannot make these fail.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import socket
import subprocess
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

from pixelpilot.vlm.backend import BackendError, GenerationParams, load_backend
from pixelpilot.vlm.backends.openai import OpenAIBackend, _retry_after
from pixelpilot.vlm.backends.openai_servers import profile_from_models, profile_from_url
from tests.integration.browser_fixtures import pages_url

__all__ = ["pages_url"]  # a fixture


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


def test_request_layout_and_completion(server: FakeServer) -> None:
    server.push(chat("click(10, 20)", prompt_tokens=40, completion_tokens=7))
    conversation = [
        {"role": "system", "content": [{"type": "text", "text": "You are a GUI agent."}]},
        *user_turn("Open the menu", screenshot(64, 48)),
    ]
    params = GenerationParams(max_new_tokens=64, top_k=5, seed=7, stop=("</s>",))
    (completion,) = backend(server).generate([conversation], params)

    (request,) = server.requests
    assert request.path == "/v1/chat/completions"
    assert "Authorization" not in request.headers
    body = request.body
    assert body["model"] == "qwen2-vl-7b"
    assert body["messages"][0] == {"role": "system", "content": "You are a GUI agent."}
    image_part, text_part = body["messages"][1]["content"]
    assert body["messages"][1]["role"] == "user"
    assert image_part["type"] == "image_url"
    assert image_part["image_url"]["url"].startswith("data:image/png;base64,")
    sent = decode(image_part["image_url"]["url"])
    assert (sent.format, sent.size) == ("PNG", (64, 48))
    assert text_part == {"type": "text", "text": "Open the menu"}
    assert (body["max_tokens"], body["temperature"], body["top_p"]) == (64, 0.0, 1.0)
    assert (body["top_k"], body["seed"], body["stop"]) == (5, 7, ["</s>"])
    assert "repetition_penalty" not in body
    assert "mm_processor_kwargs" not in body

    assert completion.text == "click(10, 20)"
    assert completion.finish_reason == "stop"
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (40, 7)
    assert completion.image_sizes == ((56, 56),)  # 64x48 under the checkpoints' defaults
    timings = completion.timings
    assert 0 <= timings.preprocess_s <= timings.total_s
    assert 0 <= timings.model_s <= timings.total_s


def test_plain_string_content_and_null_reply_text(server: FakeServer) -> None:
    reply = chat("")
    reply.body["choices"][0]["message"]["content"] = None
    server.push(reply)
    conversation = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hello"},
    ]
    (completion,) = backend(server).generate(conversation)  # one conversation, not a batch
    assert server.requests[0].body["messages"] == conversation
    assert completion.text == ""
    assert completion.image_sizes == ()


def test_jpeg_option(server: FakeServer) -> None:
    server.push(chat("ok"))
    backend(server, image_format="jpeg", jpeg_quality=80).generate(
        [user_turn("x", screenshot(100, 60))]
    )
    url = server.requests[0].body["messages"][0]["content"][0]["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,")
    assert (decode(url).format, decode(url).size) == ("JPEG", (100, 60))


def test_pixel_limits_image_sizes_and_visual_tokens(server: FakeServer) -> None:
    server.push(chat("ok"))
    model = backend(server, min_pixels=3136, max_pixels=1_003_520)
    (completion,) = model.generate([user_turn("x", screenshot(1920, 1080))])
    body = server.requests[0].body
    assert body["mm_processor_kwargs"] == {"min_pixels": 3136, "max_pixels": 1_003_520}
    sent = decode(body["messages"][0]["content"][0]["image_url"]["url"])
    assert sent.size == (1920, 1080)  # the server resizes, not us
    assert completion.image_sizes == ((1316, 728),)
    assert completion.usage.visual_tokens == 1222


def test_limits_not_sent_still_describe_the_server(server: FakeServer) -> None:
    server.push(chat("ok"))
    model = backend(server, max_pixels=1_003_520, send_pixel_limits=False)
    (completion,) = model.generate([user_turn("x", screenshot(1920, 1080))])
    assert "mm_processor_kwargs" not in server.requests[0].body
    assert completion.image_sizes == ((1316, 728),)


def test_part_limits_resize_before_sending(server: FakeServer) -> None:
    """A part's own max_pixels cannot travel per image, so the image is resized here."""
    server.push(chat("ok"))
    part = {"type": "image", "image": screenshot(1920, 1080), "max_pixels": 1_003_520}
    conversation = [{"role": "user", "content": [part, {"type": "text", "text": "x"}]}]
    (completion,) = backend(server).generate([conversation])
    sent = decode(server.requests[0].body["messages"][0]["content"][0]["image_url"]["url"])
    assert sent.size == (1316, 728)
    assert completion.image_sizes == ((1316, 728),)
    assert completion.usage.visual_tokens == 1222


def test_remote_image_urls_pass_through_with_unknown_size(server: FakeServer) -> None:
    server.push(chat("ok"))
    (completion,) = backend(server).generate([user_turn("x", "https://x.test/s.png")])
    part = server.requests[0].body["messages"][0]["content"][0]
    assert part == {"type": "image_url", "image_url": {"url": "https://x.test/s.png"}}
    assert completion.image_sizes == ((0, 0),)  # not fetched here; (0, 0) keeps the order


def test_extra_body_is_merged(server: FakeServer) -> None:
    server.push(chat("ok"))
    backend(server, extra_body={"top_k": 1, "skip_special_tokens": False}).generate(
        [user_turn("x")]
    )
    body = server.requests[0].body
    assert (body["top_k"], body["skip_special_tokens"]) == (1, False)


def test_videos_frames_as_images_files_as_data_urls(server: FakeServer, tmp_path) -> None:
    server.push(chat("ok"), chat("ok"), chat("ok"))
    frames = [screenshot(56, 56), screenshot(56, 56)]
    conversation = [{"role": "user", "content": [{"type": "video", "video": frames}]}]
    (completion,) = backend(server).generate([conversation])
    sent = server.requests[0].body["messages"][0]["content"]
    assert [p["type"] for p in sent] == ["image_url", "image_url"]
    assert completion.image_sizes == ((56, 56), (56, 56))

    remote = [{"role": "user", "content": [{"type": "video", "video": "https://x.test/v.mp4"}]}]
    backend(server).generate([remote])
    part = server.requests[1].body["messages"][0]["content"][0]
    assert part == {"type": "video_url", "video_url": {"url": "https://x.test/v.mp4"}}

    from tests.fixtures.media import write_video

    clip = write_video(tmp_path / "clip.mp4", seconds=1, fps=4, size=(64, 48))
    local = [{"role": "user", "content": [{"type": "video", "video": str(clip)}]}]
    backend(server).generate([local])
    url = server.requests[2].body["messages"][0]["content"][0]["video_url"]["url"]
    assert url.startswith("data:video/mp4;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == clip.read_bytes()

    missing = [
        {"role": "user", "content": [{"type": "video", "video": str(tmp_path / "gone.mp4")}]}
    ]
    with pytest.raises(BackendError, match="no video file"):
        backend(server).generate([missing])
    assert len(server.requests) == 3


def test_authorization_header_from_env(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    monkeypatch.setenv("MY_SERVER_KEY", "sk-custom")
    server.push(chat("ok"), chat("ok"))
    backend(server).generate([user_turn("x")])
    backend(server, api_key_env="MY_SERVER_KEY").generate([user_turn("x")])
    assert server.requests[0].headers["Authorization"] == "Bearer sk-from-env"
    assert server.requests[1].headers["Authorization"] == "Bearer sk-custom"
    assert "sk-from-env" not in repr(backend(server))


def test_retries_on_500_then_succeeds(server: FakeServer) -> None:
    server.push(Reply(500, {"error": {"message": "boom"}}), Reply(502, "bad gateway"), chat("ok"))
    (completion,) = backend(server, max_retries=3).generate([user_turn("x")])
    assert completion.text == "ok"
    assert len(server.requests) == 3


def test_429_honours_retry_after(server: FakeServer) -> None:
    server.push(Reply(429, {"error": {"message": "slow down"}}, {"Retry-After": "1"}), chat("ok"))
    start = time.monotonic()
    (completion,) = backend(server).generate([user_turn("x")])
    assert completion.text == "ok"
    assert len(server.requests) == 2
    assert time.monotonic() - start >= 0.9  # waited as told, not the 0.01 s backoff


def test_retry_after_is_capped_and_dates_ignored() -> None:
    assert _retry_after({"Retry-After": "3600"}) == 30.0
    assert _retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) is None
    assert _retry_after({}) is None


def test_gives_up_after_max_retries(server: FakeServer) -> None:
    server.fallback = lambda body: Reply(503, {"error": {"message": "engine overloaded"}})
    with pytest.raises(BackendError) as caught:
        backend(server, max_retries=2).generate([user_turn("x")])
    message = str(caught.value)
    assert server.base_url in message
    assert "503" in message
    assert "engine overloaded" in message
    assert len(server.requests) == 3  # first try and two retries


def test_timeout_is_retried_then_fails(server: FakeServer) -> None:
    server.fallback = lambda body: Reply(delay_s=3.0, body=chat("late").body)
    with pytest.raises(BackendError, match="2 attempt"):
        backend(server, timeout_s=0.3, max_retries=1).generate([user_turn("x")])
    assert len(server.wait_for(2)) == 2


def test_connection_refused_is_retried_then_fails() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    model = OpenAIBackend(f"http://127.0.0.1:{port}/v1", "m", max_retries=1, backoff_s=0.01)
    with pytest.raises(BackendError, match="2 attempt"):
        model.generate([user_turn("x")])


def test_401_fails_at_once_and_names_the_variable(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-key")
    server.fallback = lambda body: Reply(401, {"error": {"message": "bad key sk-wrong-key"}})
    with pytest.raises(BackendError) as caught:
        backend(server, max_retries=3).generate([user_turn("x")])
    message = str(caught.value)
    assert "API key" in message
    assert "OPENAI_API_KEY" in message
    assert "sk-wrong-key" not in message
    assert len(server.requests) == 1


def test_other_4xx_fails_at_once_with_the_servers_message(server: FakeServer) -> None:
    server.fallback = lambda body: Reply(400, {"object": "error", "message": "context too long"})
    with pytest.raises(BackendError, match="context too long"):
        backend(server, max_retries=3).generate([user_turn("x")])
    assert len(server.requests) == 1


def test_malformed_json_is_a_backend_error(server: FakeServer) -> None:
    server.push(Reply(200, "{not json"))
    with pytest.raises(BackendError, match="malformed JSON"):
        backend(server).generate([user_turn("x")])


def test_batch_answers_in_input_order(server: FakeServer) -> None:
    def echo(body: Any) -> Reply:
        text = body["messages"][0]["content"][-1]["text"]
        reply = chat(f"echo {text}")
        reply.delay_s = {"a": 0.3, "b": 0.15, "c": 0.0}[text]  # the first finishes last
        return reply

    server.fallback = echo
    completions = backend(server, max_parallel=3).generate([user_turn(t) for t in "abc"])
    assert [c.text for c in completions] == ["echo a", "echo b", "echo c"]
    assert len(server.requests) == 3


def test_batch_requests_are_in_flight_together(server: FakeServer) -> None:
    """Counted on the server, not timed: no speed assertion on a shared machine."""
    lock, state = threading.Lock(), {"now": 0, "most": 0}
    everyone_arrived = threading.Barrier(3, timeout=10)

    def slow(body: Any) -> Reply:
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        everyone_arrived.wait()  # fails (BrokenBarrierError) unless all three are in flight
        with lock:
            state["now"] -= 1
        return chat("ok")

    server.fallback = slow
    completions = backend(server, max_parallel=3).generate([user_turn(t) for t in "abc"])
    assert [c.text for c in completions] == ["ok"] * 3
    assert state["most"] == 3


def test_load_backend_builds_it(server: FakeServer) -> None:
    server.push(chat("ok"))
    model = load_backend("openai", base_url=server.base_url + "/", model="m", backoff_s=0.01)
    assert isinstance(model, OpenAIBackend)
    assert model.generate([user_turn("x")])[0].text == "ok"
    assert server.requests[0].path == "/v1/chat/completions"


def test_importing_it_does_not_import_torch() -> None:
    code = (
        "import sys, pixelpilot.vlm.backends.openai\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# -- server profiles ----------------------------------------------------------------------

STANDARD = {"model", "messages", "max_tokens", "temperature", "top_p", "seed"}
LIMITS = {"min_pixels": 3136, "max_pixels": 1_003_520}
# What each server documents beyond the OpenAI schema, written out by hand (see the
# servers' docs quoted in vlm/backends/openai_servers.py), and whether the server can take
# the pixel limits per request (else the image must arrive already resized: 1316x728).
PROFILE_EXTRAS = {
    "vllm": ({"skip_special_tokens": False, "top_k": 5, "repetition_penalty": 1.05,
              "mm_processor_kwargs": LIMITS}, (1920, 1080)),
    "sglang": ({"skip_special_tokens": False, "top_k": 5, "repetition_penalty": 1.05},
               (1316, 728)),
    "transformers": ({}, (1316, 728)),
    "openai": ({}, (1316, 728)),
    "ollama": ({}, (1316, 728)),
    "lmstudio": ({"top_k": 5, "repeat_penalty": 1.05}, (1316, 728)),
    # DashScope's own cap is 1280 tokens = 1,003,520 px: the same limits, so it resizes
    "dashscope": ({"top_k": 5, "repetition_penalty": 1.05}, (1920, 1080)),
}  # fmt: skip
SAMPLING = GenerationParams(max_new_tokens=16, top_k=5, repetition_penalty=1.05, seed=3)


@pytest.mark.parametrize("name", sorted(PROFILE_EXTRAS))
def test_each_profile_sends_what_its_server_documents(server: FakeServer, name: str) -> None:
    extras, sent_size = PROFILE_EXTRAS[name]
    server.push(chat("ok"))
    model = backend(server, server=name, **LIMITS)
    (completion,) = model.generate([user_turn("x", screenshot(1920, 1080))], SAMPLING)
    body = server.requests[0].body
    assert set(body) == STANDARD | set(extras)
    assert {key: body[key] for key in extras} == extras
    sent = decode(body["messages"][0]["content"][0]["image_url"]["url"])
    assert sent.size == sent_size
    assert completion.image_sizes == ((1316, 728),)  # what the model sees, either way
    assert server.gets == []  # a named profile has nothing to learn


def test_dashscope_high_resolution_for_limits_above_its_cap(server: FakeServer) -> None:
    server.push(chat("ok"))
    model = backend(server, server="dashscope", max_pixels=2_000_000)
    (completion,) = model.generate([user_turn("x", screenshot(1920, 1080))])
    body = server.requests[0].body
    assert body["vl_high_resolution_images"] is True
    assert "mm_processor_kwargs" not in body
    # 1920x1080 under 2,000,000 px, by hand: beta = sqrt(2,073,600 / 2,000,000) = 1.01823;
    # floor(1080 / beta / 28) = 37 -> 1036, floor(1920 / beta / 28) = 67 -> 1876
    sent = decode(body["messages"][0]["content"][0]["image_url"]["url"])
    assert sent.size == (1876, 1036)
    assert completion.image_sizes == ((1876, 1036),)


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        ({"data": [{"id": "Qwen/Qwen2-VL-7B-Instruct", "owned_by": "vllm"}]}, "vllm"),
        ({"data": [{"id": "default", "owned_by": "sglang"}]}, "sglang"),
        ({"data": [{"id": "/m", "owned_by": "local", "status": {"value": "loaded"}}]},
         "transformers"),
        ({"data": [{"id": "qwen2.5-vl-7b", "owned_by": "organization_owner"}]}, "lmstudio"),
        ({"data": [{"id": "qwen2.5vl:7b", "owned_by": "library"}]}, "ollama"),
        ({"data": [{"id": "gpt-4o", "owned_by": "system"}, {"id": "o1", "owned_by": "openai"}]},
         "openai"),
        ({"data": [{"id": "m", "owned_by": "llamacpp"}]}, None),
        ({"object": "error"}, None),
        ("not json at all", None),
    ],
)  # fmt: skip
def test_models_answers_name_their_server(answer: Any, kind: str | None) -> None:
    assert profile_from_models(answer) == kind


def test_hosted_apis_are_known_by_host() -> None:
    assert profile_from_url("https://api.openai.com/v1") == "openai"
    assert profile_from_url("https://dashscope-intl.aliyuncs.com/compatible-mode/v1") == "dashscope"
    assert profile_from_url("http://127.0.0.1:8000/v1") is None


def test_auto_learns_the_server_and_model_from_models(server: FakeServer) -> None:
    server.models = {"object": "list", "data": [{"id": "Qwen/Qwen2-VL-7B-Instruct",
                                                 "object": "model", "owned_by": "sglang"}]}  # fmt: skip
    server.push(chat("ok"), chat("ok"))
    model = OpenAIBackend(server.base_url, None, backoff_s=0.01, max_pixels=1_003_520)
    assert model.discover() == "sglang"
    model.generate([user_turn("x", screenshot(1920, 1080))])
    model.generate([user_turn("y")])
    assert server.gets == ["/v1/models"]  # asked once, not per request
    first = server.requests[0].body
    assert first["model"] == "Qwen/Qwen2-VL-7B-Instruct"
    assert first["skip_special_tokens"] is False
    assert "mm_processor_kwargs" not in first  # SGLang takes limits at launch: resized here
    assert decode(first["messages"][0]["content"][0]["image_url"]["url"]).size == (1316, 728)


def test_auto_drops_decoding_fields_a_strict_server_lacks_and_says_so_once(
    server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.models = {"data": [{"id": "/tiny", "owned_by": "local", "status": {"value": "loaded"}}]}
    server.push(chat("ok"), chat("ok"))
    model = backend(server, server="auto")
    with caplog.at_level(logging.WARNING, logger="pixelpilot"):
        for _ in range(2):
            model.generate([user_turn("x")], SAMPLING)
    assert [set(r.body) for r in server.requests] == [STANDARD, STANDARD]
    assert model.profile == "transformers"
    warned = [r.getMessage() for r in caplog.records if "repetition_penalty" in r.getMessage()]
    assert len(warned) == 1


def strict_server(body: Any) -> Reply:
    """Like transformers serve: 422 for fields beyond the OpenAI schema, naming them."""
    unknown = set(body) - STANDARD - {"stop"}
    if unknown:
        return Reply(422, {"detail": f"Unexpected fields in the request: {unknown}"})
    return chat("ok")


def test_auto_retries_once_without_the_fields_a_4xx_names(
    server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.fallback = strict_server  # no /v1/models: auto learns from the refusal
    model = backend(server, max_pixels=1_003_520)
    with caplog.at_level(logging.WARNING, logger="pixelpilot"):
        first = model.generate([user_turn("x", screenshot(1920, 1080))])[0]
        second = model.generate([user_turn("x", screenshot(1920, 1080))])[0]
    assert [c.text for c in (first, second)] == ["ok", "ok"]
    bodies = [r.body for r in server.requests]
    assert len(bodies) == 3  # refused, retried, then right the first time
    assert {"skip_special_tokens", "mm_processor_kwargs"} <= set(bodies[0])
    assert set(bodies[1]) == set(bodies[2]) == STANDARD - {"seed"}
    # the limits could not travel any more, so the image went resized to them
    assert decode(bodies[0]["messages"][0]["content"][0]["image_url"]["url"]).size == (1920, 1080)
    assert decode(bodies[1]["messages"][0]["content"][0]["image_url"]["url"]).size == (1316, 728)
    assert first.image_sizes == second.image_sizes == ((1316, 728),)
    said = [r for r in caplog.records if "rejected" in r.getMessage()]
    assert len(said) == 1 and said[0].name.startswith("pixelpilot")
    assert "skip_special_tokens" in said[0].getMessage()


def test_openai_style_refusal_naming_one_field_is_learned_too(server: FakeServer) -> None:
    def openai_like(body: Any) -> Reply:
        if "skip_special_tokens" in body:
            message = "Unrecognized request argument supplied: skip_special_tokens"
            return Reply(400, {"error": {"message": message, "type": "invalid_request_error"}})
        return chat("ok")

    server.fallback = openai_like
    assert backend(server).generate([user_turn("x")])[0].text == "ok"
    assert len(server.requests) == 2


def test_a_forced_profile_reports_the_refusal_and_what_to_do(server: FakeServer) -> None:
    server.fallback = strict_server
    with pytest.raises(BackendError) as caught:
        backend(server, server="vllm").generate([user_turn("x")])
    message = str(caught.value)
    assert "HTTP 422" in message and "skip_special_tokens" in message
    assert "'vllm'" in message and "--server auto" in message
    assert len(server.requests) == 1  # no silent retry when the profile was chosen


def test_unknown_server_name_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown server 'tgi'"):
        OpenAIBackend("http://127.0.0.1:9/v1", "m", server="tgi")
    with pytest.raises(ValueError, match="positive and finite"):
        OpenAIBackend("http://127.0.0.1:9/v1", "m", request_timeout_s=float("nan"))


# -- the request deadline ---------------------------------------------------------------


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


@pytest.mark.timeout(120)
@pytest.mark.parametrize("trickle", [False, True], ids=["silent", "trickle"])
def test_a_server_that_never_answers_cannot_outlast_the_deadline(trickle: bool) -> None:
    silent = SilentServer(trickle=trickle)
    try:
        model = OpenAIBackend(
            f"http://127.0.0.1:{silent.port}/v1", "m", server="vllm",
            timeout_s=60.0, request_timeout_s=1.0, max_retries=3, backoff_s=0.01,
        )  # fmt: skip
        start = time.monotonic()
        with pytest.raises(BackendError) as caught:
            model.generate([user_turn("x")])
        took = time.monotonic() - start
    finally:
        silent.close()
    assert "request deadline of 1 s" in str(caught.value)
    assert "--request-timeout" in str(caught.value)
    assert silent.accepted  # the request really reached it
    # not a speed assertion: the per-attempt socket timeout alone would take 60 s x 4
    assert took < 50


@pytest.mark.timeout(120)
def test_the_command_line_takes_request_timeout() -> None:
    silent = SilentServer()
    try:
        done = subprocess.run(
            [sys.executable, "-c", "from pixelpilot.cli import main; raise SystemExit(main())",
             "ask", "hello", "--backend", "openai", "--model", "m", "--server", "transformers",
             "--base-url", f"http://127.0.0.1:{silent.port}/v1", "--request-timeout", "1.5"],
            capture_output=True, text=True, timeout=100,
        )  # fmt: skip
    finally:
        silent.close()
    assert done.returncode != 0
    assert "request deadline of 1.5 s" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.timeout(300)
def test_a_run_against_a_server_that_never_answers_ends_with_the_backend_code(
    pages_url: str, tmp_path
) -> None:
    """Issue 15.7: the run used to wait 4 x 120 s; now one deadline per model request."""
    from pixelpilot.agent.commands import EXIT
    from pixelpilot.agent.trajectory import read_trajectory

    silent = SilentServer()
    try:
        done = subprocess.run(
            [sys.executable, "-c", "from pixelpilot.cli import main; raise SystemExit(main())",
             "run", "look around", "--url", f"{pages_url}/form.html", "--backend", "openai",
             "--base-url", f"http://127.0.0.1:{silent.port}/v1", "--model", "m",
             "--request-timeout", "2", "--max-steps", "3", "--record", str(tmp_path)],
            capture_output=True, text=True, timeout=250,
        )  # fmt: skip
    finally:
        silent.close()
    assert done.returncode == EXIT["backend"], done.stdout + done.stderr
    assert "request deadline of 2 s" in done.stderr
    assert "Traceback" not in done.stderr
    assert silent.accepted
    (run_dir,) = tmp_path.iterdir()
    assert read_trajectory(run_dir)["end"]["status"] == "error"


def test_base_url_must_be_http() -> None:
    with pytest.raises(ValueError, match="http"):
        OpenAIBackend("127.0.0.1:8000/v1", "m")
    done = subprocess.run(
        [sys.executable, "-c", "from pixelpilot.cli import main; raise SystemExit(main())",
         "ask", "x", "--backend", "openai", "--base-url", "localhost:8000"],
        capture_output=True, text=True, timeout=100,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--base-url must be an http(s) URL" in done.stderr
