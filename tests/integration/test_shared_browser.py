"""Several threads, each with its own context of one shared Chromium process."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import numpy as np
import pytest

from pixelpilot.environments import ControllerError, SharedChromium, open_browser
from pixelpilot.tools import Click, Point, Space, Type
from tests.integration.browser_fixtures import pages_url  # noqa: F401


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


def test_a_context_sees_the_same_pixels_as_its_own_browser(pages_url) -> None:  # noqa: F811
    with (
        SharedChromium() as shared,
        shared.open(f"{pages_url}/grid.html", device_scale_factor=2.0) as env,
    ):
        in_context = np.asarray(env.observe().image)
    with open_browser(f"{pages_url}/grid.html", device_scale_factor=2.0) as env:
        alone = np.asarray(env.observe().image)
    assert in_context.shape == alone.shape == (1440, 2560, 3)
    assert np.array_equal(in_context, alone)


def test_closing_a_context_keeps_the_browser_and_a_dead_one_restarts(pages_url) -> None:  # noqa: F811
    with SharedChromium() as shared:
        shared.open(f"{pages_url}/form.html").close()
        pid, url = shared.pid, shared.cdp_url
        assert pid is not None and os.path.exists(f"/proc/{pid}")
        env = shared.open(f"{pages_url}/form.html")
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(ControllerError, match="gone"):
            env.observe()
        env.close()
        with shared.open(f"{pages_url}/form.html") as fresh:
            assert fresh.observe().image.size == (1280, 720)
        assert shared.launches == 2 and shared.pid != pid and shared.cdp_url != url
        profile = Path(f"/proc/{shared.pid}/cmdline").read_bytes().split(b"--user-data-dir=")[1]
        profile = Path(profile.split(b"\0")[0].decode())
        assert profile.is_dir()
    assert shared.pid is None and not profile.exists()  # stopped, its profile removed


def test_a_browser_that_cannot_start_says_why(tmp_path) -> None:
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\necho 'cannot open display' >&2\nexit 3\n")
    fake.chmod(0o755)
    shared = SharedChromium(str(fake))
    with pytest.raises(ControllerError, match="exited at start: cannot open display"):
        shared.open()
