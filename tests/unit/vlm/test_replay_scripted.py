"""Replay of a recorded run, and the scripted test double."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from pixelpilot.tools import Click, Finish, Point, Space, Type
from pixelpilot.vlm import BackendError, get_dialect, load_backend, parse_actions, request_digest
from pixelpilot.vlm.backend import describe_request
from pixelpilot.vlm.backends.replay import ReplayDivergence

REPLIES = [
    "Thought: open search\nAction: click(start_box='<|box_start|>(500,100)<|box_end|>')",
    "Thought: type\nAction: type(content='pixelpilot\\n')",
    "Thought: done\nAction: finished(content='found it')",
]
#: REPLIES as actions on the 1280x720 screenshot, worked out by hand: UI-TARS 1.0's
#: (500,100) is relative to 1000, so x = 500/1000*1280 = 640, y = 100/1000*720 = 72;
#: a trailing \n in type() submits
ACTIONS = [
    [Click(point=Point(x=640, y=72, space=Space.SCREENSHOT_PX))],
    [Type(text="pixelpilot", submit=True)],
    [Finish(status="success", answer="found it")],
]


def step_request(step: int, size=(1280, 720)) -> list[dict]:
    image = Image.new("RGB", size, (step * 40, 0, 0))
    return get_dialect("uitars").render("Find pixelpilot", image)


def record(tmp_path, size=(1280, 720)):
    """Run the scripted backend for three steps and write what a trajectory records."""
    scripted = load_backend("scripted", replies=REPLIES)
    path = tmp_path / "trajectory.jsonl"
    with path.open("w") as out:
        out.write(json.dumps({"type": "header", "schema": 1, "task": "Find pixelpilot"}) + "\n")
        for step in range(3):
            request = step_request(step, size)
            (completion,) = scripted.generate(request)
            out.write(json.dumps({
                "type": "step", "step": step, "request_digest": request_digest(request),
                "request": describe_request(request), "completion": completion.model_dump(mode="json"),
            }) + "\n")  # fmt: skip
    return path


def test_replay_gives_the_same_replies_and_actions(tmp_path) -> None:
    path = record(tmp_path)
    replay = load_backend("replay", path=tmp_path)  # a run folder works as well as the file
    for step, reply in enumerate(REPLIES):
        (completion,) = replay.generate(step_request(step))
        assert completion.text == reply
        assert completion.image_sizes == ((1288, 728),)
        actions = parse_actions(completion.text, "uitars", screenshot_size=(1280, 720))
        assert actions == ACTIONS[step]
    with pytest.raises(BackendError, match="has 3 model replies"):
        replay.generate(step_request(3))
    assert path.exists()


def test_a_torn_last_line_is_skipped(tmp_path) -> None:
    path = record(tmp_path)
    with path.open("a") as out:
        out.write('{"type": "step", "step": 3, "completion": {"te')  # killed mid-write
    assert len(load_backend("replay", path=path).records) == 3


def test_a_broken_line_in_the_middle_is_an_error(tmp_path) -> None:
    path = record(tmp_path)
    lines = path.read_text().splitlines()
    lines[1] = lines[1][:20]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(BackendError, match="not valid JSON"):
        load_backend("replay", path=path)


def test_divergence_is_reported_with_where_and_what(tmp_path) -> None:
    record(tmp_path)
    replay = load_backend("replay", path=tmp_path)
    replay.generate(step_request(0))
    with pytest.raises(ReplayDivergence, match=r"reply 2 \(step 1\).*\[1920, 1080\]"):
        replay.generate(step_request(1, size=(1920, 1080)))  # the screen changed size


def test_lenient_replay_collects_divergences(tmp_path) -> None:
    record(tmp_path)
    replay = load_backend("replay", path=tmp_path, strict=False)
    other_task = get_dialect("uitars").render("Something else", Image.new("RGB", (1280, 720)))
    (completion,) = replay.generate(other_task)
    assert completion.text == REPLIES[0]
    assert len(replay.divergences) == 1 and "Something else" in replay.divergences[0]


def test_missing_recording_is_an_error(tmp_path) -> None:
    with pytest.raises(BackendError, match="no recording"):
        load_backend("replay", path=tmp_path / "nothing.jsonl")


def test_scripted_answers_from_a_list_then_runs_out() -> None:
    backend = load_backend("scripted", replies=["a", "b"])
    request = [
        {"role": "user", "content": [{"type": "image", "image": Image.new("RGB", (1920, 1080))}]}
    ]
    first, second = backend.generate([request, request])
    assert (first.text, second.text) == ("a", "b")
    assert first.image_sizes == ((1932, 1092),) and first.usage.visual_tokens == 2691
    with pytest.raises(BackendError, match="ran out of replies after 2"):
        backend.generate(request)
    assert len(backend.requests) == 3


def test_scripted_answers_from_a_function_of_the_request() -> None:
    backend = load_backend(
        "scripted", replies=lambda c: f"saw {len(c)} messages", max_pixels=1_003_520
    )
    request = [
        {"role": "user", "content": [{"type": "image", "image": Image.new("RGB", (1920, 1080))}]}
    ]
    (completion,) = backend.generate(request)
    assert completion.text == "saw 1 messages"
    assert completion.image_sizes == ((1316, 728),)


def test_unknown_backend_kind() -> None:
    with pytest.raises(ValueError, match="transformers"):
        load_backend("gemini")


def test_the_fingerprint_ignores_where_a_screenshot_lives(tmp_path) -> None:
    """The same screen as a PIL image, a file in another run folder, or a file:// URL."""
    image = Image.new("RGB", (1280, 720), "white")
    for folder in ("run1", "run2"):
        (tmp_path / folder).mkdir()
        image.save(tmp_path / folder / "step-000.png")
    dialect = get_dialect("uitars")
    digests = {
        request_digest(dialect.render("task", ref))
        for ref in (
            image,
            str(tmp_path / "run1" / "step-000.png"),
            f"file://{tmp_path}/run2/step-000.png",
        )
    }
    assert len(digests) == 1
    assert request_digest(dialect.render("task", Image.new("RGB", (1920, 1080)))) not in digests
