"""Figures for the model-independent core: parsing speed per dialect, 1 MB replies of
hostile shapes per dialect (issue 15 item 4: linear time), and smart_resize against the
references, side by side in one process. Prints; asserts nothing.

    .venv/bin/python bench/bench_parse.py            # everything
    .venv/bin/python bench/bench_parse.py --large    # only the 1 MB shapes

Times for the 1 MB shapes are CPU seconds of this process (time.process_time), so other
work on the machine does not inflate them.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import contextlib

from pixelpilot.vlm import DIALECTS, ActionParseError, get_dialect, parse_actions
from pixelpilot.vlm.resize import smart_resize
from tests.unit.vlm import test_golden_qwen, test_golden_showui, test_golden_uitars
from tests.unit.vlm.shapes import MB, SHAPES


def per_call(fn: Callable[[], object], repeat: int) -> float:
    """Best of 5 runs of `repeat` calls, in microseconds per call."""
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeat):
            fn()
        best = min(best, (time.perf_counter() - start) / repeat)
    return best * 1e6


def replies() -> dict[str, list[tuple[str, tuple[int, int]]]]:
    return {
        "qwen2vl": [(r, (1920, 1080)) for r, _ in test_golden_qwen.QWEN2VL],
        "qwen25vl": [(r, s) for r, s, _ in test_golden_qwen.QWEN25VL],
        "uitars": [(r, (1920, 1080)) for r, _ in test_golden_uitars.UITARS],
        "uitars15": [(r, s) for r, s, _ in test_golden_uitars.UITARS15],
        "showui": [(r, (1920, 1080)) for r, _ in test_golden_showui.SHOWUI],
    }


def bench_parsing() -> None:
    print("parse_actions over the golden replies (us per reply, best of 5)")
    for dialect, cases in replies().items():

        def run(cases=cases, dialect=dialect) -> None:
            for reply, size in cases:
                parse_actions(reply, dialect, screenshot_size=size)

        us = per_call(run, 200) / len(cases)
        print(f"  {dialect:9s} {us:8.1f} us  ({len(cases)} replies)")


def bench_resize() -> None:
    from qwen_vl_utils.vision_process import smart_resize as qvu
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize as hf

    rng = random.Random(0)
    sizes = [(rng.randint(28, 4000), rng.randint(28, 4000)) for _ in range(1000)]
    limits = {"min_pixels": 3136, "max_pixels": 12_845_056}

    def ours() -> None:
        for h, w in sizes:
            smart_resize(h, w, **limits)

    def ref_hf() -> None:
        for h, w in sizes:
            hf(h, w, factor=28, **limits)

    def ref_qvu() -> None:
        for h, w in sizes:
            qvu(h, w, 28, **limits)

    mine = per_call(ours, 20) / len(sizes)
    print("smart_resize (us per call, 1000 random sizes, best of 5)")
    print(f"  pixelpilot     {mine:6.2f} us")
    for name, fn in (("transformers", ref_hf), ("qwen-vl-utils", ref_qvu)):
        theirs = per_call(fn, 20) / len(sizes)
        print(f"  {name:14s} {theirs:6.2f} us   (pixelpilot / reference = {mine / theirs:.2f}x)")


def bench_large() -> None:
    """CPU seconds to parse 1 MB of each shape, per dialect (ActionParseError counts)."""
    names = sorted(DIALECTS)
    print(f"1 MB replies: CPU seconds per parse ({', '.join(names)})")
    worst = 0.0
    for shape, make in SHAPES.items():
        text = make(MB)
        row = []
        for name in names:
            dialect = get_dialect(name)
            start = time.process_time()
            with contextlib.suppress(ActionParseError):
                dialect.parse(text)
            spent = time.process_time() - start
            worst = max(worst, spent)
            row.append(f"{spent:6.3f}")
        print(f"  {shape:22s} " + " ".join(row))
    print(f"  slowest: {worst:.3f} s")


if __name__ == "__main__":
    bench_large()
    if "--large" not in sys.argv:
        bench_parsing()
        bench_resize()
