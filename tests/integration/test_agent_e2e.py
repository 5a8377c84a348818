"""The whole agent in real headless Chromium on the bundled demo shop.

The backend is an oracle that writes each dialect's exact reply from the page's DOM, so
everything after the model is real: parsing, coordinate mapping, the policy, secrets,
the controller, the trajectory, the MP4, the report, and replay."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixelpilot.agent.demo import SIGNUP_DONE, SIGNUP_PLAN, SIGNUP_TASK, serve_demo
from pixelpilot.agent.loop import Agent, AgentConfig
from pixelpilot.agent.policy import Policy
from pixelpilot.agent.replay import replay_run
from pixelpilot.agent.secrets import Secrets
from pixelpilot.agent.trajectory import read_trajectory
from pixelpilot.environments import open_browser
from pixelpilot.environments._secret_fields import MASK_RGB
from pixelpilot.evaluation.oracle import OracleBackend
from pixelpilot.vlm import DIALECTS, get_dialect, load_backend

SECRET = "correct horse battery staple"


@pytest.fixture(scope="module")
def shop():
    with serve_demo() as base:
        yield base


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_the_signup_task_completes_in_every_dialect(shop, tmp_path, dialect) -> None:
    with open_browser(f"{shop}/form.html", device_scale_factor=1.5) as env:
        backend = OracleBackend(env, SIGNUP_PLAN, get_dialect(dialect))
        field = env.page.locator("#password").bounding_box()  # CSS px; the shot is at 1.5
        policy = Policy(allow_domains=(shop.removeprefix("http://"),), approve=lambda a, r: True)
        config = AgentConfig(
            record=tmp_path, max_steps=12, video=dialect == "uitars15", report=True
        )
        agent = Agent(
            backend,
            env,
            dialect=dialect,
            config=config,
            policy=policy,
            secrets={"password": SECRET},
        )
        result = agent.run(SIGNUP_TASK)
        assert result.status == "success", result
        assert env.page.evaluate(SIGNUP_DONE)
        assert env.page.input_value("#password") == SECRET
        assert env.page.text_content("#who") == "Ada Lovelace"
    run_dir = result.trajectory_dir
    run = read_trajectory(run_dir)
    assert len(run["steps"]) == len(SIGNUP_PLAN) and run["end"]["status"] == "success"
    assert (run_dir / "report.html").exists()
    if dialect == "uitars15":
        assert (run_dir / "run.mp4").stat().st_size > 0
    # the text files hold no encoding of the value; the pixels of the field that held it
    # are the mask from the screenshot after the typing on (compressed image bytes could
    # never match the text, so the images are checked as pixels)
    secrets = Secrets({"password": SECRET})
    for name in ("trajectory.jsonl", "report.html"):
        text = (run_dir / name).read_text()
        assert not secrets.leaks(text) and SECRET not in text, name
    typed = SIGNUP_PLAN.index(next(p for p in SIGNUP_PLAN if p.target == "{{password}}"))
    x1, y1 = math.ceil(field["x"] * 1.5), math.ceil(field["y"] * 1.5)
    x2 = math.floor((field["x"] + field["width"]) * 1.5)
    y2 = math.floor((field["y"] + field["height"]) * 1.5)
    shot = np.asarray(Image.open(run_dir / f"step-{typed + 1:03d}.png").convert("RGB"))
    assert (shot[y1:y2, x1:x2] == MASK_RGB).all()
    before = np.asarray(Image.open(run_dir / f"step-{typed:03d}.png").convert("RGB"))
    assert not (before[y1:y2, x1:x2] == MASK_RGB).all(axis=-1).any()
    with serve_demo() as again:  # the same binding (the replayed start page's host), masked
        assert replay_run(run_dir, origin=again, secrets={"password": SECRET}).matches


def test_the_tiny_model_babbles_and_nothing_breaks(shop, tmp_path, tiny_qwen2vl) -> None:
    backend = load_backend("transformers", model=tiny_qwen2vl, device="cpu")
    with open_browser(f"{shop}/search.html") as env:
        config = AgentConfig(record=tmp_path, max_steps=6, video=False, report=False)
        config.generation = config.generation.model_copy(update={"max_new_tokens": 16})
        result = Agent(backend, env, dialect="qwen2vl", config=config).run("Search for pixel")
    assert result.status in ("failure", "max_steps")  # garbage replies are parse errors
    run = read_trajectory(result.trajectory_dir)
    assert run["steps"] and all(s["parse_error"] or s["actions"] for s in run["steps"])


RUNNER = """
import sys, time
from PIL import Image
from pixelpilot.agent.loop import Agent, AgentConfig
from pixelpilot.environments import FakeEnvironment
from pixelpilot.vlm import load_backend
def slow(conversation):
    time.sleep(0.05)
    return "Action: click(start_box='(500,500)')"
env = FakeEnvironment([Image.new("RGB", (640, 480), "white")])
config = AgentConfig(record=sys.argv[1], max_steps=100000, video=False, report=False)
Agent(load_backend("scripted", replies=slow), env, dialect="uitars", config=config).run("spin")
"""


def test_kill_9_leaves_a_readable_trajectory(tmp_path) -> None:
    process = subprocess.Popen([sys.executable, "-c", RUNNER, str(tmp_path)])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        runs = list(tmp_path.glob("*/trajectory.jsonl"))
        if runs and runs[0].read_text().count('"type": "step"') >= 5:
            break
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    run = read_trajectory(runs[0].parent)
    assert len(run["steps"]) >= 5 and run["end"] is None
    assert [s["step"] for s in run["steps"]] == list(range(len(run["steps"])))
    for step in run["steps"]:
        assert (runs[0].parent / step["screenshot"]).exists()


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        for child in map(int, children):
            found += [child, *_children(child)]
    return found


def test_a_browser_killed_mid_run_is_reported_not_a_hang(shop, tmp_path) -> None:
    with open_browser(f"{shop}/form.html") as env:

        def reply(conversation) -> str:
            if len(calls) == 2:
                for pid in _children(os.getpid()):
                    if "chrom" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(
                        errors="replace"
                    ):
                        os.kill(pid, signal.SIGKILL)
            calls.append(1)
            return "Action: click(start_box='(300,300)')"

        calls: list[int] = []
        config = AgentConfig(record=tmp_path, max_steps=10, video=False, report=False)
        result = Agent(
            load_backend("scripted", replies=reply), env, dialect="uitars", config=config
        ).run("x")
    assert result.status == "error" and "browser is gone" in result.reason
    assert read_trajectory(result.trajectory_dir)["end"]["status"] == "error"
    assert (
        json.loads((result.trajectory_dir / "trajectory.jsonl").read_text().splitlines()[-1])[
            "type"
        ]
        == "end"
    )
