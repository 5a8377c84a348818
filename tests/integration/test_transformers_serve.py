"""The openai backend against a server we did not write: Hugging Face's `transformers serve`.

The real server runs the tiny random-weight Qwen2-VL (tests/fixtures/tiny_qwen.py) from a
folder on the CPU, started once per session. Its replies are random, so the tests assert
what is deterministic: exit codes, that each request reached the server and was answered
(its own access log), the prompt size the server counted (checked against the
checkpoint's own processor), the trajectory's records and the served model's name.
transformers serve is strict: any field beyond the OpenAI schema is HTTP 422, which is
what `--server vllm` runs into and what `auto` learns from.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from pixelpilot.agent.commands import EXIT
from pixelpilot.vlm import GenerationParams, load_backend
from tests.integration.browser_fixtures import pages_url

__all__ = ["pages_url"]

READY_DEADLINE_S = 240.0  # ~20 s on an idle machine; generous for a shared, loaded one
CLI = [sys.executable, "-c", "from pixelpilot.cli import main; raise SystemExit(main())"]
RUN_STATUSES = {"success", "failure", "needs_user", "max_steps", "stopped"}  # README's set


@dataclass
class Serve:
    base_url: str
    model: str  # the name the pinned server answers to: the folder it was given
    log: Path

    def access_log(self) -> list[str]:
        """The server's own request lines, e.g. `"POST /v1/chat/completions HTTP/1.1" 200`."""
        lines = self.log.read_text(errors="replace").splitlines()
        return [line for line in lines if '"POST /v1/chat/completions' in line]

    def statuses_since(self, before: int, count: int) -> list[str]:
        """The HTTP statuses of the chat requests after the first `before`, once `count`
        are logged (the server writes its access line as it answers, a moment later)."""
        end = time.monotonic() + 10
        while len(self.access_log()) - before < count and time.monotonic() < end:
            time.sleep(0.05)
        return [line.split('"')[-1].split()[0] for line in self.access_log()[before:]]


def _transformers_cli() -> str | None:
    beside = Path(sys.executable).with_name("transformers")
    return str(beside) if beside.exists() else shutil.which("transformers")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_ready(process: subprocess.Popen, url: str, log: Path) -> None:
    """Until /v1/models answers 200, the process dies, or the deadline passes."""
    end = time.monotonic() + READY_DEADLINE_S
    while time.monotonic() < end:
        if process.poll() is not None:
            pytest.fail(f"transformers serve exited ({process.returncode}):\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url + "/models", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    tail = log.read_text(errors="replace")[-3000:]
    pytest.fail(f"transformers serve not ready after {READY_DEADLINE_S:g} s:\n{tail}")


@pytest.fixture(scope="session")
def serve(tiny_qwen2vl, tmp_path_factory) -> Iterator[Serve]:
    """`transformers serve` on 127.0.0.1 with the tiny Qwen2-VL; killed (its whole process
    group) at the end of the session."""
    cli = _transformers_cli()
    if cli is None:
        pytest.skip("no `transformers` command: pip install 'transformers[serving]'")
    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
    command = [cli, "serve", str(tiny_qwen2vl), "--host", "127.0.0.1", "--port", str(port),
               "--device", "cpu"]  # fmt: skip
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_ready(process, base_url, log)
        yield Serve(base_url, str(tiny_qwen2vl), log)
    finally:
        for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 15)):
            if process.poll() is not None:
                break
            os.killpg(process.pid, sig)
            try:
                process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                continue


@pytest.fixture(autouse=True)
def _direct(monkeypatch: pytest.MonkeyPatch) -> None:
    """127.0.0.1 directly, never through a proxy from the environment."""
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("ALL_PROXY", raising=False)


def pixelpilot(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout)


def expected_prompt_tokens(checkpoint: str, image: Image.Image, question: str) -> int:
    """The prompt length the checkpoint's own processor gives (image tokens included)."""
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(checkpoint)
    messages = [{"role": "user", "content": [{"type": "image", "image": image},
                                             {"type": "text", "text": question}]}]  # fmt: skip
    inputs = processor.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=True, return_dict=True
    )
    return len(inputs["input_ids"][0])


