"""Test survival under UI change (issue 11, "Measure"): do generated UI tests still pass
when the page changes in ways that keep the feature working, and do they fail when the
feature breaks?

For each flow (bench/_testgen_flows.py: the demo shop, MiniWoB++ at fixed seeds, GOV.UK
Frontend forms) the oracle runs the task through the real agent loop and a recorded
trajectory comes out; `pixelpilot testgen` turns it into a pytest file. Every generated
test then runs against every page change (bench/testgen_pages.py), in four
configurations: coordinates only (the recorded points clicked, a macro's replay),
locators only (heal off), locators + the visual tier, and all tiers with an oracle
grounder standing in for the model (bench/_testgen_grounder.py).

A pass on a regression is a false pass. It is counted and printed, never hidden.

    .venv/bin/python bench/testgen_survival.py            # everything
    .venv/bin/python bench/testgen_survival.py --quick    # 4 flows, 5 changes
    .venv/bin/python bench/testgen_survival.py --flows 'demo-*' --changes theme_changed
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _testgen_flows import Flow, all_flows, build_govuk
from _testgen_progress import Progress
from _testgen_record import default_generator, record_all
from _testgen_run import CONFIGS, UNCHANGED, Outcome, environment, lay_out, run_config
from testgen_pages import BREAKS, KEEPS

ROOT = Path(__file__).resolve().parents[1]
QUICK_FLOWS = ("demo-signup", "mw-click-checkboxes", "mw-enter-text", "govuk-radios")
QUICK_CHANGES = ("rename_ids_classes", "icon_button", "viewport_dpr", "target_removed",
                 "handler_broken")  # fmt: skip


def _pick(patterns: str | None, names: list[str], what: str) -> list[str]:
    if not patterns:
        return names
    chosen: list[str] = []
    for pattern in patterns.split(","):
        found = fnmatch.filter(names, pattern.strip())
        if not found:
            raise SystemExit(f"testgen_survival: no {what} matches {pattern!r} "
                             f"(known: {', '.join(names)})")  # fmt: skip
        chosen += [n for n in found if n not in chosen]
    return [n for n in names if n in chosen]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--flows", help="comma-separated flow ids or globs (default: all)")
    p.add_argument("--changes", help="comma-separated change kinds or globs (default: all)")
    p.add_argument("--configs", help=f"comma-separated of {', '.join(CONFIGS)} (default: all)")
    p.add_argument("--quick", action="store_true", help="4 flows x 5 changes")
    p.add_argument(
        "--reuse",
        action="store_true",
        help="use the tests an earlier run generated in --work (no recording)",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="configurations run at once (each its own pytest and Chromium)",
    )
    p.add_argument("--work", type=Path, help="folder for runs, tests and logs (default: temp)")
    p.add_argument(
        "--generator", default=None, help="the test generator command (default: pixelpilot testgen)"
    )
    p.add_argument("--govuk", type=Path, default=ROOT / ".cache" / "govuk-frontend-6.6.0",
                   help="govuk-frontend package (make govuk)")  # fmt: skip
    return p.parse_args(argv)


def _roots(work: Path, govuk: Path) -> dict[str, Path]:
    from pixelpilot.agent.demo import DEMO_APP
    from pixelpilot.evaluation.grounding_set import find_govuk
    from pixelpilot.evaluation.miniwob_pages import miniwob_html

    package = find_govuk(govuk)
    return {
        "demo": DEMO_APP,
        "miniwob": miniwob_html(),
        "govuk": build_govuk(package, work / "govuk"),
    }


def table(results: dict[str, dict[tuple[str, str], Outcome]], changes: list[str],
          flows: list[str]) -> str:  # fmt: skip
    """Markdown: pass rate per change x configuration, then the false-pass rate."""
    configs = list(results)
    head = "| change | kind | " + " | ".join(CONFIGS[c][0] for c in configs) + " |"
    lines = [head, "|" + "---|" * (len(configs) + 2)]
    for change in changes:
        kind = "control" if change == UNCHANGED else "keep" if change in KEEPS else "REGRESSION"
        cells = []
        for config in configs:
            passed = sum(results[config][(f, change)].passed for f in flows)
            cells.append(f"{passed}/{len(flows)} ({100 * passed / len(flows):.0f}%)")
        lines.append(f"| {change} | {kind} | " + " | ".join(cells) + " |")
    keeps = [c for c in changes if c in KEEPS]
    breaks = [c for c in changes if c in BREAKS]
    for label, group in (("all keep-changes", keeps), ("FALSE-PASS on regressions", breaks)):
        if not group:
            continue
        cells = []
        for config in configs:
            passed = sum(results[config][(f, c)].passed for f in flows for c in group)
            total = len(flows) * len(group)
            cells.append(f"**{passed}/{total} ({100 * passed / total:.1f}%)**")
        lines.append(f"| {label} | | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print("command: " + shlex.join([sys.executable, *sys.argv]), flush=True)
    flows_all = all_flows()
    flow_ids = _pick(args.flows or (",".join(QUICK_FLOWS) if args.quick else None),
                     [f.id for f in flows_all], "flow")  # fmt: skip
    changes = [UNCHANGED, *_pick(args.changes or (",".join(QUICK_CHANGES) if args.quick else None),
                                 [*KEEPS, *BREAKS], "change")]  # fmt: skip
    configs = _pick(args.configs, list(CONFIGS), "configuration")
    flows = [f for f in flows_all if f.id in flow_ids]
    work = args.work or Path(tempfile.mkdtemp(prefix="pixelpilot-survival-"))
    work.mkdir(parents=True, exist_ok=True)
    generator = shlex.split(args.generator) if args.generator else default_generator()
    started = time.monotonic()
    from _testgen_server import serve_flows

    with Progress() as progress, serve_flows(_roots(work, args.govuk), flows) as origin:
        recorded = _record(flows, origin, work, generator, progress, args.reuse)
        tests = {r.flow.id: r.test_file for r in recorded if r.test_file is not None}
        failed = {r.flow.id: r.error for r in recorded if r.error}
        record_s = time.monotonic() - started
        results = _run(configs, tests, flows, changes, origin, work, progress, args.jobs)
    total_s = time.monotonic() - started
    _report(results, changes, list(tests), failed, work, record_s, total_s)
    false_passes = sum(o.passed for r in results.values() for (f, c), o in r.items()
                       if c in BREAKS)  # fmt: skip
    return 1 if failed or false_passes else 0


def _record(flows: list[Flow], origin: str, work: Path, generator: list[str],
            progress: Progress, reuse: bool) -> list:  # fmt: skip
    task = progress.task("record + generate", len(flows))

    def done(fid: str, error: str | None) -> None:
        task.advance(f"{fid}: {error or 'ok'}")

    return record_all(flows, origin, work, generator, done, reuse)


def _run(configs: list[str], tests: dict[str, Path], flows: list[Flow], changes: list[str],
         origin: str, work: Path, progress: Progress, jobs: int = 1) -> dict:  # fmt: skip
    """Every configuration's batch, `jobs` at a time; results in configuration order."""
    from concurrent.futures import ThreadPoolExecutor

    by_id = {f.id: f for f in flows}
    env = environment(flows, tests)

    def one(config: str) -> dict:
        stems = lay_out(work / "batch", config, tests, by_id, changes, origin)
        task = progress.task(config, len(stems))

        def line(text: str) -> None:
            if " PASSED" in text or " FAILED" in text or " ERROR" in text:
                task.advance(text.strip().split(" ")[0].rsplit("/", 1)[-1])

        return run_config(work / "batch", config, stems, env, line)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        done = list(pool.map(one, configs))
    return dict(zip(configs, done, strict=True))


