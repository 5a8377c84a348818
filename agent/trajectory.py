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
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
TRAJECTORY = "trajectory.jsonl"


class TrajectoryWriter:
    """Appends records durably: each line is flushed and fsynced before the next step
    runs, screenshots are written to a temporary name and renamed into place."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.run_dir / TRAJECTORY
        self._file = self.path.open("a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps({"schema": SCHEMA_VERSION, **record}, ensure_ascii=False, default=str)
        self._file.write(line + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def save_screenshot(self, step: int, image: Any) -> str:
        name = f"step-{step:03d}.png"
        partial = self.run_dir / f".{name}.partial"
        image.save(partial, format="PNG", compress_level=1)  # lossless; fast beats small here
        os.replace(partial, self.run_dir / name)
        return name

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


def read_trajectory(run_dir: str | Path) -> dict[str, Any]:
    """{"header": ..., "steps": [...], "end": ... or None}; a torn last line (a run killed
    mid-write) is skipped, a broken line elsewhere is an error."""
    from pixelpilot.vlm.backends.replay import read_records

    path = Path(run_dir)
    path = path / TRAJECTORY if path.is_dir() else path
    records = read_records(path)
    header = next((r for r in records if r.get("type") == "header"), None)
    if header is None:
        raise ValueError(f"{path} has no header record")
    if header.get("schema", 0) > SCHEMA_VERSION:
        raise ValueError(
            f"{path} uses schema {header['schema']}; this pixelpilot reads {SCHEMA_VERSION}"
        )
    return {
        "header": header,
        "steps": [r for r in records if r.get("type") == "step"],
        "end": next((r for r in records if r.get("type") == "end"), None),
        "run_dir": str(path.parent),
    }


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
