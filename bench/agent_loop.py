"""The loop's own cost per step, model time excluded: observe, prompt, parse, policy,
recording (PNG + fsynced JSON line). Prints; asserts nothing.

    .venv/bin/python bench/agent_loop.py [--steps N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PIL import Image

from pixelpilot.agent import Agent, AgentConfig
from pixelpilot.environments import FakeEnvironment
from pixelpilot.vlm import load_backend

CLICK = "Thought: next\nAction: click(start_box='<|box_start|>(500,500)<|box_end|>')"


def screen_like(size: tuple[int, int]) -> Image.Image:
    """Something shaped like a web page: flat panels, buttons and lines of text."""
    from PIL import ImageDraw

    image = Image.new("RGB", size, (246, 247, 249))
    draw = ImageDraw.Draw(image)
    width, height = size
    draw.rectangle((0, 0, width, 56), fill=(36, 71, 107))
    for row in range(12):
        y = 90 + row * (height - 120) // 12
        draw.rectangle((40, y, width // 2, y + 34), fill=(255, 255, 255), outline=(153, 153, 170))
        draw.text(
            (50, y + 10), f"Item {row}: a line of text to read on the screen", fill=(27, 31, 36)
        )
        draw.rectangle((width // 2 + 40, y, width // 2 + 160, y + 34), fill=(43, 108, 176))
    return image


def measure(size: tuple[int, int], steps: int, record: bool) -> tuple[float, float]:
    """Median overhead and median total per step, in ms."""
    with tempfile.TemporaryDirectory() as root:
        config = AgentConfig(
            max_steps=steps, record=Path(root) if record else None, video=False, report=False
        )
        env = FakeEnvironment([screen_like(size)])
        agent = Agent(
            load_backend("scripted", replies=lambda c: CLICK), env, dialect="uitars", config=config
        )
        timings = [step.timings for step in agent.stream("bench")]
    return (statistics.median(t["overhead_s"] for t in timings) * 1000,
            statistics.median(t["total_s"] for t in timings) * 1000)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    print("agent loop overhead per step (fake screen, scripted model; median ms)")
    print(f"  {'screen':>10} {'no recording':>13} {'recording':>10}")
    for size in ((1280, 720), (1920, 1080), (2560, 1440)):
        bare, _ = measure(size, args.steps, record=False)
        recorded, _ = measure(size, args.steps, record=True)
        print(f"  {size[0]}x{size[1]:<5} {bare:13.1f} {recorded:10.1f}")


if __name__ == "__main__":
    main()