def _report(results: dict, changes: list[str], flows: list[str], failed: dict[str, str],
            work: Path, record_s: float, total_s: float) -> None:  # fmt: skip
    for fid, error in failed.items():
        print(f"flow {fid} left out: {error}")
    if not flows:
        print("no flow could be recorded and generated")
        return
    text = table(results, changes, flows)
    print()
    print(f"## Test survival: {len(flows)} flows x {len(changes)} page states x "
          f"{len(results)} configurations\n")  # fmt: skip
    print(text)
    runs = sum(len(r) for r in results.values())
    passed = sum(o.passed for r in results.values() for o in r.values())
    healed = {c: sum(bool(o.healed) for o in r.values()) for c, r in results.items()}
    print(
        f"\ntotals: {runs} test runs, {passed} passed; tests with a healed step: "
        + ", ".join(f"{c} {n}" for c, n in healed.items())
    )
    print(f"time: {total_s:.0f} s in all ({record_s:.0f} s recording and generating); "
          f"work folder {work}")  # fmt: skip
    (work / "table.md").write_text(text + "\n", encoding="utf-8")
    dump = {c: {f"{f}|{ch}": {"passed": o.passed, "message": o.message,
                              "healed": sorted(o.healed)} for (f, ch), o in r.items()}
            for c, r in results.items()}  # fmt: skip
    (work / "results.json").write_text(json.dumps(dump, indent=1, sort_keys=True))


if __name__ == "__main__":
    sys.exit(main())
