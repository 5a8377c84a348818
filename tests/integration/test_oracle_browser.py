"""The demo oracle in real Chromium at DPR 2: the words it writes for an element whose CSS
box the page fixes (drag.html's #box: left 50, top 150, 60x60), worked out by hand, and
the real pipeline's click landing on that element as the page sees it.

1366x768 CSS at DPR 2 is a 2732x1536 screenshot; the box's centre (80, 180) CSS is
(160, 360) there.
- norm1000: 160/2732*1000 = 58.57 -> 59, 360/1536*1000 = 234.38 -> 234
- resized:  smart_resize(1536, 2732): 54.86 -> 55*28 = 1540, 97.57 -> 98*28 = 2744
            (4,225,760 px, within limits); 160*2744/2732 = 160.70 -> 161,
            360*1540/1536 = 360.94 -> 361
- norm1:    160/2732 = 0.0586 -> 0.06, 360/1536 = 0.2344 -> 0.23
"""

from __future__ import annotations

import pytest

from pixelpilot.agent.demo import PlanStep
from pixelpilot.evaluation.oracle import OracleBackend
from pixelpilot.vlm import DIALECTS, get_dialect, parse_actions
from tests.integration.browser_fixtures import browser, pages_url  # noqa: F401

WORDS = {
    "qwen2vl": "Thought: Grab it.\nAction: CLICK <|box_start|>(59,234)<|box_end|>",
    "uitars": "Thought: Grab it.\nAction: click(start_box='<|box_start|>(59,234)<|box_end|>')",
    "uitars15": "Thought: Grab it.\nAction: click(point='<point>161 361</point>')",
    "qwen25vl": 'Grab it.\n<tool_call>\n{"name": "computer_use", "arguments": '
                '{"action": "left_click", "coordinate": [161, 361]}}\n</tool_call>',
    "showui": "{'action': 'CLICK', 'value': None, 'position': [0.06, 0.23]}",
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(DIALECTS))
def test_the_oracle_words_for_a_real_element_and_where_the_click_lands(browser, name) -> None:  # noqa: F811
    env = browser("drag.html", viewport=(1366, 768), dpr=2.0)
    observation = env.observe()
    assert observation.image.size == (2732, 1536)
    oracle = OracleBackend(env, [PlanStep("click", "#box", "Grab it.")], get_dialect(name))
    (completion,) = oracle.generate([get_dialect(name).render("Grab the box", observation.image)])
    assert completion.text == WORDS[name]
    env.page.evaluate(
        "() => { window.downs = []; document.addEventListener('mousedown', "
        "e => downs.push([e.clientX, e.clientY, e.target.id])); }"
    )
    (click,) = parse_actions(completion.text, name, screenshot_size=observation.image.size)
    assert env.execute(click).ok
    ((x, y, target),) = env.page.evaluate("downs")
    assert target == "box" and 50 <= x <= 110 and 150 <= y <= 210
