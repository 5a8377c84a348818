"""MiniWoB episodes per minute with 1, 2 and 4 parallel browsers, oracle backend (so the
figure is the pipeline's own throughput: browser, loop, recording; no model time).
Every run does the same episodes; the ratio column compares with the 1-browser run
made in the same process. Prints; asserts nothing.

    .venv/bin/python bench/eval_miniwob.py [--workers 1 2 4] [--seeds 1-4] [--dialect uitars15]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pixelpilot.agent.demo import serve_directory
from pixelpilot.agent.evaluation.cli import seeds as parse_seeds
from pixelpilot.agent.evaluation.miniwob import MiniWoBConfig, oracle_backends, run_episodes
from pixelpilot.agent.evaluation.miniwob_pages import PRESETS, miniwob_html


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--seeds", default="1-2")
    parser.add_argument("--dialect", default="uitars15")
    parser.add_argument("--dpr", type=float, default=1.0)
    parser.add_argument("--video", action="store_true", help="also encode an MP4 per episode")
    args = parser.parse_args()
    tasks = list(PRESETS["basic"])
    seeds = parse_seeds(args.seeds)
    print(f"{len(tasks)} tasks x {len(seeds)} seeds = {len(tasks) * len(seeds)} episodes, "
          f"dialect {args.dialect}, DPR {args.dpr:g}, video {args.video}")  # fmt: skip
    print(f"{'browsers':>8} {'wall s':>8} {'episodes/min':>13} {'vs 1':>6} {'success':>8}")
    reference = None
    with serve_directory(miniwob_html()) as url, tempfile.TemporaryDirectory() as tmp:
        for workers in args.workers:
            config = MiniWoBConfig(
                tasks=tasks, seeds=seeds, dialect=args.dialect, dpr=args.dpr,
                workers=workers, video=args.video,
            )  # fmt: skip
            started = time.perf_counter()
            results = run_episodes(config, oracle_backends(config), url, Path(tmp) / str(workers),
                                   oracle=True)  # fmt: skip
            wall = time.perf_counter() - started
            rate = 60 * len(results) / wall
            reference = reference or rate
            ok = sum(r.outcome == "success" for r in results)
            print(f"{workers:>8} {wall:>8.1f} {rate:>13.1f} {rate / reference:>6.2f} "
                  f"{ok:>4}/{len(results)}")  # fmt: skip


if __name__ == "__main__":
    main()
