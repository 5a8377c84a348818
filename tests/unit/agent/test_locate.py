"""Grounding and zoom-in: golden mappings worked out by hand, the `auto` rule, the
fallbacks; and Pilot's records, secrets and `act` on a fake screen."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from pixelpilot.agent import NotFound, Pilot
from pixelpilot.agent.locate import ZOOM_SMALL_TARGET, crop_frame, wants_zoom
from pixelpilot.agent.pilot_read import json_candidates, verdict
from pixelpilot.agent.trajectory import read_trajectory
from pixelpilot.environments import FakeEnvironment
from pixelpilot.tools import Box, Point, ScreenFrame, Space
from pixelpilot.vlm.backends.scripted import ScriptedBackend

MAX = 1003520  # transformers' default max_pixels


def pilot(image, replies, tmp_path, *, scale=1.0, dialect="uitars15", **options) -> Pilot:
    env = FakeEnvironment([image], scale=scale)
    backend = ScriptedBackend(replies, max_pixels=MAX)
    options = {"record": tmp_path / "runs", "cache": "off", "max_pixels": MAX, **options}
    return Pilot(env, backend, dialect=dialect, **options)


def test_zoom_golden_mapping_on_a_3840x2160_screen(tmp_path) -> None:
    # By hand: smart_resize(2160, 3840, max 1003520): beta = sqrt(8294400 / 1003520) =
    # 2.87494; sides floor(2160/beta/28)*28 = 728 and floor(3840/beta/28)*28 = 1316.
    # ratio = sqrt(8294400 / (1316*728)) = 2.94237; the crop is ceil(3840/ratio) = 1306 by
    # ceil(2160/ratio) = 735, centred on the first answer (1920, 1080): origin
    # (round(1920 - 653), round(1080 - 367.5)) = (1267, 712) (Python rounds half to even).
    # The crop's model image: round(1306/28)*28 = 1316 by round(735/28)*28 = 728.
    first = "Action: click(point='<point>658 364</point>')"  # 658/1316*3840 = 1920.0
    second = "Action: click(point='<point>700 400</point>')"
    with pilot(Image.new("RGB", (3840, 2160), "white"), [first, second], tmp_path) as p:
        located = p.locate("the bell icon")
    assert located.how == "zoom"
    zoom_call = located.calls[1]
    assert zoom_call.frame == ScreenFrame(width=1306, height=735, origin=(1267.0, 712.0))
    assert zoom_call.model_size == (1316, 728)
    assert located.point.x == pytest.approx(1267 + 700 / 1316 * 1306, abs=1e-3)  # 1961.681
    assert located.point.y == pytest.approx(712 + 400 / 728 * 735, abs=1e-3)  # 1115.846
    assert located.point.space is Space.SCREENSHOT_PX


def test_zoom_golden_mapping_at_dpr_2(tmp_path) -> None:
    # 2560x1440 screenshot of a 1280x720 CSS viewport. smart_resize(1440, 2560, max 1003520)
    # = 728 x 1316; ratio sqrt(3686400/958048) = 1.96158; crop ceil(2560/r) = 1306 by
    # ceil(1440/r) = 735. First box (495,495)-(505,505) of 1000: 1267.2..1292.8 x 712.8..727.2,
    # 25.6 px wide = 13.2 model px < 56: zoom. Centre (1280, 720); origin (627, 352).
    # Crop box (480,480)-(520,520) of 1000: centre (0.5*1306, 0.5*735) = (653, 367.5) ->
    # screenshot (1280, 719.5) -> CSS (640, 359.75).
    first = "<|box_start|>(495,495),(505,505)<|box_end|>"
    second = "<|box_start|>(480,480),(520,520)<|box_end|>"
    image = Image.new("RGB", (2560, 1440), "white")
    with pilot(image, [first, second], tmp_path, scale=2.0, dialect="qwen2vl") as p:
        located = p.click("the tiny button")
        executed = p.env.actions
    assert located.calls[1].frame.origin == (627.0, 352.0)
    assert (located.point.x, located.point.y) == pytest.approx((1280.0, 719.5))
    assert located.box == Box(x1=627 + 0.48 * 1306, y1=352 + 0.48 * 735, x2=627 + 0.52 * 1306,
                              y2=352 + 0.52 * 735, space=Space.SCREENSHOT_PX)  # fmt: skip
    (click,) = executed
    assert (click.point.x, click.point.y, click.point.space) == (640.0, 359.75, Space.SCREEN)


def test_the_auto_rule() -> None:
    full = ScreenFrame(width=3840, height=2160)
    small = Box(x1=0, y1=0, x2=60, y2=60, space=Space.SCREENSHOT_PX)  # 20 model px
    big = Box(x1=0, y1=0, x2=600, y2=300, space=Space.SCREENSHOT_PX)  # 103 model px
    model = (1316, 728)
    assert wants_zoom("auto", 2.94, None, model, full)  # a point only
    assert wants_zoom("auto", 2.94, small, model, full)
    assert not wants_zoom("auto", 2.94, big, model, full)
    assert not wants_zoom("auto", 1.1, small, model, full)  # the model sees ~all pixels
    assert wants_zoom(True, 1.0, big, model, full) and not wants_zoom(False, 3, small, model, full)
    assert 60 * 1316 / 3840 < ZOOM_SMALL_TARGET < 300 * 1316 / 3840
    # forced on a screen seen whole: half the side; always inside the screenshot
    forced = crop_frame(Point(x=3830, y=5, space=Space.SCREENSHOT_PX), None, full, 0.5)
    assert forced.size == (1920, 1080) and forced.origin == (1920.0, 0.0)


def test_a_failed_second_look_keeps_the_first_answer(tmp_path) -> None:
    first = "Action: click(point='<point>658 364</point>')"
    off_crop = "Action: click(point='<point>5000 400</point>')"
    with pilot(Image.new("RGB", (3840, 2160)), [first, off_crop], tmp_path) as p:
        located = p.locate("the bell icon")
    assert located.how == "model" and len(located.calls) == 2
    assert (located.point.x, located.point.y) == pytest.approx((1920.0, 1080.0))


def test_absent_is_not_found_at_once_and_off_screen_too(tmp_path) -> None:
    image = Image.new("RGB", (800, 600))
    with pilot(image, ["There is no such button on this screen."], tmp_path) as p:
        with pytest.raises(NotFound) as absent:
            p.click("the Pay button")
        assert len(p.backend.requests) == 1 and p.env.actions == []
        assert absent.value.description == "the Pay button" and absent.value.screenshot.exists()
    with pilot(image, ["Action: click(point='<point>-3 10</point>')"], tmp_path) as p:
        with pytest.raises(NotFound, match="off the screen"):
            p.click("the Pay button")
        assert len(p.backend.requests) == 1


def test_secrets_never_reach_the_model_or_the_record(tmp_path) -> None:
    secret = "hunter2-ada"
    replies = ["Action: click(point='<point>100 100</point>')", '"hunter2-ada is shown"']
    with pilot(Image.new("RGB", (800, 600)), replies, tmp_path, secrets={"pw": secret}) as p:
        p.type(f"the row that says {secret}", "{{pw}}")
        assert p.read("what the banner says") == "hunter2-ada is shown"
        sent = json.dumps(p.backend.requests, default=str)
        typed = p.env.actions[-1]
        run_dir = p.run_dir
    assert secret not in sent and "{{pw}}" in sent
    assert typed.text == secret  # filled in at the controller only
    assert secret not in (run_dir / "trajectory.jsonl").read_text()


def test_act_runs_the_agent_loop_and_records_its_steps(tmp_path) -> None:
    replies = [
        "Thought: go\nAction: click(point='<point>100 100</point>')",
        "Thought: done\nAction: finished(content='ok')",
    ]
    with pilot(Image.new("RGB", (800, 600)), replies, tmp_path) as p:
        p.press("escape")
        result = p.act("close the dialog", max_steps=5)
        run_dir = p.run_dir
    assert result.status == "success" and result.answer == "ok" and result.trajectory_dir == run_dir
    steps = read_trajectory(run_dir)["steps"]
    assert [(s["kind"], s["step"]) for s in steps] == [("press", 0), ("act", 1), ("act", 2)]
    assert steps[1]["completion"]["text"] == replies[0]
    assert steps[1]["actions"][0]["screenshot"]["action"] == "click"


def test_reading_replies() -> None:
    assert json_candidates('```json\n{"a": 1}\n```')[0] == {"a": 1}
    assert json_candidates("The total is 19.99 EUR")[0] == 19.99
    assert verdict('{"answer": "no", "reason": "empty"}').reason == "empty"
    assert verdict("Yes. The banner is there.").answer == "yes"
    with pytest.raises(ValueError):
        verdict("maybe")


def test_errors_are_in_the_family_and_a_closed_pilot_says_so(tmp_path) -> None:
    from pixelpilot.agent import PilotError
    from pixelpilot.agent.pilot_types import ExpectationFailed, ReadError, StepFailed
    from pixelpilot.tools import FixableError

    for error in (NotFound, ExpectationFailed, ReadError, StepFailed, PilotError):
        assert issubclass(error, FixableError)
    with pilot(Image.new("RGB", (800, 600)), [], tmp_path) as p:
        pass
    with pytest.raises(PilotError, match="closed"):
        p.press("enter")


def test_click_at_raw_screenshot_pixels_and_off_screen_fails(tmp_path) -> None:
    from pixelpilot.agent import StepFailed

    with pilot(Image.new("RGB", (800, 600)), [], tmp_path, scale=2.0) as p:
        p.click_at(400, 300, button="right")
        with pytest.raises(StepFailed, match="outside"):
            p.click_at(900, 10)
        (done,) = p.env.actions
        run_dir = p.run_dir
    assert (done.point.x, done.point.y, done.button) == (200.0, 150.0, "right")
    kinds = [(s["kind"], s.get("error", {}).get("type")) for s in read_trajectory(run_dir)["steps"]]
    assert kinds == [("click", None), ("click", "StepFailed")]
