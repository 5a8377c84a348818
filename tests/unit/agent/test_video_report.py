"""The derived artifacts of a run (MP4 and report.html) from a hand-built run directory."""

from __future__ import annotations

import importlib.util
import re
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from pixelpilot.agent.report import render_report
from pixelpilot.agent.trajectory import TrajectoryWriter
from pixelpilot.agent.video import BUTTON_COLOURS, annotate, caption_height, describe_action
from pixelpilot.tools import Click, Drag, Key, Point, ScreenFrame, Scroll, Space, Type
from pixelpilot.tools.actions import convert_action

SIZES = [(321, 241), (400, 300), (400, 300)]  # two sizes, one odd: padding and letterboxing
BACKGROUND = (200, 210, 220)
EVIL = '<script>alert("pwned")</script> see https://evil.example/x.png'


def px(x: float, y: float) -> Point:
    return Point(x=x, y=y, space=Space.SCREENSHOT_PX)


def pair(action: Any, size: tuple[int, int]) -> dict[str, Any]:
    """An action as a step record holds it: as the model wrote it and in screenshot px."""
    frame = ScreenFrame(width=size[0], height=size[1])
    model = convert_action(action, Space.NORM1000, frame=frame)
    return {"model": model.model_dump(mode="json"), "screenshot": action.model_dump(mode="json")}


def result(ok: bool = True, error: str | None = None, element: dict | None = None) -> dict:
    timings = {"action_s": 0.05, "settle_s": 0.2, "total_s": 0.25}
    return {"ok": ok, "error": error, "note": None, "element": element,
            "screen_action": None, "timings": timings}  # fmt: skip


def step_record(step: int, size: tuple[int, int], text: str, actions: list, **extra: Any) -> dict:
    completion = {
        "text": text,
        "usage": {"prompt_tokens": 900, "visual_tokens": 600, "completion_tokens": 30},
        "timings": {"preprocess_s": 0.01, "model_s": 1.5, "total_s": 1.51},
        "image_sizes": [list(size)],
    }
    record = {
        "type": "step", "step": step, "time": time.time(), "screenshot": f"step-{step:03d}.png",
        "frame": {"width": size[0], "height": size[1], "scale": 1.0, "origin": [0, 0]},
        "url": "http://127.0.0.1:8000/form.html", "title": "Form", "completion": completion,
        "actions": [pair(a, size) for a in actions], "parse_error": None,
        "decisions": [{"verdict": "allow", "reason": None} for _ in actions],
        "results": [result() for _ in actions], "timings": {"total_s": 2.0},
    }  # fmt: skip
    record.update(extra)
    return record


def make_run(root: Path, *, torn: bool = False) -> Path:
    """Header, three steps (clicks/drag, type/key/scroll with a failure, a parse error with
    no actions), then an end record, or instead a torn half-written last line."""
    writer = TrajectoryWriter(root)
    writer.write({"type": "header", "task": "Fill in the <b>form</b>", "dialect": "uitars",
                  "backend": "scripted", "model": "test-model", "created": time.time()})  # fmt: skip
    button = {"tag": "button", "role": "button", "name": "Save", "text": "Save", "label": None,
              "test_id": "save", "bbox": None}  # fmt: skip
    steps = [
        step_record(
            0,
            SIZES[0],
            "Thought: click Save twice\nAction: click(...)",
            [
                Click(point=px(100, 80), clicks=2),
                Drag(start=px(20, 20), end=px(200, 150)),
                Click(point=px(250, 60), button="right"),
            ],
            results=[result(element=button), result(), result()],
        ),
        step_record(
            1,
            SIZES[1],
            "Thought: type the name " + "x" * 200,
            [
                Type(text="Ada Lovelace\nsecond line " + "y" * 100, submit=True),
                Key(keys=("ctrl", "a")),
                Scroll(point=px(200, 150), direction="down"),
            ],
            results=[result(), result(ok=False, error="Key <ctrl+a> was refused")],
        ),
        step_record(
            2,
            SIZES[2],
            EVIL,
            [],
            parse_error="no action found in <script>",
            feedback="Reply with <one> action",
        ),
    ]
    for record, size in zip(steps, SIZES, strict=True):
        writer.save_screenshot(record["step"], Image.new("RGB", size, BACKGROUND))
        writer.write(record)
    writer.close()
    if torn:  # killed while writing step 3: its screenshot landed, its record did not
        TrajectoryWriter(root).save_screenshot(3, Image.new("RGB", (640, 480), BACKGROUND))
        with (root / "trajectory.jsonl").open("a", encoding="utf-8") as file:
            file.write('{"schema": 1, "type": "step", "step": 3, "compl')
    else:
        TrajectoryWriter(root).write({"type": "end", "status": "success", "answer": "done"})
    return root


