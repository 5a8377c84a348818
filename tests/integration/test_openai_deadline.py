"""Issue 15.7: one deadline per model request (connect, read and retries together), against
real TCP servers that accept the connection and never answer, or trickle a byte at a time."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from pixelpilot.vlm.backend import BackendError
from pixelpilot.vlm.backends.openai import OpenAIBackend
from tests.integration.browser_fixtures import pages_url
from tests.integration.openai_fixtures import (
    CLI,
    SilentServer,
    _no_proxy_no_key,
    server,
    user_turn,
)

__all__ = ["_no_proxy_no_key", "pages_url", "server"]  # fixtures


# -- the request deadline ---------------------------------------------------------------


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
            [*CLI,
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
            [*CLI,
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
