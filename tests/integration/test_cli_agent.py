"""`pixelpilot demo | replay | run | view` as a user runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXE = str(Path(sys.executable).parent / "pixelpilot")


def run(
    *args: str, env: dict | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    import os

    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run(
        [EXE, *args], capture_output=True, text=True, timeout=300, env=full_env, cwd=cwd
    )


def test_demo_without_a_model_explains_the_options(tmp_path) -> None:
    out = run("demo", "--record", str(tmp_path), env={"HF_HOME": str(tmp_path / "hf")})
    assert out.returncode == 3
    assert (
        "cannot be loaded" in out.stderr
        and "--oracle" in out.stderr
        and "HF_HUB_OFFLINE" in out.stderr
    )


def test_demo_pipeline_check_then_replay_and_view(tmp_path) -> None:
    out = run("demo", "--oracle", "--record", str(tmp_path))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS after 8 steps" in out.stdout and "shows the new account" in out.stdout
    assert "needs approval; the demo approves it" in out.stdout
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert {"trajectory.jsonl", "run.mp4", "report.html", "step-000.png"} <= {
        p.name for p in run_dir.iterdir()
    }
    replayed = run("replay", "--demo", str(run_dir))
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "replays as recorded" in replayed.stdout
    viewed = run("view", str(run_dir), env={"DISPLAY": ""})
    assert viewed.returncode == 0 and viewed.stdout.strip().endswith("report.html")


def test_run_with_the_tiny_model_ends_with_a_usable_exit_code(tmp_path, tiny_qwen2vl) -> None:
    from pixelpilot.agent.demo import serve_demo

    with serve_demo() as base:
        out = run("run", "Search for pixel", "--url", f"{base}/search.html", "--model", str(tiny_qwen2vl),
                  "--dialect", "qwen2vl", "--max-steps", "3", "--record", str(tmp_path))  # fmt: skip
    assert out.returncode in (1, 5), out.stdout + out.stderr  # failure or max steps, not a crash
    assert "step   1" in out.stdout and "trajectory:" in out.stdout
    assert "Traceback" not in out.stderr