@pytest.fixture(params=[False, True], ids=["complete", "torn"])
def run_dir(request, tmp_path: Path) -> Path:
    return make_run(tmp_path / "run", torn=request.param)


def _decode(path: Path) -> tuple[list[tuple[int, int]], str]:
    av = pytest.importorskip("av")
    with av.open(str(path)) as container:
        sizes = [(f.width, f.height) for f in container.decode(video=0)]
        return sizes, container.streams.video[0].codec_context.name


def _canvas() -> tuple[int, int]:
    width = max(w for w, _ in SIZES)
    height = max(h + caption_height(w) for w, h in SIZES)
    return width + width % 2, height + height % 2


@pytest.mark.parametrize(("fps", "per_step"), [(1.0, 1), (4.0, 4)])
def test_video_has_a_frame_per_step_all_even_and_one_size(run_dir, fps, per_step) -> None:
    pytest.importorskip("av")
    from pixelpilot.agent.video import render_video

    out = render_video(run_dir, fps=fps)
    assert out == run_dir / "run.mp4" and not list(run_dir.glob(".*.partial"))
    sizes, codec = _decode(out)
    assert len(sizes) == len(SIZES) * per_step
    assert set(sizes) == {_canvas()}
    assert all(w % 2 == 0 and h % 2 == 0 for w, h in sizes)
    assert codec == "h264"


def _frames(path: Path) -> list[Any]:
    """Every frame of the video as an RGB array (height, width, 3)."""
    av = pytest.importorskip("av")
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def test_the_video_shows_each_click_marker_at_its_recorded_point(tmp_path) -> None:
    """Decoded pixels, not frame counts: where each recorded click is, the frame shows
    that button's colour (left red, right blue, middle green) where the screenshot is
    grey-blue, on the screenshot centred in a canvas made for a larger second step."""
    import json

    import numpy as np

    from pixelpilot.agent.video import render_video

    writer = TrajectoryWriter(tmp_path / "run")
    writer.write({"type": "header", "task": "clicks", "dialect": "uitars"})
    clicks = [Click(point=px(61, 61)), Click(point=px(201, 61), button="right"),
              Click(point=px(121, 181), button="middle")]  # fmt: skip
    for step, (size, actions) in enumerate([((320, 240), clicks), ((400, 300), [])]):
        writer.save_screenshot(step, Image.new("RGB", size, BACKGROUND))
        writer.write(step_record(step, size, "Thought: click", actions))
    writer.close()
    frame = _frames(render_video(writer.run_dir, fps=1.0))[0].astype(int)
    recorded = json.loads((writer.run_dir / "trajectory.jsonl").read_text().splitlines()[1])
    canvas_w, canvas_h = 400, 300 + caption_height(400)  # the larger step, both even
    assert frame.shape == (canvas_h, canvas_w, 3)
    left, top = (canvas_w - 320) // 2, (canvas_h - (240 + caption_height(320))) // 2
    for pair_ in recorded["actions"]:
        click = pair_["screenshot"]
        x, y = round(click["point"]["x"]) + left, round(click["point"]["y"]) + top
        dot = frame[y - 1 : y + 1, x - 1 : x + 1].reshape(-1, 3).mean(axis=0)  # 2x2 inside
        colour = np.array(BUTTON_COLOURS[click["button"]])
        assert np.abs(dot - colour).max() < 50, (click["button"], dot)
        ring = frame[y, x + 7 : x + 12].mean(axis=0)  # the ring, radius 10 at this size
        assert np.abs(ring - np.array(BACKGROUND)).max() > 60, (click["button"], ring)
        far = frame[y - 2 : y + 2, x + 25 : x + 29].reshape(-1, 3).mean(axis=0)
        assert np.abs(far - np.array(BACKGROUND)).max() < 12  # nothing drawn beside it


def test_video_falls_back_to_mpeg4_without_libx264(run_dir, monkeypatch) -> None:
    av = pytest.importorskip("av")
    from pixelpilot.agent.video import render_video

    monkeypatch.setattr(av, "codecs_available", av.codecs_available - {"libx264"})
    sizes, codec = _decode(render_video(run_dir, out_name="fallback.mp4"))
    assert codec == "mpeg4" and len(sizes) == len(SIZES)


def test_video_of_a_run_without_steps_is_an_error(tmp_path) -> None:
    pytest.importorskip("av")
    from pixelpilot.agent.video import render_video

    TrajectoryWriter(tmp_path).write({"type": "header", "task": "t"})
    with pytest.raises(ValueError, match="no steps"):
        render_video(tmp_path)


def _marker_step(action: Any) -> dict[str, Any]:
    return {"step": 0, "actions": [pair(action, (320, 240))], "results": [result()]}


