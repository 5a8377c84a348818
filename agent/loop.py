"""The perceive-plan-act loop, as a generator of typed steps.

`Agent.stream(task)` yields one `AgentStep` per model call: what the screen showed, what
the model said, which actions that became, what the policy decided and what happened.
`Agent.run(task)` drains it. Everything the model can fix (an unreadable reply, a point
off the screen, a failed or refused action) goes back to it as feedback in the next
prompt; only a broken backend or controller ends the run with status "error". Every
step is on disk before the next begins.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pixelpilot.environments import (
    ActionResult,
    ElementInfo,
    Environment,
    Observation,
)
from pixelpilot.tools import (
    Action,
    ActionParseError,
    CallUser,
    Finish,
    Space,
    Wait,
    convert_action,
)
from pixelpilot.tools.errors import InfrastructureError
from pixelpilot.vlm import BackendError, Completion, GenerationParams, get_dialect
from pixelpilot.vlm.backend import Backend, describe_request, request_digest
from pixelpilot.vlm.dialects import Dialect

from .history import History
from .policy import Decision, Policy
from .secrets import Secrets
from .trajectory import RecordingError, TrajectoryWriter, new_run_dir, recording

logger = logging.getLogger("pixelpilot.agent.loop")

Status = Literal["success", "failure", "needs_user", "max_steps", "stopped", "error"]
#: what broke when the status is "error": the model's backend, the controller (browser,
#: display), the disk the run is recorded on, or pixelpilot itself (a bug, re-raised)
ErrorKind = Literal["backend", "controller", "record", "internal"]


def error_kind(error: BaseException) -> ErrorKind:
    """Which part broke, for `RunResult.error_kind` (and the command line's exit code)."""
    if isinstance(error, BackendError):
        return "backend"
    if isinstance(error, RecordingError):
        return "record"
    return "controller" if isinstance(error, InfrastructureError) else "internal"


class AgentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_steps: int = Field(30, ge=1)
    max_seconds: float | None = Field(None, gt=0, description="Wall-time limit of a run.")
    max_failures: int = Field(3, ge=1, description="Consecutive unusable steps before giving up.")
    history_images: int | None = Field(None, ge=0, description="None: the dialect's default.")
    history_text: int = Field(10, ge=0)
    max_visual_tokens: int | None = Field(None, ge=1)
    min_pixels: int | None = None
    max_pixels: int | None = None
    mode: Literal["computer", "mobile"] = "computer"
    generation: GenerationParams = GenerationParams()
    record: Path | None = Field(Path("runs"), description="Root for run directories; None: none.")
    video: bool = True
    report: bool = True


class AgentStep(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: int
    observation: Observation = Field(exclude=True)
    messages: list[dict[str, Any]] = Field(default_factory=list, exclude=True, repr=False)
    completion: Completion | None = None
    model_actions: list[Any] = []
    actions: list[Any] = []  # in screenshot pixels, secrets as placeholders
    parse_error: str | None = None
    decisions: list[Decision] = []
    results: list[ActionResult] = []
    feedback: str | None = None
    timings: dict[str, float] = {}
    status: Status | None = None  # set on the step that ended the run


class RunResult(BaseModel):
    status: Status
    answer: str | None = None
    reason: str | None = None
    steps: int = 0
    trajectory_dir: Path | None = None
    error_kind: ErrorKind | None = None  # set when status is "error"


class Agent:
    def __init__(
        self,
        backend: Backend,
        environment: Environment,
        *,
        dialect: str | Dialect = "uitars15",
        config: AgentConfig | None = None,
        policy: Policy | None = None,
        secrets: dict[str, str] | Secrets | None = None,
        on_call_user: Callable[[str], str | None] | None = None,
        should_stop: Callable[[], bool | str] | None = None,
    ) -> None:
        self.backend, self.env = backend, environment
        self.dialect = get_dialect(dialect)
        self.config = config or AgentConfig()
        self.policy = policy or Policy()
        self.secrets = secrets if isinstance(secrets, Secrets) else Secrets(secrets)
        self.on_call_user, self.should_stop = on_call_user, should_stop
        self.result: RunResult | None = None
        domains = self.policy.domains
        if domains is not None and hasattr(environment, "set_domains"):
            environment.set_domains(domains)  # enforced in the controller, redirects too

    # -- the loop --------------------------------------------------------------------
    def run(self, task: str) -> RunResult:
        for _ in self.stream(task):
            pass
        assert self.result is not None
        return self.result

    def stream(self, task: str) -> Iterator[AgentStep]:
        run = _Run(self, task)
        try:
            while run.result is None:
                if (reason := run.limit_reached()) is not None:
                    run.finish(*reason)
                    break
                step = run.step()
                yield step
        except KeyboardInterrupt:
            run.finish("stopped", "interrupted (Ctrl-C)")
        except InfrastructureError as error:  # backend, controller or disk: the run ends
            run.failed(error)
        except GeneratorExit:  # the caller stopped iterating early
            run.finish("stopped", "the caller stopped the run")
            raise
        except Exception as error:  # our bug or an unexpected failure: on record, then raised
            run.finish("error", f"unexpected {type(error).__name__}: {error}", kind="internal")
            if (clean := run.secrets.redact_error(error)) is not error:
                raise clean from None  # its message or a chained cause held a secret
            raise
        finally:
            if run.result is None:
                run.finish("stopped", "the caller stopped the run")
            self.result = run.close()


class _Run:
    """The state of one run; `Agent.stream` drives it."""

    def __init__(self, agent: Agent, task: str) -> None:
        # a secret value written into the task itself reaches nobody: it becomes its placeholder
        task = agent.secrets.redact(task)
        self.agent, self.task = agent, task
        config, dialect = agent.config, agent.dialect
        images = dialect.history_images if config.history_images is None else config.history_images
        self.history = History(
            max_images=images, max_text=config.history_text,
            max_visual_tokens=config.max_visual_tokens,
            min_pixels=config.min_pixels, max_pixels=config.max_pixels,
        )  # fmt: skip
        self.started = time.monotonic()
        self.index, self.failures = 0, 0
        self.focused: ElementInfo | None = None
        self.secrets = agent.secrets  # bound to the start page's host at the first look
        self._halted = False  # a reply's remaining actions are skipped
        self.result: RunResult | None = None
        self.writer: TrajectoryWriter | None = None
        if config.record:
            with recording(config.record):
                self.writer = TrajectoryWriter(new_run_dir(config.record, task))
        if self.writer:
            self._write({
                "type": "header", "task": agent.secrets.redact(task), "dialect": dialect.name,
                "backend": type(agent.backend).__name__, "model": _model_name(agent.backend),
                "environment": type(agent.env).__name__,
                "secrets": agent.secrets.names, "config": config.model_dump(mode="json"),
                "policy": agent.policy.record(), "created": time.time(),
            })  # fmt: skip

    def limit_reached(self) -> tuple[Status, str] | None:
        config = self.agent.config
        stop = self.agent.should_stop() if self.agent.should_stop is not None else False
        if stop:  # a string says why (an environment's episode ended, ...)
            return "stopped", stop if isinstance(stop, str) else "the stop signal was given"
        if self.index >= config.max_steps:
            return "max_steps", f"reached max_steps={config.max_steps}"
        if config.max_seconds is not None and time.monotonic() - self.started > config.max_seconds:
            return "stopped", f"reached max_seconds={config.max_seconds:g}"
        if self.failures >= config.max_failures:
            return "failure", f"{self.failures} unusable steps in a row"
        return None

    def time_left(self) -> float | None:
        """Seconds left under `max_seconds` (never negative); None without a limit."""
        limit = self.agent.config.max_seconds
        if limit is None:
            return None
        return max(0.0, limit - (time.monotonic() - self.started))

    def _bounded(self, action: Action) -> Action:
        """`action` made to end within the run's time limit: a Wait (up to 600 s, the
        model's choice) is cut to the time left, so the limit bounds every action."""
        left = self.time_left()
        if isinstance(action, Wait) and left is not None and action.seconds > left:
            return action.model_copy(update={"seconds": left})
        return action

    def step(self) -> AgentStep:
        prepared = self.prepare()
        (completion,) = self.agent.backend.generate([prepared[1]], self.agent.config.generation)
        return self.complete(prepared, completion)

    def prepare(self) -> tuple[Observation, list[dict[str, Any]], float, float, float]:
        """Observe and build the request (the part before the model call)."""
        agent, start = self.agent, time.perf_counter()
        observation = agent.env.observe()
        seen = time.perf_counter()
        if self.index == 0:  # secrets named without hosts belong to the start page's host
            self.secrets = agent.secrets.bound(observation.url)
        turns = self.history.turns(observation.image)
        messages = agent.dialect.render(self.task, observation.image, turns, mode=agent.config.mode)
        return observation, messages, start, time.perf_counter(), seen - start

    def complete(self, prepared: tuple, completion: Completion) -> AgentStep:
        """Parse, check and run what the model answered, then record the step."""
        observation, messages, start, observed, _ = prepared
        answered = time.perf_counter()
        step = AgentStep(
            index=self.index, observation=observation, completion=completion, messages=messages
        )
        step.timings = {"observe_s": observation_s(prepared)}
        try:
            self._act(step, observation, completion)
        finally:  # even when the controller dies mid-reply, what ran is on disk
            self._finish_step(step, messages, start, observed, answered)
            self.index += 1
        return step

    def _finish_step(
        self,
        step: AgentStep,
        messages: list[dict[str, Any]],
        start: float,
        observed: float,
        answered: float,
    ) -> None:
        acted = time.perf_counter()
        self.history.add(step.observation.image, step.completion.text, step.feedback)
        step.timings = {
            "observe_s": step.timings.get("observe_s", 0.0), "model_s": answered - observed,
            "act_s": acted - answered, "total_s": acted - start,
        }  # fmt: skip
        self._record(step, messages)
        recorded = time.perf_counter()
        # the loop's own cost: everything but the screen (observe, actions) and the model,
        # recording included (it happens after the record is written, so only here)
        environment_s = step.timings["observe_s"] + sum(r.timings.total_s for r in step.results)
        step.timings["record_s"] = recorded - acted
        step.timings["total_s"] = recorded - start
        step.timings["overhead_s"] = recorded - start - (answered - observed) - environment_s

    def _act(self, step: AgentStep, observation: Observation, completion: Completion) -> None:
        try:
            step.model_actions = self.agent.dialect.parse(completion.text)
            size = _model_size(self.agent, observation, completion)
            step.actions = [
                convert_action(a, Space.SCREENSHOT_PX, frame=observation.frame, model_size=size)
                for a in step.model_actions
            ]
        except ActionParseError as error:
            step.parse_error = str(error)
            step.feedback = f"Your last reply could not be used: {error}"
            self.failures += 1
            return
        self._halted = False
        notes = []
        for index, action in enumerate(step.actions):
            if index and self.time_left() == 0:  # the time limit passed during this reply
                self._halted = True
            notes.append(self._run_action(step, index, self._bounded(action)))
        failed = any(d.verdict == "deny" for d in step.decisions) or any(
            not r.ok for r in step.results
        )
        self.failures = self.failures + 1 if failed else 0
        step.feedback = "\n".join(n for n in notes if n) or None

    def _run_action(self, step: AgentStep, index: int, action: Action) -> str | None:
        """Run one action unless an earlier one in the reply failed, was refused or ended
        the run: later actions were planned for a screen that did not come."""
        if self._halted or self.result is not None:
            return None
        agent = self.agent
        decision = self._decide(step, action)
        step.decisions.append(decision)
        if decision.verdict == "deny":
            self._halted = True
            return f"Action {index + 1} was refused: {decision.reason}"
        if isinstance(action, Finish):
            step.status = "success" if action.status == "success" else "failure"
            self.finish(step.status, "a Finish action ended the run", answer=action.answer)
            return None
        if isinstance(action, CallUser):
            return self._call_user(step, action)
        result = self.secrets.execute(agent.env, action)  # filled, masked, redacted
        step.results.append(result)
        if result.element is not None and action.points():
            self.focused = result.element
        if not result.ok:
            self._halted = True
            return f"Action {index + 1} failed: {result.error}"
        return result.note

    def _decide(self, step: AgentStep, action: Action) -> Decision:
        """The policy's verdict, with the secrets' rules (hosts, no URLs) first."""
        return self.secrets.decide(self.agent.env, action, step.observation.url, self.agent.policy)

    def _call_user(self, step: AgentStep, action: CallUser) -> str | None:
        answer = self.agent.on_call_user(action.question) if self.agent.on_call_user else None
        if answer is None:
            step.status = "needs_user"
            self.finish("needs_user", action.question or "the model asked for the user")
            return None
        return f"The user answered: {self.agent.secrets.redact(answer)}"

    def _record(self, step: AgentStep, messages: list[dict[str, Any]]) -> None:
        if self.writer is None:
            return
        with recording(self.writer.run_dir):
            screenshot = self.writer.save_screenshot(step.index, step.observation.image)
        record = step_record(step.model_copy(update={"messages": messages}), screenshot)
        self._write(self.agent.secrets.redact(record))

    def _write(self, record: dict[str, Any]) -> None:
        assert self.writer is not None
        with recording(self.writer.run_dir):
            self.writer.write(record)

    def finish(
        self, status: Status, reason: str, answer: str | None = None, kind: ErrorKind | None = None
    ) -> None:
        if self.result is None:
            redact = self.agent.secrets.redact
            answer = redact(answer) if answer is not None else None
            self.result = RunResult(
                status=status, reason=redact(reason), answer=answer, steps=self.index,
                error_kind=kind,
            )  # fmt: skip

    def failed(self, error: BaseException) -> None:
        """End the run with status "error" for `error`, saying which part broke."""
        self.finish("error", f"{type(error).__name__}: {error}", kind=error_kind(error))

    def close(self) -> RunResult:
        result = self.result or RunResult(status="stopped", reason="not started")
        result = result.model_copy(update={"steps": self.index})
        if self.writer is not None:
            summary = result.model_dump(mode="json", exclude={"trajectory_dir"})
            duration = time.monotonic() - self.started
            try:
                self._write({"type": "end", **summary, "duration_s": duration})
            except RecordingError as error:  # the run is over; its record says so or not at all
                logger.warning("%s", error)
                if result.status != "error":
                    result = result.model_copy(update={
                        "status": "error", "reason": str(error), "error_kind": "record"
                    })  # fmt: skip
            self.writer.close()
            result = result.model_copy(update={"trajectory_dir": self.writer.run_dir})
            _derive(self.writer.run_dir, self.agent.config)
        return result


def step_record(step: AgentStep, screenshot: str, *, kind: str = "agent") -> dict[str, Any]:
    """The trajectory record of one step (not yet redacted: the writer's caller redacts).
    Shared with `Pilot`, whose verbs are steps of their own `kind` ("click", "read", ...)."""
    observation = step.observation
    return {
        "type": "step", "kind": kind, "step": step.index, "time": time.time(),
        "screenshot": screenshot, "frame": observation.frame.model_dump(mode="json"),
        "url": observation.url, "title": observation.title,
        "text": list(observation.text) if observation.text is not None else None,
        "request_digest": request_digest(step.messages) if step.messages else None,
        "request": describe_request(step.messages) if step.messages else None,
        "completion": step.completion.model_dump(mode="json") if step.completion else None,
        "actions": [
            {"model": m.model_dump(mode="json"), "screenshot": a.model_dump(mode="json")}
            for m, a in zip(step.model_actions, step.actions, strict=False)
        ],
        "parse_error": step.parse_error, "feedback": step.feedback,
        "decisions": [d.model_dump(mode="json") for d in step.decisions],
        "results": [r.model_dump(mode="json") for r in step.results],
        "timings": step.timings,
    }  # fmt: skip


def observation_s(prepared: tuple) -> float:
    """Seconds `prepare` spent in `environment.observe()`."""
    return prepared[4]


def _model_size(agent: Agent, observation: Observation, completion: Completion) -> tuple[int, int]:
    """The size the model saw the current screenshot at: the backend says (the last image
    sent); otherwise the same resize rules with the configured limits."""
    if completion.image_sizes and completion.image_sizes[-1] != (0, 0):
        return completion.image_sizes[-1]
    config = agent.config
    return agent.dialect.model_size(
        observation.image.size, min_pixels=config.min_pixels, max_pixels=config.max_pixels
    )


def _model_name(backend: Backend) -> str | None:
    """The checkpoint or served model a backend talks to, for the record."""
    for attribute in ("checkpoint", "model"):
        value = getattr(backend, attribute, None)
        if isinstance(value, str | Path):
            return str(value)
    return None


def _derive(run_dir: Path, config: AgentConfig) -> None:
    """The MP4 and the report. A failure here must not lose the run (it is on disk
    already), so it becomes a warning, not an exception."""
    import importlib

    for enabled, module, function in ((config.video, "video", "render_video"),
                                      (config.report, "report", "render_report")):  # fmt: skip
        if not enabled:
            continue
        try:
            getattr(importlib.import_module(f"pixelpilot.agent.{module}"), function)(run_dir)
        except Exception as error:
            logger.warning("could not write the %s of %s: %s", module, run_dir, error)
