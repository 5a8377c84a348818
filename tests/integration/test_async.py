"""Browsers used from asyncio: several at once in one event loop."""

from __future__ import annotations

import asyncio

from pixelpilot.environments import open_browser_async
from pixelpilot.tools import Click, Point, Space, Type
from tests.integration.browser_fixtures import pages_url  # noqa: F401


def test_two_browsers_side_by_side(pages_url) -> None:  # noqa: F811
    async def session(dpr: float, text: str) -> str:
        async with await open_browser_async(
            f"{pages_url}/form.html", device_scale_factor=dpr
        ) as env:
            observation = await env.observe()
            assert observation.frame.scale == dpr
            box = await env.run(lambda e: e.page.locator("#name").bounding_box())
            point = Point(x=(box["x"] + 5) * dpr, y=(box["y"] + 5) * dpr, space=Space.SCREENSHOT_PX)
            assert (await env.execute(Click(point=point))).ok
            assert (await env.execute(Type(text=text))).ok
            return await env.run(lambda e: e.page.input_value("#name"))

    async def main() -> list[str]:
        return await asyncio.gather(session(1.0, "first"), session(2.0, "second 東京"))

    assert asyncio.run(main()) == ["first", "second 東京"]
