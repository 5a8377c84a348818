"""`AsyncPilot`: the same verbs for asyncio code, awaited.

It falls out of `AsyncEnvironment`: a `Pilot` is built on the environment's own thread
and every verb runs there (`AsyncEnvironment.run`), so Playwright's thread-bound objects
never leave it and the event loop never blocks on a screenshot or a model call. Many
scripts then run side by side in one event loop, one environment each.

    async with await AsyncPilot.open(await open_browser_async(url), model) as pilot:
        await pilot.click("the Sign up link")
"""

from __future__ import annotations

import functools
from typing import Any

from pixelpilot.environments import AsyncEnvironment
from pixelpilot.vlm.backend import Backend

from .loop import RunResult
from .pilot import Pilot
from .pilot_types import Located, PilotError, Verdict


class AsyncPilot:
    """Awaitable `Pilot` verbs over an `AsyncEnvironment` (closed with the pilot)."""

    def __init__(self, environment: AsyncEnvironment, pilot: Pilot) -> None:
        self.environment, self.pilot = environment, pilot

    @classmethod
    async def open(
        cls, environment: AsyncEnvironment, backend: Backend, **options: Any
    ) -> AsyncPilot:
        """A Pilot over `environment` (options as `Pilot`'s), built on its thread."""
        pilot = await environment.run(lambda env: Pilot(env, backend, **options))
        return cls(environment, pilot)

    async def _do(self, verb: str, *args: Any, **kwargs: Any) -> Any:
        call = functools.partial(getattr(self.pilot, verb), *args, **kwargs)
        return await self.environment.run(lambda _env: call())

    async def locate(self, description: str, **options: Any) -> Located:
        return await self._do("locate", description, **options)

    async def click(self, description: str, **options: Any) -> Located:
        return await self._do("click", description, **options)

    async def double_click(self, description: str, **options: Any) -> Located:
        return await self._do("double_click", description, **options)

    async def right_click(self, description: str, **options: Any) -> Located:
        return await self._do("right_click", description, **options)

    async def hover(self, description: str, **options: Any) -> Located:
        return await self._do("hover", description, **options)

    async def drag(self, start: str, end: str, **options: Any) -> tuple[Located, Located]:
        return await self._do("drag", start, end, **options)

    async def type(self, description: str | None, text: str, **options: Any) -> Located | None:
        return await self._do("type", description, text, **options)

    async def press(self, keys: Any) -> None:
        return await self._do("press", keys)

    async def scroll(self, *args: Any, **options: Any) -> Located | None:
        return await self._do("scroll", *args, **options)

    async def goto(self, url: str) -> None:
        return await self._do("goto", url)

    async def read(self, question: str, schema: Any = str) -> Any:
        return await self._do("read", question, schema)

    async def expect(self, statement: str) -> Verdict:
        return await self._do("expect", statement)

    async def wait_for(self, statement: str, *args: Any, **options: Any) -> Verdict:
        return await self._do("wait_for", statement, *args, **options)

    async def act(self, instruction: str, max_steps: int = 15) -> RunResult:
        return await self._do("act", instruction, max_steps)

    async def close(self) -> None:
        try:
            await self._do("close")
        finally:
            await self.environment.close()

    async def __aenter__(self) -> AsyncPilot:
        return self

    async def __aexit__(self, kind: type | None, error: BaseException | None, _: Any) -> None:
        if error is None:
            await self.close()
            return
        status = "failure" if isinstance(error, PilotError) else "error"
        try:
            await self._do("close", status, f"{type(error).__name__}: {error}")
        finally:
            await self.environment.close()
