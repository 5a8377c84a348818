"""Oracle backends: answer from the page's DOM, in a dialect's exact words.

An oracle is not a model and never claims to be one. It knows what to do (a plan, or a
task solver) and reads where the target is *now*, then writes the reply the model would
write: coordinates in the dialect's space and rounding, its grammar, its layout.
Everything after it is the real pipeline (parsing, resizing, coordinate mapping, policy,
controller), so a run with it measures the pipeline's ceiling, and the demo can show the
loop working on a machine that has no model weights.

The words come from `oracle_words`, which computes them from the models' documentation
and never calls the pipeline's own formatters, resize or conversion: a mistake there
shows up as a miss instead of cancelling out. For the same reason the oracle does not
say what size the model saw (as an OpenAI-compatible server does not): the pipeline
must work it out with its own resize rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from pixelpilot.agent.demo import PlanStep
from pixelpilot.tools import Action, Click, Finish, Point, Space, Type
from pixelpilot.vlm import BackendError, Completion, GenerationParams
from pixelpilot.vlm.backend import Conversation, Usage, as_batch
from pixelpilot.vlm.dialects import Dialect

from .oracle_words import Grid, reply

#: how runs and reports name an oracle: never mistaken for a model
ORACLE_NAME = "oracle (answers from the page's DOM; not a model)"


class DomOracle:
    """The common part: one action per request, written in the dialect's words for the
    screenshot the agent has just taken. Subclasses say which action comes next."""

    model = ORACLE_NAME

    def __init__(
        self,
        environment: Any,
        dialect: Dialect,
        *,
        min_pixels: int | None = None,
        max_pixels: int | None = None,
    ) -> None:
        """`dialect` names the grammar to answer in (only its name is used); the pixel
        limits are the ones the agent was told the server resizes with."""
        self.env, self.dialect = environment, dialect
        self.min_pixels, self.max_pixels = min_pixels, max_pixels

    def next_action(self) -> tuple[Action, str]:
        """The next action, in screenshot pixels, and the thought to write with it."""
        raise NotImplementedError

    def generate(
        self, conversations: Sequence[Conversation], params: GenerationParams | None = None
    ) -> list[Completion]:
        return [self._reply() for _ in as_batch(conversations)]

    def _reply(self) -> Completion:
        action, thought = self.next_action()
        text = reply(self.dialect.name, [action], self.grid(), thought=thought)
        return Completion(text=text, usage=Usage(), finish_reason="stop")

    def grid(self) -> Grid:
        """How the model addresses the screenshot about to be answered: the page's CSS
        viewport times its device pixel ratio is the screenshot's size."""
        viewport = self.env.page.viewport_size
        dpr = self.env.dpr
        size = (round(viewport["width"] * dpr), round(viewport["height"] * dpr))
        return Grid.of(
            self.dialect.name, size, min_pixels=self.min_pixels, max_pixels=self.max_pixels
        )


class OracleBackend(DomOracle):
    """Replies for a fixed `plan`, one step per request, reading positions from `env.page`."""

    def __init__(self, environment: Any, plan: Sequence[PlanStep], dialect: Dialect) -> None:
        super().__init__(environment, dialect)
        self.plan = list(plan)
        self.position = 0

    def next_action(self) -> tuple[Action, str]:
        step = self.plan[min(self.position, len(self.plan) - 1)]
        self.position += 1
        return self._action(step), step.thought or step.kind

    def _action(self, step: PlanStep) -> Action:
        if step.kind == "type":
            return Type(text=step.target)
        if step.kind == "finish":
            return Finish(status="success", answer=step.target or None)
        box = self.env.page.locator(step.target).first.bounding_box()
        if box is None:
            raise ValueError(f"the oracle cannot see {step.target!r} on {self.env.page.url}")
        scale = self.env.dpr
        x, y = (box["x"] + box["width"] / 2) * scale, (box["y"] + box["height"] / 2) * scale
        return Click(point=Point(x=x, y=y, space=Space.SCREENSHOT_PX))


class SolverOracle(DomOracle):
    """Replies with what a task solver yields (a generator resumed once per step, so it
    reads the page as it is after the last action); says it is done when the solver is."""

    def __init__(
        self,
        environment: Any,
        solver: Callable[[Any, str], Iterator[Action]],
        task: str,
        dialect: Dialect,
        **pixels: int | None,
    ) -> None:
        super().__init__(environment, dialect, **pixels)
        self._actions = solver(environment, task)
        self.steps = 0

    def next_action(self) -> tuple[Action, str]:
        self.steps += 1
        try:
            action = next(self._actions, None)
        except Exception as error:  # the solver met a page it does not know: not the model's
            message = f"the oracle's solver failed: {type(error).__name__}: {error}"
            raise BackendError(message) from error
        if action is None:
            return Finish(status="success"), "The task is done."
        return action, f"Step {self.steps}: {action.action}."
