"""Controllers that perceive and act: browser (Playwright), desktop (X11), fake.

They take actions from `pixelpilot.tools` in screenshot pixels and convert them to their
own units with `tools.geometry.convert_point`; they never import `vlm`. Playwright, mss
and the X tools load only when a controller is opened.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .asynchronous import AsyncEnvironment, open_browser_async
from .base import (
    ActionFailed,
    ActionResult,
    ActionTimings,
    ControllerError,
    ElementInfo,
    Environment,
    Observation,
)
from .domains import DomainPolicy
from .fake import FakeEnvironment

if TYPE_CHECKING:
    from .browser import BrowserEnvironment
    from .desktop import DesktopEnvironment
    from .shared import SharedChromium


def __getattr__(name: str) -> object:
    if name == "SharedChromium":  # its module loads the browser controller: only on use
        from .shared import SharedChromium

        return SharedChromium
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open_browser(
    url: str | None = None,
    *,
    viewport: tuple[int, int] = (1280, 720),
    device_scale_factor: float = 1.0,
    headless: bool = True,
    executable_path: str | None = None,
    user_data_dir: str | Path | None = None,
    cdp_url: str | None = None,
    ws_endpoint: str | None = None,
    domains: DomainPolicy | None = None,
) -> BrowserEnvironment:
    """A Chromium page (Debian's by default) at `viewport` CSS pixels and the given device
    pixel ratio; `user_data_dir` keeps a logged-in profile, `cdp_url` (a DevTools
    endpoint) or `ws_endpoint` (a Playwright browser server, as `SharedChromium` runs)
    opens a new context in a running browser instead of launching one; `domains`
    limits where it may go (navigations, redirects, link clicks and new tabs)."""
    from .browser import BrowserEnvironment

    return BrowserEnvironment(
        url, viewport=viewport, device_scale_factor=device_scale_factor, headless=headless,
        executable_path=executable_path, user_data_dir=user_data_dir, cdp_url=cdp_url,
        ws_endpoint=ws_endpoint, domains=domains,
    )  # fmt: skip


def open_desktop(
    display: str | None = None,
    *,
    monitor: int | tuple[int, int, int, int] = 1,
    scale: float = 1.0,
) -> DesktopEnvironment:
    """An X11 screen ($DISPLAY by default): a monitor index or a region, and the scale of
    screenshot pixels per X pixel."""
    from .desktop import DesktopEnvironment

    return DesktopEnvironment(display, monitor=monitor, scale=scale)


__all__ = [
    "ActionFailed",
    "ActionResult",
    "ActionTimings",
    "AsyncEnvironment",
    "ControllerError",
    "DomainPolicy",
    "ElementInfo",
    "Environment",
    "FakeEnvironment",
    "Observation",
    "SharedChromium",
    "open_browser",
    "open_browser_async",
    "open_desktop",
]
