"""Server profiles: what the openai backend sends to each server, how `auto` learns which
server it talks to (`/v1/models`, the host, a 4xx naming the fields), and the command
line's options for it, all against real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from typing import Any

import pytest

from pixelpilot.vlm.backend import BackendError, GenerationParams
from pixelpilot.vlm.backends.openai import OpenAIBackend
from pixelpilot.vlm.backends.openai_servers import (
    model_ids,
    profile_from_models,
    profile_from_url,
)
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


def test_the_model_asked_for_is_a_loaded_one() -> None:
    answer = {"data": [{"id": "org/cached", "status": {"value": "unloaded"}},
                       {"id": "/models/tiny", "status": {"value": "loaded"}}]}  # fmt: skip
    assert model_ids(answer) == ["/models/tiny", "org/cached"]
    assert model_ids({"data": [{"id": "first"}, {"id": "second"}]}) == ["first", "second"]
    assert model_ids({"error": "nope"}) == []


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


# -- the command line's model options -------------------------------------------------

MODEL_FLAGS = ["--backend", "openai", "--base-url", "http://127.0.0.1:8000/v1", "--model", "m",
               "--server", "lmstudio", "--api-key-env", "MY_KEY", "--min-pixels", "6272",
               "--max-pixels", "1003520", "--request-timeout", "7.5"]  # fmt: skip


@pytest.mark.parametrize(
    "command",
    [["run", "t", "--url", "http://127.0.0.1:1/"], ["demo"], ["ask", "q"],
     ["eval", "miniwob", "click-button"], ["eval", "grounding", "set"]],
    ids=["run", "demo", "ask", "eval-miniwob", "eval-grounding"],
)  # fmt: skip
def test_every_command_with_model_options_takes_the_server_options(command: list[str]) -> None:
    from pixelpilot.agent.commands import openai_options
    from pixelpilot.cli import build_parser

    args = build_parser().parse_args([*command, *MODEL_FLAGS])
    assert openai_options(args) == {
        "base_url": "http://127.0.0.1:8000/v1", "model": "m", "server": "lmstudio",
        "api_key_env": "MY_KEY", "request_timeout_s": 7.5,
        "min_pixels": 6272, "max_pixels": 1_003_520,
    }  # fmt: skip


@pytest.mark.parametrize("profile", ["vllm", "transformers"])
def test_ask_sends_the_key_from_api_key_env_and_the_pixel_limits(
    server: FakeServer, tmp_path, profile: str
) -> None:
    import os

    server.push(chat("hello"))
    screenshot(1920, 1080).save(tmp_path / "shot.png")
    done = subprocess.run(
        [sys.executable, "-c", "from pixelpilot.cli import main; raise SystemExit(main())",
         "ask", "what?", "--backend", "openai", "--base-url", server.base_url, "--model", "m",
         "--server", profile, "--api-key-env", "PIXEL_KEY", "--min-pixels", "6272",
         "--max-pixels", "1003520", "--image", str(tmp_path / "shot.png"), "--json"],
        capture_output=True, text=True, timeout=100,
        env={**os.environ, "PIXEL_KEY": "sk-pixel", "OPENAI_API_KEY": "sk-not-this-one"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (request,) = server.requests
    assert request.headers["Authorization"] == "Bearer sk-pixel"
    sent = decode(request.body["messages"][0]["content"][0]["image_url"]["url"])
    if profile == "vllm":
        assert request.body["mm_processor_kwargs"] == {"min_pixels": 6272, "max_pixels": 1003520}
        assert sent.size == (1920, 1080)
    else:
        assert "mm_processor_kwargs" not in request.body
        assert sent.size == (1316, 728)
    assert json.loads(done.stdout)["image_sizes"] == [[1316, 728]]


def _run_cli(*args: str, cwd: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from pixelpilot.cli import main; raise SystemExit(main())",
         *args], capture_output=True, text=True, timeout=200, cwd=cwd,
    )  # fmt: skip


def test_run_without_model_speaks_the_served_models_dialect_with_the_pixel_limits(
    server: FakeServer, tmp_path
) -> None:
    """No --model and no --dialect: the dialect is guessed from the model the server
    says it serves (UI-TARS 1.5 here: its `finished(...)` reply ends the run with
    success; read as qwen2vl it would be an unreadable reply). --min-pixels and
    --max-pixels reach the agent's configuration (its history and size fallback), on record."""
    from pixelpilot.agent.demo import serve_demo
    from pixelpilot.agent.trajectory import read_trajectory

    server.models = {"object": "list", "data": [{"id": "ByteDance-Seed/UI-TARS-1.5-7B"}]}
    server.push(chat("Thought: nothing to do.\nAction: finished(content='done')"))
    with serve_demo() as base:
        done = _run_cli("run", "look", "--url", f"{base}/form.html", "--backend", "openai",
                        "--base-url", server.base_url, "--min-pixels", "6272",
                        "--max-pixels", "501760", "--record", str(tmp_path / "runs"),
                        "--request-timeout", "30", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS after 1 steps" in done.stdout and done.stdout.count("step   ") == 1
    (run_dir,) = (tmp_path / "runs").iterdir()
    header = read_trajectory(run_dir)["header"]
    assert (header["dialect"], header["model"]) == ("uitars15", "ByteDance-Seed/UI-TARS-1.5-7B")
    assert (header["config"]["min_pixels"], header["config"]["max_pixels"]) == (6272, 501760)
    (request,) = server.requests
    assert "<point>" in json.dumps(request.body["messages"])  # the uitars15 prompt's grammar
