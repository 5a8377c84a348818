"""One contract every environment keeps: fake, browser and desktop alike."""

from __future__ import annotations

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


@pytest.mark.parametrize("make_env", KINDS, indirect=True)
def test_every_action_type_gives_a_result(make_env, pages_url) -> None:  # noqa: F811
    env = make_env()
    obs = env.observe()
    c = centre(obs)
    near = Point(x=c.x + 20, y=c.y + 10, space=Space.SCREENSHOT_PX)
    actions = [
        Click(point=c), Click(point=c, button="right"), Click(point=c, clicks=2), Move(point=near),
        Drag(start=c, end=near), Drag(end=c), Scroll(point=c, direction="down", amount=1),
        Scroll(direction="up", amount=1), Type(text="héllo"), Key(keys=("escape",)),
        Wait(seconds=0.01), Navigate(url=f"{pages_url}/form.html"), GoBack(),
        Finish(status="success", answer="done"), CallUser(question="?"),
    ]  # fmt: skip
    for action in actions:
        result = env.execute(action)
        assert isinstance(result, ActionResult)
        assert result.ok or result.error, action
        assert result.timings.total_s >= 0
    for action in actions[:5]:  # pointer actions on the screen succeed everywhere
        assert env.execute(action).ok, action


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
