"""MiniWoB++ task pages from the `miniwob` PyPI package, and seeded episodes in them.

No Selenium: the pages are served on 127.0.0.1 and driven through pixelpilot's own
browser controller. Episodes start the way `miniwob`'s own driver starts them:
`Math.seedrandom(seed)`, then `core.startEpisodeReal()`, then wait for `WOB_TASK_READY`.
The episode timer is set so long it never runs out: a model measured in seconds per step
would otherwise lose every task to MiniWoB's 10-second limit. The score is
`WOB_RAW_REWARD_GLOBAL`, the reward without the time penalty (what papers report).
"""

from __future__ import annotations

import fnmatch
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pixelpilot.tools import InfrastructureError

#: click/type/scroll/drag tasks a model taking seconds per step can do: no timing games,
#: no free-hand drawing; each has a DOM solver, so the oracle measures the pipeline on it
PRESETS: dict[str, tuple[str, ...]] = {
    "basic": (
        "click-button", "click-button-sequence", "click-checkboxes",
        "click-collapsible-nodelay", "click-dialog", "click-dialog-2", "click-link",
        "click-option", "click-tab", "click-tab-2-easy", "click-test", "click-test-2",
        "click-widget", "drag-box", "enter-password", "enter-text", "enter-text-2",
        "focus-text", "focus-text-2", "login-user", "navigate-tree", "scroll-text-2",
        "use-autocomplete-nodelay",
    ),
    # one task per kind of action, for a first look in a minute
    "quick": ("click-button", "click-checkboxes", "enter-text", "drag-box", "scroll-text-2"),
}  # fmt: skip


class MiniWoBMissing(InfrastructureError, RuntimeError):
    """The `miniwob` package is not installed."""


def miniwob_html() -> Path:
    """`<site-packages>/miniwob/html`, found without importing miniwob (which pulls in
    gymnasium and selenium)."""
    spec = importlib.util.find_spec("miniwob")
    html = Path(spec.origin).parent / "html" if spec is not None and spec.origin else None
    if html is None or not (html / "miniwob").is_dir():
        raise MiniWoBMissing(
            "the MiniWoB++ task pages come from the miniwob package: pip install miniwob==1.1.0"
        )
    return html


def all_tasks() -> list[str]:
    return sorted(p.stem for p in (miniwob_html() / "miniwob").glob("*.html"))


def select_tasks(patterns: list[str]) -> list[str]:
    """Task names from names, globs ("click-*") and preset names ("preset:basic" or just
    "basic"), in the order given, without repeats. Unknown names are an error."""
    known = all_tasks()
    chosen: list[str] = []
    for pattern in patterns:
        name = pattern.removeprefix("preset:")
        if name in PRESETS:
            matches = list(PRESETS[name])
        elif any(c in pattern for c in "*?["):
            matches = fnmatch.filter(known, pattern)
        else:
            matches = [pattern] if pattern in known else []
        if not matches:
            presets = ", ".join(sorted(PRESETS))
            raise ValueError(f"no MiniWoB task matches {pattern!r} (presets: {presets})")
        chosen.extend(m for m in matches if m not in chosen)
    return chosen


_READY = "() => WOB_TASK_READY === true && WOB_DONE_GLOBAL === false"
# a task that focuses something wider than the viewport (click-dialog's 300 px dialog in a
# 160 px one) leaves the page scrolled sideways: the task area starts at 0, 0
_SHOWN = "() => { window.scrollTo(0, 0); return core.getUtterance(); }"
# window.onload runs core.startEpisode(), which creates the START cover; an episode started
# before it would be undone by it
_COVERED = "() => window.core && core.cover_div !== null"
# [started, ready, the utterance once ready]: one round trip where onload has run (it has
# by the load event, as a rule) and the task readies itself at once
_START = f"""(seed) => {{
  if (!({_COVERED})()) return [false, false, null];
  Math.seedrandom(seed);
  core.EPISODE_MAX_TIME = 1e9;  // ~11.6 days: no time limit for slow models
  core.startEpisodeReal();
  const ready = ({_READY})();
  return [true, ready, ready ? ({_SHOWN})() : null];
}}"""
_STATE = "() => [WOB_DONE_GLOBAL, WOB_RAW_REWARD_GLOBAL, WOB_REWARD_REASON]"


@dataclass
class Episode:
    """One started MiniWoB episode in `env` (a browser environment)."""

    env: Any
    task: str
    seed: int
    utterance: str

    def state(self) -> tuple[bool, float, str | None]:
        done, reward, reason = self.env.page.evaluate(_STATE)
        return bool(done), float(reward), None if reason is None else str(reason)

    @property
    def done(self) -> bool:
        return self.state()[0]

    @property
    def raw_reward(self) -> float:
        return self.state()[1]

    def time_out(self) -> None:
        """End an unfinished episode the way MiniWoB's own timer does (reward -1)."""
        self.env.page.evaluate("() => core.endEpisode(-1, false, 'timed out')")


def start_episode(env: Any, base_url: str, task: str, seed: int) -> Episode:
    """Load the task page (setup, through Playwright) and start a seeded episode. The
    page is loaded afresh for every episode, though MiniWoB's own driver restarts an
    ended one in place: what the page keeps (its episode counter beside the task area,
    jQuery UI's element ids) would make an episode's record depend on which episodes ran
    before it in that browser, and the thread and Ray executors' records differ."""
    page = env.page
    page.goto(f"{base_url}/miniwob/{task}.html", wait_until="load")
    # the seed a number, as miniwob's driver passes it: "2" and "22" collide
    started, ready, utterance = page.evaluate(_START, seed)
    if not started:  # onload has not run yet: its cover first
        page.wait_for_function(_COVERED)
        started, ready, utterance = page.evaluate(_START, seed)
    if not ready:  # a task that readies itself later
        page.wait_for_function(_READY)
        utterance = page.evaluate(_SHOWN)
    return Episode(env=env, task=task, seed=seed, utterance=" ".join(str(utterance).split()))
