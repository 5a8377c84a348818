"""Pages served on 127.0.0.1 for the browser tests, and browsers to look at them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pixelpilot.agent.demo import serve_directory

PAGES = Path(__file__).resolve().parents[1] / "fixtures" / "pages"


@pytest.fixture(scope="session")
def pages_url() -> Iterator[str]:
    """Base URL of tests/fixtures/pages on a real local HTTP server."""
    with serve_directory(PAGES) as url:
        yield url


@pytest.fixture
def browser(pages_url):
    """A factory: browser(page, viewport=..., dpr=...) opens a page; all are closed after."""
    from pixelpilot.environments import open_browser

    opened = []

    def open_page(page: str = "form.html", *, viewport=(1280, 720), dpr: float = 1.0):
        env = open_browser(f"{pages_url}/{page}", viewport=viewport, device_scale_factor=dpr)
        opened.append(env)
        return env

    yield open_page
    for env in opened:
        env.close()


def chromium_under(pid: int) -> list[int]:
    """The browser processes (not renderers) below the server `pid`."""
    parents, commands = {}, {}
    for entry in Path("/proc").iterdir():
        try:
            parents[int(entry.name)] = int(
                (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
            )
            commands[int(entry.name)] = (entry / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue

    def below(child: int) -> bool:
        while child in parents and child > 1:
            child = parents[child]
            if child == pid:
                return True
        return False

    return [p for p, cmd in commands.items()
            if b"--remote-debugging-pipe" in cmd and b"--type=" not in cmd and below(p)]  # fmt: skip
