"""Golden tests for the oracles: reply strings worked out by hand from the models'
documented formats, for fixed targets on real screen sizes, and the pipeline (parse,
resize, convert) landing each point inside its target.

The arithmetic is in the comments, done on paper, so that neither the oracle nor the
pipeline checks itself:
- norm1000 (Qwen2-VL, UI-TARS 1.0): round(x / width * 1000), [0, 1000).
- resized_px (Qwen2.5-VL, UI-TARS 1.5): round(x * resized_width / width), after
  smart_resize (sides to multiples of 28; 1366x768 -> 1372x756, 3840x2160 -> 3836x2156
  under the checkpoints' max of 12,845,056 pixels).
- norm1 (ShowUI): x / width with two decimals.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from PIL import Image

from pixelpilot.evaluation.grounding import GroundingOracle, GroundingRecord, evaluate, score
from pixelpilot.evaluation.oracle import OracleBackend, SolverOracle
from pixelpilot.evaluation.oracle_words import GRAMMARS, smart_resize
from pixelpilot.tools import Action, Click, Drag, Point, Scroll, Space, Type
from pixelpilot.vlm import DIALECTS, get_dialect, parse_actions

TC = '<tool_call>\n{{"name": "computer_use", "arguments": {}}}\n</tool_call>'


def _px(x: float, y: float) -> Point:
    return Point(x=x, y=y, space=Space.SCREENSHOT_PX)


def _page(css: tuple[int, int], dpr: float, boxes: dict[str, dict] | None = None) -> Any:
    """The page geometry the oracle reads, and nothing else: the CSS viewport, the device
    pixel ratio and elements' CSS boxes (a browser's answers, fixed for the test)."""

    def locator(selector: str) -> Any:
        return SimpleNamespace(first=SimpleNamespace(bounding_box=lambda: boxes[selector]))

    page = SimpleNamespace(viewport_size={"width": css[0], "height": css[1]}, url="about:test",
                           locator=locator)  # fmt: skip
    return SimpleNamespace(page=page, dpr=dpr)


def _replies(env: Any, dialect: str, actions: list[Action]) -> list[str]:
    def solver(_env: Any, _task: str) -> Iterator[Action]:
        yield from actions

    oracle = SolverOracle(env, solver, "task", get_dialect(dialect))
    completions = [oracle.generate([[]])[0] for _ in actions]
    assert all(c.image_sizes == () for c in completions)  # the pipeline resizes on its own
    return [c.text for c in completions]


# -- smart_resize: the oracle's own, against the hand values and the Qwen team's reference --
def test_the_oracles_resize_gives_the_hand_computed_sizes() -> None:
    big, showui = GRAMMARS["qwen25vl"][1:3], GRAMMARS["showui"][1:3]
    # 768/28 = 27.43 -> 27*28 = 756; 1366/28 = 48.79 -> 49*28 = 1372; 1,037,232 px fit
    assert smart_resize(768, 1366, *big) == (756, 1372)
    # 2160/28 = 77.14 -> 2156; 3840/28 = 137.14 -> 3836
    assert smart_resize(2160, 3840, *big) == (2156, 3836)
    # over ShowUI's 1,053,696: beta = sqrt(8,294,400 / 1,053,696) = 2.8057;
    # floor(2160 / 2.8057 / 28) = 27 -> 756, floor(3840 / 2.8057 / 28) = 48 -> 1344
    assert smart_resize(2160, 3840, *showui) == (756, 1344)
    # MiniWoB's 160x210 under UI-TARS 1.5's min of 78,400: beta = sqrt(78,400 / 33,600) =
    # 1.5275; ceil(210 * 1.5275 / 28) = 12 -> 336, ceil(160 * 1.5275 / 28) = 9 -> 252
    assert smart_resize(210, 160, *GRAMMARS["uitars15"][1:3]) == (336, 252)


@pytest.mark.parametrize("name", sorted(GRAMMARS))
def test_the_oracles_resize_equals_qwen_vl_utils(name: str) -> None:
    from qwen_vl_utils import smart_resize as reference  # the dev extra installs it

    low, high = GRAMMARS[name][1:3]
    for width, height in [(1366, 768), (3840, 2160), (2732, 1536), (160, 210), (320, 420),
                          (1920, 1080), (780, 1688), (3440, 1440), (333, 217), (5120, 2880)]:  # fmt: skip
        expected = reference(height, width, factor=28, min_pixels=low, max_pixels=high)
        assert smart_resize(height, width, low, high) == expected, (width, height)


# -- the DOM oracle: one click at DPR 1 and DPR 2 ------------------------------------------
# A: 1366x768, DPR 1; the element's box x 100..300, y 200..241, centre (200, 220.5):
#   norm1000 200/1366*1000 = 146.41 -> 146, 220.5/768*1000 = 287.11 -> 287
#   resized  200*1372/1366 = 200.88 -> 201, 220.5*756/768 = 217.05 -> 217
#   norm1    200/1366 = 0.146 -> 0.15, 220.5/768 = 0.287 -> 0.29
# B: CSS 1920x1080 at DPR 2 = 3840x2160; the element's CSS box x 1500..1540, y 40..64,
#   in screenshot px x 3000..3080, y 80..128, centre (3040, 104):
#   norm1000 3040/3.84 = 791.67 -> 792, 104/2.16 = 48.15 -> 48
#   resized  3040*3836/3840 = 3036.83 -> 3037, 104*2156/2160 = 103.81 -> 104
#   norm1    3040/3840 = 0.7917 -> 0.79, 104/2160 = 0.0481 -> 0.05
CLICKS = {
    "A": {
        "qwen2vl": "Thought: Press it.\nAction: CLICK <|box_start|>(146,287)<|box_end|>",
        "uitars": "Thought: Press it.\nAction: click(start_box='<|box_start|>(146,287)<|box_end|>')",
        "uitars15": "Thought: Press it.\nAction: click(point='<point>201 217</point>')",
        "qwen25vl": "Press it.\n" + TC.format('{"action": "left_click", "coordinate": [201, 217]}'),
        "showui": "{'action': 'CLICK', 'value': None, 'position': [0.15, 0.29]}",
    },
    "B": {
        "qwen2vl": "Thought: Press it.\nAction: CLICK <|box_start|>(792,48)<|box_end|>",
        "uitars": "Thought: Press it.\nAction: click(start_box='<|box_start|>(792,48)<|box_end|>')",
        "uitars15": "Thought: Press it.\nAction: click(point='<point>3037 104</point>')",
        "qwen25vl": "Press it.\n" + TC.format('{"action": "left_click", "coordinate": [3037, 104]}'),
        "showui": "{'action': 'CLICK', 'value': None, 'position': [0.79, 0.05]}",
    },
}  # fmt: skip
SCREENS = {  # css viewport, dpr, the element's CSS box
    "A": ((1366, 768), 1.0, {"x": 100, "y": 200, "width": 200, "height": 41}),
    "B": ((1920, 1080), 2.0, {"x": 1500, "y": 40, "width": 40, "height": 24}),
}


@pytest.mark.parametrize("screen", sorted(SCREENS))
@pytest.mark.parametrize("name", sorted(DIALECTS))
def test_the_demo_oracle_clicks_in_the_documented_words(name: str, screen: str) -> None:
    css, dpr, box = SCREENS[screen]
    plan = [SimpleNamespace(kind="click", target="#go", thought="Press it.")]
    oracle = OracleBackend(_page(css, dpr, {"#go": box}), plan, get_dialect(name))
    (completion,) = oracle.generate([[]])
    assert completion.text == CLICKS[screen][name]
    assert completion.image_sizes == ()  # the agent loop resizes with its own rules
    size = (round(css[0] * dpr), round(css[1] * dpr))
    (click,) = parse_actions(completion.text, name, screenshot_size=size)
    assert isinstance(click, Click) and click.point.space is Space.SCREENSHOT_PX
    x1, y1 = box["x"] * dpr, box["y"] * dpr
    assert x1 <= click.point.x <= x1 + box["width"] * dpr
    assert y1 <= click.point.y <= y1 + box["height"] * dpr


# -- drags, scrolls and typing: the grammars' other shapes -----------------------------------
# Drag on B's 3840x2160 from (400, 1000) to (1210, 1500), targets +-20 px around each:
#   norm1000 400/3.84 = 104.17 -> 104, 1000/2.16 = 462.96 -> 463; 1210/3.84 = 315.10 -> 315,
#            1500/2.16 = 694.44 -> 694
#   resized  400*0.998958 = 399.58 -> 400, 1000*0.998148 = 998.15 -> 998;
#            1210*0.998958 = 1208.74 -> 1209, 1500*0.998148 = 1497.22 -> 1497
#   norm1    0.1042 -> 0.10, 0.4630 -> 0.46; 0.3151 -> 0.32, 0.6944 -> 0.69
DRAGS = {
    "qwen2vl": ["DRAG <|box_start|>(104,463)<|box_end|> TO <|box_start|>(315,694)<|box_end|>"],
    "uitars": ["drag(start_box='<|box_start|>(104,463)<|box_end|>', "
               "end_box='<|box_start|>(315,694)<|box_end|>')"],
    "uitars15": ["drag(start_point='<point>400 998</point>', end_point='<point>1209 1497</point>')"],
    "qwen25vl": [TC.format('{"action": "mouse_move", "coordinate": [400, 998]}'),  # drags start
                 TC.format('{"action": "left_click_drag", "coordinate": [1209, 1497]}')],  # at the pointer
    "showui": ["{'action': 'SELECT_TEXT', 'value': None, 'position': [[0.10, 0.46], [0.32, 0.69]]}"],
}  # fmt: skip
# Scroll down at A's centre (200, 220.5), 5 notches
SCROLLS = {
    "qwen2vl": ["SCROLL DOWN <|box_start|>(146,287)<|box_end|>"],
    "uitars": ["scroll(start_box='<|box_start|>(146,287)<|box_end|>', direction='down')"],
    "uitars15": ["scroll(point='<point>201 217</point>', direction='down')"],
    "qwen25vl": [TC.format('{"action": "mouse_move", "coordinate": [201, 217]}'),
                 TC.format('{"action": "scroll", "pixels": -5}')],  # negative scrolls down
    "showui": ["{'action': 'HOVER', 'value': None, 'position': [0.15, 0.29]}",
               "{'action': 'SCROLL', 'value': 'down', 'position': None}"],  # SCROLL has no position
}  # fmt: skip
TEXT = 'it\'s "ok"'
TYPES = {
    "qwen2vl": ['TYPE "it\'s \\"ok\\""'],
    "uitars": ["type(content='it\\'s \"ok\"')"],
    "uitars15": ["type(content='it\\'s \"ok\"')"],
    "qwen25vl": [TC.format('{"action": "type", "text": "it\'s \\"ok\\""}')],
    "showui": ["{'action': 'INPUT', 'value': 'it\\'s \"ok\"', 'position': None}"],
}  # fmt: skip


def _layout(name: str, thought: str, lines: list[str]) -> str:
    """Each family's documented reply layout around its action lines."""
    if name == "showui":
        return "\n".join(lines)
    if name == "qwen25vl":
        return "\n".join([thought, *lines])
    return f"Thought: {thought}\nAction: " + "\n".join(lines)


