"""Sweep progress: the counts, the ETA, plain lines off a terminal and a rich bar on one.

The clock is injected (a list of instants), so the ETA is checked against numbers worked
out by hand, and nothing is timed."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from pixelpilot.evaluation.progress import (
    Counts,
    PlainProgress,
    RichProgress,
    duration,
    sweep_progress,
)


def clock(*instants: float):
    """A clock that returns these instants in turn (the first is the sweep's start)."""
    times = iter(instants)
    return lambda: next(times)


def test_eta_is_the_mean_time_per_item_times_the_items_left() -> None:
    counts = Counts(5, clock=clock(100.0, 112.0, 130.0))
    assert counts.eta_s() is None  # nothing finished yet: no guess
    counts.add(True)
    assert counts.eta_s() == pytest.approx(12.0 * 4)  # 12 s for 1 item, 4 left
    counts.add(False)
    assert counts.eta_s() == pytest.approx(15.0 * 3)  # 30 s for 2 items, 3 left


def test_unscored_items_count_as_done_but_not_in_the_success_rate() -> None:
    counts = Counts(4, clock=clock(0.0))
    counts.add(True)
    counts.add(None, error=True)
    counts.add(False)
    assert (counts.done, counts.scored, counts.successes, counts.errors) == (3, 2, 1, 1)
    assert counts.rate() == "success 1/2 (50.0%)"
    assert Counts(3, clock=clock(0.0)).rate() == "success -"


def test_a_negative_total_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot have -1 items"):
        Counts(-1)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "-"), (0.4, "0s"), (42.0, "42s"), (59.6, "1m00s"), (185.0, "3m05s"),
     (7620.0, "2h07m"), (90061.0, "25h01m")],
)  # fmt: skip
def test_durations_read_as_people_write_them(seconds: float | None, text: str) -> None:
    assert duration(seconds) == text


def test_off_a_terminal_each_item_is_one_plain_line() -> None:
    out = io.StringIO()
    with sweep_progress(3, "episodes", stream=out, clock=clock(0.0, 10.0, 30.0, 36.0)) as bar:
        assert isinstance(bar, PlainProgress)
        bar.advance("click-button #1: success", True)
        bar.advance("click-button #2: pipeline_error", None, error=True)
        bar.advance("enter-text #1: model_failure", False)
    assert out.getvalue().splitlines() == [
        "[1/3] click-button #1: success  success 1/1 (100.0%), 0 pipeline errors, eta 20s",
        "[2/3] click-button #2: pipeline_error  success 1/1 (100.0%), 1 pipeline errors, eta 15s",
        "[3/3] enter-text #1: model_failure  success 1/2 (50.0%), 1 pipeline errors, eta 0s",
    ]
    assert "\x1b[" not in out.getvalue()  # no terminal control codes in a log file


def test_a_console_that_is_not_a_terminal_gets_plain_lines_too() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=False)
    with sweep_progress(1, "records", console=console, stream=out) as bar:
        assert isinstance(bar, PlainProgress)
        bar.advance("r1: hit", True)
    assert out.getvalue() == "[1/1] r1: hit  success 1/1 (100.0%), 0 pipeline errors, eta 0s\n"


def test_on_a_terminal_a_bar_shows_counts_success_and_eta() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=140, color_system=None)
    instants = clock(0.0, 10.0, 20.0, 30.0, *[30.0] * 50)  # rich may read the fields again
    with sweep_progress(4, "MiniWoB episodes", console=console, clock=instants) as bar:
        assert isinstance(bar, RichProgress)
        bar.advance("click-button #1: success reward +1.00", True)
        bar.advance("click-button #2: model_failure reward -1.00", False)
        bar.advance("enter-text #1: success reward +1.00", True)
    text = out.getvalue()
    assert "\x1b[" in text  # drawn in place with terminal control codes
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
    # each item's line is printed above the bar, once
    for line in ("click-button #1: success reward +1.00", "enter-text #1: success reward +1.00"):
        assert plain.count(line) == 1
    final = [row for row in plain.splitlines() if "MiniWoB episodes" in row][-1]
    assert "3/4" in final and "success 2/3 (66.7%)" in final
    assert "errors 0" in final and "eta 10s" in final  # 30 s for 3, one left
