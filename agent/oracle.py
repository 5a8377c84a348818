"""An oracle backend: answers from the page's DOM, in a dialect's exact words.

It is not a model and never claims to be one. It knows the plan (which element to
click, what to type) and reads where that element is *now*, then writes the reply the
model would write: coordinates in the dialect's space and rounding, its grammar, its
layout. Everything after it is the real pipeline (parsing, coordinate mapping, policy,
controller), so a run with it measures the pipeline's ceiling, and the demo can show the
loop working on a machine that has no model weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pixelpilot.tools import Action, Click, Finish, Point, ScreenFrame, Space, Type, convert_action
from pixelpilot.vlm import Completion, GenerationParams
from pixelpilot.vlm.backend import Conversation, Usage, as_batch
from pixelpilot.vlm.dialects import Dialect


@dataclass(frozen=True)
class PlanStep:
    """One thing to do: click a CSS selector's centre, type text, or finish."""

    kind: Literal["click", "type", "finish"]
    target: str = ""  # CSS selector for clicks, the text for typing, the answer to finish
    thought: str = ""


class OracleBackend:
    """Replies for `plan`, one step per request, reading positions from `env.page`."""

    #: how runs and reports name it: never mistaken for a model
    model = "oracle (answers from the page's DOM; not a model)"

    def __init__(self, environment: Any, plan: Sequence[PlanStep], dialect: Dialect) -> None:
        self.env, self.plan, self.dialect = environment, list(plan), dialect
        self.position = 0

    def generate(
        self, conversations: Sequence[Conversation], params: GenerationParams | None = None
    ) -> list[Completion]:
        return [self._next() for _ in as_batch(conversations)]

    def _next(self) -> Completion:
        step = self.plan[min(self.position, len(self.plan) - 1)]
        self.position += 1
        frame = self._frame()
        model_size = self.dialect.model_size(frame.size)
        action = self._action(step, frame)
        in_model_space = convert_action(
            action, self.dialect.space, frame=frame, model_size=model_size
        )
        text = self.dialect.format_reply([in_model_space], thought=step.thought or step.kind)
        return Completion(text=text, image_sizes=(model_size,), usage=Usage(), finish_reason="stop")

    def _frame(self) -> ScreenFrame:
        viewport = self.env.page.viewport_size
        dpr = self.env.dpr
        return ScreenFrame(
            width=round(viewport["width"] * dpr), height=round(viewport["height"] * dpr), scale=dpr
        )

    def _action(self, step: PlanStep, frame: ScreenFrame) -> Action:
        if step.kind == "type":
            return Type(text=step.target)
        if step.kind == "finish":
            return Finish(status="success", answer=step.target or None)
        box = self.env.page.locator(step.target).first.bounding_box()
        if box is None:
            raise ValueError(f"the oracle cannot see {step.target!r} on {self.env.page.url}")
        x, y = (
            (box["x"] + box["width"] / 2) * frame.scale,
            (box["y"] + box["height"] / 2) * frame.scale,
        )
        return Click(point=Point(x=x, y=y, space=Space.SCREENSHOT_PX))
