"""Answers from a recorded run, step by step: deterministic reruns and tests.

A recording is a `trajectory.jsonl`: one JSON object a line. Every record holding a
`completion` (a `Completion` as JSON) is one model reply, in order; other records are
skipped, and so is a torn last line left by a killed process. A record may carry the
`request_digest` (and `request`, from `describe_request`) of what the model was asked;
when the rerun asks something else the backend says where it diverged.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..backend import (
    BackendError,
    Completion,
    Conversation,
    GenerationParams,
    as_batch,
    describe_request,
    request_digest,
)


class ReplayDivergence(BackendError):
    """The rerun asked the model something the recording did not."""


def read_records(path: Path) -> list[dict[str, Any]]:
    """Records of a JSONL file; a torn final line (a run killed mid-write, even inside a
    multi-byte character) is dropped, a broken line anywhere else is an error naming it.
    Lines end at "\\n" only: `str.splitlines` would also split inside a record at
    U+0085, U+2028 or U+2029, which a record may hold if another tool wrote it raw."""
    lines = path.read_bytes().split(b"\n")
    while lines and not lines[-1].strip():
        lines.pop()  # the newline after the last record, and trailing blank lines
    records = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            if number == len(lines):
                break
            raise BackendError(f"{path}:{number} is not valid JSON ({error})") from None
        if not isinstance(record, dict):
            if number == len(lines):
                break
            raise BackendError(f"{path}:{number} is not a JSON object")
        records.append(record)
    return records


class ReplayBackend:
    """Replays the replies of a recorded run; `strict` raises on divergence, otherwise
    the divergences are collected in `self.divergences` and the replay goes on."""

    def __init__(self, path: str | Path, *, strict: bool = True) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            self.path = self.path / "trajectory.jsonl"
        if not self.path.exists():
            raise BackendError(f"no recording at {self.path}")
        self.records = [r for r in read_records(self.path) if isinstance(r.get("completion"), dict)]
        self.strict = strict
        self.position = 0
        self.divergences: list[str] = []

    def generate(
        self, conversations: Sequence[Conversation], params: GenerationParams | None = None
    ) -> list[Completion]:
        return [self._next(c) for c in as_batch(conversations)]

    def _next(self, conversation: Conversation) -> Completion:
        if self.position >= len(self.records):
            raise BackendError(
                f"the recording {self.path} has {len(self.records)} model replies; the run "
                f"asked for reply {self.position + 1}"
            )
        record = self.records[self.position]
        self.position += 1
        recorded = record.get("request_digest")
        if recorded is not None and recorded != request_digest(conversation):
            self._diverged(record, conversation)
        return Completion.model_validate(record["completion"])

    def _diverged(self, record: dict[str, Any], conversation: Conversation) -> None:
        where = f"reply {self.position} (step {record.get('step', '?')})"
        detail = _first_difference(record.get("request"), describe_request(conversation))
        message = f"the run diverged from {self.path} at {where}: {detail}"
        if self.strict:
            raise ReplayDivergence(message)
        self.divergences.append(message)


def _first_difference(recorded: Any, now: list[dict[str, Any]]) -> str:
    """Where two `describe_request` shapes first differ, narrowed to the part and the
    characters, so a changed task or screen size is plain to see."""
    if not isinstance(recorded, list):
        return "the request differs from the recorded one (prompt, task or screen size changed)"
    for index, (old, new) in enumerate(zip(recorded, now, strict=False)):
        if old == new:
            continue
        where = f"message {index} ({new.get('role')})"
        old_parts, new_parts = old.get("content", []), new.get("content", [])
        for part, (a, b) in enumerate(zip(old_parts, new_parts, strict=False)):
            if a != b:
                return f"{where}, part {part}: was {_snippet(a, b)}, now {_snippet(b, a)}"
        return f"{where} had {len(old_parts)} parts, now {len(new_parts)}"
    return f"the recording had {len(recorded)} messages, the run sent {len(now)}"


def _snippet(value: Any, other: Any) -> str:
    """`value` around its first difference from `other`."""
    if isinstance(value, str) and isinstance(other, str):
        at = next(
            (i for i, (x, y) in enumerate(zip(value, other, strict=False)) if x != y),
            min(len(value), len(other)),
        )
        start = max(0, at - 30)
        return json.dumps(("..." if start else "") + value[start : at + 60], ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False)[:160]
