"""Progress of an evaluation sweep: a live bar on a terminal, plain lines otherwise.

A sweep of thousands of episodes needs to say, while it runs, how far it is, how well
it is going and when it will end. On a terminal that is a rich progress bar (counts,
success so far, pipeline errors, ETA) with each result printed above it; into a file or a
pipe (CI logs, `nohup`) it is one plain line per result with the same figures, because a
redrawn bar there is noise. rich is the `progress` extra; without it every output gets
plain lines.

The ETA is the mean time per finished item so far times the items left: simple, and
honest about a sweep whose items cost about the same.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

Clock = Callable[[], float]


@dataclass
class Counts:
    """What the bar and the lines show; `success` is None for an item not scored (a
    pipeline error, a skipped episode), which counts as done but not in the rate."""

    total: int
    clock: Clock = time.monotonic
    done: int = 0
    successes: int = 0
    scored: int = 0
    errors: int = 0
    started: float = field(default=0.0)

    def __post_init__(self) -> None:
        if self.total < 0:
            raise ValueError(f"a sweep cannot have {self.total} items")
        self.started = self.clock()

    def add(self, success: bool | None, *, error: bool = False) -> None:
        self.done += 1
        self.errors += error
        if success is not None:
            self.scored += 1
            self.successes += success

    def eta_s(self) -> float | None:
        """Seconds left, from the mean time per finished item; None before the first."""
        if self.done == 0:
            return None
        return (self.clock() - self.started) / self.done * max(0, self.total - self.done)

    def rate(self) -> str:
        if not self.scored:
            return "success -"
        return f"success {self.successes}/{self.scored} ({100 * self.successes / self.scored:.1f}%)"

    def summary(self) -> str:
        return f"{self.rate()}, {self.errors} pipeline errors, eta {duration(self.eta_s())}"


def duration(seconds: float | None) -> str:
    """'-', '42s', '3m05s', '2h07m'."""
    if seconds is None:
        return "-"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class SweepProgress(Protocol):
    counts: Counts

    def advance(self, line: str, success: bool | None, *, error: bool = False) -> None:
        """One more item finished: `line` says which and how it went."""


class PlainProgress:
    """One line per item: `[12/400] <line>  success 10/11 (90.9%), 1 pipeline errors,
    eta 3m05s`."""

    def __init__(self, counts: Counts, stream: IO[str]) -> None:
        self.counts, self.stream = counts, stream

    def advance(self, line: str, success: bool | None, *, error: bool = False) -> None:
        counts = self.counts
        counts.add(success, error=error)
        width = len(str(counts.total))
        self.stream.write(f"[{counts.done:>{width}}/{counts.total}] {line}  {counts.summary()}\n")
        self.stream.flush()


class RichProgress:
    """A rich bar redrawn in place; each item's line is printed above it."""

    def __init__(self, counts: Counts, progress: Any, label: str) -> None:
        self.counts, self.progress = counts, progress
        self.task = progress.add_task(label, total=counts.total, **self._fields())

    def _fields(self) -> dict[str, str]:
        counts = self.counts
        return {"rate": counts.rate(), "errors": str(counts.errors),
                "eta": duration(counts.eta_s())}  # fmt: skip

    def advance(self, line: str, success: bool | None, *, error: bool = False) -> None:
        self.counts.add(success, error=error)
        self.progress.console.print(line, markup=False, highlight=False)
        self.progress.update(self.task, completed=self.counts.done, **self._fields())


@contextlib.contextmanager
def sweep_progress(
    total: int,
    label: str,
    *,
    stream: IO[str] | None = None,
    console: Any = None,
    clock: Clock = time.monotonic,
) -> Iterator[SweepProgress]:
    """A bar when the output is a terminal (or `console` says it is one), else plain
    lines on `stream` (default stdout)."""
    counts = Counts(total, clock=clock)
    out = stream if stream is not None else sys.stdout
    try:
        from rich.console import Console
    except ImportError:  # the progress extra is not installed: lines everywhere
        yield PlainProgress(counts, out)
        return
    console = console if console is not None else Console(file=out)
    if not console.is_terminal:
        yield PlainProgress(counts, out)
        return
    with _rich_bar(console) as progress:
        yield RichProgress(counts, progress, label)


def _rich_bar(console: Any) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"), TextColumn("errors {task.fields[errors]}"),
        TextColumn("eta {task.fields[eta]}"), console=console, transient=False,
    )  # fmt: skip
