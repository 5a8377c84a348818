"""The locate cache on a 10-step script on the demo shop, in real headless Chromium.
Prints; asserts nothing.

    .venv/bin/python bench/pilot_cache.py [--dialect qwen2vl] [--latency 0] [--repeat 20]

Three runs of one script (tests/integration/pilot_fixtures.py: `shop_script`) sharing a
cache folder: the first (empty cache), the second (unchanged pages), the third with the
Create account button moved 220 CSS px right (exactly that step should miss). The
grounder is the tests' scripted DOM grounder, not a model: model calls are counted, and
its answers take `--latency` seconds each (0 by default, so wall times are the
pipeline's own: screenshots, cache checks, actions, records). Then the overhead of
`Pilot.click` on a cache hit against `env.execute(Click)` alone, in the same browser.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pixelpilot.agent import Pilot
from pixelpilot.agent.demo import serve_demo
from pixelpilot.environments import open_browser
from pixelpilot.tools import Click
from tests.integration.pilot_fixtures import SHOP_TARGETS, dom_grounder, shop_script
from tests.integration.test_pilot_cache import MOVE_SUBMIT


class Slow:
    """The grounder, with a fixed delay per call standing in for a model's latency."""

    def __init__(self, grounder, latency: float) -> None:
        self.inner, self.latency, self.model = grounder, latency, grounder.model

    def generate(self, conversations, params=None):
        time.sleep(self.latency * len(conversations))
        return self.inner.generate(conversations, params)


def one_run(shop: str, cache: Path, records: Path, dialect: str, latency: float, move: bool):
    with open_browser(f"{shop}/index.html") as env:
        if move:
            env.context.add_init_script(MOVE_SUBMIT)
            env.page.reload()
        grounder = dom_grounder(env, dialect, SHOP_TARGETS)
        with Pilot(env, Slow(grounder, latency), dialect=dialect, record=records,
                   cache_dir=cache, report=False, secrets={"password": "pw"}) as pilot:  # fmt: skip
            start = time.perf_counter()
            shop_script(pilot)
            wall = time.perf_counter() - start
            hows = _hows(pilot)
    return grounder.calls, wall, hows


def _hows(pilot: Pilot) -> list[str]:
    from pixelpilot.agent.trajectory import read_trajectory

    steps = read_trajectory(pilot.run_dir)["steps"]
    return [s["located"][0]["how"] for s in steps]


def overhead(shop: str, cache: Path, dialect: str, repeat: int) -> tuple[list, list, list]:
    """Seconds per Pilot.click on a cache hit (recording on and off) and per
    env.execute(Click) alone at the same point."""
    with open_browser(f"{shop}/index.html") as env:
        grounder = dom_grounder(env, dialect, {"the page heading": "h1"})
        with tempfile.TemporaryDirectory() as runs:
            recorded = Pilot(env, grounder, dialect=dialect, record=Path(runs), cache_dir=cache,
                             report=False)  # fmt: skip
            bare = Pilot(env, grounder, dialect=dialect, record=None, cache_dir=cache)
            point = recorded.click("the page heading").point  # the one model call
            timings: dict[str, list[float]] = {"recorded": [], "bare": [], "execute": []}
            for _ in range(repeat):
                calls = {
                    "recorded": lambda: recorded.click("the page heading"),
                    "bare": lambda: bare.click("the page heading"),
                    "execute": lambda: env.execute(Click(point=point)),
                }
                for name, call in calls.items():
                    start = time.perf_counter()
                    call()
                    timings[name].append(time.perf_counter() - start)
            assert grounder.calls == 1, "every timed Pilot.click should be a cache hit"
            recorded.close()
            bare.close()
    return timings["recorded"], timings["bare"], timings["execute"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dialect", default="qwen2vl")
    parser.add_argument("--latency", type=float, default=0.0, help="simulated s per model call")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    import qwen_vl_utils  # noqa: F401  (the grounder's reference resize: import it before timing)

    with serve_demo() as shop, tempfile.TemporaryDirectory() as folder:
        cache, records = Path(folder) / "cache", Path(folder) / "runs"
        print(f"demo shop script, 10 located steps, dialect {args.dialect}, scripted DOM "
              f"grounder (not a model), simulated latency {args.latency:g} s per call")  # fmt: skip
        print(f"{'run':<28}{'model calls':>12}{'wall s':>10}  steps that asked the model")
        for label, move in (("1 (empty cache)", False), ("2 (unchanged)", False),
                            ("3 (submit button moved)", True)):  # fmt: skip
            calls, wall, hows = one_run(shop, cache, records, args.dialect, args.latency, move)
            missed = [i + 1 for i, how in enumerate(hows) if how != "cache"]
            print(f"{label:<28}{calls:>12}{wall:>10.2f}  {missed or 'none'}")
        recorded, bare, execute = overhead(shop, Path(folder) / "cache2", args.dialect,
                                           args.repeat)  # fmt: skip
    med = statistics.median
    print(f"\nPilot.click on a cache hit vs env.execute(Click), median of {args.repeat}:")
    print(f"  Pilot.click, recorded        {med(recorded) * 1000:8.1f} ms")
    print(f"  Pilot.click, record=None     {med(bare) * 1000:8.1f} ms")
    print(f"  env.execute(Click) alone     {med(execute) * 1000:8.1f} ms")
    extra = (med(recorded) - med(execute)) * 1000, (med(bare) - med(execute)) * 1000
    print(f"  overhead (recorded / bare)   {extra[0]:8.1f} / {extra[1]:.1f} ms "
          "(a screenshot, the crop check, the record)")  # fmt: skip


if __name__ == "__main__":
    main()
