"""Run directories: a trajectory that survives a kill -9 at any moment.

Layout of a run directory (schema version 1):

    trajectory.jsonl   one JSON object a line, flushed and fsynced as it is written:
                       {"type": "header", ...}, then {"type": "step", ...} per step,
                       then {"type": "end", ...} if the run ended normally
    step-000.png ...   the screenshot the model saw at each step (native pixels)
    run.mp4            the run as a video, actions drawn on the frames (derived)
    report.html        a self-contained viewer (derived)

A step record holds: `step`, `time`, `screenshot` (file name), `frame` (size, scale,
origin), `url`, `title`, `model_image_size`, `request_digest` and `request` (what the
model was asked, without pixels), `completion` (text, usage, timings, image sizes),
`actions` (each as the model wrote it, `model`, and in screenshot pixels, `screenshot`),
`parse_error`, `decisions` (the policy's verdict per action), `results` (one per action
run), `timings`. Secrets never appear: actions keep their `{{name}}` placeholders and
results are redacted before they are written. Everything else (replay, MP4, report,
test generation) is derived from these files.

One line is one record, whatever a model writes: the writer escapes every code point that
some reader takes for a line break (U+0085, U+2028, U+2029) and every lone surrogate (a
server can send "\\ud800"; UTF-8 cannot hold it), and the reader splits on "\\n" only.
`paired` is the one place that says which result belongs to which action.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pixelpilot.tools import FixableError, InfrastructureError

SCHEMA_VERSION = 1
TRAJECTORY = "trajectory.jsonl"
PARTIAL = ".partial"  # suffix of a file being written; renamed into place when complete

#: raw in `json.dumps(..., ensure_ascii=False)` output, but a line break to some readers
#: (str.splitlines, JavaScript before ES2019) or not encodable as UTF-8 at all
_UNSAFE = re.compile("[\x85\u2028\u2029\ud800-\udfff]")


class TrajectoryError(FixableError, ValueError):
    """A run directory or trajectory that cannot be read (missing, empty, damaged, too
    new); the message names the file and, for a damaged record, the line."""


class RecordingError(InfrastructureError, OSError):
    """A run directory that cannot be written (no permission, a full disk, a folder taken
    away): the writer's `OSError`, named and placed in pixelpilot's error family. An
    `OSError` too, for callers that caught that."""


@contextlib.contextmanager
def recording(run_dir: str | Path | None) -> Iterator[None]:
    """Turn an `OSError` from writing a run into a `RecordingError` that says where."""
    try:
        yield
    except OSError as error:
        if isinstance(error, RecordingError):
            raise
        reason = error.strerror or str(error)
        raise RecordingError(f"cannot write the run's record in {run_dir}: {reason}") from error


def dumps_record(record: dict[str, Any]) -> str:
    """One record as one line of JSON: readable (non-ASCII text kept as is) but with
    every code point that could split the line or break UTF-8 written as an escape."""
    line = json.dumps(record, ensure_ascii=False, default=str)
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", line)


class TrajectoryWriter:
    """Appends records durably: each line is flushed and fsynced before the next step
    runs, screenshots are written to a temporary name and renamed into place. A write
    that fails raises `RecordingError`, never a bare `OSError`."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        with recording(self.run_dir):
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.path = self.run_dir / TRAJECTORY
            clean_partials(self.run_dir)  # left by a process killed mid-write
            _drop_torn_tail(self.path)
            self._file = self.path.open("a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        line = dumps_record({"schema": SCHEMA_VERSION, **record})
        with recording(self.run_dir):
            self._file.write(line + "\n")
            self._file.flush()
            os.fsync(self._file.fileno())

    def save_screenshot(self, step: int, image: Any) -> str:
        name = f"step-{step:03d}.png"
        partial = self.run_dir / f".{name}{PARTIAL}"
        with recording(self.run_dir):
            image.save(partial, format="PNG", compress_level=1)  # lossless; fast beats small
            os.replace(partial, self.run_dir / name)
        return name

    def close(self) -> None:
        if not self._file.closed:
            with recording(self.run_dir):
                self._file.close()


def read_trajectory(run_dir: str | Path) -> dict[str, Any]:
    """{"header": ..., "steps": [...], "end": ... or None, "run_dir": ...}; a torn last
    line (a run killed mid-write) is skipped. Raises `TrajectoryError`, naming the file
    (and line), for a missing folder or file, an empty file, a broken line elsewhere, no
    header, or a schema newer than this pixelpilot."""
    from pixelpilot.vlm import BackendError
    from pixelpilot.vlm.backends.replay import read_records

    given = Path(run_dir)
    if not given.exists():
        raise TrajectoryError(f"{given}: no such folder (give a run directory)")
    path = given / TRAJECTORY if given.is_dir() else given
    if not path.is_file():
        raise TrajectoryError(f"{path}: no trajectory (is {given} a run directory?)")
    try:
        records = read_records(path)
    except BackendError as error:  # the reader is shared with the replay backend
        raise TrajectoryError(str(error)) from None
    except OSError as error:
        raise TrajectoryError(f"{path}: cannot be read ({error.strerror or error})") from None
    header = next((r for r in records if r.get("type") == "header"), None)
    if header is None:
        state = "is empty" if not records else "has no header record"
        raise TrajectoryError(f"{path} {state}: not a pixelpilot trajectory")
    if not isinstance(header.get("schema", 0), int) or header.get("schema", 0) > SCHEMA_VERSION:
        raise TrajectoryError(
            f"{path} uses schema {header['schema']}; this pixelpilot reads {SCHEMA_VERSION}"
        )
    return {
        "header": header,
        "steps": [r for r in records if r.get("type") == "step"],
        "end": next((r for r in records if r.get("type") == "end"), None),
        "run_dir": str(path.parent),
    }


def _drop_torn_tail(path: Path) -> None:
    """Cut a half-written last line (a kill mid-write) before appending: after it, it
    would be a damaged line in the middle instead of a torn end the reader skips."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with path.open("rb+") as file:
        data = file.read()
        if data.endswith(b"\n"):
            return
        file.truncate(data.rfind(b"\n") + 1)


def clean_partials(run_dir: str | Path) -> list[Path]:
    """Remove the `.NAME.partial` files a killed process left in `run_dir` (a screenshot,
    video or report being written); returns what was removed. Nothing complete is lost:
    a partial file only ever becomes real by being renamed into place."""
    removed = []
    for leftover in Path(run_dir).glob(f".*{PARTIAL}"):
        try:
            leftover.unlink()
            removed.append(leftover)
        except OSError:  # gone already (another reader cleaned it) or not ours to remove
            continue
    return removed


def paired(step: Any) -> list[tuple[Any, Any, Any]]:
    """(action, decision, result or None) for each action of a step: a step record (a
    dict) or a live step (`.actions`, `.decisions`, `.results`).

    The one place that pairs them, because the lists do not line up by index: every
    action the loop reached has a decision, but only the actions that went to the
    screen have a result (not a refused one, not Finish or CallUser, and none after a
    failure stopped the reply). A record without decisions (written by hand or by an
    old version) pairs every runnable action with the next result."""
    if isinstance(step, dict):
        actions = step.get("actions") or []
        decisions, results = step.get("decisions") or [], step.get("results") or []
    else:
        actions, decisions, results = step.actions, step.decisions, step.results
    pending, out = iter(results), []
    for index, action in enumerate(actions):
        decision = decisions[index] if index < len(decisions) else None
        reached = not decisions or (decision is not None and _verdict(decision) != "deny")
        ran = reached and _kind(action) not in ("finish", "call_user")
        out.append((action, decision, next(pending, None) if ran else None))
    return out


def _kind(action: Any) -> str | None:
    """The action's kind, for an Action, a bare action dict or a recorded pair."""
    if not isinstance(action, dict):
        return getattr(action, "action", None)
    if "action" in action:
        return action["action"]
    inner = action.get("screenshot") or action.get("model")
    return inner.get("action") if isinstance(inner, dict) else None


def _verdict(decision: Any) -> str | None:
    if isinstance(decision, dict):
        return decision.get("verdict")
    return getattr(decision, "verdict", None)


def new_run_dir(root: str | Path = "runs", task: str = "") -> Path:
    """runs/2026-11-26T18-40-02-book-the-cheapest-flight (unique, sortable)."""
    stamp = time.strftime("%Y-%m-%dT%H-%M-%S")
    slug = "-".join("".join(c if c.isalnum() else " " for c in task.lower()).split())[:40]
    base = Path(root) / (f"{stamp}-{slug}" if slug else stamp)
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate
