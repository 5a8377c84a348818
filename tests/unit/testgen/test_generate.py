"""Test generation from a hand-built browser trajectory: the whole file against a golden
written by hand, crops and steps.json against boxes computed here, refusals, names."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixelpilot.agent.trajectory import TrajectoryError
from pixelpilot.testgen.generate import TestgenError, function_name, generate

FRAME = {"width": 200, "height": 100, "scale": 2.0, "origin": [0.0, 0.0]}
ORIGIN = "http://shop.test:8000"
END = {
    "url": "https://pay.example/done",
    "title": "Paid",
    "text": ["Home", "Thank you, your pixel is paid", "Order 42"],
}


def _click(x, y, element, *, button="left", clicks=1, ok=True):
    action = {
        "action": "click",
        "point": {"x": x, "y": y, "space": "screenshot_px"},
        "button": button,
        "clicks": clicks,
    }
    return action, {"ok": ok, "error": None if ok else "no", "element": element}


def _plain(action, ok=True):
    return action, {"ok": ok, "error": None, "element": None}


def _element(tag, role, box, **fields):
    x1, y1, x2, y2 = box
    bbox = {"x1": x1, "y1": y1, "x2": x2, "y2": y2, "space": "screenshot_px"}
    return {"tag": tag, "role": role, "bbox": bbox, **fields}


SEARCH = _element(
    "input",
    "textbox",
    (10, 10, 50, 30),
    name="Search",
    label="Search",
    counts={"role": 1, "label": 1},
)
MENU = _element(
    "button", "button", (60, 10, 90, 30), name="Menu", text="Menu", counts={"role": 2, "text": 1}
)
CODE = _element(
    "input", "textbox", (10, 40, 190, 60), placeholder="Code", counts={"placeholder": 1}
)
RESULTS = _element("ul", "listbox", (0, 70, 60, 100), name="Results", counts={"role": 1})
PIXEL = _element("img", "img", (150, 70, 170, 90), alt="A pixel", counts={"alt": 1})


def _steps():
    """(record fields, [(action, result)], decisions or None) per step."""
    here = {"url": f"{ORIGIN}/index.html", "title": "Home", "text": ["Home", "Buy"]}
    cart = {"url": f"{ORIGIN}/cart.html", "title": "Cart", "text": ["Home", "Buy", "Cart"]}
    thought = {"completion": {"text": "Thought: Open the search box.\nAction: CLICK (1,2)"}}
    return [
        ({**here, **thought}, [_click(30, 20, SEARCH)], None),
        (here, [_plain({"action": "type", "text": "pixel\n", "submit": False})], None),
        (
            here,
            [_click(75, 20, MENU, button="right"), _click(75, 20, MENU, clicks=2, ok=False)],
            None,
        ),
        (
            {**here, "kind": "type", "located": [{"description": "the code field"}]},
            [_click(100, 50, CODE), _plain({"action": "type", "text": "{{code}}", "submit": True})],
            None,
        ),
        (
            here,
            [
                _plain({"action": "key", "keys": ["ctrl", "a"]}),
                _plain({"action": "scroll", "point": None, "direction": "down", "amount": 3}),
                (
                    {
                        "action": "scroll",
                        "point": {"x": 20, "y": 80, "space": "screenshot_px"},
                        "direction": "down",
                        "amount": 1,
                    },
                    {"ok": True, "error": None, "element": RESULTS},
                ),
                (
                    {
                        "action": "scroll",
                        "point": {"x": 20, "y": 80, "space": "screenshot_px"},
                        "direction": "up",
                        "amount": 1,
                    },
                    {
                        "ok": True,
                        "error": None,
                        "element": _element("div", None, (0, 0, 9, 9), counts={}),
                    },
                ),
                _plain({"action": "wait", "seconds": 0.5}),
            ],
            None,
        ),
        (
            here,
            [
                _plain({"action": "navigate", "url": f"{ORIGIN}/cart.html?x=1"}),
                _plain({"action": "navigate", "url": "https://pay.example/checkout"}),
            ],
            None,
        ),
        (
            {
                **cart,
                "kind": "drag",
                "located": [{"description": "the pixel"}, {"description": "the cart"}],
            },
            [_click(160, 80, PIXEL)],
            None,
        ),  # fmt: skip (rewritten as a drag below)
        (
            {**END},
            [_plain({"action": "navigate", "url": "https://evil.example"})],
            [{"verdict": "deny", "reason": "not allowed"}],
        ),
        (
            {**END},
            [({"action": "finish", "status": "success", "answer": "The pixel is paid"}, None)],
            [{"verdict": "allow", "reason": None}],
        ),
    ]


def make_run(
    folder: Path, *, status="success", environment="BrowserEnvironment", end=True, steps=None
) -> Path:
    """A run directory in the trajectory format, screenshots of coloured blocks."""
    folder.mkdir(parents=True)
    lines = [
        {
            "type": "header",
            "schema": 1,
            "task": "Buy the cheapest pixel with {{code}}",
            "environment": environment,
            "secrets": ["code"],
        }
    ]
    for index, (fields, pairs, decisions) in enumerate(steps or _steps()):
        image = np.zeros((100, 200, 3), dtype=np.uint8)
        image[:, :, 0] = index * 20
        image[10:30, 10:50] = (0, 200, 0)
        image[70:90, 150:170] = (0, 0, 250)
        Image.fromarray(image).save(folder / f"step-{index:03d}.png")
        actions, results = [], []
        for action, result in pairs:
            if fields.get("kind") == "drag":  # the pixel to the cart
                action = {
                    "action": "drag",
                    "start": action["point"],
                    "end": {"x": 20, "y": 90, "space": "screenshot_px"},
                }
            actions.append({"model": action, "screenshot": action})
            if result is not None and not decisions:
                results.append(result)
        lines.append(
            {
                "type": "step",
                "kind": "agent",
                "step": index,
                "screenshot": f"step-{index:03d}.png",
                "frame": FRAME,
                "actions": actions,
                "decisions": decisions or [],
                "results": results,
                **fields,
            }
        )
    if end:
        lines.append(
            {"type": "end", "status": status, "answer": "The pixel is paid", "reason": "done"}
        )
    (folder / "trajectory.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return folder


def test_whole_file_against_a_golden(tmp_path) -> None:
    run = make_run(tmp_path / "run")
    made = generate(run, tmp_path / "t" / "test_buy.py")
    source = made.path.read_text()
    body = source.split("def test_buy_the_cheapest_pixel_with", 1)[1]
    expected_lines = [
        '    page.goto(pilot.url("/index.html"))',
        "    pilot.click(",
        '        page.get_by_role("textbox", name="Search"),',
        '        "Open the search box.",',
        "        step=1,",
        '        role="textbox",',
        "    )",
        '    pilot.type("pixel")',
        '    pilot.press("Enter")',
        "    pilot.click(",
        '        page.get_by_text("Menu"),',
        "        \"the 'Menu' button\",",
        "        step=3,",
        '        role="button",',
        '        button="right",',
        "    )",
        "    pilot.fill(",
        '        page.get_by_placeholder("Code"),',
        '        os.environ["CODE"],',
        '        "the code field",',
        "        step=4,",
        '        role="textbox",',
        "    )",
        '    pilot.press("Enter")',
        '    pilot.press("Control+a")',
        '    pilot.scroll("down", 3)',
        "    pilot.hover(",
        '        page.get_by_role("listbox", name="Results"),',
        "        \"the 'Results' listbox\",",
        "        step=5,",
        '        role="listbox",',
        "    )",
        '    pilot.scroll("down", 1)',
        '    pilot.scroll("up", 1)',
        "    pilot.wait(0.5)",
        '    page.goto(pilot.url("/cart.html?x=1"))',
        '    page.goto("https://pay.example/checkout")',
        "    pilot.drag(",
        '        page.get_by_alt_text("A pixel"),',
        '        "the pixel",',
        "        None,",
        '        "the cart",',
        "        step=7,",
        '        role="img",',
        "    )",
        '    expect(page.get_by_text("Thank you, your pixel is paid").first).to_be_visible()',
        '    expect(page).to_have_url("https://pay.example/done")',
        '    expect(page).to_have_title("Paid")',
    ]
    lines = body.splitlines()
    assert lines[0] == "(page: Page, pilot: Healer) -> None:"
    assert lines[1] == '    """Buy the cheapest pixel with {{code}}"""'
    assert lines[2:] == expected_lines
    assert made.test_name == "test_buy_the_cheapest_pixel_with"
    assert (made.statements, made.assertions) == (16, 3)


def test_header_of_the_file(tmp_path) -> None:
    made = generate(make_run(tmp_path / "run"), tmp_path / "test_x.py")
    head = made.path.read_text().split("\n\n\ndef ", 1)[0]
    assert head == (
        '"""Generated by pixelpilot testgen from run: Buy the cheapest pixel with {{code}}"""\n'
        "\nimport os\n\nfrom pixelpilot.testgen import Healer\n"
        "from playwright.sync_api import Page, expect\n\n"
        'RECORDED_ORIGIN = "http://shop.test:8000"'
    )


def test_crops_and_steps_json(tmp_path) -> None:
    made = generate(make_run(tmp_path / "run"), tmp_path / "test_x.py")
    names = sorted(p.name for p in made.crops.iterdir())
    assert names == [
        "step-01.png",
        "step-03.png",
        "step-04.png",
        "step-05.png",
        "step-07-to.png",
        "step-07.png",
        "steps.json",
    ]
    table = json.loads((made.crops / "steps.json").read_text())
    # screenshot px / dpr 2 -> CSS px; the destination: a 48 CSS px square at (20, 90)
    # screenshot px = 96 px wide, clipped to the 200x100 image
    assert table["01"] == {
        "box": [5.0, 5.0, 25.0, 15.0],
        "role": "textbox",
        "description": "Open the search box.",
        "dpr": 2.0,
        "viewport": [100, 50],
    }
    assert table["07"]["box"] == [75.0, 35.0, 85.0, 45.0]
    assert table["07"]["to"] == {
        "box": [0.0, 21.0, 34.0, 50.0],
        "role": None,
        "description": "the cart",
        "dpr": 2.0,
        "viewport": [100, 50],
    }
    # the crop is the recorded screenshot's pixels in the box (step 1's screenshot: index 0)
    crop = np.asarray(Image.open(made.crops / "step-01.png"))
    assert crop.shape == (20, 40, 3) and (crop == (0, 200, 0)).all()
    pixel = np.asarray(Image.open(made.crops / "step-07.png"))
    assert pixel.shape == (20, 20, 3) and (pixel == (0, 0, 250)).all()
    assert Image.open(made.crops / "step-07-to.png").size == (68, 58)


def test_regenerating_replaces_old_crops_and_gives_the_same_bytes(tmp_path) -> None:
    run = make_run(tmp_path / "run")
    made = generate(run, tmp_path / "a" / "test_x.py")
    stale = made.crops / "step-99.png"
    stale.write_bytes(b"old")
    again = generate(run, tmp_path / "a" / "test_x.py")
    assert not stale.exists()
    other = generate(run, tmp_path / "b" / "test_y.py")
    for path in sorted(made.crops.iterdir()):
        assert path.read_bytes() == (other.crops / path.name).read_bytes()
    assert again.path.read_bytes() == other.path.read_bytes()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"status": "failure"}, "ended with status 'failure'"),
        ({"end": False}, "did not finish"),
        ({"environment": "FakeEnvironment"}, "a FakeEnvironment run"),
    ],
)
def test_a_run_that_cannot_become_a_test_is_refused(tmp_path, kwargs, message) -> None:
    with pytest.raises(TestgenError, match=message):
        generate(make_run(tmp_path / "run", **kwargs), tmp_path / "test_x.py")
    assert not (tmp_path / "test_x.py").exists()


def test_a_run_ending_on_an_action_has_nothing_to_assert(tmp_path) -> None:
    steps = _steps()[:2]  # ends on the typing: no screen recorded after it
    with pytest.raises(TestgenError, match="nothing to assert"):
        generate(make_run(tmp_path / "run", steps=steps), tmp_path / "test_x.py")


def test_an_end_state_with_nothing_new_has_nothing_to_assert(tmp_path) -> None:
    steps = _steps()[:2]
    same = {"url": f"{ORIGIN}/index.html", "title": "", "text": ["Home", "Buy"]}
    steps.append(
        (same, [({"action": "finish", "status": "success"}, None)], [{"verdict": "allow"}])
    )
    with pytest.raises(TestgenError, match="no new text, no new address and no title"):
        generate(make_run(tmp_path / "run", steps=steps), tmp_path / "test_x.py")


def test_a_run_from_a_blank_page_starts_with_its_navigation(tmp_path) -> None:
    blank = {"url": "about:blank", "title": "", "text": []}
    steps = [(blank, [_plain({"action": "navigate", "url": f"{ORIGIN}/index.html"})], None),
             *_steps()[7:]]  # fmt: skip
    source = generate(make_run(tmp_path / "run", steps=steps), tmp_path / "test_x.py").path
    body = source.read_text().split('{{code}}"""\n', 2)[2].splitlines()
    assert body == [
        '    page.goto(pilot.url("/index.html"))',
        '    expect(page.get_by_text("Thank you, your pixel is paid").first).to_be_visible()',
        '    expect(page).to_have_url("https://pay.example/done")',
        '    expect(page).to_have_title("Paid")',
    ]
    never = [(blank, [({"action": "finish", "status": "success"}, None)], [{"verdict": "allow"}])]
    with pytest.raises(TestgenError, match="never shows a web page"):
        generate(make_run(tmp_path / "blank", steps=never), tmp_path / "test_y.py")


