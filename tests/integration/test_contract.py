"""One contract every environment keeps: fake, browser and desktop alike."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from PIL import Image

from pixelpilot.environments import (
    ActionResult,
    ControllerError,
    Environment,
    FakeEnvironment,
    Observation,
)
from pixelpilot.tools import (
    CallUser,
    Click,
    Drag,
    Finish,
    GoBack,
    Key,
    Move,
    Navigate,
    Point,
    Scroll,
    Space,
    Type,
    Wait,
)  # fmt: skip
from tests.integration.browser_fixtures import pages_url  # noqa: F401
from tests.integration.desktop_fixtures import xvfb_display  # noqa: F401

KINDS = ["fake", "browser", "desktop"]


@pytest.fixture
def make_env(request, pages_url) -> Iterator[Callable[[], Environment]]:  # noqa: F811
    """A factory for the environment kind under test; everything opened is closed."""
    kind = request.param
    opened: list[Environment] = []

    def make() -> Environment:
        if kind == "fake":
            env: Environment = FakeEnvironment([Image.new("RGB", (1024, 768), "white")], scale=2.0)
        elif kind == "browser":
            from pixelpilot.environments import open_browser

            env = open_browser(
                f"{pages_url}/form.html", viewport=(800, 600), device_scale_factor=1.5
            )
        else:
            from pixelpilot.environments import open_desktop

            display = request.getfixturevalue("xvfb_display")
            env = open_desktop(display, scale=0.5)
        opened.append(env)
        return env

    yield make
    for env in opened:
        env.close()


def centre(obs: Observation) -> Point:
    return Point(x=obs.frame.width / 2, y=obs.frame.height / 2, space=Space.SCREENSHOT_PX)


@pytest.mark.parametrize("make_env", KINDS, indirect=True)
def test_observe_gives_native_pixels_and_their_frame(make_env) -> None:
    env = make_env()
    for observation in (env.reset(seed=0), env.observe()):
        assert observation.image.mode == "RGB"
        assert observation.image.size == (observation.frame.width, observation.frame.height)
        assert observation.frame.scale > 0


#: what each environment must answer, where it is not plain success: (ok, words in the
#: error or note). A desktop has no browser to navigate; its "back" is a shortcut it
#: cannot confirm, so it says so.
EXCEPTIONS: dict[str, dict[str, tuple[bool, str]]] = {
    "fake": {},
    "browser": {},
    "desktop": {"navigate": (False, "no browser on this desktop"),
                "go_back": (True, "alt+Left")},
}  # fmt: skip


@pytest.mark.parametrize("make_env", KINDS, indirect=True)
def test_every_action_type_gives_its_result(make_env, pages_url, request) -> None:  # noqa: F811
    env, kind = make_env(), request.node.callspec.params["make_env"]
    obs = env.observe()
    c, frame = centre(obs), obs.frame
    near = Point(x=c.x + 20, y=c.y + 10, space=Space.SCREENSHOT_PX)
    actions = [
        Click(point=c), Click(point=c, button="right"), Click(point=c, clicks=2), Move(point=near),
        Drag(start=c, end=near), Drag(end=c), Scroll(point=c, direction="down", amount=1),
        Scroll(direction="up", amount=1), Type(text="héllo"), Key(keys=("escape",)),
        Wait(seconds=0.2), Navigate(url=f"{pages_url}/next.html"), GoBack(),
        Finish(status="success", answer="done"), CallUser(question="?"),
    ]  # fmt: skip
    for action in actions:
        started = time.monotonic()
        result = env.execute(action)
        wall = time.monotonic() - started
        assert isinstance(result, ActionResult)
        ok, words = EXCEPTIONS[kind].get(action.action, (True, ""))
        assert result.ok is ok, (action, result)
        assert words in ((result.error or "") + (result.note or "")), (action, result)
        assert (result.error is None) is ok  # a failure always says why, a success never
        timings = result.timings  # the parts add up and fit inside the call
        assert timings.total_s == pytest.approx(timings.action_s + timings.settle_s, abs=1e-6)
        assert timings.total_s <= wall
        assert result.screen_action is not None and result.screen_action["action"] == action.action
    ox, oy = frame.origin  # the click went to the screen point under the screenshot's centre
    screen = env.execute(Click(point=c)).screen_action["point"]
    assert (screen["x"], screen["y"]) == pytest.approx(
        (ox + c.x / frame.scale, oy + c.y / frame.scale), abs=1e-3
    )
    if kind != "fake":  # a real controller really waits (the fake records, it does not sleep)
        assert env.execute(Wait(seconds=0.2)).timings.action_s >= 0.2
    if kind == "browser":  # navigated to next.html, then back to form.html
        assert env.observe().url.endswith("/form.html")


@pytest.mark.parametrize("make_env", KINDS, indirect=True)
def test_off_screen_points_come_back_as_errors_for_the_model(make_env) -> None:
    env = make_env()
    frame = env.observe().frame
    result = env.execute(Click(point=Point(x=frame.width + 5, y=1, space=Space.SCREENSHOT_PX)))
    assert not result.ok and "outside the screenshot" in result.error


@pytest.mark.parametrize("make_env", KINDS, indirect=True)
def test_points_in_a_model_space_are_a_bug_not_a_model_error(make_env) -> None:
    env = make_env()
    with pytest.raises(ValueError, match="screenshot_px"):
        env.execute(Click(point=Point(x=500, y=500, space=Space.NORM1000)))


@pytest.mark.parametrize("make_env", KINDS, indirect=True)
def test_close_twice_and_use_after_close(make_env) -> None:
    env = make_env()
    with env as same:
        assert same is env
        same.observe()
    env.close()  # a second close is fine
    with pytest.raises(ControllerError):
        env.execute(Wait(seconds=0))
