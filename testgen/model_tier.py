"""The model tier: `Pilot.locate` on a step's description over the live page, and the
yes/no check a healed target must pass when a model is at hand.

The Healer drives pytest-playwright's own `page`, so the Pilot here looks at that page
through `PageScreen`, an environment that only observes (screenshots at the page's device
pixel ratio); every action is the Healer's, through Playwright, so nothing is ever acted
on before it is verified. Nothing is recorded (a test run is not a trajectory) and the
locate cache is off (the visual tier is the Healer's own).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pixelpilot.environments import ElementInfo, Environment, Observation
from pixelpilot.tools import Action, ScreenFrame

log = logging.getLogger("pixelpilot.testgen.model")

BACKENDS = ("openai", "transformers")
CONFIRM_MARGIN = 8  # CSS px of context around the element in the yes/no crop


class ModelTierError(ValueError):
    """The --pixelpilot-backend options cannot make a backend (a usage error)."""


class PageScreen(Environment):
    """An environment that only looks: `shoot()` gives (PIL image, device pixel ratio,
    url). The Healer acts through Playwright itself, after verification."""

    def __init__(self, shoot: Callable[[], tuple[Any, float, str | None]]) -> None:
        self._shoot = shoot
        self._last: ScreenFrame | None = None

    def observe(self) -> Observation:
        image, dpr, url = self._shoot()
        self._last = ScreenFrame(width=image.width, height=image.height, scale=dpr)
        return Observation(image=image.convert("RGB"), frame=self._last, url=url)

    def _frame(self) -> ScreenFrame:
        if self._last is None:
            self.observe()
        assert self._last is not None
        return self._last

    def _perform(self, action: Action) -> tuple[ElementInfo | None, str | None]:
        raise NotImplementedError("the healer acts through Playwright, never through this view")


@dataclass(frozen=True)
class ModelOptions:
    """--pixelpilot-backend / -base-url / -model / -dialect, as given."""

    backend: str | None = None
    base_url: str | None = None
    model: str | None = None
    dialect: str | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.backend)

    def check(self) -> None:
        """A clear error for options that cannot work, before any test runs."""
        from pixelpilot.vlm import DIALECTS

        if not self.backend:
            return
        if self.backend not in BACKENDS:
            raise ModelTierError(f"--pixelpilot-backend must be one of {', '.join(BACKENDS)}, "
                                 f"not {self.backend!r}")  # fmt: skip
        if self.backend == "openai":
            url = self.base_url or ""
            if not url.startswith(("http://", "https://")):
                raise ModelTierError(
                    "--pixelpilot-backend openai needs --pixelpilot-base-url, an http(s) URL "
                    f"such as http://127.0.0.1:8000/v1 (got {self.base_url!r})"
                )
        elif not self.model:
            raise ModelTierError("--pixelpilot-backend transformers needs --pixelpilot-model")
        if self.dialect and self.dialect not in DIALECTS:
            names = ", ".join(sorted(DIALECTS))
            raise ModelTierError(f"--pixelpilot-dialect must be one of {names}, "
                                 f"not {self.dialect!r}")  # fmt: skip

    def load(self) -> Any:
        """The backend, as `pixelpilot run` builds it."""
        from pixelpilot.vlm import load_backend

        self.check()
        if self.backend == "openai":
            backend = load_backend("openai", base_url=self.base_url, model=self.model)
            backend.discover()
            return backend
        return load_backend("transformers", model=self.model)

    def dialect_name(self) -> str:
        from pixelpilot.agent.commands import guess_dialect

        return self.dialect or guess_dialect(self.model)


class ModelTier:
    """`Pilot.locate` on a description, and a yes/no check of a crop, with one backend."""

    def __init__(self, backend: Any, dialect: str) -> None:
        self.backend, self.dialect = backend, dialect

    def _pilot(self, env: Environment) -> Any:
        from pixelpilot.agent.pilot import Pilot

        return Pilot(env, self.backend, dialect=self.dialect, record=None, report=False,
                     cache="off")  # fmt: skip

    def locate(self, page: Any, description: str) -> tuple[float, float] | str:
        """The target's point in CSS pixels, or why the model found none."""
        from pixelpilot.agent.pilot_types import PilotError

        env = PageScreen(lambda: shoot(page))
        try:
            located = self._pilot(env).locate(description)
        except PilotError as error:
            return f"the model found none ({error})"
        scale = located.frame.scale or 1.0
        return located.point.x / scale, located.point.y / scale

    def confirms(self, page: Any, box: tuple[float, float, float, float], description: str) -> str:
        """'' when the model says yes: the crop of `box` (CSS px) shows `description`;
        else why not."""
        from pixelpilot.agent.pilot_types import PilotError

        image, dpr, url = shoot(page)
        x0, y0, x1, y1 = (
            max(0, round((box[0] - CONFIRM_MARGIN) * dpr)),
            max(0, round((box[1] - CONFIRM_MARGIN) * dpr)),
            min(image.width, round((box[2] + CONFIRM_MARGIN) * dpr)),
            min(image.height, round((box[3] + CONFIRM_MARGIN) * dpr)),
        )
        crop = image.crop((x0, y0, max(x0 + 1, x1), max(y0 + 1, y1)))
        env = PageScreen(lambda: (crop, dpr, url))
        try:
            self._pilot(env).expect(f"This picture shows {description}")
        except PilotError as error:
            return f"the model does not confirm the crop ({error})"
        return ""


def shoot(page: Any) -> tuple[Any, float, str | None]:
    """A viewport screenshot at the page's device pixel ratio, its ratio and URL."""
    from PIL import Image

    image = Image.open(io.BytesIO(page.screenshot()))
    image.load()
    dpr = float(page.evaluate("window.devicePixelRatio") or 1.0)
    return image.convert("RGB"), dpr, page.url
