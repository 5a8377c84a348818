"""The desktop controller on a real Xvfb with a real Tk window.

Every pointer target is found the way a model finds it: by looking at the observed
screenshot (each target has a unique solid colour), then acting at a point in
screenshot pixels. Whether it worked is what the Tk application reports receiving,
including the X pixel the press arrived at, so the whole chain screenshot px -> X pixels
-> the widget is checked, at several scale factors and on a region at a non-zero origin.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from typing import Any

import numpy as np
import pytest
from PIL import Image

from pixelpilot.environments.base import ControllerError, Environment
from pixelpilot.environments.desktop import DesktopEnvironment, x_keysym
from pixelpilot.environments.xvfb import Xvfb
from pixelpilot.tools import (
    Click,
    Drag,
    GoBack,
    Key,
    Move,
    Navigate,
    Point,
    Scroll,
    Space,
    Type,
    Wait,
)
from pixelpilot.tools.keys import NAMED_KEYS
from tests.integration.desktop_fixtures import *  # noqa: F403 (the fixtures)
from tests.integration.desktop_fixtures import TkApp

SECOND_REGION = (960, 0, 960, 1080)  # the right half of the screen as a second monitor
BUTTONS = [f"b{i}" for i in range(12)]
TOLERANCE = 3  # per channel; the colours are far further apart than this


def px(x: float, y: float) -> Point:
    return Point(x=x, y=y, space=Space.SCREENSHOT_PX)


def rgb(colour: str) -> tuple[int, int, int]:
    return (int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16))


def find(image: Image.Image, colour: str) -> dict[str, Any] | None:
    """Centroid (of pixel centres) and bounding box of one colour, in screenshot px."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    mask = (np.abs(pixels - np.array(rgb(colour), dtype=np.int16)) <= TOLERANCE).all(axis=2)
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return None
    box = (int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max()))
    return {"cx": float(xs.mean()) + 0.5, "cy": float(ys.mean()) + 0.5, "box": box, "n": xs.size}


def locate(env: DesktopEnvironment, app: TkApp, ids: list[str], timeout: float = 30.0) -> dict:
    """Observe until every target is fully drawn (Tk may still be painting after ready)."""
    deadline = time.monotonic() + timeout
    while True:
        observation = env.observe()
        found, missing = {}, []
        for ident in ids:
            widget = app.geometry[ident]
            spot = find(observation.image, widget["colour"])
            expected = widget["width"] * widget["height"] * env.scale**2
            if spot is None or spot["n"] < 0.5 * expected:
                missing.append(ident)
            else:
                found[ident] = spot
        if not missing:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"targets {missing} not visible in the screenshot")
        time.sleep(0.1)


def x_pixel(env: DesktopEnvironment, point: Point) -> tuple[int, int]:
    """Where a screenshot point must land in X pixels: origin + px / scale, floored."""
    left, top = env.region[0], env.region[1]
    return (
        math.floor(round(left + point.x / env.scale, 4)),
        math.floor(round(top + point.y / env.scale, 4)),
    )


def click_hits(env: DesktopEnvironment, app: TkApp, ident: str, point: Point) -> bool:
    """Click at `point`; True if the press reached widget `ident` at the exact X pixel."""
    app.drain()
    result = env.execute(Click(point=point))
    assert result.ok, result.error
    press = app.wait_for("press")
    if press["id"] != ident or (press["x_root"], press["y_root"]) != x_pixel(env, point):
        print(f"miss: wanted {ident} at {x_pixel(env, point)}, got {press}")
        return False
    app.wait_for("click", lambda e: e["id"] == ident and e["button"] == 1)
    return True


