"""MiniWoB episodes per minute with 1, 2 and 4 parallel workers, each with its own browser
or a context of one shared Chromium, oracle backend (so the figure is the pipeline's own
throughput: browser, loop, recording; no model time). Every run does the same episodes;
the ratio column compares with the first run made in the same process. The memory
column is the peak summed PSS of every process under this one (Chromium, Playwright's
driver), sampled every 0.2 s: what the browsers cost. `--runs N` repeats each setting N
times (one row each) and counts pipeline errors (a broken browser or loop, not a wrong
answer). Prints; asserts nothing.

    .venv/bin/python bench/eval_miniwob.py [--workers 1 2 4] [--seeds 1-2] [--modes own shared]
        [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pixelpilot.agent.demo import serve_directory
from pixelpilot.evaluation.cli import seeds as parse_seeds
from pixelpilot.evaluation.miniwob import MiniWoBConfig, oracle_backends, run_episodes
from pixelpilot.evaluation.miniwob_pages import PRESETS, miniwob_html


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _pss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


class PeakMemory:
    """Peak summed PSS of this process's descendants while the block runs."""

    def __enter__(self) -> PeakMemory:
        self.peak, self._stop = 0.0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            self.peak = max(self.peak, _pss_mb(_descendants(os.getpid())))

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--modes", nargs="+", choices=["own", "shared"], default=["own", "shared"])
    parser.add_argument("--seeds", default="1-2")
    parser.add_argument("--dialect", default="uitars15")
    parser.add_argument("--dpr", type=float, default=1.0)
    parser.add_argument("--video", action="store_true", help="also encode an MP4 per episode")
    parser.add_argument("--runs", type=int, default=1, help="runs of each setting")
    args = parser.parse_args()
    tasks = list(PRESETS["basic"])
    seeds = parse_seeds(args.seeds)
    print(f"{len(tasks)} tasks x {len(seeds)} seeds = {len(tasks) * len(seeds)} episodes, "
          f"dialect {args.dialect}, DPR {args.dpr:g}, video {args.video}, "
          f"{os.cpu_count()} CPUs")  # fmt: skip
    print(f"{'workers':>7} {'browser':>16} {'wall s':>7} {'episodes/min':>13} {'vs first':>8} "
          f"{'peak MB':>8} {'success':>8} {'pipeline errors':>15}")  # fmt: skip
    reference = None
    rates: dict[tuple[int, str], list[float]] = {}
    with serve_directory(miniwob_html()) as url, tempfile.TemporaryDirectory() as tmp:
        for workers, mode, run in (
            (w, m, r) for w in args.workers for m in args.modes for r in range(args.runs)
        ):
            config = MiniWoBConfig(
                tasks=tasks, seeds=seeds, dialect=args.dialect, dpr=args.dpr,
                workers=workers, video=args.video, shared_browser=mode == "shared",
            )  # fmt: skip
            rate = one_run(config, url, Path(tmp) / f"{workers}-{mode}-{run}", reference)
            reference = reference or rate
            rates.setdefault((workers, mode), []).append(rate)
    for (workers, mode), values in rates.items():
        if len(values) > 1:
            print(f"{workers} worker(s), {mode}: median {statistics.median(values):.1f} "
                  f"episodes/min over {len(values)} runs")  # fmt: skip


def one_run(config: MiniWoBConfig, url: str, out: Path, reference: float | None) -> float:
    """Run the episodes once, print the row, return episodes per minute."""
    started = time.perf_counter()
    with PeakMemory() as memory:
        results = run_episodes(config, oracle_backends(config), url, out, oracle=True)
    wall = time.perf_counter() - started
    rate = 60 * len(results) / wall
    ok = sum(r.outcome == "success" for r in results)
    broken = [r for r in results if r.outcome == "pipeline_error"]
    label = "one per worker" if not config.shared_browser else "shared, contexts"
    print(f"{config.workers:>7} {label:>16} {wall:>7.1f} {rate:>13.1f} "
          f"{rate / (reference or rate):>8.2f} {memory.peak:>8.0f} "
          f"{ok:>4}/{len(results)} {len(broken):>15}", flush=True)  # fmt: skip
    for result in broken:
        print(f"    pipeline error: {result.task} seed {result.seed}: {result.error}")
    return rate


if __name__ == "__main__":
    main()
