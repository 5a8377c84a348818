"""Memory of a long run: RSS at steps 1, 20, 50, 100, 200 (issue 14 item 15).

A run must not grow with its length: after 200 steps its RSS is within 10% of what it
was after 20. The loop is real (Agent.stream, History, the trajectory writer saving
every PNG, record on); the screen is a FakeEnvironment that shows a fresh noisy
1280x720 screenshot at every step, decoded from PNG bytes as the browser controller
decodes its captures (so each image drags its compressed bytes along, as in a browser
run), or, with --browser, real headless Chromium on a page that repaints on each click.
The model is the scripted backend answering a click.

    .venv/bin/python bench/memory.py [--steps 200] [--browser] [--dialect uitars]

The scripted backend keeps every request it got (for tests' assertions): that list is
bounded here, since it belongs to the test double and not to the loop being measured.
"""

from __future__ import annotations

import argparse
import collections
import gc
import io
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from PIL import Image

from pixelpilot.agent.loop import Agent, AgentConfig
from pixelpilot.environments import FakeEnvironment
from pixelpilot.vlm import load_backend

CLICK = "Thought: click it\nAction: click(start_box='<|box_start|>(500,500)<|box_end|>')"
CHECKPOINTS = (1, 20, 50, 100, 200, 500, 1000)
PAGE = """data:text/html,<body style=margin:0><canvas id=c width=1280 height=720></canvas>
<script>const c=document.getElementById('c').getContext('2d');
function paint(){const d=c.createImageData(1280,720);for(let i=0;i<d.data.length;i++)
d.data[i]=(i%4==3)?255:Math.random()*256|0;c.putImageData(d,0,0)}
paint();document.onclick=paint</script>"""


def noisy_screen(step: int) -> Image.Image:
    """A new screenshot per step, decoded from PNG like a browser capture (~180 kB of
    PNG for a mostly flat screen with some noise, as a real page gives)."""
    rng = random.Random(step)
    image = Image.new("RGB", (1280, 720), (rng.randrange(256), 200, 220))
    noise = Image.effect_noise((320, 180), 64).convert("RGB")
    image.paste(noise, (rng.randrange(960), rng.randrange(540)))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    decoded = Image.open(io.BytesIO(buffer.getvalue()))
    decoded.load()
    return decoded


def environment(browser: bool) -> Any:
    if not browser:
        return FakeEnvironment(noisy_screen)
    from pixelpilot.environments import open_browser

    return open_browser(PAGE, viewport=(1280, 720))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--browser", action="store_true", help="real headless Chromium")
    parser.add_argument("--dialect", default="uitars")
    args = parser.parse_args()
    process = psutil.Process()
    backend = load_backend("scripted", replies=lambda conversation: CLICK)
    backend.requests = collections.deque(maxlen=1)  # the test double's log, not the loop
    rss: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as root, environment(args.browser) as env:
        config = AgentConfig(max_steps=args.steps, max_failures=args.steps, record=Path(root),
                             video=False, report=False)  # fmt: skip
        agent = Agent(backend, env, dialect=args.dialect, config=config)
        start = time.perf_counter()
        for step in agent.stream("click the middle of the screen"):
            number = step.index + 1
            if number in CHECKPOINTS or number == args.steps:
                del step
                gc.collect()
                rss[number] = process.memory_info().rss / 2**20
                print(f"step {number:>5}: RSS {rss[number]:7.1f} MB", flush=True)
        elapsed = time.perf_counter() - start
    where = "Chromium" if args.browser else "FakeEnvironment (fresh PNG-decoded 1280x720)"
    print(f"{args.steps} steps on {where} in {elapsed:.1f} s")
    if 20 in rss and args.steps in rss:
        growth = rss[args.steps] / rss[20] - 1
        print(f"RSS at step {args.steps} vs step 20: {growth:+.1%} (must be within 10%)")


if __name__ == "__main__":
    main()
