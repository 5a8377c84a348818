"""MiniWoB++ (PyPI `miniwob`) as a third-party check of the browser controller.

Every task with a DOM solver (`pixelpilot.evaluation.miniwob_solvers`, a perfect
model: positions from the DOM, converted to screenshot pixels) reaches raw reward 1 at
DPR 1 and 2 on several seeds when its actions run straight through `env.execute` (no
model, no loop: the controller alone against the task's own scoring); a wrong action gets
the task's failure reward. A solver that missed here would have the oracle report its own
mistakes as pipeline errors. One browser per DPR serves every episode.
"""

from __future__ import annotations

import pytest

from pixelpilot.evaluation.miniwob_pages import start_episode
from pixelpilot.evaluation.miniwob_solvers import SOLVERS as ORACLES
from pixelpilot.evaluation.miniwob_solvers import centre, css_box, css_boxes
from pixelpilot.tools import Click, Scroll
from tests.integration.miniwob_fixtures import run_oracle

VIEWPORT = (340, 220)  # the 160x210 task area and the reward display beside it
DPRS = [1.0, 2.0]
SEEDS = [1, 2, 3]
# every solver; each passed seeds 1..30 at both DPRs when it was written
CASES = [(task, seed) for task in ORACLES for seed in SEEDS]


@pytest.fixture(scope="module", params=DPRS, ids=[f"dpr{d:g}" for d in DPRS])
def miniwob_env(request):
    """One browser per DPR for the whole module; each episode reloads its task page."""
    from pixelpilot.environments import open_browser

    env = open_browser(viewport=VIEWPORT, device_scale_factor=request.param)
    yield env
    env.close()


@pytest.mark.parametrize(("task", "seed"), CASES, ids=[f"{t}-seed{s}" for t, s in CASES])
def test_oracle_reaches_raw_reward_1(miniwob_env, miniwob_url, task, seed) -> None:
    episode = start_episode(miniwob_env, miniwob_url, task, seed)
    width, height = miniwob_env.observe().image.size
    assert (width, height) == tuple(round(side * miniwob_env.dpr) for side in VIEWPORT)
    run_oracle(episode, ORACLES[task])
    assert episode.done, f"{task} seed {seed} ({episode.utterance!r}) did not end"
    assert episode.raw_reward == 1.0, f"{task} seed {seed}: {episode.utterance!r}"


def test_same_seed_gives_the_same_episode(miniwob_env, miniwob_url) -> None:
    def utterance(seed: int) -> str:
        return start_episode(miniwob_env, miniwob_url, "click-button", seed).utterance

    first, again, other = utterance(7), utterance(7), [utterance(s) for s in (8, 9, 10)]
    assert first == again and any(u != first for u in other)


def test_clicking_the_wrong_button_gets_minus_1(miniwob_env, miniwob_url) -> None:
    for seed in range(1, 50):  # a seed whose page has a button with another label
        episode = start_episode(miniwob_env, miniwob_url, "click-button", seed)
        target = episode.utterance.split('"')[1]
        wrong = [b for b in css_boxes(miniwob_env, "#area button") if b["text"] != target]
        if wrong:
            break
    else:
        pytest.fail("no click-button seed in 1..49 has a wrong button")
    miniwob_env.observe()
    result = miniwob_env.execute(Click(point=centre(miniwob_env, wrong[0])))
    assert result.ok and result.element.tag == "button" and result.element.text == wrong[0]["text"]
    assert episode.done and episode.raw_reward == -1.0


def test_scrolling_the_wrong_way_gets_minus_1(miniwob_env, miniwob_url) -> None:
    episode = start_episode(miniwob_env, miniwob_url, "scroll-text-2", 1)
    wrong = "up" if "bottom" in episode.utterance else "down"
    text_area = centre(miniwob_env, css_box(miniwob_env, "#text-area"))
    miniwob_env.observe()
    assert miniwob_env.execute(Scroll(point=text_area, direction=wrong, amount=20)).ok
    assert miniwob_env.execute(Click(point=centre(miniwob_env, css_box(miniwob_env, "#subbtn")))).ok
    assert episode.done and episode.raw_reward == -1.0
