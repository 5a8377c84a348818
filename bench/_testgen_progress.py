"""Progress for the survival bench: a rich progress bar on a terminal when `rich` is
importable, plain lines otherwise (a log, CI, a pipe)."""

from __future__ import annotations

import sys
from typing import Any


class _Task:
    def __init__(self, owner: Progress, name: str, total: int) -> None:
        self.owner, self.name, self.total, self.done = owner, name, total, 0
        self.id = owner.bar.add_task(name, total=total) if owner.bar is not None else None

    def advance(self, note: str = "") -> None:
        self.done += 1
        if self.owner.bar is not None:
            self.owner.bar.update(self.id, advance=1, description=f"{self.name}: {note}"[:60])
        else:
            print(f"[{self.name} {self.done}/{self.total}] {note}", flush=True)


class Progress:
    """`with Progress() as p: t = p.task(name, total); t.advance(note)`."""

    def __init__(self) -> None:
        self.bar: Any = None
        if sys.stdout.isatty():
            try:
                from rich.progress import Progress as Bar
            except ImportError:
                pass
            else:
                self.bar = Bar(transient=False)

    def __enter__(self) -> Progress:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def task(self, name: str, total: int) -> _Task:
        return _Task(self, name, total)