def _inside(point: Point, centre: tuple[float, float], half: float) -> bool:
    return abs(point.x - centre[0]) <= half and abs(point.y - centre[1]) <= half


@pytest.mark.parametrize("name", sorted(DIALECTS))
def test_drags_scrolls_and_typing_in_the_documented_words(name: str) -> None:
    drag = Drag(start=_px(400, 1000), end=_px(1210, 1500))
    (drag_reply,) = _replies(_page((1920, 1080), 2.0), name, [drag])
    assert drag_reply == _layout(name, "Step 1: drag.", DRAGS[name])
    *_, parsed = parse_actions(drag_reply, name, screenshot_size=(3840, 2160))
    assert isinstance(parsed, Drag) and _inside(parsed.end, (1210, 1500), 20)
    if parsed.start is not None:  # Qwen2.5-VL's starts at the mouse_move before it
        assert _inside(parsed.start, (400, 1000), 20)

    scroll, typing = Scroll(point=_px(200, 220.5), direction="down"), Type(text=TEXT)
    scroll_reply, type_reply = _replies(_page((1366, 768), 1.0), name, [scroll, typing])
    assert scroll_reply == _layout(name, "Step 1: scroll.", SCROLLS[name])
    assert type_reply == _layout(name, "Step 2: type.", TYPES[name])
    actions = parse_actions(scroll_reply, name, screenshot_size=(1366, 768))
    where = next(p for a in actions for p in a.points().values())
    assert _inside(where, (200, 220.5), 20) and actions[-1].direction == "down"
    assert parse_actions(type_reply, name, screenshot_size=(1366, 768)) == [Type(text=TEXT)]


