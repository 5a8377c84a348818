"""`pixelpilot mcp` driven by the MCP SDK's own client, over stdio and streamable HTTP,
against a served page in real headless Chromium with scripted grounding replies.

The replies are norm1000 boxes (qwen2vl) written from the page's own CSS layout (a
200x100 CSS-pixel button at the top-left of a 400x300 viewport), so a click lands on
the button only if the server's coordinate chain is right at device pixel ratio 2.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcp")

from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from PIL import Image

from pixelpilot.agent.demo import serve_directory

PAGE_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "mcp"
SECRET = "s3cr3t-Value-42"
#: the console script beside this interpreter (what a client's config names)
PIXELPILOT = str(Path(sys.executable).parent / "pixelpilot")
REPLIES = {
    "the Go button": "<|box_start|>(0,0),(500,333)<|box_end|>",
    "the name field": "<|box_start|>(0,500),(500,667)<|box_end|>",
    "the missing thing": "<|box_start|>(1200,100),(1300,200)<|box_end|>",
    "Make the page green": ["CLICK <|box_start|>(0,0),(500,333)<|box_end|>", 'FINISH "green"'],
}
TOOLS = {"screenshot", "locate", "click", "type_text", "press_key", "scroll", "drag",
         "navigate", "read", "expect", "run_task"}  # fmt: skip
READ_ONLY = {"screenshot", "locate", "read", "expect"}


@pytest.fixture(scope="module")
def page_url() -> Iterator[str]:
    with serve_directory(PAGE_DIR) as url:
        yield f"{url}/mcp_page.html"


def server_args(url: str, tmp: Path, *extra: str) -> list[str]:
    replies = tmp / "replies.json"
    replies.write_text(json.dumps(REPLIES), encoding="utf-8")
    host = url.split("/")[2]
    return ["mcp", "--url", url, "--backend", "scripted",
            "--replies-file", str(replies), "--dialect", "qwen2vl", "--viewport", "400x300",
            "--dpr", "2", "--record", str(tmp / "runs"), "--allow-domain", host,
            "--secret", "PW=MCP_TEST_PW", *extra]  # fmt: skip


def env() -> dict[str, str]:
    import os

    return {**os.environ, "MCP_TEST_PW": SECRET}


def text_of(result: Any) -> str:
    """Every text a tool result carries (content and structured), for secret checks."""
    parts = [c.text for c in result.content if getattr(c, "text", None) is not None]
    return "\n".join(parts) + json.dumps(result.structured_content or {})


async def screenshot(session: ClientSession) -> tuple[Image.Image, str]:
    result = await session.call_tool("screenshot", {})
    assert not result.is_error, text_of(result)
    image = next(c for c in result.content if c.type == "image")
    assert image.mime_type == "image/png"
    return Image.open(io.BytesIO(base64.b64decode(image.data))).convert("RGB"), text_of(result)


async def exercise(session: ClientSession) -> list[str]:
    """The checks both transports share; every result's text, for the secret check."""
    seen: list[str] = []
    listed = await session.list_tools()
    tools = {t.name: t for t in listed.tools}
    assert set(tools) == TOOLS
    assert tools["click"].input_schema["properties"]["x"]["anyOf"][0]["type"] == "number"
    assert "pixels of the last screenshot" in tools["click"].description
    assert {n for n, t in tools.items() if t.annotations.read_only_hint} == READ_ONLY

    image, text = await screenshot(session)
    seen.append(text)
    assert image.size == (800, 600)  # 400x300 CSS pixels at dpr 2
    assert "800x600" in text
    assert image.getpixel((700, 500)) == (255, 255, 255)

    result = await session.call_tool("click", {"description": "the Go button"})
    seen.append(text_of(result))
    assert not result.is_error, text_of(result)
    clicked = result.structured_content["clicked"]
    # the box's centre in device pixels: (0+500)/2/1000 * 800, (0+333)/2/1000 * 600
    assert (clicked["x"], clicked["y"]) == pytest.approx((200.0, 99.9), abs=0.05)
    image, text = await screenshot(session)
    seen.append(text)
    assert image.getpixel((700, 500)) == (0, 255, 0)
    assert "Title: clicked" in text

    result = await session.call_tool(
        "type_text", {"text": "hello", "description": "the name field"}
    )
    seen.append(text_of(result))
    assert not result.is_error, text_of(result)
    _, text = await screenshot(session)
    assert "Title: typed: hello" in text

    for args in ({"x": 5000, "y": 10}, {"description": "the missing thing"}):
        result = await session.call_tool("click", args)
        seen.append(text_of(result))
        assert result.is_error and "screen" in text_of(result).lower(), text_of(result)
    return seen


