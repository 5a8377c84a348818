"""`Pilot` scripts in real headless Chromium, grounded by a scripted backend that finds
each target in the DOM and answers in every dialect's own format (its own arithmetic,
see pilot_fixtures.py). What each verb did is checked on the page: the DOM events it
received, the text it holds."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from pixelpilot.agent import (
    ActionRefused,
    ExpectationFailed,
    NotFound,
    Pilot,
    Policy,
    ReadError,
    WaitTimeout,
)
from pixelpilot.agent.replay import replay_run
from pixelpilot.agent.trajectory import read_trajectory
from tests.integration.browser_fixtures import browser, pages_url  # noqa: F401
from tests.integration.pilot_fixtures import DIALECTS, dom_box, dom_grounder

TARGETS = {
    "the Buy now button": "#buy",
    "the Open button": "#twice",
    "the Options button": "#menu",
    "the Hover me box": "#tip",
    "the Email field": "#email",
    "the red card": "#card",
    "the Bin": "#bin",
    "the list of rows": "#list",
    "the tiny pink button": "#tiny",
    "the Confirmed banner": "#banner",
}


class OrderSummary(BaseModel):
    order: str
    items: int
    total: float


def events(env) -> list[dict]:
    return env.page.evaluate("window.events")


def inside(point, box) -> bool:
    return box[0] <= point.x <= box[2] and box[1] <= point.y <= box[3]


def pilot_for(env, grounder, tmp_path: Path, **options) -> Pilot:
    options = {"record": tmp_path / "runs", "cache_dir": tmp_path / "cache", **options}
    return Pilot(env, grounder, dialect=grounder.dialect, **options)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_verb_lands_on_its_element(browser, tmp_path, dialect) -> None:  # noqa: F811
    env = browser("pilot.html", dpr=1.5)
    grounder = dom_grounder(env, dialect, TARGETS)
    with pilot_for(env, grounder, tmp_path) as pilot:
        located = pilot.locate("the Buy now button")
        # ShowUI sees at most 1344 tokens: the 1920x1080 screen is shrunk 1.4x, and a
        # point-only answer is zoomed on (auto); the others see it whole
        assert located.how == ("zoom" if dialect == "showui" else "model") and not located.cached
        assert inside(located.point, dom_box(env, "#buy"))
        pilot.click("the Buy now button")
        pilot.double_click("the Open button")
        pilot.right_click("the Options button")
        pilot.hover("the Hover me box")
        pilot.type("the Email field", "ada@example.com")
        pilot.press("enter")
        pilot.scroll("down", 2, "the list of rows")
        pilot.drag("the red card", "the Bin")
        seen = events(env)
        run_dir = pilot.run_dir
    kinds = [(e["kind"], e["id"]) for e in seen]
    assert ("click", "buy") in kinds
    assert [k for k in kinds if k == ("dblclick", "twice")] == [("dblclick", "twice")]
    assert {"kind": "contextmenu", "id": "menu", "button": 2} in seen
    assert ("mouseenter", "tip") in kinds
    assert env.page.input_value("#email") == "ada@example.com"
    assert {"kind": "keydown", "id": "email", "key": "Enter"} in seen
    assert env.page.evaluate("document.getElementById('list').scrollTop") > 0
    assert {"kind": "drop", "id": "card", "inside": True} in seen
    records = read_trajectory(run_dir)["steps"]
    assert [r["kind"] for r in records] == [
        "locate", "click", "double_click", "right_click", "hover", "type", "press", "scroll",
        "drag",
    ]  # fmt: skip
    locate, click = records[0], records[1]
    assert locate["description"] == "the Buy now button" and locate["completion"]["text"]
    assert locate["located"][0]["how"] == located.how and locate["actions"] == []
    # the click found the same screen in the cache: no model call, the action recorded
    assert click["located"][0]["how"] == "cache" and click["completion"] is None
    assert click["actions"][0]["screenshot"]["point"]["space"] == "screenshot_px"
    assert click["actions"][0]["model"]["point"]["space"] == get_space(dialect)
    assert click["results"][0]["ok"] and click["results"][0]["element"]["tag"] == "button"
    assert (run_dir / click["screenshot"]).exists() and (run_dir / "report.html").exists()


def get_space(dialect: str) -> str:
    from pixelpilot.vlm import get_dialect

    return get_dialect(dialect).space.value


def test_read_returns_a_validated_model_after_retrying_invalid_json(browser, tmp_path) -> None:  # noqa: F811
    env = browser("pilot.html")
    replies = {
        "the order summary": ['{"order": "ORD-7", "items": 2', '{"order": "ORD-7", "items": 2, '
                              '"total": 19.99}'],
        "the total": ["Sure: ```json\n19.99\n```"],
    }  # fmt: skip
    grounder = dom_grounder(env, "uitars15", TARGETS, replies=replies)
    with pilot_for(env, grounder, tmp_path) as pilot:
        summary = pilot.read("the order summary", OrderSummary)
        assert summary == OrderSummary(order="ORD-7", items=2, total=19.99)
        assert grounder.calls == 2  # the invalid reply was answered once with the error
        assert pilot.read("the total", float) == 19.99
        run_dir = pilot.run_dir
    first = read_trajectory(run_dir)["steps"][0]
    assert first["kind"] == "read" and first["answer"] == summary.model_dump()
    assert [c["purpose"] for c in first["calls"]] == ["read", "retry"]
    schema = first["request"][0]["content"][-1]
    assert '"total"' in schema and '"items"' in schema  # the JSON schema went in the prompt


def test_read_raises_read_error_with_the_reply_after_one_retry(browser, tmp_path) -> None:  # noqa: F811
    env = browser("pilot.html")
    grounder = dom_grounder(env, "qwen2vl", TARGETS, replies={"items": ["two items, I think"]})
    with pilot_for(env, grounder, tmp_path) as pilot, pytest.raises(ReadError) as caught:
        pilot.read("how many items", int)
    assert grounder.calls == 2
    assert caught.value.reply == "two items, I think"
    assert caught.value.screenshot is not None and caught.value.screenshot.exists()


def test_expect_passes_on_yes_and_fails_cleanly_on_no(browser, tmp_path) -> None:  # noqa: F811
    env = browser("pilot.html")
    replies = {
        "shows a total": ['{"answer": "yes", "reason": "19.99 EUR is shown"}'],
        "cart is empty": ['{"answer": "no", "reason": "The order has 2 items."}'],
    }
    grounder = dom_grounder(env, "qwen25vl", TARGETS, replies=replies)
    with pilot_for(env, grounder, tmp_path) as pilot:
        assert pilot.expect("the page shows a total").holds
        with pytest.raises(ExpectationFailed) as caught:
            pilot.expect("the cart is empty")
    assert caught.value.reason == "The order has 2 items."
    assert caught.value.screenshot.exists() and str(caught.value.screenshot) in str(caught.value)


def test_wait_for_polls_until_yes_and_times_out_cleanly(browser, tmp_path) -> None:  # noqa: F811
    env = browser("pilot.html")

    def banner_shown() -> str:
        shown = env.page.evaluate("getComputedStyle(document.getElementById('banner')).display")
        return '{"answer": "yes"}' if shown != "none" else '{"answer": "no", "reason": "hidden"}'

    grounder = dom_grounder(env, "showui", TARGETS, replies={"banner is visible": banner_shown})
    env.page.evaluate("setTimeout(() => banner.style.display = 'block', 1200)")
    with pilot_for(env, grounder, tmp_path) as pilot:
        verdict = pilot.wait_for("the Confirmed banner is visible", timeout_s=20, interval_s=0.3)
        assert verdict.holds and verdict.polls >= 2
        grounder.replies = {"sold out": ['{"answer": "no", "reason": "nothing says so"}']}
        with pytest.raises(WaitTimeout) as caught:
            pilot.wait_for("the page says sold out", timeout_s=1.0, interval_s=0.2)
    assert caught.value.reason == "nothing says so" and caught.value.screenshot.exists()


@pytest.mark.parametrize("dialect", DIALECTS)
def test_not_found_when_off_screen_absent_or_unreadable(browser, tmp_path, dialect) -> None:  # noqa: F811
    env = browser("pilot.html")
    grounder = dom_grounder(env, dialect, TARGETS)
    grounder.overrides["the Buy now button"] = "{offscreen}"
    with pilot_for(env, grounder, tmp_path, cache="off") as pilot:
        with pytest.raises(NotFound) as off:
            pilot.click("the Buy now button")
        assert grounder.calls == 1 and events(env) == []  # nothing clicked, no retry
        assert off.value.description == "the Buy now button"
        with pytest.raises(NotFound):  # the selector is hidden: the grounder says absent
            pilot.click("the Confirmed banner")
        grounder.overrides["the Open button"] = "Hmm, let me think about it."
        calls = grounder.calls
        with pytest.raises(NotFound) as unreadable:
            pilot.click("the Open button")
        assert grounder.calls == calls + 2 and "after one retry" in str(unreadable.value)
        assert unreadable.value.reply == "Hmm, let me think about it."
        assert unreadable.value.screenshot.exists()
        run_dir = pilot.run_dir
    records = read_trajectory(run_dir)["steps"]
    assert [r["error"]["type"] for r in records] == ["NotFound"] * 3
    assert events(env) == []


def test_secrets_and_policy_as_in_the_agent(browser, pages_url, tmp_path) -> None:  # noqa: F811
    env = browser("pilot.html")
    grounder = dom_grounder(env, "uitars15", TARGETS)
    secret = "ada.secret@example.com"
    host = pages_url.removeprefix("http://")
    policy = Policy(allow_domains=(host,), sensitive=frozenset({"submit"}))
    with pilot_for(env, grounder, tmp_path, policy=policy, secrets={"mail": secret}) as pilot:
        pilot.type("the Email field", "{{mail}}")
        assert env.page.input_value("#email") == secret
        with pytest.raises(ActionRefused):
            pilot.goto("http://example.com/")
        with pytest.raises(ActionRefused, match="never put into addresses"):
            pilot.goto(f"{pages_url}/pilot.html?q={{{{mail}}}}")  # a secret never goes in a URL
        with pytest.raises(ActionRefused):  # Enter after typing needs an approval
            pilot.type(None, "x", submit=True)
        run_dir = pilot.run_dir
    text = (run_dir / "trajectory.jsonl").read_text()
    assert secret not in text and "{{mail}}" in text
    assert grounder.texts and all(secret not in text for text in grounder.texts)
    assert env.page.url.startswith(pages_url)


def test_a_script_replays_without_the_model(browser, tmp_path) -> None:  # noqa: F811
    env = browser("pilot.html")
    grounder = dom_grounder(env, "qwen2vl", TARGETS)
    with pilot_for(env, grounder, tmp_path) as pilot:
        pilot.click("the Buy now button")
        pilot.type("the Email field", "ada@example.com")
        run_dir = pilot.run_dir
    env.close()  # one sync Playwright per thread: the replay opens its own browser
    report = replay_run(run_dir)
    assert report.matches, report.lines
    assert report.failed_actions == 0, report.lines


def test_zoom_at_dpr_2_maps_the_crop_answer_back_inside_a_tiny_target(browser, tmp_path) -> None:  # noqa: F811
    env = browser("pilot.html", dpr=2)  # 2560x1440 screenshot; the model sees ~1M pixels
    grounder = dom_grounder(env, "uitars15", TARGETS, max_pixels=1003520)
    with pilot_for(env, grounder, tmp_path, max_pixels=1003520) as pilot:
        located = pilot.click("the tiny pink button")
    assert located.how == "zoom" and [c.purpose for c in located.calls] == ["ground", "zoom"]
    ((x, y, w, h),) = grounder.crops
    assert w < 2560 and h < 1440
    box = dom_box(env, "#tiny")
    assert x <= box[0] and box[2] <= x + w and y <= box[1] and box[3] <= y + h
    assert inside(located.point, box)
    assert ("click", "tiny") in [(e["kind"], e["id"]) for e in events(env)]


@pytest.mark.parametrize("dialect", ["qwen2vl", "uitars15"])
def test_zoom_on_a_3840x2160_page(browser, tmp_path, dialect) -> None:  # noqa: F811
    env = browser("pilot.html", viewport=(3840, 2160))
    grounder = dom_grounder(env, dialect, TARGETS, max_pixels=1003520)
    with pilot_for(env, grounder, tmp_path, max_pixels=1003520, record=None) as pilot:
        located = pilot.click("the tiny pink button")
    box = dom_box(env, "#tiny")
    assert located.how == "zoom" and inside(located.point, box) and grounder.calls == 2
    assert ("click", "tiny") in [(e["kind"], e["id"]) for e in events(env)]


def test_async_pilot_runs_the_verbs_on_the_environments_thread(pages_url, tmp_path) -> None:  # noqa: F811
    import asyncio

    from pixelpilot.agent import AsyncPilot
    from pixelpilot.environments import open_browser_async

    async def script() -> tuple:
        environment = await open_browser_async(f"{pages_url}/pilot.html")
        grounder = dom_grounder(environment.env, "uitars", TARGETS)
        async with await AsyncPilot.open(environment, grounder, dialect="uitars",
                                         record=None, cache_dir=tmp_path) as pilot:  # fmt: skip
            await pilot.click("the Buy now button")
            await pilot.type("the Email field", "async@example.com")
            return (await environment.run(events),
                    await environment.run(lambda env: env.page.input_value("#email")))  # fmt: skip

    seen, value = asyncio.run(script())
    assert ("click", "buy") in [(e["kind"], e["id"]) for e in seen]
    assert value == "async@example.com"
