"""`pixelpilot demo | replay | run | view` as a user runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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


# -- exit codes and the domain policy, end to end --------------------------------------
def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def our_lines(err: str, command: str = "run") -> list[str]:
    """The lines pixelpilot itself wrote to stderr (a loaded model may log its own)."""
    return [line for line in err.splitlines() if line.startswith(f"pixelpilot {command}:")]


@pytest.fixture
def two_sites():
    """Server one (allowed) and server two (denied, counting every request it gets)."""
    from tests.integration.test_browser_domains import Site

    one, two = Site(), Site()
    one.pages = {"/start": "<title>start</title><p>one</p>",
                 "/to-two": ("redirect", f"{two.url}/landing")}  # fmt: skip
    two.pages = {"/x": "<title>two</title>", "/landing": "<title>two</title>"}
    yield one, two
    one.close()
    two.close()


def test_a_denied_start_url_is_refused_before_any_request(two_sites, tmp_path) -> None:
    one, two = two_sites
    out = run("run", "look around", "--url", f"{two.url}/x", "--allow-domain",
              f"127.0.0.1:{one.port}", "--model", "no-such-model", "--record", str(tmp_path))  # fmt: skip
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr.splitlines() == [
        f"pixelpilot run: --url is refused by the domain policy: Navigation to {two.url}/x was "
        f"blocked: 127.0.0.1:{two.port} is not in the allowed domains (127.0.0.1:{one.port})."
    ]
    assert two.requests == [] and one.requests == []
    assert list(tmp_path.iterdir()) == []


def test_a_start_page_redirecting_to_a_denied_host_never_reaches_it(
    two_sites, tmp_path, tiny_qwen2vl
) -> None:
    """The policy is in force before the browser's first request: the allowed start page
    answers 302 to server two, which sees nothing; the environment cannot start (6)."""
    one, two = two_sites
    out = run("run", "look around", "--url", f"{one.url}/to-two", "--allow-domain",
              f"127.0.0.1:{one.port}", "--model", str(tiny_qwen2vl), "--dialect", "qwen2vl",
              "--record", str(tmp_path))  # fmt: skip
    assert out.returncode == 6, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    (line,) = our_lines(out.stderr)
    assert line.startswith("pixelpilot run: cannot open the start page:")
    assert f"127.0.0.1:{two.port}" in line
    assert [r[1] for r in one.requests] == ["/to-two"]
    assert two.requests == []


def test_an_unreachable_backend_mid_run_exits_3(two_sites, tmp_path) -> None:
    one, _ = two_sites
    base = f"http://127.0.0.1:{closed_port()}/v1"
    out = run("run", "look around", "--url", f"{one.url}/start", "--backend", "openai",
              "--base-url", base, "--model", "m", "--max-steps", "2", "--record", str(tmp_path),
              "--request-timeout", "5")  # fmt: skip
    assert out.returncode == 3, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    (line,) = our_lines(out.stderr)
    assert line.startswith("pixelpilot run: the model's backend broke: BackendError:")
    assert "ERROR after 0 steps" in out.stdout
    (run_dir,) = tmp_path.iterdir()
    from pixelpilot.agent.trajectory import read_trajectory

    end = read_trajectory(run_dir)["end"]
    assert (end["status"], end["error_kind"]) == ("error", "backend")


@pytest.mark.parametrize("strict", [True, False], ids=["strict", "default"])
def test_strict_domains_keeps_a_pages_images_from_a_denied_host(two_sites, tmp_path, strict):
    """`--strict-domains`: the allowed start page's image on server two is never requested;
    by default it is (README: the lists judge pages, not what they load). The backend is
    down, so the run ends with 3 once the start page has loaded."""
    one, two = two_sites
    one.pages["/img"] = f"<title>img</title><img src='{two.url}/pixel.png' width=20 height=20>"
    base = f"http://127.0.0.1:{closed_port()}/v1"
    flags = ["--strict-domains"] if strict else []
    out = run("run", "look around", "--url", f"{one.url}/img", "--allow-domain",
              f"127.0.0.1:{one.port}", *flags, "--backend", "openai", "--base-url", base,
              "--model", "m", "--record", str(tmp_path), "--request-timeout", "3")  # fmt: skip
    assert out.returncode == 3, out.stdout + out.stderr
    assert ("GET", "/img", "document") in one.requests
    if strict:
        assert two.requests == []
    else:
        assert [r[1] for r in two.requests] == ["/pixel.png"]
    (run_dir,) = tmp_path.iterdir()
    from pixelpilot.agent.trajectory import read_trajectory

    assert read_trajectory(run_dir)["header"]["policy"]["strict_domains"] is strict


def test_a_display_that_cannot_be_opened_exits_6(tmp_path) -> None:
    base = f"http://127.0.0.1:{closed_port()}/v1"
    out = run("run", "t", "--desktop", "--backend", "openai", "--base-url", base, "--model", "m",
              "--record", str(tmp_path), env={"DISPLAY": ":987"})  # fmt: skip
    assert out.returncode == 6, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    (line,) = our_lines(out.stderr)
    assert ":987" in line or "xdotool" in line


def test_the_time_limit_stops_the_demo_with_130(tmp_path) -> None:
    """Eight steps cannot fit in half a second (each one takes a screenshot and waits for
    the page to settle): the run stops at the limit, on record."""
    from pixelpilot.agent.trajectory import read_trajectory

    out = run("demo", "--oracle", "--record", str(tmp_path), "--time-limit", "0.5")
    assert out.returncode == 130, out.stdout + out.stderr
    assert "STOPPED after" in out.stdout and "reached max_seconds=0.5" in out.stdout
    assert "Traceback" not in out.stderr and our_lines(out.stderr, "demo") == []
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    data = read_trajectory(run_dir)
    assert data["end"]["status"] == "stopped" and data["end"]["reason"] == "reached max_seconds=0.5"
    assert 1 <= len(data["steps"]) < 8


def test_chromium_killed_mid_run_exits_6_without_a_traceback(tmp_path) -> None:
    """The browser dies between steps (SIGKILL to Chromium, as the OOM killer would): the
    run ends on record with error_kind "controller", exit 6, one line of ours on stderr."""
    import os
    import signal

    from pixelpilot.agent.trajectory import read_trajectory
    from tests.integration.browser_fixtures import chromium_under

    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([EXE, "demo", "--oracle", "--record", str(tmp_path)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        lines = []
        for line in proc.stdout:  # the first step is done: the browser is up and in use
            lines.append(line)
            if line.startswith("step   1"):
                break
        browsers = chromium_under(proc.pid)
        assert browsers, "no Chromium found under the demo"
        for pid in browsers:
            os.kill(pid, signal.SIGKILL)
        rest, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = "".join(lines) + rest
    assert proc.returncode == 6, out + err
    assert "Traceback" not in err
    (line,) = our_lines(err, "demo")
    assert line.startswith("pixelpilot demo: the environment broke: ControllerError:")
    assert "ERROR after" in out
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    end = read_trajectory(run_dir)["end"]
    assert (end["status"], end["error_kind"]) == ("error", "controller")
