"""Environments for asyncio code: the same controllers, each confined to its own thread.

Playwright's sync objects (and X clients) must stay on the thread that created them, and
an event loop must never block on a screenshot; so every environment here lives on a
private one-thread executor and each call is awaited. Many environments then run side
by side in one event loop, which is what a batched agent needs.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pixelpilot.tools import Action

from .base import ActionResult, Environment, Observation


class AsyncEnvironment:
    """Awaitable `reset`, `observe`, `execute`, `close`; an async context manager."""

    def __init__(self, executor: ThreadPoolExecutor, env: Environment) -> None:
        self._executor, self.env = executor, env

    @classmethod
    async def open(
        cls, factory: Callable[..., Environment], *args: Any, **kwargs: Any
    ) -> AsyncEnvironment:
        """Build the environment on its own thread, where it will always be used."""
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pixelpilot-env")
        loop = asyncio.get_running_loop()
        try:
            env = await loop.run_in_executor(executor, functools.partial(factory, *args, **kwargs))
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(executor, env)

    async def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, functools.partial(method, *args, **kwargs)
        )

    async def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> Observation:
        return await self._call(self.env.reset, seed=seed, options=options)

    async def observe(self) -> Observation:
        return await self._call(self.env.observe)

    async def execute(self, action: Action) -> ActionResult:
        return await self._call(self.env.execute, action)

    async def run(self, call: Callable[[Environment], Any]) -> Any:
        """Run `call(environment)` on the environment's own thread: the way to reach the
        Playwright page or other thread-bound objects from async code."""
        return await self._call(call, self.env)

    async def close(self) -> None:
        await self._call(self.env.close)
        self._executor.shutdown(wait=True)

    async def __aenter__(self) -> AsyncEnvironment:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def open_browser_async(url: str | None = None, **options: Any) -> AsyncEnvironment:
    """`open_browser` for asyncio code (same options)."""
    from . import open_browser

    return await AsyncEnvironment.open(open_browser, url, **options)
