"""OpenAIBackend against a real HTTP server on 127.0.0.1 that speaks chat completions.

The server records every request and answers from a per-test script, so retries,
timeouts and error handling run through real sockets. No timing is asserted except lower
bounds (a Retry-After wait), so a slow machine cannot make these fail.
"""

from __future__ import annotations

import base64
import socket
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

from pixelpilot.vlm.backend import BackendError, GenerationParams, load_backend
from pixelpilot.vlm.backends.openai import OpenAIBackend, _retry_after
from tests.integration.openai_fixtures import (
    FakeServer,
    Reply,
    _no_proxy_no_key,
    backend,
    chat,
    decode,
    screenshot,
    server,
    user_turn,
)

__all__ = ["_no_proxy_no_key", "server"]  # fixtures


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
