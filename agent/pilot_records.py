"""A script's run directory: every `Pilot` call is one step record, as the agent writes.

The records are the agent's (`loop.step_record`: screenshot file, frame, URL, request,
completion, actions in both spaces, policy decisions, results, timings), with a `kind`
naming the verb ("locate", "click", "read", ...) and what a verb adds: the
`description`, where it was `located` and how (model, zoom or cache), every model call
(`calls`), a `read`'s or `expect`'s `answer`, and the `error` that ended the call, if
any. So `pixelpilot replay`, `pixelpilot view` and test generation read scripts as they
read agent runs. A step's top-level `completion` is its first model call; later ones
(a zoom, a retry) follow as `{"type": "call"}` records, so a `ReplayBackend` on a
script's recording answers every call in order. Secrets are redacted before writing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pixelpilot.environments import ActionResult, Observation
from pixelpilot.vlm import Completion
from pixelpilot.vlm.backend import request_digest

from .loop import AgentStep, step_record
from .policy import Decision
from .secrets import Secrets
from .trajectory import TrajectoryWriter, new_run_dir

log = logging.getLogger("pixelpilot.agent.pilot")


@dataclass
class Call:
    """One model call made during a step."""

    purpose: str
    messages: list[dict[str, Any]]
    completion: Completion
    frame: dict[str, Any]
    model_size: tuple[int, int]


@dataclass
class Step:
    """What one verb did, gathered while it runs and written when it ends."""

    kind: str
    index: int
    observation: Observation
    screenshot: Path | None
    started: float = field(default_factory=time.perf_counter)
    calls: list[Call] = field(default_factory=list)
    model_actions: list[Any] = field(default_factory=list)
    actions: list[Any] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    results: list[ActionResult] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    error: BaseException | None = None

    def model_s(self) -> float:
        return sum(c.completion.timings.total_s for c in self.calls)


class Recorder:
    """Writes a script's header, steps and end; `record=None` writes nothing."""

    def __init__(
        self, root: Path | None, name: str, secrets: Secrets, header: dict[str, Any]
    ) -> None:
        self.secrets = secrets
        self.started = time.monotonic()
        self.writer = TrajectoryWriter(new_run_dir(root, name)) if root is not None else None
        self.index = 0
        if self.writer:
            self.writer.write(secrets.redact({"type": "header", "task": name, **header}))

    @property
    def run_dir(self) -> Path | None:
        return self.writer.run_dir if self.writer else None

    def begin(self, kind: str, observation: Observation) -> Step:
        """A new step; its screenshot is on disk at once, so errors can point at it."""
        screenshot = None
        if self.writer:
            name = self.writer.save_screenshot(self.index, observation.image)
            screenshot = self.writer.run_dir / name
        step = Step(kind=kind, index=self.index, observation=observation, screenshot=screenshot)
        self.index += 1
        return step

    def write(self, step: Step) -> None:
        done = time.perf_counter()
        step.timings.setdefault("total_s", done - step.started)
        step.timings.setdefault("model_s", step.model_s())
        if self.writer is None or step.screenshot is None:
            return
        first = step.calls[0] if step.calls else None
        agent_step = AgentStep(
            index=step.index, observation=step.observation,
            completion=first.completion if first else None,
            messages=first.messages if first else [], model_actions=step.model_actions,
            actions=step.actions, decisions=step.decisions, results=step.results,
            feedback=str(step.error) if step.error else None, timings=step.timings,
        )  # fmt: skip
        record = step_record(agent_step, step.screenshot.name, kind=step.kind)
        record.update(step.extra)
        record["calls"] = [
            {"purpose": c.purpose, "frame": c.frame, "model_size": list(c.model_size),
             "request_digest": request_digest(c.messages), "reply": c.completion.text}
            for c in step.calls
        ]  # fmt: skip
        if step.error is not None:
            record["error"] = {"type": type(step.error).__name__, "message": str(step.error)}
        self.writer.write(self.secrets.redact(record))
        for call in step.calls[1:]:
            self.writer.write(self.secrets.redact({
                "type": "call", "step": step.index, "purpose": call.purpose,
                "request_digest": request_digest(call.messages),
                "completion": call.completion.model_dump(mode="json"),
            }))  # fmt: skip

    def write_agent_step(self, step: AgentStep, extra: dict[str, Any]) -> None:
        """A step of `act` (the agent loop), renumbered into the script's sequence."""
        index = self.index
        self.index += 1
        if self.writer is None:
            return
        screenshot = self.writer.save_screenshot(index, step.observation.image)
        record = step_record(step.model_copy(update={"index": index}), screenshot, kind="act")
        record.update(extra)
        self.writer.write(self.secrets.redact(record))

    def close(self, status: str, reason: str | None, *, report: bool, video: bool) -> Path | None:
        if self.writer is None:
            return None
        self.writer.write(self.secrets.redact({
            "type": "end", "status": status, "reason": reason, "answer": None,
            "steps": self.index, "duration_s": time.monotonic() - self.started,
        }))  # fmt: skip
        self.writer.close()
        run_dir = self.writer.run_dir
        for enabled, module, function in ((report, "report", "render_report"),
                                          (video, "video", "render_video")):  # fmt: skip
            if enabled:
                _derive(run_dir, module, function)
        return run_dir


def _derive(run_dir: Path, module: str, function: str) -> None:
    """The report or the video; the run is on disk already, so a failure is a warning."""
    import importlib

    try:
        getattr(importlib.import_module(f"pixelpilot.agent.{module}"), function)(run_dir)
    except Exception as error:
        log.warning("could not write the %s of %s: %s", module, run_dir, error)
