"""What broke, on the record: `RunResult.error_kind` for a backend, a controller and a
record folder that fail mid-run (the fake environment, the scripted backend, a real
file system), and nothing foreign escaping `Agent.run`."""

from __future__ import annotations

import shutil

import pytest
from PIL import Image

from pixelpilot.agent.commands import exit_code
from pixelpilot.agent.loop import Agent, AgentConfig, RecordingError
from pixelpilot.agent.trajectory import read_trajectory
from pixelpilot.environments import ControllerError, FakeEnvironment
from pixelpilot.tools import InfrastructureError
from pixelpilot.vlm import BackendError, load_backend

CLICK = "Thought: click it\nAction: click(start_box='<|box_start|>(500,500)<|box_end|>')"


def screen(step: int) -> Image.Image:
    return Image.new("RGB", (640, 360), (30 * step % 256, 0, 0))


def agent(replies, tmp_path, screens=screen) -> Agent:
    config = AgentConfig(record=tmp_path, video=False, report=False, max_steps=5)
    return Agent(
        load_backend("scripted", replies=replies), FakeEnvironment(screens), dialect="uitars",
        config=config,
    )  # fmt: skip


def test_a_backend_that_breaks_mid_run_is_error_kind_backend_exit_3(tmp_path) -> None:
    calls = []

    def replies(conversation) -> str:
        calls.append(1)
        if len(calls) == 2:
            raise BackendError("POST http://127.0.0.1:1/v1/chat/completions: connection refused")
        return CLICK

    result = agent(replies, tmp_path).run("click")
    assert (result.status, result.error_kind, result.steps) == ("error", "backend", 1)
    assert result.reason == (
        "BackendError: POST http://127.0.0.1:1/v1/chat/completions: connection refused"
    )
    assert exit_code(result) == 3
    end = read_trajectory(result.trajectory_dir)["end"]
    assert (end["status"], end["error_kind"]) == ("error", "backend")


def test_a_controller_that_breaks_mid_run_is_error_kind_controller_exit_6(tmp_path) -> None:
    def screens(step: int) -> Image.Image:
        if step == 2:
            raise ControllerError("the browser is gone: Target closed")
        return screen(step)

    result = agent([CLICK] * 5, tmp_path, screens).run("click")
    assert (result.status, result.error_kind, result.steps) == ("error", "controller", 2)
    assert exit_code(result) == 6


def test_a_record_folder_that_goes_away_mid_run_is_a_recording_error_not_an_oserror(
    tmp_path,
) -> None:
    """The second screenshot cannot be written (the run directory became a file): the
    run ends with error_kind "record"; no OSError leaves Agent.run."""
    holder: dict = {}

    def replies(conversation) -> str:
        holder.setdefault("calls", 0)
        holder["calls"] += 1
        if holder["calls"] == 2:  # the first step is on disk; now take the folder away
            (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
            shutil.rmtree(run_dir)
            run_dir.write_text("in the way")
            holder["run_dir"] = run_dir
        return CLICK

    result = agent(replies, tmp_path).run("click")
    assert (result.status, result.error_kind) == ("error", "record")
    assert result.reason.startswith(
        f"RecordingError: cannot write the run's record in {holder['run_dir']}"
    )
    assert "Not a directory" in result.reason
    assert exit_code(result) == 6


def test_a_record_root_that_cannot_be_made_raises_our_error(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(
        RecordingError, match=r"cannot write the run's record in .*Not a directory"
    ) as caught:
        agent([CLICK], blocker / "runs").run("click")
    assert isinstance(caught.value, InfrastructureError) and isinstance(caught.value, OSError)
    assert isinstance(caught.value.__cause__, NotADirectoryError)


def test_a_bug_is_error_kind_internal_and_raised(tmp_path) -> None:
    def replies(conversation) -> str:
        raise ZeroDivisionError("a bug of ours")

    run = agent(replies, tmp_path)
    with pytest.raises(ZeroDivisionError):
        run.run("click")
    assert (run.result.status, run.result.error_kind) == ("error", "internal")
    assert exit_code(run.result) == 70