# -- the grounding oracle ------------------------------------------------------------------
# A: 1366x768, box (100, 200, 300, 241)
#   qwen2vl corners 100/1.366 = 73.2 -> 73, 200/0.768 = 260.4 -> 260, 300/1.366 = 219.6 -> 220,
#           241/0.768 = 313.8 -> 314; their centre (146.5, 287) maps to (200.1, 220.4): inside
#   qwen25vl corners *1372/1366 and *756/768: 100.4 -> 100, 196.9 -> 197, 301.3 -> 301,
#           237.2 -> 237
# B: 3840x2160, box (3000, 80, 3080, 128)
#   qwen2vl 781.25 -> 781, 37.04 -> 37, 802.08 -> 802, 59.26 -> 59
#   qwen25vl *3836/3840, *2156/2160: 2996.9 -> 2997, 79.85 -> 80, 3076.8 -> 3077, 127.8 -> 128
GROUNDING = {
    "A": {
        "qwen2vl": "<|object_ref_start|>Save<|object_ref_end|>"
                   "<|box_start|>(73,260),(220,314)<|box_end|>",
        "qwen25vl": '```json\n[\n\t{"bbox_2d": [100, 197, 301, 237], "label": "Save"}\n]\n```',
        "uitars": "Action: click(start_box='<|box_start|>(146,287)<|box_end|>')",
        "uitars15": "Action: click(point='<point>201 217</point>')",
        "showui": "[0.15, 0.29]",
    },
    "B": {
        "qwen2vl": "<|object_ref_start|>Save<|object_ref_end|>"
                   "<|box_start|>(781,37),(802,59)<|box_end|>",
        "qwen25vl": '```json\n[\n\t{"bbox_2d": [2997, 80, 3077, 128], "label": "Save"}\n]\n```',
        "uitars": "Action: click(start_box='<|box_start|>(792,48)<|box_end|>')",
        "uitars15": "Action: click(point='<point>3037 104</point>')",
        "showui": "[0.79, 0.05]",
    },
}  # fmt: skip
IMAGES = {"A": ((1366, 768), (100, 200, 300, 241)), "B": ((3840, 2160), (3000, 80, 3080, 128))}