CASES = {
    "scale-1": (None, 1.0, "680x590+100+100"),
    "scale-0.5": (None, 0.5, "680x590+100+100"),
    "scale-1.5": (None, 1.5, "680x590+100+100"),
    "scale-2": (None, 2.0, "680x590+40+30"),
    "second-region": (SECOND_REGION, 1.0, "680x590+1100+200"),
    "second-region-scale-1.5": (SECOND_REGION, 1.5, "680x590+1200+400"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_clicks_computed_from_the_screenshot_hit_every_button(xvfb_display, tk_app, case):
    monitor, scale, geometry = CASES[case]
    app = tk_app(geometry)
    kwargs = {"monitor": monitor} if monitor else {}
    with DesktopEnvironment(xvfb_display, scale=scale, **kwargs) as env:
        frame = env.observe().frame
        assert frame.scale == scale
        found = locate(env, app, BUTTONS)
        hits, total = 0, 0
        for ident in BUTTONS:
            spot = found[ident]
            x0, y0, x1, y1 = spot["box"]
            # the centre, then the outermost pixel of each corner the screenshot shows
            points = [px(spot["cx"], spot["cy"])]
            points += [px(x + 0.5, y + 0.5) for x in (x0, x1) for y in (y0, y1)]
            for point in points:
                total += 1
                hits += click_hits(env, app, ident, point)
        if scale == 1.0:  # at 1:1 the screenshot shows each widget exactly where Tk put it
            g = app.geometry["b0"]
            left, top = env.region[0], env.region[1]
            assert found["b0"]["box"] == (
                g["x"] - left, g["y"] - top, g["x"] - left + g["width"] - 1,
                g["y"] - top + g["height"] - 1,
            )  # fmt: skip
    print(f"\nhit rate {case}: {hits}/{total}")
    assert hits == total, f"hit rate {hits}/{total} for {case}"


def test_observation_is_rgb_at_the_frame_size_and_names_the_focused_window(xvfb_display, tk_app):
    app = tk_app("680x590+100+100")
    with DesktopEnvironment(xvfb_display, scale=0.5) as env:
        spot = locate(env, app, ["entry"])["entry"]
        result = env.execute(Move(point=px(spot["cx"], spot["cy"])))
        assert result.ok and result.element is not None
        assert result.element.name == app.title
        observation = env.observe()
        assert observation.image.mode == "RGB"
        assert observation.image.size == observation.frame.size == (960, 540)
        assert observation.frame.origin == (0.0, 0.0)
        assert observation.focused_window == app.title  # focus follows the pointer


def test_right_and_double_clicks(xvfb_display, tk_app):
    app = tk_app()
    with DesktopEnvironment(xvfb_display) as env:
        spot = locate(env, app, ["b5"])["b5"]
        point = px(spot["cx"], spot["cy"])
        assert env.execute(Click(point=point, button="right")).ok
        app.wait_for("click", lambda e: e["id"] == "b5" and e["button"] == 3)
        assert env.execute(Click(point=point, button="middle")).ok
        app.wait_for("click", lambda e: e["id"] == "b5" and e["button"] == 2)
        time.sleep(0.6)  # not a timing assertion: keeps the next click from joining these
        assert env.execute(Click(point=point, clicks=2)).ok
        app.wait_for("multi", lambda e: e["id"] == "b5" and e["count"] == 2)


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_typing_unicode_gives_exactly_that_text(xvfb_display, tk_app, scale):
    app = tk_app()
    with DesktopEnvironment(xvfb_display, scale=scale) as env:
        spot = locate(env, app, ["entry"])["entry"]
        assert env.execute(Click(point=px(spot["cx"], spot["cy"]))).ok
        text = "Grüße 東京 café"
        result = env.execute(Type(text=text))
        assert result.ok, result.error
        assert app.wait_for("text", lambda e: e["value"] == text)["value"] == text
        more = " -- naïve ünïcödé ½ №5 —"  # leading dashes must not become xdotool options
        assert env.execute(Type(text=more, submit=True)).ok
        app.wait_for("text", lambda e: e["value"] == text + more)
        app.wait_for("key", lambda e: e["keysym"] == "Return")
        # more distinct characters missing from the keymap than Xvfb has spare keycodes
        # (19), so they are bound in turns; Tk 8.6 cannot take characters beyond U+FFFF
        # (emoji crash it), so those are left to the browser tests
        many = " 日本語のテキスト、中文输入法、한국어 ΩΣΔ ÅÉÎÕÜ"
        assert env.execute(Type(text=many)).ok
        app.wait_for("text", lambda e: e["value"] == text + more + many)


CHORDS = [
    ("ctrl+shift+t", "t", {"ctrl", "shift"}),
    ("Ctrl+A", "a", {"ctrl"}),
    ("ctrl++", "plus", {"ctrl"}),
    ("ctrl+/", "slash", {"ctrl"}),
    ("alt+[", "bracketleft", {"alt"}),
    ("F5", "f5", set()),
    ("escape", "escape", set()),
    ("ctrl+pagedown", "next", {"ctrl"}),
    ("backspace", "backspace", set()),
    ("é", "eacute", set()),  # not on the keymap: bound to a spare keycode first
]


def test_key_chords_arrive_as_chords(xvfb_display, tk_app):
    app = tk_app()
    with DesktopEnvironment(xvfb_display) as env:
        spot = locate(env, app, ["b0"])["b0"]  # keyboard focus follows the pointer
        assert env.execute(Move(point=px(spot["cx"], spot["cy"]))).ok
        for keys, keysym, mods in CHORDS:
            app.drain()
            result = env.execute(Key(keys=keys))
            assert result.ok, result.error

            def matches(event: dict, keysym: str = keysym, mods: set = mods) -> bool:
                got = set(event["chord"].split("+")[:-1])
                return event["keysym"].lower() == keysym and mods <= got

            app.wait_for("key", matches)


def test_every_canonical_key_has_an_x_keysym():
    for name in NAMED_KEYS:
        assert x_keysym(name)
    assert x_keysym("meta") == "super" and x_keysym("pagedown") == "Next"
    assert x_keysym("7") == "7" and x_keysym("é") == "U00E9" and x_keysym("'") == "apostrophe"


def test_scroll_moves_the_listbox(xvfb_display, tk_app):
    app = tk_app()
    with DesktopEnvironment(xvfb_display, scale=1.5) as env:
        spot = locate(env, app, ["listbox"])["listbox"]
        result = env.execute(Scroll(point=px(spot["cx"], spot["cy"]), direction="down", amount=3))
        assert result.ok and result.element is not None and result.element.name == app.title
        first = app.wait_for("scroll", lambda e: e["first"] >= 10)["first"]
        assert env.execute(Scroll(direction="down", amount=2)).ok  # where the pointer is
        app.wait_for("scroll", lambda e: e["first"] > first)
        assert env.execute(Scroll(direction="up", amount=20)).ok
        app.wait_for("scroll", lambda e: e["first"] == 0)


@pytest.mark.parametrize("scale", [1.0, 0.5, 1.5])
def test_drag_moves_the_square_where_the_model_pointed(xvfb_display, tk_app, scale):
    app = tk_app()
    with DesktopEnvironment(xvfb_display, scale=scale) as env:
        start = locate(env, app, ["square"])["square"]
        end = px(start["cx"] + 300 * scale, start["cy"] + 120 * scale)
        result = env.execute(Drag(start=px(start["cx"], start["cy"]), end=end))
        assert result.ok, result.error
        dragged = app.wait_for("drag")
        assert dragged["moves"] >= 3  # the app saw a motion, not a jump
        ex, ey = x_pixel(env, end)
        grabbed = x_pixel(env, px(start["cx"], start["cy"]))
        centre = (app.geometry["square"]["x"] + 30, app.geometry["square"]["y"] + 30)
        assert dragged["x"] == ex - grabbed[0] + centre[0]
        assert dragged["y"] == ey - grabbed[1] + centre[1]
        moved = locate(env, app, ["square"])["square"]  # and the screenshot shows it there
        assert abs(moved["cx"] - end.x) <= 2 + scale and abs(moved["cy"] - end.y) <= 2 + scale
        # from the current pointer: press where the last drag left it
        back = px(end.x - 100 * scale, end.y - 50 * scale)
        assert env.execute(Drag(end=back)).ok
        again = app.wait_for("drag")
        bx, by = x_pixel(env, back)
        assert (again["x"], again["y"]) == (dragged["x"] + bx - ex, dragged["y"] + by - ey)


def test_model_fixable_failures_come_back_as_results(xvfb_display):
    with DesktopEnvironment(xvfb_display, monitor=SECOND_REGION) as env:
        off = env.execute(Click(point=px(960 + 40, 10)))
        assert not off.ok and "outside the screenshot" in off.error
        off = env.execute(Drag(start=px(10, 10), end=px(10, -5)))
        assert not off.ok and off.error
        nav = env.execute(Navigate(url="https://example.com"))
        assert not nav.ok and "no browser" in nav.error
        back = env.execute(GoBack())
        assert back.ok and "alt+Left" in back.note
        assert env.execute(Wait(seconds=0.05)).ok


def test_close_twice_and_use_after_close(xvfb_display):
    env = DesktopEnvironment(xvfb_display)
    assert isinstance(env, Environment)
    env.close()
    env.close()
    with pytest.raises(ControllerError):
        env.execute(Wait(seconds=0))
    with DesktopEnvironment(xvfb_display) as env2:
        assert env2.observe().image.size == (1920, 1080)
    env2.close()


def test_bad_displays_and_regions_raise(xvfb_display, monkeypatch):
    with pytest.raises(ControllerError, match="cannot open X display"):
        DesktopEnvironment(":987")
    monkeypatch.delenv("DISPLAY", raising=False)
    with pytest.raises(ControllerError, match="Xvfb"):
        DesktopEnvironment()
    for region in [(1000, 0, 960, 1080), (-1, 0, 10, 10), (0, 0, 0, 10)]:
        with pytest.raises(ValueError, match="not inside the screen"):
            DesktopEnvironment(xvfb_display, monitor=region)
    with pytest.raises(ValueError, match="does not exist"):
        DesktopEnvironment(xvfb_display, monitor=7)
    with pytest.raises(ValueError):
        DesktopEnvironment(xvfb_display, scale=0)
    with DesktopEnvironment(xvfb_display, monitor=0) as env:  # all monitors
        assert env.observe().frame.size == (1920, 1080)


def test_xvfb_helper_starts_separate_displays_and_a_lost_display_is_a_controller_error(
    xvfb_display,  # only for its skip-or-fail check that Xvfb is installed
):
    first, second = Xvfb(320, 240).start(), Xvfb(640, 480, 24).start()
    try:
        assert first.running and second.running
        assert len({first.display, second.display, xvfb_display}) == 3
        gone = second.display
        with DesktopEnvironment(first.display) as a, DesktopEnvironment(gone) as b:
            assert a.observe().image.size == (320, 240)
            assert b.observe().image.size == (640, 480)
            second.stop()
            assert not second.running
            with pytest.raises(ControllerError):
                b.observe()
            with pytest.raises(ControllerError):
                b.execute(Click(point=px(10, 10)))
            assert a.observe().image.size == (320, 240)  # the other display is untouched
    finally:
        first.stop()
        second.stop()
        first.stop()  # idempotent
    assert not first.running
    with pytest.raises(ControllerError):
        _ = first.display
    with pytest.raises(ControllerError):
        DesktopEnvironment(gone)


def test_xvfb_missing_or_failing_is_a_controller_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ControllerError, match="not installed"):
        Xvfb().start()
    fake = tmp_path / "Xvfb"
    fake.write_text("#!/bin/sh\necho 'Fatal server error: no screens found' >&2\nexit 1\n")
    fake.chmod(0o755)
    server = Xvfb()
    with pytest.raises(ControllerError, match="no screens found"):
        server.start()
    assert not server.running


def test_importing_the_desktop_module_needs_no_display_libraries():
    code = (
        "import sys, pixelpilot.environments.desktop, pixelpilot.environments.xvfb;"
        "loaded = {'mss', 'Xlib', 'pyautogui'} & {m.split('.')[0] for m in sys.modules};"
        "assert not loaded, loaded"
    )
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
