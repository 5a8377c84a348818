"""Trajectories: any reply text round-trips, damage is named, leftovers are cleaned, and
one helper pairs each action with its decision and result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from pixelpilot.agent.loop import Agent, AgentConfig
from pixelpilot.agent.trajectory import (
    TrajectoryError,
    TrajectoryWriter,
    paired,
    read_trajectory,
)
from pixelpilot.environments import FakeEnvironment
from pixelpilot.vlm import load_backend
from pixelpilot.vlm.backends.replay import ReplayBackend

#: every code point that some reader takes for a line break, lone surrogates of both
#: halves, a NUL and a BOM: none may split a record or stop the run
NASTY = ["\x85", "\u2028", "\u2029", "\ud800", "\udfff", "\r", "\x0b", "\x0c", "\x1c", "\x1e",
         "\x00", "\ufeff", "\r\n"]  # fmt: skip


def run_with(replies: list[str], tmp_path: Path, **config) -> Path:
    env = FakeEnvironment([Image.new("RGB", (320, 240), (30, 60, 90))])
    agent = Agent(
        load_backend("scripted", replies=replies),
        env,
        dialect="uitars",
        config=AgentConfig(record=tmp_path, **{"video": False, "report": False, **config}),
    )
    result = agent.run("task")
    assert result.trajectory_dir is not None
    return result.trajectory_dir


@pytest.mark.parametrize("video", [False, True], ids=["record", "record+video+report"])
def test_any_reply_text_round_trips_through_the_trajectory(tmp_path, video) -> None:
    """Each step's reply holds one awkward character; the run ends normally, every step
    and the end record read back, and the text (and the answer) are exactly as sent."""
    clicks = [f"Thought: a{c}b\nAction: click(start_box='(100,100)')" for c in NASTY]
    done = "Action: finished(content='a\x85b\u2028c\u2029d\ud800e')"
    run_dir = run_with([*clicks, done], tmp_path, video=video, report=video, max_steps=50)
    run = read_trajectory(run_dir)
    assert [s["completion"]["text"] for s in run["steps"]] == [*clicks, done]
    assert (
        run["end"]["status"] == "success" and run["end"]["answer"] == "a\x85b\u2028c\u2029d\ud800e"
    )
    raw = (run_dir / "trajectory.jsonl").read_bytes()
    text = raw.decode("utf-8")  # valid UTF-8 throughout
    assert text.splitlines() == text.split("\n")[:-1]  # no reader finds extra line breaks
    assert len(text.split("\n")) == len(NASTY) + 4  # header, steps, end, final newline
    assert [r["completion"]["text"] for r in ReplayBackend(run_dir).records] == [*clicks, done]
    if video:
        assert (run_dir / "run.mp4").stat().st_size > 0
        assert "a\x85b" in (run_dir / "report.html").read_text(encoding="utf-8")


def test_the_writer_keeps_other_text_readable() -> None:
    from pixelpilot.agent.trajectory import dumps_record

    line = dumps_record({"text": "Grüße, 東京 \x85\u2028\ud800"})
    assert "Grüße, 東京" in line and "\\u0085\\u2028\\ud800" in line
    assert json.loads(line) == {"text": "Grüße, 東京 \x85\u2028\ud800"}


def test_the_reader_splits_on_newline_only(tmp_path) -> None:
    """A trajectory an older writer left with raw U+0085/U+2028/U+2029 inside its strings
    still reads (str.splitlines would cut those records in two)."""
    path = tmp_path / "trajectory.jsonl"
    header = {"schema": 1, "type": "header", "task": "t"}
    step = {"schema": 1, "type": "step", "step": 0, "completion": {"text": "a\x85b\u2028c\u2029d"}}
    lines = [json.dumps(r, ensure_ascii=False) for r in (header, step)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (read,) = read_trajectory(tmp_path)["steps"]
    assert read["completion"]["text"] == "a\x85b\u2028c\u2029d"


def _damaged(tmp_path: Path, tail: bytes = b"") -> Path:
    run_dir = run_with(["Action: click(start_box='(1,1)')"] * 3, tmp_path, max_steps=3)
    path = run_dir / "trajectory.jsonl"
    lines = path.read_bytes().split(b"\n")
    lines[2] = lines[2][:40]  # the second step record, cut in the middle
    path.write_bytes(b"\n".join(lines) + tail)
    return run_dir


def test_a_damaged_line_in_the_middle_is_named(tmp_path) -> None:
    run_dir = _damaged(tmp_path)
    with pytest.raises(TrajectoryError, match=r"trajectory\.jsonl:3 is not valid JSON"):
        read_trajectory(run_dir)


def test_a_torn_last_line_is_skipped_even_inside_a_character(tmp_path) -> None:
    run_dir = run_with(["Action: click(start_box='(1,1)')"] * 2, tmp_path, max_steps=2)
    path = run_dir / "trajectory.jsonl"
    with path.open("ab") as file:
        file.write('{"schema": 1, "type": "step", "text": "東'.encode()[:-1])  # half of 東
    run = read_trajectory(run_dir)
    assert len(run["steps"]) == 2 and run["end"]["status"] == "max_steps"


def _file(content: bytes):
    """A maker of a run directory whose trajectory.jsonl holds `content`."""

    def make(folder: Path) -> Path:
        (folder / "trajectory.jsonl").write_bytes(content)
        return folder

    return make


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "nowhere", "no such folder"),
        (lambda d: d, "no trajectory"),
        (_file(b""), "is empty"),
        (_file(b'{"type": "st'), "is empty"),
        (_file(b'{"type": "step"}\n'), "no header"),
        (_file(b'{"type": "header", "schema": 9}\n'), "uses schema 9"),
    ],
    ids=["missing folder", "no file", "empty", "only a torn line", "no header", "newer schema"],
)
def test_unreadable_run_directories_say_why(tmp_path, make, message) -> None:
    target = make(tmp_path)
    with pytest.raises(TrajectoryError, match=message) as raised:
        read_trajectory(target)
    assert str(target) in str(raised.value)


def test_reopening_a_killed_run_cleans_partials_and_the_torn_tail(tmp_path) -> None:
    """What a kill -9 leaves (a half-written screenshot and a half-written line) is gone
    when the run directory is opened again, and what is appended then stays readable."""
    run_dir = run_with(["Action: click(start_box='(1,1)')"], tmp_path, max_steps=1)
    (run_dir / ".step-001.png.partial").write_bytes(b"\x89PNG half")
    with (run_dir / "trajectory.jsonl").open("a", encoding="utf-8") as file:
        file.write('{"schema": 1, "type": "step", "step": 1, "compl')
    writer = TrajectoryWriter(run_dir)
    writer.write({"type": "note", "text": "after the kill"})
    writer.close()
    assert not list(run_dir.glob(".*.partial"))
    records = [json.loads(line) for line in (run_dir / "trajectory.jsonl").read_text().split("\n") if line]  # fmt: skip
    assert [r["type"] for r in records] == ["header", "step", "end", "note"]


def test_paired_follows_refusals_control_actions_and_failures() -> None:
    """Hand-built record: call_user (no result), key (ok), a refused navigate (no result),
    click (failed), then a type never reached (no decision, no result)."""
    actions = [{"screenshot": {"action": kind}} for kind in
               ("call_user", "key", "navigate", "click", "type")]  # fmt: skip
    decisions = [{"verdict": "allow"}, {"verdict": "allow"}, {"verdict": "deny"}, {"verdict": "allow"}]  # fmt: skip
    results = [{"ok": True, "id": "key"}, {"ok": False, "id": "click"}]
    step = {"actions": actions, "decisions": decisions, "results": results}
    assert [(a["screenshot"]["action"], d and d["verdict"], r and r["id"])
            for a, d, r in paired(step)] == [
        ("call_user", "allow", None), ("key", "allow", "key"), ("navigate", "deny", None),
        ("click", "allow", "click"), ("type", None, None),
    ]  # fmt: skip
    legacy = {"actions": actions[1:2] + actions[3:4], "results": results}  # no decisions
    assert [r["id"] for _, _, r in paired(legacy)] == ["key", "click"]


# -- the command line on damaged, missing, empty and killed runs ----------------------------
def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    from pixelpilot.cli import main

    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("command", ["replay", "view"])
def test_replay_and_view_name_a_damaged_line_and_exit_2(tmp_path, capsys, command) -> None:
    run_dir = _damaged(tmp_path)
    code, out, err = _cli(capsys, command, str(run_dir))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"pixelpilot {command}: {run_dir / 'trajectory.jsonl'}:3 is not valid JSON" in err


@pytest.mark.parametrize("command", ["replay", "view"])
@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "nowhere", "no such folder"),
        (lambda d: d, "no trajectory"),
        (_file(b""), "is empty"),
        (_file(b'{"schema": 1, "type": "header", "ta'), "is empty"),
    ],
    ids=["missing folder", "no trajectory", "empty", "torn"],
)
def test_replay_and_view_of_unusable_folders_say_so_in_one_line(
    tmp_path, capsys, command, make, message
) -> None:
    target = make(tmp_path)
    code, out, err = _cli(capsys, command, str(target))
    assert code == 2 and out == "" and "Traceback" not in err
    assert err.count("\n") == 1 and message in err and str(target) in err


def test_view_rebuilds_a_missing_video_and_report_and_cleans_partials(
    tmp_path, capsys, monkeypatch
) -> None:
    """A run whose MP4 was being written when it died: a `.run.mp4.partial`, no run.mp4
    and no report. `view` removes the leftover and rebuilds both from the PNGs."""
    av = pytest.importorskip("av")
    monkeypatch.delenv("DISPLAY", raising=False)  # print the report's path, open nothing
    run_dir = run_with(["Action: click(start_box='(500,500)')"] * 3, tmp_path, max_steps=3,
                       video=True, report=True)  # fmt: skip
    (run_dir / "run.mp4").unlink()
    (run_dir / "report.html").unlink()
    (run_dir / ".run.mp4.partial").write_bytes(b"\x00\x00\x00\x18ftypisom half a video")
    (run_dir / ".step-003.png.partial").write_bytes(b"\x89PNG")
    code, out, err = _cli(capsys, "view", str(run_dir))
    assert code == 0 and out.strip() == str((run_dir / "report.html").resolve())
    assert "rebuilt run.mp4 from 3 screenshots" in err and "removed .run.mp4.partial" in err
    assert not list(run_dir.glob(".*.partial"))
    with av.open(str(run_dir / "run.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == 3
    assert 'id="step-2"' in (run_dir / "report.html").read_text(encoding="utf-8")
    code, _, err = _cli(capsys, "view", str(run_dir))  # nothing left to do the second time
    assert code == 0 and err == ""


KILLED_RUNNER = """
import sys
from PIL import Image
from pixelpilot.agent.loop import Agent, AgentConfig
from pixelpilot.environments import FakeEnvironment
from pixelpilot.vlm import load_backend
screens = lambda step: Image.effect_noise((1280, 720), 50 + step).convert("RGB")
config = AgentConfig(record=sys.argv[1], max_steps=40, video=True, report=True)
Agent(load_backend("scripted", replies=lambda c: "Action: click(start_box='(500,500)')"),
      FakeEnvironment(screens), dialect="uitars", config=config).run("spin")