@pytest.mark.timeout(900)
@pytest.mark.parametrize("server", ["auto", "transformers"])
def test_ask_through_transformers_serve(serve: Serve, tmp_path: Path, server: str) -> None:
    image = Image.new("RGB", (200, 120), (200, 30, 30))
    image.save(tmp_path / "shot.png")
    before = len(serve.access_log())
    # no --model: the one the server serves is asked from /v1/models
    done = pixelpilot(
        "ask", "What is on the screen?", "--backend", "openai", "--base-url", serve.base_url,
        "--server", server, "--image", str(tmp_path / "shot.png"), "--max-new-tokens", "8",
        "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    completion = json.loads(done.stdout)
    # 200x120 -> 196x112 by hand (round to multiples of 28): 7 x 4 = 28 visual tokens
    assert completion["image_sizes"] == [[196, 112]]
    assert completion["usage"]["visual_tokens"] == 28
    assert completion["usage"]["prompt_tokens"] == expected_prompt_tokens(
        serve.model, image, "What is on the screen?"
    )  # the server saw the image at the size we report
    assert completion["finish_reason"] in ("stop", "length")
    if completion["finish_reason"] == "length":
        assert completion["usage"]["completion_tokens"] == 8
    assert serve.statuses_since(before, 1) == ["200"]


@pytest.mark.timeout(900)
def test_forced_vllm_profile_gets_the_422_reported_clearly(serve: Serve) -> None:
    before = len(serve.access_log())
    done = pixelpilot(
        "ask", "hello", "--backend", "openai", "--base-url", serve.base_url,
        "--model", serve.model, "--server", "vllm", "--max-new-tokens", "4",
    )  # fmt: skip
    assert done.returncode == EXIT["backend"] == 3  # the server refused: a backend error
    assert "HTTP 422" in done.stderr and "skip_special_tokens" in done.stderr
    assert "--server auto" in done.stderr
    assert "Traceback" not in done.stderr
    assert serve.statuses_since(before, 1) == ["422"]


@pytest.mark.timeout(900)
def test_auto_recovers_from_the_real_422_and_says_so_once(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    """Without /v1/models to go by, auto sends vLLM's fields, gets the 422, drops them."""
    backend = load_backend(
        "openai", base_url=serve.base_url, model=serve.model, server="auto", probe_models=False
    )
    before = len(serve.access_log())
    question = [{"role": "user", "content": "hello"}]
    with caplog.at_level(logging.WARNING, logger="pixelpilot"):
        for _ in range(2):
            (completion,) = backend.generate(question, GenerationParams(max_new_tokens=4))
            assert completion.finish_reason in ("stop", "length")
    assert serve.statuses_since(before, 3) == [
        "422",
        "200",
        "200",
    ]  # one refusal, then right every time
    said = [r for r in caplog.records if "rejected" in r.getMessage()]
    assert len(said) == 1 and "skip_special_tokens" in said[0].getMessage()


@pytest.mark.timeout(900)
def test_a_short_run_through_transformers_serve(serve: Serve, pages_url: str, tmp_path: Path):
    before = len(serve.access_log())
    done = pixelpilot(
        "run", "Fill in the form and submit it", "--url", f"{pages_url}/form.html",
        "--backend", "openai", "--base-url", serve.base_url, "--server", "auto",
        "--max-steps", "2", "--record", str(tmp_path / "runs"), "--viewport", "640x400",
    )  # fmt: skip
    runs = list((tmp_path / "runs").glob("*/trajectory.jsonl"))
    assert len(runs) == 1, done.stdout + done.stderr
    records = [json.loads(line) for line in runs[0].read_text().split("\n") if line]
    header, steps, end = records[0], records[1:-1], records[-1]
    assert header["type"] == "header" and header["model"] == serve.model  # learned name
    assert end["type"] == "end" and end["status"] in RUN_STATUSES, end
    assert done.returncode == EXIT[end["status"]], done.stderr
    assert "Traceback" not in done.stderr
    assert 1 <= len(steps) <= 2
    for step in steps:
        assert isinstance(step["completion"]["text"], str)
        assert step["completion"]["usage"]["prompt_tokens"] > 0  # counted by the server
        sizes = step["completion"]["image_sizes"]  # this screen, and earlier ones as history
        assert sizes and all(size == [644, 392] for size in sizes)  # 640x400 on the 28 grid
    assert len(steps[0]["completion"]["image_sizes"]) == 1
    assert serve.statuses_since(before, len(steps)) == ["200"] * len(steps)
