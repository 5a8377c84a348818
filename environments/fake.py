"""A fake screen for unit tests of the agent loop: fixed or scripted screenshots, and a
record of every action it was asked to perform, in screen units."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pixelpilot.tools import Action, ScreenFrame

from .base import ActionFailed, ElementInfo, Environment, Observation


class FakeEnvironment(Environment):
    """Shows `screens` in turn (the last one repeats) or `screens(step)`; `fail` makes
    chosen actions fail with a message, to test how the loop hands errors back."""

    def __init__(
        self,
        screens: Sequence[Any] | Callable[[int], Any],
        *,
        scale: float = 1.0,
        origin: tuple[float, float] = (0.0, 0.0),
        url: str | None = None,
        fail: Callable[[Action], str | None] | None = None,
    ) -> None:
        if not callable(screens) and not screens:
            raise ValueError("give at least one screenshot")
        self._screens = screens
        self._scale, self._origin, self._url = scale, origin, url
        self._fail = fail
        self.step = 0
        self.actions: list[Action] = []  # what it was asked to do, in screen units

    def _image(self) -> Any:
        if callable(self._screens):
            return self._screens(self.step)
        return self._screens[min(self.step, len(self._screens) - 1)]

    def _frame(self) -> ScreenFrame:
        width, height = self._image().size
        return ScreenFrame(width=width, height=height, scale=self._scale, origin=self._origin)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> Observation:
        self.step = 0
        self.actions.clear()
        return self.observe()

    def observe(self) -> Observation:
        return Observation(image=self._image(), frame=self._frame(), url=self._url, title="fake")

    def _perform(self, action: Action) -> tuple[ElementInfo | None, str | None]:
        message = self._fail(action) if self._fail else None
        if message:
            raise ActionFailed(message)
        self.actions.append(action)
        self.step += 1
        return None, None
