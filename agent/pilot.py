"""`Pilot`: GUI automation scripts in plain words, over any environment and model.

    with Pilot.browser(url, backend=model, dialect="uitars15") as pilot:
        pilot.click("the Sign up link")
        pilot.type("the Email field", "ada@example.com")
        pilot.expect("the form asks for a password")

Each verb takes a fresh screenshot, finds its target with `locate` (the one grounding
entry point: the dialect's own grounding prompt, the coordinate chain, zoom-in and the
visual cache; see `locate.py` and `locate_cache.py`), passes the action through the same
`Policy` as the agent, runs it with `{{name}}` secrets filled in only at the controller,
and writes one trajectory record (see `pilot_records.py`). What the script's author can
fix raises a `PilotError` (`NotFound`, `ExpectationFailed`, `WaitTimeout`, `ReadError`,
`ActionRefused`, `StepFailed`) with the description, the reply and the screenshot path;
a broken browser, display or backend raises its `InfrastructureError` unchanged.

Policy: the verbs are the author's own instructions, so by default they need no approval
(the default policy checks domains only); `act` hands control to the model and uses the
agent's default policy (approval for typing into password fields) unless one is given.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from pixelpilot.environments import ElementInfo, Environment, Observation
from pixelpilot.tools import (
    Action,
    Click,
    Drag,
    Key,
    Move,
    Navigate,
    Point,
    Scroll,
    Space,
    Type,
    convert_action,
)
from pixelpilot.vlm import GenerationParams, get_dialect
from pixelpilot.vlm.backend import Backend
from pixelpilot.vlm.dialects import Dialect

from . import pilot_read
from .locate import Grounder, Zoom
from .locate_cache import DEFAULT_CACHE_DIR, CacheMode, LocateCache, screen_id
from .loop import Agent, AgentConfig, RunResult
from .pilot_records import Call, Recorder, Step
from .pilot_types import (
    ActionRefused,
    ExpectationFailed,
    Located,
    PilotError,
    ReadError,
    StepFailed,
    Verdict,
    WaitTimeout,
)
from .policy import Policy
from .secrets import Secrets

T = TypeVar("T")


class PilotConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field("script", description="What the run directory and its header are named.")
    record: Path | None = Field(Path("runs"), description="Root for run directories; None: none.")
    report: bool = True
    video: bool = False
    zoom: Zoom = "auto"
    cache_dir: Path | None = DEFAULT_CACHE_DIR
    cache: CacheMode = "read-write"
    cache_tolerance: float = Field(8.0, ge=0, description="Mean level difference (of 255).")
    min_pixels: int | None = None
    max_pixels: int | None = None
    generation: GenerationParams = GenerationParams()


class Pilot:
    """Plain-words verbs over `env`, grounded by `backend` in `dialect`'s words."""

    def __init__(
        self,
        env: Environment,
        backend: Backend,
        *,
        dialect: str | Dialect = "uitars15",
        policy: Policy | None = None,
        secrets: dict[str, str] | Secrets | None = None,
        config: PilotConfig | None = None,
        close_env: bool = False,
        **options: Any,
    ) -> None:
        self.env, self.backend, self.dialect = env, backend, get_dialect(dialect)
        base = (config or PilotConfig()).model_dump()
        self.config = PilotConfig.model_validate({**base, **options})  # options checked too
        self.policy = policy or Policy(sensitive=frozenset())
        self.agent_policy = policy or Policy()
        self.secrets = secrets if isinstance(secrets, Secrets) else Secrets(secrets)
        self._close_env = close_env
        self.focused: ElementInfo | None = None
        c = self.config
        self.grounder = Grounder(
            backend, self.dialect, params=c.generation, min_pixels=c.min_pixels,
            max_pixels=c.max_pixels,
        )  # fmt: skip
        self.cache = LocateCache(c.cache_dir, c.cache, tolerance=c.cache_tolerance)
        self.model = _model_name(backend)
        self.stats = {"model_calls": 0, "cache_hits": 0, "cache_misses": 0}
        if self.policy.domains is not None and hasattr(env, "set_domains"):
            env.set_domains(self.policy.domains)
        self.recorder = Recorder(c.record, c.name, self.secrets, {
            "kind": "script", "dialect": self.dialect.name, "backend": type(backend).__name__,
            "model": self.model, "environment": type(env).__name__, "secrets": self.secrets.names,
            "config": c.model_dump(mode="json"), "created": time.time(),
        })  # fmt: skip
        self._closed = False

    # -- opening and closing ---------------------------------------------------------------
    @classmethod
    def browser(
        cls, url: str | None = None, *, backend: Backend, dialect: str | Dialect = "uitars15",
        policy: Policy | None = None, secrets: dict[str, str] | Secrets | None = None,
        **options: Any,
    ) -> Pilot:  # fmt: skip
        """A Chromium page at `url`; options are `open_browser`'s (viewport=,
        device_scale_factor=, ...) and `PilotConfig`'s (cache_dir=, zoom=, record=, ...)."""
        from pixelpilot.environments import open_browser

        mine, theirs = _split(options)
        domains = policy.domains if policy is not None else None
        env = open_browser(url, domains=domains, **theirs)
        return cls._owning(env, backend, dialect, policy, secrets, mine)

    @classmethod
    def desktop(
        cls, display: str | None = None, *, backend: Backend, dialect: str | Dialect = "uitars15",
        policy: Policy | None = None, secrets: dict[str, str] | Secrets | None = None,
        **options: Any,
    ) -> Pilot:  # fmt: skip
        """An X11 screen; options are `open_desktop`'s (monitor=, scale=) and PilotConfig's."""
        from pixelpilot.environments import open_desktop

        mine, theirs = _split(options)
        env = open_desktop(display, **theirs)
        return cls._owning(env, backend, dialect, policy, secrets, mine)

    @classmethod
    def _owning(cls, env: Environment, backend: Backend, dialect: Any, policy: Any,
                secrets: Any, options: dict[str, Any]) -> Pilot:  # fmt: skip
        try:
            return cls(env, backend, dialect=dialect, policy=policy, secrets=secrets,
                       close_env=True, **options)  # fmt: skip
        except BaseException:
            env.close()
            raise

    def close(self, status: str = "success", reason: str | None = None) -> Path | None:
        """End the recording (report written) and close an environment Pilot opened."""
        if self._closed:
            return self.recorder.run_dir
        self._closed = True
        try:
            return self.recorder.close(
                status, reason, report=self.config.report, video=self.config.video
            )
        finally:
            if self._close_env:
                self.env.close()

    def __enter__(self) -> Pilot:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: Any
    ) -> None:
        if error is None:
            self.close()
        else:
            status = "failure" if isinstance(error, PilotError) else "error"
            self.close(status, f"{type(error).__name__}: {error}")

    @property
    def run_dir(self) -> Path | None:
        return self.recorder.run_dir

    def observe(self) -> Observation:
        """A screenshot, unrecorded (what the MCP server's `screenshot` tool shows)."""
        return self.env.observe()

    # -- grounding -------------------------------------------------------------------------
    def locate(self, description: str, *, zoom: Zoom | None = None) -> Located:
        """Where `description`'s target is now, in screenshot pixels (NotFound if nowhere)."""
        with self._step("locate") as step:
            return self._locate(step, description, zoom)

    def _locate(self, step: Step, description: str, zoom: Zoom | None) -> Located:
        observation, image = step.observation, step.observation.image
        description = self.secrets.redact(description)
        key = self.cache.key(
            dialect=self.dialect.name, model=self.model, description=description,
            screen=screen_id(observation.url, None, observation.frame),
        )  # fmt: skip
        found = self.cache.lookup(key, image)
        if found is not None:
            self.stats["cache_hits"] += 1
            located = Located(
                description=description, point=found.point, box=found.box,
                frame=observation.frame, how="cache", cached=True, reply=found.reply,
                screenshot=step.screenshot, step=step.index, image=image,
            )  # fmt: skip
        else:
            self.stats["cache_misses"] += self.cache.reads
            located = self._ground(step, description, zoom, image)
            self.cache.store(key, image, observation.frame, located.point, located.box,
                             reply=self.secrets.redact(located.reply), how=located.how)  # fmt: skip
        step.extra.setdefault("located", []).append(
            located.model_dump(mode="json", exclude={"calls", "screenshot"})
        )
        step.extra.setdefault("description", description)
        return located

    def _ground(self, step: Step, description: str, zoom: Zoom | None, image: Any) -> Located:
        looks: list[Any] = []
        try:
            grounded = self.grounder.ground(
                description, image, zoom=self.config.zoom if zoom is None else zoom, looks=looks
            )
        finally:  # the calls are on record even when nothing was found
            self.stats["model_calls"] += len(looks)
            step.calls += [
                Call(
                    look.purpose,
                    look.messages,
                    look.completion,
                    look.frame.model_dump(mode="json"),
                    look.model_size,
                )
                for look in looks
            ]
        return Located(
            description=description, point=grounded.point, box=grounded.box,
            frame=step.observation.frame, how=grounded.how, reply=grounded.reply,
            calls=tuple(look.as_call() for look in looks),
            screenshot=step.screenshot, step=step.index, image=image,
        )  # fmt: skip

    # -- pointer and keyboard verbs ------------------------------------------------------
    def click(self, description: str, *, button: Literal["left", "right", "middle"] = "left",
              clicks: int = 1, zoom: Zoom | None = None) -> Located:  # fmt: skip
        kind = {(1, "left"): "click", (2, "left"): "double_click", (1, "right"): "right_click"}
        with self._step(kind.get((clicks, button), "click")) as step:
            located = self._locate(step, description, zoom)
            self._act(step, [Click(point=located.point, button=button, clicks=clicks)])
            return located

    def double_click(self, description: str, *, zoom: Zoom | None = None) -> Located:
        return self.click(description, clicks=2, zoom=zoom)

    def right_click(self, description: str, *, zoom: Zoom | None = None) -> Located:
        return self.click(description, button="right", zoom=zoom)

    def click_at(self, x: float, y: float, *, button: Literal["left", "right", "middle"] = "left",
                 clicks: int = 1) -> None:  # fmt: skip
        """Click at (x, y) in screenshot pixels, no grounding (the MCP server's raw click);
        a point off the screen raises StepFailed, never a click at a clamped guess."""
        with self._step("click") as step:
            point = Point(x=x, y=y, space=Space.SCREENSHOT_PX)
            self._act(step, [Click(point=point, button=button, clicks=clicks)])

    def hover(self, description: str, *, zoom: Zoom | None = None) -> Located:
        with self._step("hover") as step:
            located = self._locate(step, description, zoom)
            self._act(step, [Move(point=located.point)])
            return located

    def drag(self, from_description: str, to_description: str, *,
             zoom: Zoom | None = None) -> tuple[Located, Located]:  # fmt: skip
        """Press on the first target, move to the second, release (both found on one
        screenshot, before anything moves)."""
        with self._step("drag") as step:
            start = self._locate(step, from_description, zoom)
            end = self._locate(step, to_description, zoom)
            self._act(step, [Drag(start=start.point, end=end.point)])
            return start, end

    def type(self, description: str | None, text: str, *, submit: bool = False,
             zoom: Zoom | None = None) -> Located | None:  # fmt: skip
        """Click `description` (None: type where the focus is), then type `text` (which
        may hold `{{name}}` secrets); `submit` presses Enter after it."""
        with self._step("type") as step:
            located = self._locate(step, description, zoom) if description else None
            actions: list[Action] = [Click(point=located.point)] if located else []
            self._act(step, [*actions, Type(text=self.secrets.redact(text), submit=submit)])
            return located

    def press(self, keys: str | Sequence[str]) -> None:
        """One key or chord: "enter", "ctrl+a", ["ctrl", "shift", "t"]."""
        with self._step("press") as step:
            self._act(step, [Key(keys=keys)])

    def scroll(self, direction: Literal["up", "down", "left", "right"] = "down",
               amount: int = 5, description: str | None = None, *,
               zoom: Zoom | None = None) -> Located | None:  # fmt: skip
        """Turn the wheel `amount` notches, over `description`'s target if given."""
        with self._step("scroll") as step:
            located = self._locate(step, description, zoom) if description else None
            point = located.point if located else None
            self._act(step, [Scroll(point=point, direction=direction, amount=amount)])
            return located

    def goto(self, url: str) -> None:
        """Open `url` in the current tab (the policy's domain lists apply)."""
        with self._step("goto") as step:
            self._act(step, [Navigate(url=url)])

    def _act(self, step: Step, actions: list[Action]) -> None:
        """Check each action with the policy, run it, and stop at the first refusal or
        failure (the rest were meant for a screen that did not come)."""
        frame, size = step.observation.frame, self._model_size(step)
        for action in actions:
            step.actions.append(action)
            step.model_actions.append(
                convert_action(
                    action, self.dialect.space, frame=frame, model_size=size, check=False
                )
            )
            # the agent's rules for secrets: bound to the first page acted on (unless hosts
            # were named), never in a URL, masked on screen, judged on the focused field
            self.secrets = self.secrets.bound(step.observation.url)
            decision = self.secrets.decide(self.env, action, step.observation.url, self.policy)
            step.decisions.append(decision)
            if decision.verdict == "deny":
                raise ActionRefused(f"The policy refused {action.action}: {decision.reason}")
            result = self.secrets.execute(self.env, action)
            step.results.append(result)
            if result.element is not None and action.points():
                self.focused = result.element
            if not result.ok:
                raise StepFailed(f"{action.action} failed: {result.error}")

    def _model_size(self, step: Step) -> tuple[int, int]:
        if step.calls and step.calls[0].purpose == "ground":
            return step.calls[0].model_size
        return self.grounder.model_size(step.observation.frame.size)

    # -- questions ---------------------------------------------------------------------------
    def read(self, question: str, schema: type[T] | Any = str) -> T:
        """The answer to `question` about the screen, validated as `schema` (str, int,
        float, bool, list[...], a pydantic model...). Retries once with the validation
        error, then raises ReadError with the reply."""
        adapter = TypeAdapter(schema)
        prompt = pilot_read.read_prompt(self.secrets.redact(question), adapter.json_schema())
        with self._step("read") as step:
            step.extra["description"] = question
            value = self._ask_valid(step, prompt, "read", lambda text: pilot_read.validate(
                adapter, text, plain_text=schema is str))  # fmt: skip
            step.extra["answer"] = adapter.dump_python(value, mode="json")
            return value

    def expect(self, statement: str) -> Verdict:
        """Check that `statement` holds on the screen; ExpectationFailed with the model's
        reason and the screenshot if it does not."""
        with self._step("expect") as step:
            verdict = self._check(step, statement)
            if not verdict.holds:
                raise ExpectationFailed(
                    f"Expected {statement!r}, but the model says no: {verdict.reason}",
                    reason=verdict.reason, description=statement, reply=verdict.reply,
                )  # fmt: skip
            return verdict

    def wait_for(self, statement: str, timeout_s: float = 10.0, interval_s: float = 0.5) -> Verdict:
        """Ask until `statement` holds (each poll a record); WaitTimeout after timeout_s."""
        deadline, polls = time.monotonic() + timeout_s, 0
        while True:
            polls += 1
            with self._step("wait_for") as step:
                verdict = self._check(step, statement).model_copy(update={"polls": polls})
            if verdict.holds:
                return verdict
            if time.monotonic() + interval_s > deadline:
                raise WaitTimeout(
                    f"{statement!r} did not become true within {timeout_s:g} s ({polls} "
                    f"checks); last answer: {verdict.reason}",
                    reason=verdict.reason, description=statement, reply=verdict.reply,
                    screenshot=verdict.screenshot,
                )  # fmt: skip
            time.sleep(interval_s)

    def _check(self, step: Step, statement: str) -> Verdict:
        step.extra["description"] = statement
        prompt = pilot_read.expect_prompt(self.secrets.redact(statement))
        answer = self._ask_valid(step, prompt, "expect", pilot_read.verdict)
        step.extra["answer"] = answer.model_dump()
        return Verdict(
            statement=statement, holds=answer.answer == "yes", reason=answer.reason,
            reply=step.calls[-1].completion.text, screenshot=step.screenshot,
        )  # fmt: skip

    def _ask_valid(self, step: Step, prompt: str, purpose: str, parse: Callable[[str], T]) -> T:
        image = step.observation.image
        messages = pilot_read.question(image, prompt)
        for attempt in range(2):
            (completion,) = self.backend.generate([messages], self.config.generation)
            self.stats["model_calls"] += 1
            size = self.grounder.model_size(step.observation.frame.size, completion)
            frame = step.observation.frame.model_dump(mode="json")
            step.calls.append(Call(purpose if attempt == 0 else "retry", messages, completion,
                                   frame, size))  # fmt: skip
            try:
                return parse(completion.text)
            except (ValidationError, ValueError) as error:
                reason = pilot_read.explain(error)
                messages = pilot_read.follow_up(
                    messages, completion.text, pilot_read.retry_prompt(reason)
                )
        raise ReadError(
            f"The reply does not fit what was asked for, even after one retry: {reason}",
            description=step.extra.get("description"), reply=completion.text,
        )  # fmt: skip

    # -- the agent loop ----------------------------------------------------------------------
    def act(self, instruction: str, max_steps: int = 15) -> RunResult:
        """Hand `instruction` to the agent loop (the model plans each step); its steps are
        recorded in this script's trajectory with kind "act"."""
        c = self.config
        agent_config = AgentConfig(
            max_steps=max_steps, record=None, video=False, report=False,
            min_pixels=c.min_pixels, max_pixels=c.max_pixels, generation=c.generation,
        )  # fmt: skip
        agent = Agent(self.backend, self.env, dialect=self.dialect, config=agent_config,
                      policy=self.agent_policy, secrets=self.secrets)  # fmt: skip
        extra = {"description": self.secrets.redact(instruction)}
        for step in agent.stream(instruction):
            self.stats["model_calls"] += 1
            self.recorder.write_agent_step(step, extra)
            if step.results and step.results[-1].element is not None:
                self.focused = step.results[-1].element
        assert agent.result is not None
        return agent.result.model_copy(update={"trajectory_dir": self.run_dir})

    # -- one recorded step -------------------------------------------------------------------
    @contextlib.contextmanager
    def _step(self, kind: str) -> Iterator[Step]:
        if self._closed:
            raise PilotError("This Pilot is closed: open a new one to go on.")
        observed = time.perf_counter()
        observation = self.env.observe()
        step = self.recorder.begin(kind, observation)
        step.timings["observe_s"] = time.perf_counter() - observed
        try:
            yield step
        except PilotError as error:
            _attach(error, step.screenshot)
            step.error = error
            raise
        except Exception as error:
            step.error = error
            raise
        finally:
            self.recorder.write(step)


def _attach(error: PilotError, screenshot: Path | None) -> None:
    """Give an error raised below the step (by the grounder) the step's screenshot."""
    if error.screenshot is None and screenshot is not None:
        error.screenshot = screenshot
        error.args = (f"{error.args[0]} (screenshot: {screenshot})", *error.args[1:])


def _split(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """PilotConfig's options apart from the environment's."""
    fields = PilotConfig.model_fields
    return ({k: v for k, v in options.items() if k in fields},
            {k: v for k, v in options.items() if k not in fields})  # fmt: skip


def _model_name(backend: Backend) -> str:
    """The checkpoint or served model (part of the cache key), else the backend's class."""
    for attribute in ("checkpoint", "model"):
        value = getattr(backend, attribute, None)
        if isinstance(value, str | Path):
            return str(value)
    return type(backend).__name__
