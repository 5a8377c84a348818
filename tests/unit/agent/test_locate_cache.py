"""The visual locate cache: hits are verified against the recorded crop, moved targets
miss, corrupt entries are ignored with a warning, concurrent writers lose nothing."""

from __future__ import annotations

import json
import logging
import multiprocessing
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from pixelpilot.agent import Pilot
from pixelpilot.agent.locate_cache import LocateCache, screen_id
from pixelpilot.environments import FakeEnvironment
from pixelpilot.tools import Box, Point, ScreenFrame, Space
from pixelpilot.vlm import BackendError
from pixelpilot.vlm.backends.scripted import ScriptedBackend

FRAME = ScreenFrame(width=640, height=400)
KEY = {"dialect": "uitars", "model": "m", "description": "the red button", "screen": "/|640x400@1"}


def screen(button_at: tuple[int, int] = (100, 100), note: str | None = None) -> Image.Image:
    """A white screen with a red 'button' (with a label, so it has texture) at `button_at`."""
    image = Image.new("RGB", FRAME.size, "white")
    draw = ImageDraw.Draw(image)
    x, y = button_at
    draw.rectangle((x, y, x + 80, y + 30), fill=(200, 30, 30))
    draw.text((x + 10, y + 8), "Buy", fill="white")
    if note:
        draw.text((400, 350), note, fill="black")
    return image


def px(x: float, y: float) -> Point:
    return Point(x=x, y=y, space=Space.SCREENSHOT_PX)


def test_a_hit_returns_what_was_stored_and_other_keys_miss(tmp_path) -> None:
    cache = LocateCache(tmp_path)
    box = Box(x1=100, y1=100, x2=180, y2=130, space=Space.SCREENSHOT_PX)
    cache.store(KEY, screen(), FRAME, px(140, 115), box, reply="r", how="model")
    hit = cache.lookup(KEY, screen())
    assert hit is not None and hit.point == px(140, 115) and hit.box == box
    assert hit.difference == 0.0 and hit.reply == "r"
    assert cache.lookup({**KEY, "description": "the blue button"}, screen()) is None
    assert cache.lookup({**KEY, "model": "another"}, screen()) is None
    # a change elsewhere on the screen does not matter: the crop is what is checked
    assert cache.lookup(KEY, screen(note="3 new messages")) is not None


@pytest.mark.parametrize("moved_by", [(40, 0), (0, 25), (200, 150)])
def test_a_moved_target_is_a_miss(tmp_path, moved_by) -> None:
    cache = LocateCache(tmp_path)
    cache.store(KEY, screen(), FRAME, px(140, 115), None, reply=None, how="model")
    moved = screen((100 + moved_by[0], 100 + moved_by[1]))
    assert cache.lookup(KEY, moved) is None


def test_a_changed_target_is_a_miss(tmp_path) -> None:
    cache = LocateCache(tmp_path)
    cache.store(KEY, screen(), FRAME, px(140, 115), None, reply=None, how="model")
    changed = screen()
    ImageDraw.Draw(changed).rectangle((100, 100, 180, 130), fill=(30, 30, 200))
    assert cache.lookup(KEY, changed) is None


def test_a_corrupt_entry_is_ignored_with_a_warning_and_overwritten(tmp_path, caplog) -> None:
    cache = LocateCache(tmp_path)
    path = cache.path(KEY)
    path.parent.mkdir(parents=True)
    for garbage in ("{not json", json.dumps({"version": 1, "key": {}, "variants": [{"x": 1}]})):
        path.write_text(garbage)
        with caplog.at_level(logging.WARNING, logger="pixelpilot.agent.locate_cache"):
            assert cache.lookup(KEY, screen()) is None
        assert "corrupt" in caplog.text
        caplog.clear()
    cache.store(KEY, screen(), FRAME, px(140, 115), None, reply=None, how="model")
    assert cache.lookup(KEY, screen()) is not None


def test_modes(tmp_path) -> None:
    args = (KEY, screen(), FRAME, px(140, 115), None)
    LocateCache(tmp_path / "ro", "read-only").store(*args, reply=None, how="model")
    assert not any((tmp_path / "ro").rglob("*.json"))
    write_only = LocateCache(tmp_path / "wo", "write-only")
    write_only.store(*args, reply=None, how="model")
    assert any((tmp_path / "wo").rglob("*.json")) and write_only.lookup(KEY, screen()) is None
    assert LocateCache(tmp_path / "wo", "read-only").lookup(KEY, screen()) is not None
    off = LocateCache(tmp_path / "off", "off")
    off.store(*args, reply=None, how="model")
    assert off.lookup(KEY, screen()) is None and not (tmp_path / "off").exists()
    with pytest.raises(ValueError):
        LocateCache(tmp_path, "sometimes")  # type: ignore[arg-type]


