"""The coordinate chain: goldens for DPRs, odd aspect ratios and a second monitor."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pixelpilot.tools import Box, CoordinateError, Point, ScreenFrame, Space, convert_point

S = Space


def pt(x: float, y: float, space: Space) -> Point:
    return Point(x=x, y=y, space=space)


@pytest.mark.parametrize("dpr", [1.0, 1.5, 2.0, 3.0])
def test_browser_dpr_maps_screenshot_pixels_to_css(dpr: float) -> None:
    css_w, css_h = 1280, 720
    frame = ScreenFrame(width=round(css_w * dpr), height=round(css_h * dpr), scale=dpr)
    # The centre of a CSS box at (100..200, 50..90) seen in the screenshot.
    shot = pt(150 * dpr, 70 * dpr, S.SCREENSHOT_PX)
    assert convert_point(shot, S.SCREEN, frame=frame) == pt(150, 70, S.SCREEN)
    # And a model that says [0, 1000) of the image.
    model = pt(500, 500, S.NORM1000)
    assert convert_point(model, S.SCREEN, frame=frame) == pt(640, 360, S.SCREEN)


@pytest.mark.parametrize(
    ("size", "model_size", "model_point", "expected"),
    [
        ((400, 300), (392, 308), (196, 154), (200, 150)),
        ((1366, 768), (1372, 756), (686, 378), (683, 384)),
        ((3440, 1440), (3444, 1456), (3444, 1456), (3440, 1440)),
        ((1920, 1080), (1316, 728), (658, 364), (960, 540)),
    ],
)
def test_resized_px_odd_aspect_ratios(size, model_size, model_point, expected) -> None:
    frame = ScreenFrame(width=size[0], height=size[1])
    got = convert_point(pt(*model_point, S.RESIZED_PX), S.SCREENSHOT_PX, frame=frame,
                        model_size=model_size)  # fmt: skip
    assert (got.x, got.y) == pytest.approx(expected)


def test_second_monitor_with_origin_and_scale() -> None:
    # A 4K monitor at scale 2 placed right of a 1920-wide one: X units start at 1920.
    frame = ScreenFrame(width=3840, height=2160, scale=2.0, origin=(1920, 0))
    assert convert_point(pt(0, 0, S.SCREENSHOT_PX), S.SCREEN, frame=frame) == pt(1920, 0, S.SCREEN)
    centre = convert_point(pt(0.5, 0.5, S.NORM1), S.SCREEN, frame=frame)
    assert centre == pt(1920 + 960, 540, S.SCREEN)
    back = convert_point(pt(2880, 540, S.SCREEN), S.NORM1000, frame=frame)
    assert back == pt(500, 500, S.NORM1000)
    with pytest.raises(CoordinateError):
        convert_point(pt(100, 100, S.SCREEN), S.SCREENSHOT_PX, frame=frame)  # on monitor 1


@pytest.mark.parametrize(
    "point",
    [pt(-1, 5, S.NORM1000), pt(1000.5, 5, S.NORM1000), pt(0.5, 1.01, S.NORM1),
     pt(1933, 10, S.RESIZED_PX), pt(1920.5, 0, S.SCREENSHOT_PX), pt(float("nan"), 0, S.NORM1)],
)  # fmt: skip
def test_off_image_points_are_rejected_not_clamped(point: Point) -> None:
    frame = ScreenFrame(width=1920, height=1080)
    with pytest.raises(CoordinateError, match="outside the screenshot"):
        convert_point(point, S.SCREENSHOT_PX, frame=frame, model_size=(1932, 1092))


def test_edges_are_on_the_image() -> None:
    frame = ScreenFrame(width=1920, height=1080)
    assert convert_point(pt(1000, 1000, S.NORM1000), S.SCREENSHOT_PX, frame=frame) == pt(
        1920, 1080, S.SCREENSHOT_PX
    )
    assert convert_point(pt(0, 0, S.NORM1), S.SCREENSHOT_PX, frame=frame) == pt(
        0, 0, S.SCREENSHOT_PX
    )


def test_resized_px_needs_the_model_size() -> None:
    with pytest.raises(ValueError, match="model image size"):
        convert_point(
            pt(1, 1, S.RESIZED_PX), S.SCREENSHOT_PX, frame=ScreenFrame(width=10, height=10)
        )


def test_box_centre_and_corner_order() -> None:
    box = Box.from_corners(300, 400, 100, 200, space=S.NORM1000)
    assert box.center() == pt(200, 300, S.NORM1000)
    assert box.contains(pt(150, 250, S.NORM1000))
    with pytest.raises(ValueError):
        Box(x1=5, y1=0, x2=1, y2=1, space=S.NORM1)


frames = st.builds(
    ScreenFrame,
    width=st.integers(1, 8000),
    height=st.integers(1, 8000),
    scale=st.sampled_from([1.0, 1.25, 1.5, 2.0, 3.0]),
    origin=st.tuples(st.integers(-4000, 4000), st.integers(-4000, 4000)),
)


@given(frame=frames, fx=st.floats(0, 1), fy=st.floats(0, 1),
       via=st.sampled_from(list(Space)), mw=st.integers(28, 9000), mh=st.integers(28, 9000))  # fmt: skip
def test_round_trip_through_any_space(frame, fx, fy, via, mw, mh) -> None:
    """screenshot -> any space -> screenshot is the identity (up to 4-decimal rounding)."""
    start = pt(fx * frame.width, fy * frame.height, S.SCREENSHOT_PX)
    kwargs = {"frame": frame, "model_size": (mw, mh)}
    there = convert_point(start, via, **kwargs)
    back = convert_point(there, S.SCREENSHOT_PX, check=False, **kwargs)
    tol = 1e-3 * max(1.0, frame.width / 1000, frame.width / mw, frame.height / mh, frame.scale)
    assert back.x == pytest.approx(start.x, abs=tol)
    assert back.y == pytest.approx(start.y, abs=tol * max(1, frame.height / frame.width))