"""


@pytest.mark.timeout(300)
def test_a_run_killed_while_writing_its_video_gets_it_back_from_view(
    tmp_path, capsys, monkeypatch
) -> None:
    """A real process, SIGKILLed while its MP4 is being encoded (the `.run.mp4.partial`
    exists): no run.mp4 survives; `view` cleans up and rebuilds it with every step."""
    import os
    import signal
    import subprocess
    import sys
    import time

    av = pytest.importorskip("av")
    monkeypatch.delenv("DISPLAY", raising=False)
    process = subprocess.Popen([sys.executable, "-c", KILLED_RUNNER, str(tmp_path)])
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and process.poll() is None:
            if list(tmp_path.glob("*/.run.mp4.partial")):
                break
            time.sleep(0.005)
        assert process.poll() is None, "the run ended before its video was being written"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.wait(timeout=30)
    (run_dir,) = (p.parent for p in tmp_path.glob("*/trajectory.jsonl"))
    assert not (run_dir / "run.mp4").exists() and list(run_dir.glob(".*.partial"))
    assert read_trajectory(run_dir)["end"]["steps"] == 40  # the run itself was complete
    code, _, err = _cli(capsys, "view", str(run_dir))
    assert code == 0 and "rebuilt run.mp4 from 40 screenshots" in err
    assert not list(run_dir.glob(".*.partial"))
    with av.open(str(run_dir / "run.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == 40


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda step: step.pop("frame"), "step 0 has no frame"),
        (lambda step: step["actions"][0].update(screenshot={"action": "teleport"}),
         "step 0 holds an unreadable action"),
    ],
    ids=["no frame", "unknown action"],
)  # fmt: skip
def test_replay_of_records_that_parse_but_make_no_sense(tmp_path, capsys, damage, message) -> None:
    """Valid JSON, wrong content: one line naming the run and step, exit 2, and no
    browser is started for a recording that cannot be replayed."""
    run_dir = run_with(["Action: click(start_box='(1,1)')"], tmp_path, max_steps=1)
    path = run_dir / "trajectory.jsonl"
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line]
    damage(records[1])
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    code, out, err = _cli(capsys, "replay", str(run_dir))
    assert code == 2 and out == "" and "Traceback" not in err and err.count("\n") == 1
    assert f"pixelpilot replay: {run_dir}: {message}" in err