@pytest.mark.parametrize("button", ["left", "right", "middle"])
def test_annotate_draws_a_ring_and_dot_at_the_click_point(button) -> None:
    image = Image.new("RGB", (320, 240), BACKGROUND)
    out = annotate(image, _marker_step(Click(point=px(100, 80), button=button)), caption=False)
    assert out.size == image.size and image.getpixel((100, 80)) == BACKGROUND  # not in place
    assert out.getpixel((100, 80)) == BUTTON_COLOURS[button]  # the dot
    ring = [out.getpixel((100 + dx, 80)) for dx in range(4, 16)]
    assert any(p != BACKGROUND for p in ring) and out.getpixel((100 + 20, 80)) == BACKGROUND
    assert out.getpixel((300, 220)) == BACKGROUND  # far away: untouched


def test_annotate_draws_drag_and_scroll_arrows_and_marks_failures() -> None:
    image = Image.new("RGB", (320, 240), BACKGROUND)
    drag = annotate(image, _marker_step(Drag(start=px(20, 120), end=px(300, 120))), caption=False)
    assert drag.getpixel((160, 120)) != BACKGROUND  # the shaft, halfway along
    scroll = annotate(
        image, _marker_step(Scroll(point=px(160, 60), direction="down")), caption=False
    )
    assert scroll.getpixel((160, 60 + 18)) != BACKGROUND  # the arrow points down
    assert scroll.getpixel((160, 60 - 18)) == BACKGROUND
    plain = annotate(image, _marker_step(Click(point=px(100, 80))), caption=False)
    failed = _marker_step(Click(point=px(100, 80)))
    failed["results"] = [result(ok=False, error="nothing there")]
    crossed = annotate(image, failed, caption=False)
    assert crossed.getpixel((107, 87)) != plain.getpixel((107, 87))  # the red cross


def test_annotate_without_actions_keeps_the_screenshot_and_adds_a_caption() -> None:
    image = Image.new("RGB", (321, 241), BACKGROUND)
    step = {"step": 2, "completion": {"text": EVIL}, "actions": [], "parse_error": "bad"}
    assert annotate(image, step, caption=False).tobytes() == image.tobytes()
    captioned = annotate(image, step)
    assert captioned.size == (321, 241 + caption_height(321))
    assert captioned.crop((0, 0, 321, 241)).tobytes() == image.tobytes()


def test_action_summaries_are_short_and_say_what_happened() -> None:
    dump = lambda a: a.model_dump(mode="json")  # noqa: E731
    assert describe_action(dump(Click(point=px(10, 20), clicks=2))) == "click (10, 20) 2x"
    assert describe_action(dump(Key(keys=("ctrl", "shift", "t")))) == "key ctrl+shift+t"
    typed = describe_action(dump(Type(text="a\nb" + "c" * 500, submit=True)))
    assert typed.startswith('type "a ⏎ b') and typed.endswith("+Enter") and len(typed) < 60


