"""Controller latencies: observe() against the raw capture call of the same library in
the same run, execute() per action type without the settle wait, and the settle wait on
a static and on a busy page. Prints; asserts nothing.

    .venv/bin/python bench/controllers.py [--repeat N] [--no-desktop]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pixelpilot.agent.demo import serve_directory
from pixelpilot.environments import open_browser
from pixelpilot.environments._capture import capture
from pixelpilot.tools import Click, Drag, Key, Move, Point, Scroll, Space, Type

PAGES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "pages"


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def bench_observe(base: str, repeat: int) -> None:
    print("browser observe() (screenshot to PIL image + URL and title) vs the raw capture calls")
    print("  (median ms; raw calls return PNG bytes only: decoding them is part of observe)")
    print(f"  {'viewport':>14} {'observe':>8} {'page.screenshot':>16} {'ratio':>6} "
          f"{'CDP fast capture':>17} {'ratio':>6}")  # fmt: skip
    for viewport, dpr in (((1280, 720), 1.0), ((1920, 1080), 1.0), ((1280, 720), 2.0)):
        with open_browser(f"{base}/form.html", viewport=viewport, device_scale_factor=dpr) as env:
            ours = median_ms(env.observe, repeat)
            raw = median_ms(
                lambda env=env: env.page.screenshot(type="png", caret="initial"), repeat
            )
            fast = median_ms(  # the CDP call observe() itself makes
                lambda env=env: capture(env._sessions[env.page], env.page), repeat
            )
            label = f"{viewport[0]}x{viewport[1]}@{dpr:g}"
            row = f"  {label:>14} {ours:8.1f} {raw:16.1f} {ours / raw:6.2f} {fast:17.1f}"
            print(f"{row} {ours / fast:6.2f}")


def bench_execute(base: str, repeat: int) -> None:
    print("browser execute(): action time without the settle wait, and the settle wait (median ms)")
    at = functools.partial(Point, space=Space.SCREENSHOT_PX)
    actions = {
        "click": Click(point=at(x=300, y=60)), "move": Move(point=at(x=200, y=200)),
        "drag": Drag(start=at(x=100, y=300), end=at(x=300, y=320)),
        "type": Type(text="hello wörld"), "key": Key(keys=("ctrl", "a")),
    }  # fmt: skip
    with open_browser(f"{base}/form.html") as env:
        env.observe()
        for name, action in actions.items():
            results = [env.execute(action) for _ in range(repeat)]
            act = statistics.median(r.timings.action_s for r in results) * 1000
            settle = statistics.median(r.timings.settle_s for r in results) * 1000
            print(f"  {name:>7}: action {act:7.1f}   settle {settle:7.1f}")
    with open_browser(f"{base}/scroll.html") as env:  # a page that can scroll: wait for it to land
        env.observe()
        results = [
            env.execute(Scroll(point=at(x=600, y=400), direction="down", amount=1))
            for _ in range(repeat)
        ]
        act = statistics.median(r.timings.action_s for r in results) * 1000
        settle = statistics.median(r.timings.settle_s for r in results) * 1000
        row = f"  {'scroll':>7}: action {act:7.1f}   settle {settle:7.1f}"
        print(f"{row}  (action includes waiting for the page to move)")
    for page in ("form.html", "busy.html"):
        with open_browser(f"{base}/{page}") as env:
            env.observe()
            results = [env.execute(Move(point=at(x=5, y=5))) for _ in range(repeat)]
            settle = statistics.median(r.timings.settle_s for r in results) * 1000
            kind = (
                "static" if page == "form.html" else f"busy (bounded by {env.settle_timeout_s:g} s)"
            )
            print(f"  settle on a {kind} page: {settle:.0f} ms")


def bench_desktop(repeat: int) -> None:
    import mss
    from PIL import Image

    from pixelpilot.environments import open_desktop
    from pixelpilot.environments.xvfb import Xvfb

    print("desktop observe() vs the raw mss grab on Xvfb (median ms); a grab is raw BGRA bytes,")
    print("  so the fair reference for 'screenshot to PIL image' is grab + PIL conversion")
    print(f"  {'screen':>10} {'observe':>8} {'grab':>6} {'grab+PIL':>9} {'ratio to grab+PIL':>18}")
    for width, height in ((1280, 720), (1920, 1080)):
        with Xvfb(width, height) as xvfb, open_desktop(xvfb.display) as env:
            with getattr(mss, "MSS", mss.mss)(display=xvfb.display) as sct:
                monitor = sct.monitors[1]
                ours = median_ms(env.observe, repeat)
                grab = median_ms(lambda sct=sct, m=monitor: sct.grab(m), repeat)

                def to_pil(sct=sct, m=monitor) -> object:
                    shot = sct.grab(m)
                    return Image.frombytes("RGB", shot.size, shot.bgra, "raw", "BGRX")

                pil = median_ms(to_pil, repeat)
            row = f"  {width}x{height:<5} {ours:8.1f} {grab:6.1f} {pil:9.1f}"
            print(f"{row} {ours / pil:18.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--no-desktop", action="store_true")
    args = parser.parse_args()
    with serve_directory(PAGES) as base:
        run_all(base, args)


def run_all(base: str, args: argparse.Namespace) -> None:
    bench_observe(base, args.repeat)
    bench_execute(base, args.repeat)
    if not args.no_desktop:
        bench_desktop(args.repeat)


if __name__ == "__main__":
    main()
