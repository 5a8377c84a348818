"""What every dialect is: a prompt renderer and a reply parser for one model family.

A dialect knows its model's coordinate space and output grammar and nothing about
screens: `parse` returns actions in the model's own space, and `pixelpilot.vlm.parse`
converts them with the one function in `tools.geometry`. `format_action` is `parse`
run backwards; it writes history in the model's own words and lets an oracle answer
exactly as the model would.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import ValidationError

from pixelpilot.tools import (
    Action,
    ActionParseError,
    Box,
    Click,
    Key,
    Point,
    Space,
    normalize_chord,
)

from ..messages import image_size
from ..resize import CHECKPOINT_MAX_PIXELS, DEFAULT_MIN_PIXELS, model_image_size

Mode = Literal["computer", "mobile"]
#: replies longer than this are refused unread (a model's reply is a few hundred tokens;
#: the bound is far above what `bench/bench_parse.py` shows parses in well under a second)
MAX_REPLY_CHARS = 4_000_000
#: actions one reply may hold: the screen changes after a few, so more is a runaway reply
MAX_ACTIONS = 64
Message = dict[str, Any]


@dataclass(frozen=True)
class Turn:
    """One earlier step as the model saw it: the screenshot it was shown (None once the
    history budget dropped it) and what it replied."""

    reply: str
    image: Any | None = None
    #: what the model should hear about its reply: a parse error, a failed action, a
    #: user's answer; shown as the user's next message
    feedback: str | None = None


def text_part(text: str) -> dict[str, str]:
    return {"type": "text", "text": text}


def image_part(image: Any) -> dict[str, Any]:
    return {"type": "image", "image": image}


class Dialect(ABC):
    """Prompt + output grammar + coordinate space of one model family."""

    name: ClassVar[str]
    space: ClassVar[Space]
    #: screenshots kept as images in the history before older turns become text only
    history_images: ClassVar[int] = 5
    #: the pixel limits the released checkpoints' processors use
    min_pixels: ClassVar[int] = DEFAULT_MIN_PIXELS
    max_pixels: ClassVar[int] = CHECKPOINT_MAX_PIXELS
    #: the finest step the model writes coordinates in (its grammar's resolution)
    quantum: ClassVar[float] = 1.0

    # -- rendering ---------------------------------------------------------------
    @abstractmethod
    def system_prompt(
        self, task: str, mode: Mode = "computer", *, model_size: tuple[int, int] | None = None
    ) -> str:
        """The text that teaches the model this grammar, with the task filled in.
        `model_size` is the image size the model sees (some prompts state it)."""

    @abstractmethod
    def grounding_prompt(self, instruction: str) -> str:
        """The text that asks the model where `instruction`'s element is."""

    def render(
        self,
        task: str,
        image: Any,
        history: Sequence[Turn] = (),
        *,
        mode: Mode = "computer",
    ) -> list[Message]:
        """Chat messages for one step: the instructions, earlier screenshots and replies,
        then the current screenshot."""
        messages = self.preamble(task, mode, model_size=self._size_of(image))
        for turn in history:
            if turn.image is not None:
                messages.append({"role": "user", "content": [image_part(turn.image)]})
            messages.append({"role": "assistant", "content": [text_part(turn.reply)]})
            if turn.feedback:
                messages.append({"role": "user", "content": [text_part(turn.feedback)]})
        messages.append({"role": "user", "content": [image_part(image)]})
        return messages

    def preamble(
        self, task: str, mode: Mode, *, model_size: tuple[int, int] | None
    ) -> list[Message]:
        """The messages before the screenshots: instructions and task, as trained."""
        prompt = self.system_prompt(task, mode, model_size=model_size)
        return [
            {"role": "system", "content": [text_part("You are a helpful assistant.")]},
            {"role": "user", "content": [text_part(prompt)]},
        ]

    def _size_of(self, image: Any) -> tuple[int, int] | None:
        """The model image size for a screenshot given as a PIL image, path or data URL."""
        try:
            size = image_size(image)
        except (OSError, TypeError, ValueError):
            return None
        return self.model_size(size) if size else None

    def render_grounding(self, instruction: str, image: Any) -> list[Message]:
        return [
            {
                "role": "user",
                "content": [image_part(image), text_part(self.grounding_prompt(instruction))],
            }
        ]

    # -- parsing -----------------------------------------------------------------
    def parse(self, text: str) -> list[Action]:
        """Actions in the reply, coordinates in `self.space`.

        Raises `ActionParseError` (its message is written for the model) and nothing else,
        for any text whatsoever: a reply, however bad, only ever becomes feedback for the
        next step. Each dialect's reader checks the types of what it reads (a list where a
        number belongs, a number where a key name belongs); the action models' own
        validation (a wait over 600 s, a bad field) is turned into an `ActionParseError`
        here, at the one boundary between model text and typed actions. The reply's size
        and its number of actions are bounded, so one reply cannot flood the controller.
        """
        if not isinstance(text, str):
            raise ActionParseError(f"The reply must be text, not {type(text).__name__}.")
        if len(text) > MAX_REPLY_CHARS:
            raise ActionParseError(
                f"The reply is {len(text):,} characters long; keep it under "
                f"{MAX_REPLY_CHARS:,}: a short thought and the action."
            )
        try:
            actions = self._parse(text)
        except ValidationError as error:
            raise ActionParseError(_invalid(error)) from None
        if len(actions) > MAX_ACTIONS:
            raise ActionParseError(
                f"The reply holds {len(actions)} actions; give at most {MAX_ACTIONS} at a time "
                "and look at the screen again."
            )
        return actions

    @abstractmethod
    def _parse(self, text: str) -> list[Action]:
        """The dialect's reader behind `parse`; raises ActionParseError for what it cannot
        read. It may let a pydantic ValidationError from an action's constructor through."""

    @abstractmethod
    def format_action(self, action: Action) -> str:
        """The action as this model would write it (coordinates already in `self.space`)."""

    def format_reply(self, actions: Sequence[Action], thought: str = "") -> str:
        """A whole reply: the thought, then the actions, in the model's own layout."""
        body = "\n\n".join(self.format_action(a) for a in actions)
        return f"Thought: {thought}\nAction: {body}" if thought else body

    def format_grounding(self, box: Box, label: str = "") -> str:
        """A grounding answer as this model writes it, for `box` (in `self.space`):
        models that answer with a point give the box's centre."""
        return self.format_reply([Click(point=box.center())])

    def model_size(
        self,
        screenshot_size: tuple[int, int],
        *,
        min_pixels: int | None = None,
        max_pixels: int | None = None,
    ) -> tuple[int, int]:
        """(width, height) of the image this model sees for a screenshot."""
        return model_image_size(
            *screenshot_size,
            min_pixels=self.min_pixels if min_pixels is None else min_pixels,
            max_pixels=self.max_pixels if max_pixels is None else max_pixels,
        )

    # -- helpers for subclasses --------------------------------------------------
    def point_from(self, numbers: Sequence[float] | None, what: str) -> Point:
        """A point from 2 numbers, or a box's centre from 4: models give either."""
        if numbers is None or len(numbers) not in (2, 4):
            count = 0 if numbers is None else len(numbers)
            raise ActionParseError(
                f"The {what} needs a point (x, y) or a box (x1, y1, x2, y2), "
                f"but {count} numbers were given."
            )
        if not all(isinstance(n, int | float) and math.isfinite(n) for n in numbers):
            raise ActionParseError(
                f"The {what} must be plain finite numbers, e.g. (100, 200); got "
                f"{', '.join(_short_number(n) for n in numbers)}."
            )
        if len(numbers) == 2:
            return Point(x=numbers[0], y=numbers[1], space=self.space)
        return Box.from_corners(*numbers, space=self.space).center()

    def coord(self, value: float) -> str:
        """A coordinate as the model writes it: integers, except in [0, 1]."""
        return str(round(value))


def key_action(chord: object) -> Key:
    """A Key action, or an ActionParseError that names the key the model got wrong.
    `chord` is whatever the reply held there: a string, a list, or something wrong."""
    try:
        return Key(keys=normalize_chord(chord))
    except ValueError as error:  # includes pydantic's ValidationError
        shown = repr(chord)[:60] if isinstance(chord, str) else "those keys"
        raise ActionParseError(f"Cannot press {shown}: {error}") from None


def _short_number(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else repr(value)[:20]


def _invalid(error: ValidationError) -> str:
    """A pydantic error about an action the model described, in words for the model."""
    first = error.errors()[0] if error.errors() else {}
    where = ".".join(str(part) for part in first.get("loc", ()))
    message = str(first.get("msg", "invalid value"))[:200]
    title = error.title
    return f"The {title} action cannot be built: {where + ': ' if where else ''}{message}."