@asynccontextmanager
async def over_stdio(url: str, tmp: Path):
    params = StdioServerParameters(
        command=PIXELPILOT, args=server_args(url, tmp), env=env(), cwd=tmp
    )
    with open(tmp / "stderr.txt", "w") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session


def test_stdio_tools_drive_the_page(page_url, tmp_path):
    async def main() -> None:
        async with over_stdio(page_url, tmp_path) as session:
            seen = await exercise(session)
            result = await session.call_tool("navigate", {"url": "http://example.com/"})
            seen.append(text_of(result))
            assert result.is_error, text_of(result)
            result = await session.call_tool(
                "type_text", {"text": "{{PW}}", "description": "the name field"}
            )
            seen.append(text_of(result))
            assert not result.is_error, text_of(result)
            image, text = await screenshot(session)
            seen.append(text)
            assert "Title: typed:" in text
            # the field holding the secret is painted over in one colour, text and all
            field = image.crop((4, 304, 396, 396))
            assert len(set(field.getdata())) == 1 and field.getpixel((0, 0)) != (255, 255, 255)
            assert all(SECRET not in s for s in seen)

    asyncio.run(main())
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1
    record = (runs[0] / "trajectory.jsonl").read_text(encoding="utf-8")
    assert "the Go button" in record and SECRET not in record


def test_run_task_reports_progress_per_step(page_url, tmp_path):
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total, message))

    async def main() -> Any:
        async with over_stdio(page_url, tmp_path) as session:
            result = await session.call_tool(
                "run_task", {"task": "Make the page green", "max_steps": 5},
                progress_callback=on_progress,
            )  # fmt: skip
            image, _ = await screenshot(session)
            return result, image

    result, image = asyncio.run(main())
    assert not result.is_error, text_of(result)
    assert result.structured_content["status"] == "success"
    assert result.structured_content["steps"] == 2
    assert [p[0] for p in progress] == [1, 2]
    assert progress[0][2].startswith("step 1: click")
    assert image.getpixel((700, 500)) == (0, 255, 0)
    # the session's trajectory replays against the same page, screen by screen
    (run,) = (tmp_path / "runs").iterdir()
    origin = "/".join(page_url.split("/")[:3])
    replay = subprocess.run(
        [PIXELPILOT, "replay", str(run), "--origin", origin, "--secret", "PW=MCP_TEST_PW"],
        env=env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "replays as recorded (2 steps" in replay.stdout, replay.stdout


def test_a_dead_backend_is_a_protocol_error_not_a_tool_result(page_url, tmp_path):
    from mcp.shared.exceptions import MCPError

    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    args = ["mcp", "--url", page_url, "--backend", "openai", "--base-url", dead,
            "--model", "m", "--dialect", "qwen2vl", "--record", str(tmp_path / "runs")]  # fmt: skip
    params = StdioServerParameters(command=PIXELPILOT, args=args, env=env(), cwd=tmp_path)

    async def main() -> None:
        with open(tmp_path / "stderr.txt", "w") as errlog:
            async with (
                stdio_client(params, errlog=errlog) as (read, write),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                with pytest.raises(MCPError, match="BackendError"):
                    await session.call_tool("click", {"description": "the Go button"})
                result = await session.call_tool("screenshot", {})  # the server lives on
                assert not result.is_error

    asyncio.run(main())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_streamable_http_tools_drive_the_page(page_url, tmp_path):
    port = free_port()
    args = server_args(page_url, tmp_path, "--transport", "http", "--port", str(port))
    server = subprocess.Popen(
        [PIXELPILOT, *args], env=env(), stderr=subprocess.PIPE, cwd=tmp_path
    )  # its locate cache (.pixelpilot/cache) lands in the test's folder
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert server.poll() is None, server.stderr.read().decode()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)

        async def main() -> None:
            url = f"http://127.0.0.1:{port}/mcp"
            async with (
                streamable_http_client(url) as (read, write),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                await exercise(session)

        asyncio.run(main())
    finally:
        server.terminate()
        server.wait(timeout=30)
