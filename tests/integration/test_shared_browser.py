"""Several threads, each with its own context of one shared Chromium process."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest

from pixelpilot.environments import ControllerError, SharedChromium, open_browser
from pixelpilot.tools import Click, Point, Space, Type
from tests.integration.browser_fixtures import chromium_under, pages_url  # noqa: F401


def _fill(shared: SharedChromium, url: str, dpr: float, text: str, out: dict) -> None:
    with shared.open(f"{url}/form.html", viewport=(800, 600), device_scale_factor=dpr) as env:
        observation = env.observe()
        box = env.page.locator("#name").bounding_box()
        point = Point(x=(box["x"] + 5) * dpr, y=(box["y"] + 5) * dpr, space=Space.SCREENSHOT_PX)
        assert env.execute(Click(point=point)).ok and env.execute(Type(text=text)).ok
        env.page.evaluate(f"document.cookie = 'who={dpr}'")
        out[dpr] = (observation.image.size, env.page.input_value("#name"),
                    env.page.evaluate("document.cookie"))  # fmt: skip


def test_threads_work_side_by_side_in_isolated_contexts(pages_url) -> None:  # noqa: F811
    out: dict = {}
    with SharedChromium() as shared:
        threads = [threading.Thread(target=_fill, args=(shared, pages_url, dpr, f"t{dpr}", out))
                   for dpr in (1.0, 2.0, 1.5)]  # fmt: skip
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert shared.launches == 1
    assert out == {  # each context its own size, text and cookies
        1.0: ((800, 600), "t1.0", "who=1.0"),
        2.0: ((1600, 1200), "t2.0", "who=2.0"),
        1.5: ((1200, 900), "t1.5", "who=1.5"),
    }


@pytest.mark.parametrize("page", ["scroll.html", "grid.html"])
def test_a_context_renders_what_its_own_browser_renders(pages_url, page) -> None:  # noqa: F811
    """Same switches as `chromium.launch()`: hidden scrollbars (scroll.html overflows),
    the same hover and pointer media, so the same pixels."""
    media = "[matchMedia('(hover: hover)').matches, matchMedia('(pointer: fine)').matches]"
    with (
        SharedChromium() as shared,
        shared.open(f"{pages_url}/{page}", device_scale_factor=2.0) as env,
    ):
        in_context, context_media = np.asarray(env.observe().image), env.page.evaluate(media)
    with open_browser(f"{pages_url}/{page}", device_scale_factor=2.0) as env:
        alone, own_media = np.asarray(env.observe().image), env.page.evaluate(media)
    assert in_context.shape == alone.shape == (1440, 2560, 3)
    assert np.array_equal(in_context, alone)
    assert context_media == own_media


def test_closing_a_context_keeps_the_browser_and_a_dead_one_restarts(pages_url) -> None:  # noqa: F811
    with SharedChromium() as shared:
        shared.open(f"{pages_url}/form.html").close()
        server, endpoint = shared.pid, shared.ws_endpoint
        assert server is not None and len(chromium_under(server)) == 1  # still running
        env = shared.open(f"{pages_url}/form.html")
        os.kill(chromium_under(server)[0], signal.SIGKILL)  # Chromium crashes
        with pytest.raises(ControllerError, match="gone"):
            env.observe()
        env.close()
        with shared.open(f"{pages_url}/form.html") as fresh:
            assert fresh.observe().image.size == (1280, 720)
        assert shared.launches == 2 and shared.pid != server and shared.ws_endpoint != endpoint
        server, browsers = shared.pid, chromium_under(shared.pid)
    assert shared.pid is None and browsers
    deadline = time.monotonic() + 10  # Chromium closes itself a moment after its server
    while any(os.path.exists(f"/proc/{p}") for p in [server, *browsers]):
        assert time.monotonic() < deadline, "processes were left running"
        time.sleep(0.05)


def test_a_browser_that_cannot_start_says_why(tmp_path) -> None:
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\necho 'cannot open display' >&2\nexit 3\n")
    fake.chmod(0o755)
    shared = SharedChromium(str(fake))
    with pytest.raises(ControllerError, match="did not start: cannot open display"):
        shared.open()
    assert shared.pid is None