def test_a_hand_written_file_is_never_overwritten(tmp_path) -> None:
    mine = tmp_path / "test_mine.py"
    mine.write_text("def test_mine():\n    assert 1 + 1 == 2\n")
    with pytest.raises(TestgenError, match="was not written by pixelpilot testgen"):
        generate(make_run(tmp_path / "run"), mine)
    assert mine.read_text() == "def test_mine():\n    assert 1 + 1 == 2\n"


def test_missing_run_and_wrong_output(tmp_path) -> None:
    with pytest.raises(TrajectoryError, match="no such folder"):
        generate(tmp_path / "nowhere")
    with pytest.raises(TestgenError, match=r"must be a \.py file"):
        generate(make_run(tmp_path / "run"), tmp_path / "test_x.txt")


@pytest.mark.parametrize(
    ("task", "name"),
    [
        (
            "Create an account on Pilot Shop for Ada Lovelace",
            "test_create_an_account_on_pilot_shop",
        ),
        ("Log in as {{user}} with {{password}}", "test_log_in_as_with"),
        ("Réserver un café à Zürich!", "test_reserver_un_cafe_a_zurich"),
        ("!!!", "test_recorded_run"),
    ],
)
def test_function_name(task, name) -> None:
    assert function_name(task) == name


def test_generated_unit_file_is_ruff_clean(tmp_path) -> None:
    made = generate(make_run(tmp_path / "run"), tmp_path / "test_x.py")
    for width in ("88", "100"):
        for command in (["check", "--select", "E,F,W,I,B,UP,SIM,RUF"], ["format", "--check"]):
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "ruff",
                    *command,
                    "--isolated",
                    "--line-length",
                    width,
                    str(made.path),
                ],
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, (command, width, done.stdout)


def test_the_text_a_removal_removed_is_asserted_gone() -> None:
    """The demo cart's recorded lines before and after "Remove the Vision glasses": the
    vanished line about the task is the one asserted gone; a vanished line the task does
    not mention is not asserted, and nothing is when the run kept no text."""
    from pixelpilot.testgen.generate import vanished_text

    before = {"text": ["Your cart", "Pixel ruler", "Remove", "Vision glasses", "3 items"]}
    after = {"text": ["Your cart", "Pixel ruler", "Remove", "2 items"]}
    task = "Remove the Vision glasses from the cart. 2 items"
    assert vanished_text(before, after, task) == "Vision glasses"
    assert vanished_text(before, after, "Empty the basket") is None  # 3 items shares nothing
    assert vanished_text(before, {"url": "x"}, task) is None
