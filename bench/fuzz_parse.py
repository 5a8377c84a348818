"""Fuzz the parser: at least 10^6 generated and mutated replies across all five dialects
(issue 14 item 10). Prints the count, the time and every exception other than
ActionParseError (or invalid actions) it found; asserts nothing, exits 1 if it found any.

    .venv/bin/python bench/fuzz_parse.py                    # 10^6 replies, 2 processes
    .venv/bin/python bench/fuzz_parse.py --count 50000 --workers 1

Replies come from tests/unit/vlm/fuzzing.py: mutants of the golden corpus (character
flips, truncation, duplication, splicing, numeric blow-ups, retyped values, hostile
Unicode) and hypothesis strategies that write each grammar with arbitrary values. Each
reply is one `parse_actions` call, so the count is the number of parses.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.unit.vlm.fuzzing import SIZES, Outcome, any_reply, check, mutated


def mutation_chunk(seed: int, count: int) -> Outcome:
    import random

    rng = random.Random(seed)
    outcome = Outcome()
    for dialect, reply in mutated(seed, count):
        check(dialect, reply, rng.choice(SIZES), outcome)
    return outcome


def hypothesis_chunk(seed: int, count: int) -> Outcome:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hseed

    outcome = Outcome()

    @hseed(seed)
    @settings(max_examples=count, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(case=any_reply)
    def run(case) -> None:
        dialect, reply, size = case
        check(dialect, reply, size, outcome)

    run()
    return outcome


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000, help="replies in all")
    parser.add_argument("--hypothesis", type=float, default=0.02,
                        help="share of the replies that hypothesis generates")  # fmt: skip
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    generated = int(args.count * args.hypothesis)
    mutants = args.count - generated
    chunk = 20_000
    jobs = [(mutation_chunk, args.seed + i, min(chunk, mutants - start))
            for i, start in enumerate(range(0, mutants, chunk))]  # fmt: skip
    jobs += [(hypothesis_chunk, args.seed + 10_000 + i, min(chunk // 4, generated - start))
             for i, start in enumerate(range(0, generated, chunk // 4))]  # fmt: skip
    total = Outcome()
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        futures = [pool.submit(fn, seed, n) for fn, seed, n in jobs]
        for done in futures:
            part = done.result()
            total.parsed += part.parsed
            total.refused += part.refused
            total.crashes.extend(part.crashes)
    elapsed = time.perf_counter() - started
    count = total.parsed + total.refused + len(total.crashes)
    print(f"replies parsed:      {count:,} ({mutants:,} mutants, {generated:,} from hypothesis)")
    print(f"  valid actions:     {total.parsed:,}")
    print(f"  ActionParseError:  {total.refused:,}")
    print(f"  anything else:     {len(total.crashes):,}")
    per = elapsed / max(count, 1) * 1e6 * args.workers
    print(f"time: {elapsed:.1f} s with {args.workers} processes ({per:.0f} us per reply each)")
    for dialect, problem, reply in total.crashes[:20]:
        print(f"  {dialect}: {problem}\n    reply: {reply[:300]!r}")
    return 1 if total.crashes else 0


if __name__ == "__main__":
    sys.exit(main())
