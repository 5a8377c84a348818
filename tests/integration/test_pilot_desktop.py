"""The same kind of script on the X11 desktop: Xvfb and a real Tk window, grounded by
the scripted grounder from the window's reported geometry (Qwen2.5-VL's format), checked
against the events the application received. A second run comes from the cache."""

from __future__ import annotations

import pytest

from pixelpilot.agent import Pilot
from tests.integration.desktop_fixtures import tk_app, xvfb_display  # noqa: F401
from tests.integration.pilot_fixtures import Grounder

NAMES = {
    "the red button": "b0", "the green button": "b1", "the yellow button": "b2",
    "the text field": "entry", "the list": "listbox", "the dark red square": "square",
    "the white canvas": "canvas",
}  # fmt: skip


def grounder_for(app) -> Grounder:
    def where(description: str):
        g = app.geometry[NAMES[description]]
        return (g["x"], g["y"], g["x"] + g["width"], g["y"] + g["height"])

    return Grounder("qwen25vl", where, list(NAMES))


def test_a_script_on_the_desktop(xvfb_display, tk_app, tmp_path) -> None:  # noqa: F811
    pytest.importorskip("mss")
    app = tk_app("680x590+100+100")
    grounder = grounder_for(app)
    options = {"record": tmp_path / "runs", "cache_dir": tmp_path / "cache"}
    with Pilot.desktop(xvfb_display, backend=grounder, dialect="qwen25vl", **options) as pilot:
        pilot.click("the red button")
        app.wait_for("click", lambda e: e["id"] == "b0" and e["button"] == 1)
        pilot.double_click("the green button")
        app.wait_for("multi", lambda e: e["id"] == "b1" and e["count"] == 2)
        pilot.right_click("the yellow button")
        app.wait_for("click", lambda e: e["id"] == "b2" and e["button"] == 3)
        pilot.type("the text field", "héllo wörld")
        app.wait_for("text", lambda e: e["value"] == "héllo wörld")
        pilot.press("ctrl+shift+t")
        app.wait_for("key", lambda e: e["chord"] == "ctrl+shift+t")
        pilot.scroll("down", 3, "the list")
        app.wait_for("scroll", lambda e: e["first"] > 0)
        start, end = pilot.drag("the dark red square", "the white canvas")
        dropped = app.wait_for("drag")
        square = app.geometry["square"]
        assert (start.point.x, start.point.y) == pytest.approx(
            (square["x"] + 30, square["y"] + 30), abs=1
        )
        assert (dropped["x"], dropped["y"]) == pytest.approx((end.point.x, end.point.y), abs=2)
        assert pilot.run_dir is not None
    assert grounder.calls == 7
    with Pilot.desktop(xvfb_display, backend=grounder, dialect="qwen25vl", **options) as pilot:
        again = pilot.click("the red button")  # same screen region as before: a hit
        app.wait_for("click", lambda e: e["id"] == "b0")
    assert again.how == "cache" and grounder.calls == 7