class _Links(HTMLParser):
    """Every src/href attribute and every element id of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.ids: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href") and value is not None:
                self.urls.append(value)
            if name == "id" and value:
                self.ids.append(value)


def test_report_is_self_contained_complete_and_escaped(run_dir) -> None:
    out = render_report(run_dir)
    page = out.read_text(encoding="utf-8")
    links = _Links()
    links.feed(page)
    assert links.urls and all(not re.match(r"\s*(https?:)?//", u, re.I) for u in links.urls)
    assert all(u.startswith(("data:image/", "#step-")) for u in links.urls)
    assert [i for i in links.ids if i.startswith("step-")] == ["step-0", "step-1", "step-2"]
    assert "script" not in links.tags and "<script" not in page.lower()
    assert "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;" in page
    assert "Fill in the &lt;b&gt;form&lt;/b&gt;" in page and "Reply with &lt;one&gt; action" in page
    assert page.count("data:image/jpeg;base64,") == 3
    ended = '"type": "end"' in (run_dir / "trajectory.jsonl").read_text(encoding="utf-8")
    assert ("did not finish" in page) is not ended
    assert ("answer: <q>done</q>" in page) is ended
    assert "Key &lt;ctrl+a&gt; was refused" in page and 'role="button"' in page.replace(
        "&quot;", '"'
    )


def test_a_missing_screenshot_becomes_a_placeholder_not_a_crash(tmp_path) -> None:
    run_dir = make_run(tmp_path / "run")
    (run_dir / "step-001.png").unlink()
    page = render_report(run_dir).read_text(encoding="utf-8")
    assert "step-001.png is missing" in page and page.count("data:image/jpeg") == 2
    if importlib.util.find_spec("av") is not None:
        from pixelpilot.agent.video import render_video

        sizes, _ = _decode(render_video(run_dir))
        assert set(sizes) == {_canvas()} and len(sizes) == len(SIZES)


def _call_user_run(tmp_path: Path, click_fails: bool) -> tuple[Path, list]:
    """A recorded run whose first reply asks the user (answered), presses a key and
    clicks: the call_user has a decision but no result, so results are one short."""
    from pixelpilot.agent.loop import Agent, AgentConfig
    from pixelpilot.environments import FakeEnvironment
    from pixelpilot.vlm import load_backend

    reply = ("Thought: which one?\nAction: call_user()\n\nhotkey(key='ctrl c')\n\n"
             "click(start_box='(500,500)')")  # fmt: skip
    fail = (lambda a: "no button there" if a.action == "click" else None) if click_fails else None
    env = FakeEnvironment([Image.new("RGB", (320, 240), BACKGROUND)], fail=fail)
    config = AgentConfig(record=tmp_path, max_steps=2, video=True, report=True)
    agent = Agent(load_backend("scripted", replies=[reply, "Action: finished()"]), env,
                  dialect="uitars", config=config, on_call_user=lambda q: "the first")  # fmt: skip
    steps = list(agent.stream("task"))
    return agent.result.trajectory_dir, steps


def _result_cells(page: str, step: int) -> list[str]:
    """The Result column of each action row of one step in report.html."""
    section = page.split(f'id="step-{step}"')[1].split("</section>")[0]
    rows = re.findall(r"<tr><td>\d+</td>(.*?)</tr>", section)
    return [re.findall(r"<td>(.*?)</td>", row)[3] for row in rows]


def test_an_answered_call_user_keeps_each_result_with_its_action(tmp_path, capsys) -> None:
    """Report, video and the terminal line pair the key's result with the key and the
    click's failure with the click, not shifted onto the call_user before them."""
    pytest.importorskip("av")
    import numpy as np

    from pixelpilot.agent.commands import print_step

    failing, steps = _call_user_run(tmp_path / "failing", click_fails=True)
    cells = _result_cells((failing / "report.html").read_text(encoding="utf-8"), 0)
    assert len(cells) == 3 and "not run" in cells[0]
    assert cells[1] == '<span class="ok">ok</span>'
    assert "failed" in cells[2] and "no button there" in cells[2]
    print_step(steps[0])
    line = capsys.readouterr().out
    assert "call_user; key ctrl+c ok; click (160, 120) FAILED: no button" in line
    # the video: the failed click is crossed out (red on its diagonal, inside the ring);
    # the same run with a click that worked has no cross there
    passing, _ = _call_user_run(tmp_path / "passing", click_fails=False)
    crossed, plain = (_frames(d / "run.mp4")[0].astype(int) for d in (failing, passing))
    x, y = 160 + 4, 120 + 4  # the click at (160, 120); the canvas is the screenshot's size
    red = crossed[y - 1 : y + 1, x - 1 : x + 1].reshape(-1, 3).mean(axis=0)
    assert red[0] > 180 and red[1] < 140, red
    assert np.abs(plain[y - 1 : y + 1, x - 1 : x + 1] - np.array(BACKGROUND)).max() < 30


@pytest.mark.timeout(120)
@pytest.mark.parametrize("size", [(1, 1), (2, 2), (20, 20), (21, 9)])
def test_tiny_screenshots_get_a_video_and_a_report(tmp_path, size) -> None:
    """`--viewport 1x1`: the caption cannot fit even "...", and once looped forever
    shortening it. Now a run of such screenshots gets its MP4 (one frame per step, the
    screenshot at the top left of its canvas) and its report."""
    pytest.importorskip("av")
    from pixelpilot.agent.loop import Agent, AgentConfig
    from pixelpilot.environments import FakeEnvironment
    from pixelpilot.vlm import load_backend

    colour = (10, 200, 30)
    env = FakeEnvironment([Image.new("RGB", size, colour)])
    replies = ["Thought: a long thought that cannot fit\nAction: click(start_box='(500,500)')",
               "Action: finished(content='done')"]  # fmt: skip
    config = AgentConfig(record=tmp_path, max_steps=3, video=True, report=True)
    result = Agent(load_backend("scripted", replies=replies), env, dialect="uitars",
                   config=config).run("a task on a tiny screen")  # fmt: skip
    assert result.status == "success"
    frames = _frames(result.trajectory_dir / "run.mp4")
    width, height = size
    assert len(frames) == 2
    assert frames[0].shape == (_even(height + caption_height(width)), _even(width), 3)
    if width >= 8:  # smaller ones share their chroma samples with the caption band
        assert np_close(frames[1][height // 2, width // 2], colour)  # the screenshot, at 0,0
    assert (result.trajectory_dir / "report.html").stat().st_size > 0


def _even(value: int) -> int:
    return value + value % 2


def np_close(pixel: Any, colour: tuple[int, int, int]) -> bool:
    return max(abs(int(a) - b) for a, b in zip(pixel, colour, strict=True)) < 40