def test_screen_id_ignores_the_origin_but_not_the_path_or_size() -> None:
    a = screen_id("http://127.0.0.1:8000/form.html?x=1#top", None, FRAME)
    assert a == screen_id("https://staging.example/form.html?x=1", None, FRAME)
    assert a != screen_id("http://127.0.0.1:8000/list.html?x=1", None, FRAME)
    assert a != screen_id(
        "http://127.0.0.1:8000/form.html?x=1", None, ScreenFrame(width=640, height=400, scale=2)
    )
    assert screen_id(None, "Editor", FRAME) != screen_id(None, "Terminal", FRAME)


def _writer(directory: str, worker: int, count: int) -> None:
    cache = LocateCache(directory, max_variants=10_000)
    image = screen()
    for i in range(count):
        # every variant at its own place on the same screen: all stay valid, none stale
        point = px(20 + 3 * i + worker * 300, 200 + worker * 60)
        cache.store(KEY, image, FRAME, point, None, reply=f"{worker}-{i}", how="model")
        other = {**KEY, "description": f"target {worker}-{i}"}
        cache.store(other, image, FRAME, point, None, reply=None, how="model")


def test_two_processes_writing_at_once_lose_and_corrupt_nothing(tmp_path) -> None:
    count = 25
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_writer, args=(str(tmp_path), w, count)) for w in (0, 1)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    entries = list(Path(tmp_path).rglob("*.json"))
    assert len(entries) == 1 + 2 * count
    for entry in entries:
        json.loads(entry.read_text())  # every file whole
    assert not list(Path(tmp_path).rglob("*.tmp"))
    shared = json.loads(LocateCache(tmp_path).path(KEY).read_text())
    replies = sorted(v["reply"] for v in shared["variants"])
    assert replies == sorted(f"{w}-{i}" for w in (0, 1) for i in range(count))


def test_the_second_run_of_a_script_makes_no_model_call(tmp_path) -> None:
    reply = "Action: click(start_box='<|box_start|>(219,288)<|box_end|>')"  # (140, 115) px
    image = screen()

    def run(backend) -> list:
        env = FakeEnvironment([image])
        with Pilot(env, backend, dialect="uitars", record=None, cache_dir=tmp_path) as pilot:
            located = pilot.click("the red button")
        return [located, env.actions]

    first, actions = run(ScriptedBackend([reply]))
    assert first.how == "model"
    second, again = run(ScriptedBackend([]))  # no replies: any model call would raise
    assert second.how == "cache" and second.cached and second.point == first.point
    assert again == actions
    moved = screen((300, 200))
    with pytest.raises(BackendError):  # the target moved: the cache misses, the model is asked
        env = FakeEnvironment([moved])
        with Pilot(
            env, ScriptedBackend([]), dialect="uitars", record=None, cache_dir=tmp_path
        ) as pilot:
            pilot.click("the red button")


def test_a_script_over_a_corrupt_cache_asks_the_model_and_warns(tmp_path, caplog) -> None:
    reply = "Action: click(start_box='<|box_start|>(219,288)<|box_end|>')"
    env = FakeEnvironment([screen()])
    with Pilot(env, ScriptedBackend([reply]), dialect="uitars", record=None,
               cache_dir=tmp_path) as pilot:  # fmt: skip
        pilot.click("the red button")
    (entry,) = tmp_path.rglob("*.json")
    entry.write_bytes(entry.read_bytes()[:-40])  # torn, as by a crash without atomic writes
    backend = ScriptedBackend([reply])
    caplog.set_level(logging.WARNING, logger="pixelpilot.agent.locate_cache")
    with Pilot(env, backend, dialect="uitars", record=None, cache_dir=tmp_path) as pilot:
        assert pilot.click("the red button").how == "model"
    assert len(backend.requests) == 1 and "corrupt" in caplog.text
    json.loads(entry.read_text())  # rewritten whole by the store after the model's answer
