"""Soak: parallel sessions of real runs for minutes on end (issue 14 item 9, issue 15).

Each session loops until the time is up: `pixelpilot demo --oracle` (real headless
Chromium, the bundled demo shop, the agent loop, the trajectory, MP4 and report), then
`pixelpilot replay --demo` and `pixelpilot view` of the run it just recorded. A command
counts as correct when it exits 0, says what it should (the shop shows the new account;
the run replays as recorded), prints no traceback, and its trajectory reads back with
status success. At the end, every process still alive that carries this soak's token in
its environment (Chromium inherits it from the command that started it) is counted as
left behind, then killed.

    .venv/bin/python bench/soak.py                          # 6 sessions x 15 minutes
    .venv/bin/python bench/soak.py --sessions 2 --minutes 2

Prints the figures; asserts nothing; exits 1 if any command was wrong or anything was
left behind.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from pixelpilot.agent.trajectory import TrajectoryError, read_trajectory

EXE = str(Path(sys.executable).with_name("pixelpilot"))
TOKEN_VAR = "PIXELPILOT_SOAK_TOKEN"


@dataclass
class Tally:
    commands: Counter = field(default_factory=Counter)  # per command: how many ran
    correct: Counter = field(default_factory=Counter)
    seconds: Counter = field(default_factory=Counter)
    wrong: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, command: str, took: float, problem: str | None) -> None:
        with self.lock:
            self.commands[command] += 1
            self.seconds[command] += took
            if problem is None:
                self.correct[command] += 1
            else:
                self.wrong.append(f"{command}: {problem}")


def pixelpilot(args: list[str], env: dict[str, str], timeout_s: float) -> tuple[int, str, str]:
    """One command in its own session (process group), killed as a group on timeout."""
    process = subprocess.Popen(
        [EXE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True,
    )  # fmt: skip
    try:
        out, err = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        out, err = process.communicate()
        return -9, out, err + f"\n(killed after {timeout_s:.0f} s)"
    return process.returncode, out, err


def check(code: int, out: str, err: str, expect: str) -> str | None:
    if code != 0:
        return f"exit {code}: {(err or out).strip()[-300:]}"
    if "Traceback" in err:
        return "a traceback on stderr"
    if expect not in out:
        return f"{expect!r} not in its output: {out.strip()[-300:]}"
    return None


def session(deadline: float, root: Path, env: dict[str, str], tally: Tally) -> None:
    """demo -> replay -> view, again and again until `deadline`."""
    while time.monotonic() < deadline:
        record = Path(tempfile.mkdtemp(dir=root))
        started = time.monotonic()
        code, out, err = pixelpilot(["demo", "--oracle", "--record", str(record)], env, 600)
        problem = check(code, out, err, "shows the new account")
        runs = [p for p in record.iterdir() if p.is_dir()]
        if problem is None:
            problem = _recorded_success(runs)
        tally.add("demo", time.monotonic() - started, problem)
        if problem is not None or time.monotonic() >= deadline:
            shutil.rmtree(record, ignore_errors=True)
            continue
        started = time.monotonic()
        code, out, err = pixelpilot(["replay", "--demo", str(runs[0])], env, 600)
        tally.add("replay", time.monotonic() - started,
                  check(code, out, err, "replays as recorded"))  # fmt: skip
        started = time.monotonic()
        code, out, err = pixelpilot(["view", str(runs[0])], {**env, "DISPLAY": ""}, 300)
        tally.add("view", time.monotonic() - started, check(code, out, err, "report.html"))
        shutil.rmtree(record, ignore_errors=True)


def _recorded_success(runs: list[Path]) -> str | None:
    if len(runs) != 1:
        return f"{len(runs)} run folders recorded"
    try:
        end = read_trajectory(runs[0])["end"] or {}
    except TrajectoryError as error:
        return f"unreadable trajectory: {error}"
    return None if end.get("status") == "success" else f"recorded status {end.get('status')}"


def left_behind(token: str) -> list[psutil.Process]:
    """Processes alive now that carry `token` in their environment."""
    found = []
    for process in psutil.process_iter(["pid"]):
        if process.pid == os.getpid():
            continue
        try:
            if process.environ().get(TOKEN_VAR) == token:
                found.append(process)
        except (psutil.Error, OSError):
            continue
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=6)
    parser.add_argument("--minutes", type=float, default=15.0)
    args = parser.parse_args()
    token = uuid.uuid4().hex
    env = {**os.environ, TOKEN_VAR: token, "HF_HUB_OFFLINE": "1"}
    tally = Tally()
    started = time.monotonic()
    deadline = started + args.minutes * 60
    with tempfile.TemporaryDirectory(prefix="pixelpilot-soak-") as root:
        threads = [threading.Thread(target=session, args=(deadline, Path(root), env, tally))
                   for _ in range(args.sessions)]  # fmt: skip
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.monotonic() - started
        time.sleep(2.0)  # a browser that exits as its command ends is not a leftover
        leftovers = left_behind(token)
    print(f"soak: {args.sessions} sessions x {args.minutes:g} min ({wall / 60:.1f} min wall)")
    for command in ("demo", "replay", "view"):
        ran = tally.commands[command]
        mean = tally.seconds[command] / ran if ran else 0.0
        print(f"  {command:<7} {tally.correct[command]:>4}/{ran:<4} correct  "
              f"(mean {mean:5.1f} s each)")  # fmt: skip
    total, right = sum(tally.commands.values()), sum(tally.correct.values())
    print(f"  all     {right:>4}/{total:<4} correct")
    names = ", ".join(f"{n} x{c}" for n, c in Counter(_name(p) for p in leftovers).items())
    print(f"processes left behind: {len(leftovers)}" + (f" ({names})" if names else ""))
    for line in tally.wrong[:20]:
        print(f"  WRONG {line}")
    for process in leftovers:
        with contextlib.suppress(psutil.Error):
            process.kill()
    return 1 if tally.wrong or leftovers else 0


def _name(process: psutil.Process) -> str:
    try:
        return process.name()
    except psutil.Error:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
