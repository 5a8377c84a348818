"""The locate cache across runs of one script on the demo shop, in real Chromium: the
second run makes no model call, a moved target misses (and is clicked where it is now),
the other steps still hit. And the README's example, run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pixelpilot.agent import Pilot
from pixelpilot.agent.demo import SIGNUP_DONE, serve_demo
from pixelpilot.agent.trajectory import read_trajectory
from pixelpilot.environments import open_browser
from tests.integration.pilot_fixtures import (
    SHOP_LOCATED_STEPS,
    SHOP_TARGETS,
    dom_grounder,
    shop_script,
)

PASSWORD = "correct horse battery staple"
MOVE_SUBMIT = """document.addEventListener('DOMContentLoaded', () => {
  const b = document.getElementById('submit'); if (b) b.style.marginLeft = '220px'; });"""


@pytest.fixture(scope="module")
def shop():
    with serve_demo() as base:
        yield base


def run_script(shop: str, tmp_path: Path, *, move: bool = False) -> tuple[int, list, dict]:
    with open_browser(f"{shop}/index.html") as env:
        if move:
            env.context.add_init_script(MOVE_SUBMIT)
            env.page.reload()
        grounder = dom_grounder(env, "qwen2vl", SHOP_TARGETS)
        with Pilot(env, grounder, dialect="qwen2vl", record=tmp_path / "runs",
                   cache_dir=tmp_path / "cache", secrets={"password": PASSWORD}) as pilot:  # fmt: skip
            shop_script(pilot)
            stats = dict(pilot.stats)
            run_dir = pilot.run_dir
        assert env.page.url.endswith("/index.html")
    hows = [r["located"][0]["how"] for r in read_trajectory(run_dir)["steps"]]
    return grounder.calls, hows, stats


def test_the_second_run_costs_no_model_call_and_a_moved_target_misses_alone(shop, tmp_path) -> None:
    calls, hows, _ = run_script(shop, tmp_path)
    assert calls == SHOP_LOCATED_STEPS and hows == ["model"] * SHOP_LOCATED_STEPS
    calls, hows, stats = run_script(shop, tmp_path)
    assert calls == 0 and hows == ["cache"] * SHOP_LOCATED_STEPS
    assert stats == {"model_calls": 0, "cache_hits": 10, "cache_misses": 0}
    calls, hows, _ = run_script(shop, tmp_path, move=True)
    assert calls == 1
    assert hows == ["cache"] * 4 + ["model"] + ["cache"] * 5  # step 5: Create account


def test_the_moved_button_is_clicked_where_it_is_now(shop, tmp_path) -> None:
    run_script(shop, tmp_path)
    with open_browser(f"{shop}/form.html") as env:
        env.context.add_init_script(MOVE_SUBMIT)
        env.page.reload()
        grounder = dom_grounder(env, "qwen2vl", SHOP_TARGETS)
        with Pilot(env, grounder, dialect="qwen2vl", record=None,
                   cache_dir=tmp_path / "cache") as pilot:  # fmt: skip
            located = pilot.click("the Create account button")
        assert located.how == "model" and grounder.calls == 1
        assert env.page.evaluate(SIGNUP_DONE)


def readme_example() -> str:
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = text.split("## Scripts", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


def test_the_readme_example_runs_as_written(shop, tmp_path, monkeypatch) -> None:
    """With the scripted DOM grounder as `model` (a pipeline check, not a model)."""
    import pixelpilot.environments as environments

    opened = {}
    real = environments.open_browser

    def open_and_keep(*args, **kwargs):
        env = opened["env"] = real(*args, **kwargs)
        close = env.close

        def look_then_close() -> None:  # what the page shows when the example is done
            opened["done"] = env.page.evaluate(SIGNUP_DONE)
            opened["password"] = env.page.input_value("#password")
            close()

        env.close = look_then_close
        return env

    monkeypatch.setattr(environments, "open_browser", open_and_keep)
    targets = {**SHOP_TARGETS, "the welcome message": "#done"}
    replies = {
        "welcome message": ['"Welcome aboard, Ada Lovelace!"'],
        "account was created": ['{"answer": "yes", "reason": "the welcome message shows"}'],
    }
    model = dom_grounder(_Lazy(opened), "qwen2vl", targets, replies=replies)
    monkeypatch.setenv("SHOP_PASSWORD", PASSWORD)
    monkeypatch.chdir(tmp_path)
    scope = {"model": model, "shop": shop}
    exec(compile(readme_example(), "README.md", "exec"), scope)
    assert scope["welcome"] == "Welcome aboard, Ada Lovelace!"
    assert model.calls == 7 and (tmp_path / ".pixelpilot" / "cache").is_dir()  # 5 + 2 questions
    assert opened["done"] and opened["password"] == PASSWORD


class _Lazy:
    """The environment the example opens, once it has opened it."""

    def __init__(self, holder: dict) -> None:
        self.holder = holder

    def __getattr__(self, name: str):
        return getattr(self.holder["env"], name)
