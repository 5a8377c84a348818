"""The installed `pixelpilot` command, run as a user would run it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

EXE = shutil.which("pixelpilot") or str(
    __import__("pathlib").Path(sys.executable).parent / "pixelpilot"
)


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], input=stdin, capture_output=True, text=True, timeout=60)


def test_parse_prints_actions_in_screenshot_pixels() -> None:
    out = run("parse", "--dialect", "uitars", "--screenshot-size", "1920x1080",
              stdin="Action: click(start_box='<|box_start|>(500,500)<|box_end|>')\n")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [{
        "action": "click", "point": {"x": 960.0, "y": 540.0, "space": "screenshot_px"},
        "button": "left", "clicks": 1,
    }]  # fmt: skip


def test_parse_uses_the_pixel_limits() -> None:
    reply = '<tool_call>{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [658, 364]}}</tool_call>'
    out = run("parse", "--dialect", "qwen25vl", "--screenshot-size", "1920x1080",
              "--max-pixels", "1003520", stdin=reply)  # fmt: skip
    assert json.loads(out.stdout)[0]["point"] == {"x": 960.0, "y": 540.0, "space": "screenshot_px"}


def test_unreadable_reply_exits_2_with_the_message() -> None:
    out = run("parse", "--dialect", "showui", "--screenshot-size", "800x600", stdin="no idea")
    assert out.returncode == 2
    assert out.stdout == ""
    assert "No action found" in out.stderr


def test_bad_size_is_a_usage_error() -> None:
    out = run("parse", "--dialect", "uitars", "--screenshot-size", "big")
    assert out.returncode == 2 and "WIDTHxHEIGHT" in out.stderr


@pytest.mark.parametrize(("args", "expect"), [
    (["resize", "1920x1080", "--max-pixels", "1003520"], '"visual_tokens": 1222'),
    (["dialects"], "uitars15"),
    (["schema"], '"discriminator"'),
    (["prompt", "--dialect", "uitars15", "--task", "Open the settings"], "## User Instruction\nOpen the settings"),
    (["prompt", "--dialect", "qwen25vl", "--task", "x", "--screenshot-size", "1920x1080"],
     "resolution is 1932x1092"),
])  # fmt: skip
def test_other_commands(args: list[str], expect: str) -> None:
    out = run(*args)
    assert out.returncode == 0, out.stderr
    assert expect in out.stdout


def test_ask_a_local_model_about_a_screenshot(tiny_qwen2vl, tmp_path) -> None:
    from PIL import Image

    shot = tmp_path / "shot.png"
    Image.new("RGB", (1366, 768), "white").save(shot)
    out = run("ask", "Where is the search box?", "--model", str(tiny_qwen2vl), "--image", str(shot),
              "--max-new-tokens", "3", "--max-pixels", "1003520", "--json")  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    completion = json.loads(out.stdout)
    assert completion["image_sizes"] == [[1316, 728]]  # 1366x768 is just over 1,003,520 px
    assert completion["usage"]["visual_tokens"] == 1222


def test_ask_without_a_model_says_what_to_do(tmp_path) -> None:
    out = run("ask", "hi", "--model", str(tmp_path / "missing"))
    assert out.returncode == 1
    assert "local folder" in out.stderr
