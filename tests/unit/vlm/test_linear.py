"""Parsing takes time linear in the reply (issue 15 item 4: 20k newlines took 39 s).

Two checks, neither of which can fail because the machine is slow or busy:

- Structural, for the literal and call readers (Python code whose steps can be counted):
  the number of `_Reader.literal` calls grows in proportion to the text for every shape,
  comparing 4x the input at two sizes. Counts are exact, so the bound can be tight.
- A generous CPU-time ceiling, for the regexes (C code whose backtracking cannot be
  counted): 512 KB of every shape in every dialect, in a child process, must take under
  `CEILING_S` CPU seconds (`time.process_time`, which other processes do not inflate).
  Linear parsing takes well under a second per parse; the quadratic patterns this
  replaced take minutes at this size (~250 s for the newline shapes), so the ceiling is
  orders of magnitude from both. The child runs under a wall-clock timeout so a
  regression fails instead of hanging the suite.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pixelpilot.vlm import DIALECTS, ActionParseError, get_dialect
from pixelpilot.vlm.dialects import _text

from .shapes import SHAPES

ROOT = Path(__file__).resolve().parents[3]
CEILING_S = 10.0
SIZE = 512 * 1024


def _reader_steps(monkeypatch: pytest.MonkeyPatch, text: str) -> int:
    """How many literals every dialect's reader tried to read in `text`."""
    calls = 0
    original = _text._Reader.literal

    def counted(self, pos: int, depth: int = 0):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        return original(self, pos, depth)

    monkeypatch.setattr(_text._Reader, "literal", counted)
    for name in DIALECTS:
        with contextlib.suppress(ActionParseError):
            get_dialect(name).parse(text)
    monkeypatch.setattr(_text._Reader, "literal", original)
    return calls


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_the_readers_do_work_in_proportion_to_the_text(monkeypatch, shape: str) -> None:
    small = _reader_steps(monkeypatch, SHAPES[shape](20_000))
    large = _reader_steps(monkeypatch, SHAPES[shape](80_000))
    # Linear: 4x the text, ~4x the steps (plus a constant for the shape's edges).
    # Quadratic rescanning (every opener retried to the end) would give ~16x.
    assert large <= 4.2 * small + 200, (small, large)


_CHILD = """
import json, sys, time
sys.path.insert(0, {root!r})
from pixelpilot.vlm import DIALECTS, ActionParseError, get_dialect
from tests.unit.vlm.shapes import SHAPES
text = SHAPES[{shape!r}]({size})
spent = {{}}
for name in sorted(DIALECTS):
    start = time.process_time()
    try:
        get_dialect(name).parse(text)
    except ActionParseError:
        pass
    spent[name] = time.process_time() - start
print(json.dumps(spent))
"""


@pytest.mark.slow
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_half_a_megabyte_parses_under_a_generous_cpu_ceiling(shape: str) -> None:
    code = _CHILD.format(root=str(ROOT), shape=shape, size=SIZE)
    try:
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=True
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{shape}: 512 KB did not parse in 10 minutes (quadratic again?)")
    spent = json.loads(done.stdout)
    assert set(spent) == set(DIALECTS)
    slow = {name: round(s, 2) for name, s in spent.items() if s >= CEILING_S}
    assert not slow, f"{shape}: CPU seconds over {CEILING_S}: {slow}"
