"""Screenshots of a Chromium page straight over CDP.

`Page.captureScreenshot` with Chromium's fast encoder gives the same pixels as
`page.screenshot` in a third of the time. The CDP session needs the page's device
metrics, or it would capture at ratio 1. Chromium answers "Unable to capture
screenshot" when its compositor has no frame yet (just after the metrics override
re-creates the surface, or while a renderer is starved of CPU by other browsers); that
is transient, so the capture waits for a frame and tries again, and in the end lets
Playwright's own screenshot, which waits for the page itself, have its go.
"""

from __future__ import annotations

import base64
import ctypes
import ctypes.util
import functools
import gc
import io
import logging
import time
from typing import Any

PAINTED = """() => new Promise(done => {
    requestAnimationFrame(() => requestAnimationFrame(done)); setTimeout(done, 500);
})"""
_PNG = {"format": "png", "optimizeForSpeed": True}
_NO_FRAME = "Unable to capture screenshot"  # Chromium had no composited frame to copy

log = logging.getLogger("pixelpilot.environments.capture")


def capture_session(context: Any, page: Any, size: dict[str, int], dpr: float) -> Any | None:
    """A CDP session set to the page's viewport and ratio, with a frame drawn since;
    None where there is no CDP (not Chromium)."""
    try:
        session = context.new_cdp_session(page)
        session.send("Emulation.setDeviceMetricsOverride", {
            "width": size["width"], "height": size["height"], "deviceScaleFactor": dpr,
            "mobile": False,
        })  # fmt: skip
    except Exception:
        return None
    page.evaluate(PAINTED)
    return session


def capture(session: Any | None, page: Any, tries: int = 5) -> bytes:
    """PNG bytes of the viewport."""
    from playwright.sync_api import Error

    for attempt in range(tries if session is not None else 0):
        try:
            shot = session.send("Page.captureScreenshot", _PNG)
            return base64.b64decode(shot["data"])
        except Error as error:
            if _NO_FRAME not in str(error):
                raise
        time.sleep(0.05 * 2**attempt)
        page.evaluate(PAINTED)
    return page.screenshot(type="png", caret="initial")


def lazy_image(png: bytes) -> Any:
    """An RGB PIL image of `png` whose pixels are decoded only when first used: the
    header gives the size at once, and a step whose image is never looked at (an
    oracle's, one only written to disk) never pays the decode. Chromium's captures are
    RGB; anything else is converted (and so decoded) here."""
    from PIL import Image

    image = Image.open(io.BytesIO(png))
    if image.mode != "RGB":
        image = image.convert("RGB")
    return image


@functools.cache
def _malloc_trim() -> Any:
    """glibc's malloc_trim, or None where the C library has none (musl, macOS)."""
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        log.debug("no malloc_trim in %s: freed memory stays with the C library", name)
        return None


def release_garbage() -> None:
    """Free what the captures of past steps left in reference cycles, and hand the heap
    back to the system. Playwright's sync API keeps each call's asyncio task in a cycle
    that holds the caller's frame, and through it every frame up the stack: the step's
    observation, its PNG and the messages built from it stay alive until Python's full
    collection, which a long run reaches seldom (its young collections never see them:
    the task is promoted while its call is in flight). glibc then keeps the freed
    blocks of a few MB in its heap unless trimmed. Measured by bench/memory.py --browser."""
    started = time.perf_counter()
    found = gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
    log.debug("collected %d objects and trimmed the heap in %.1f ms", found,
              1000 * (time.perf_counter() - started))  # fmt: skip