@pytest.mark.parametrize("screen", sorted(IMAGES))
@pytest.mark.parametrize("name", sorted(DIALECTS))
def test_the_grounding_oracle_answers_in_the_documented_words(
    name: str, screen: str, tmp_path: Path
) -> None:
    size, bbox = IMAGES[screen]
    Image.new("RGB", size, "white").save(tmp_path / "shot.png")
    record = GroundingRecord(id="r", image=tmp_path / "shot.png", instruction="Save", bbox=bbox)
    oracle, dialect = GroundingOracle(get_dialect(name)), get_dialect(name)
    oracle.expect([record])
    (completion,) = oracle.generate([dialect.render_grounding("Save", "shot.png")])
    assert completion.text == GROUNDING[screen][name]
    assert completion.image_sizes == ()  # the scorer works out the model's size itself
    prediction = score(record, completion, size, dialect)
    assert prediction.hit and prediction.error is None, prediction


# -- nothing shared with the code under test ---------------------------------------------------
def _boom(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("the oracle used the pipeline's own code")


def test_the_oracles_use_none_of_the_pipelines_formatting_or_geometry(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With the dialects' formatters, the coordinate conversion, the resize and the
    scorer all broken, the oracles still give the golden answers."""
    import pixelpilot.evaluation.grounding as grounding
    import pixelpilot.tools as tools
    import pixelpilot.tools.actions as actions
    import pixelpilot.tools.geometry as geometry
    import pixelpilot.vlm.resize as resize
    from pixelpilot.vlm.dialects.base import Dialect

    for cls in (Dialect, *DIALECTS.values()):
        for method in ("format_action", "format_reply", "format_grounding", "model_size", "coord"):
            if method in vars(cls):
                monkeypatch.setattr(cls, method, _boom)
    for module, function in ((tools, "convert_point"), (tools, "convert_action"),
                             (geometry, "convert_point"), (actions, "convert_action")):  # fmt: skip
        monkeypatch.setattr(module, function, _boom)
    for function in ("smart_resize", "model_image_size"):
        monkeypatch.setattr(resize, function, _boom)
    monkeypatch.setattr(grounding, "score", _boom)
    monkeypatch.setattr(grounding, "convert_point", _boom)

    size, bbox = IMAGES["B"]
    Image.new("RGB", size, "white").save(tmp_path / "shot.png")
    record = GroundingRecord(id="r", image=tmp_path / "shot.png", instruction="Save", bbox=bbox)
    for name in DIALECTS:
        oracle = GroundingOracle(get_dialect(name))
        oracle.expect([record])
        assert oracle.generate([[]])[0].text == GROUNDING["B"][name]
        css, dpr, box = SCREENS["B"]
        plan = [SimpleNamespace(kind="click", target="#go", thought="Press it.")]
        demo = OracleBackend(_page(css, dpr, {"#go": box}), plan, get_dialect(name))
        assert demo.generate([[]])[0].text == CLICKS["B"][name]


def test_a_pipeline_that_resizes_wrongly_falls_below_the_ceiling(tmp_path: Path) -> None:
    """The point of independence: told other pixel limits than the scorer uses, the
    oracle's answers miss (they would have cancelled out had both used one function)."""
    size, bbox = (3840, 2160), (3000, 80, 3080, 128)
    Image.new("RGB", size, "white").save(tmp_path / "shot.png")
    record = GroundingRecord(id="r", image=tmp_path / "shot.png", instruction="Save", bbox=bbox)
    dialect = get_dialect("qwen25vl")
    # the oracle's server resizes to at most 1280 tokens; the scorer assumes the checkpoint's
    oracle = GroundingOracle(dialect, max_pixels=1280 * 28 * 28)
    (mismatched,) = evaluate([record], oracle, dialect)
    (agreed,) = evaluate([record], oracle, dialect, max_pixels=1280 * 28 * 28)
    assert not mismatched.hit and agreed.hit


def test_every_dialect_has_the_oracles_words_and_an_unknown_one_is_refused() -> None:
    from pixelpilot.evaluation.oracle_words import STATEMENTS, Grid

    assert set(GRAMMARS) == set(STATEMENTS) == set(DIALECTS)
    with pytest.raises(ValueError, match="no words for dialect 'cogagent'"):
        Grid.of("cogagent", (1280, 720))
