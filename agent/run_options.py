"""What `pixelpilot run` and `pixelpilot demo` check before they open anything.

A command line that cannot work is refused in one line with exit code 2 before a model
is loaded or a browser started: an impossible device pixel ratio, a screenshot too big
to hold, a domain pattern that means nothing, a record folder that cannot be written, a
start page the domain policy itself refuses, domains on the desktop (which cannot
enforce them). The argparse types raise `argparse.ArgumentTypeError` (argparse turns it
into the usage message); the checks raise `UsageError`.
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path

from pixelpilot.environments import DomainPolicy
from pixelpilot.tools import FixableError

#: the largest screenshot a run takes: 8K UHD (7680x4320, 33.2 MP). A model never sees
#: more than its max_pixels (12.8 MP for the released Qwen2-VL checkpoints), a PNG of
#: this size is ~100 MB in memory as RGB, and PIL refuses images over 2 x 89.5 MP as a
#: decompression bomb, so anything larger is a typo, not a wish.
MAX_SCREENSHOT_PIXELS = 7680 * 4320
#: and no side longer than Chromium's largest texture
MAX_SCREENSHOT_SIDE = 16384
MAX_DPR = 8.0  # phones reach 4; more is a typo
START_SCHEMES = ("http", "https", "file", "about", "data")


class UsageError(FixableError):
    """A command line that cannot work as given: exit code 2."""


def dpr_type(text: str) -> float:
    """`--dpr`: a finite ratio in (0, MAX_DPR]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number such as 1, 1.5 or 2, got {text!r}"
        ) from None
    if not math.isfinite(value) or not 0 < value <= MAX_DPR:
        raise argparse.ArgumentTypeError(
            f"the device pixel ratio must be above 0 and at most {MAX_DPR:g}, got {text!r}"
        )
    return value


def positive_int(text: str) -> int:
    """A count that must be at least 1 (steps, workers, episodes, a batch)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value


def seconds_type(text: str) -> float:
    """`--time-limit`: a finite number of seconds above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, e.g. 300, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds above 0, got {text!r}")
    return value


def domain_type(text: str) -> str:
    """`--allow-domain` / `--deny-domain`: a pattern `DomainPattern` can read, kept as
    written (the policy parses it again, the same way)."""
    if text.strip() in ("*", "*.*", "*.", ""):
        raise argparse.ArgumentTypeError(
            f"{text!r} names no domain; to allow every site, leave --allow-domain out"
        )
    try:
        DomainPolicy(allow=(text,))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def check_screenshot_size(viewport: tuple[int, int], dpr: float) -> None:
    """The screenshot a viewport makes at a device pixel ratio must fit the limits."""
    width, height = round(viewport[0] * dpr), round(viewport[1] * dpr)
    pixels = width * height
    if pixels > MAX_SCREENSHOT_PIXELS or max(width, height) > MAX_SCREENSHOT_SIDE:
        raise UsageError(
            f"--viewport {viewport[0]}x{viewport[1]} at --dpr {dpr:g} makes {width}x{height} "
            f"screenshots ({pixels / 1e6:.1f} MP); the limit is {MAX_SCREENSHOT_PIXELS / 1e6:.1f}"
            f" MP (7680x4320) and {MAX_SCREENSHOT_SIDE} px a side: lower --viewport or --dpr"
        )


def check_pixel_limits(min_pixels: int | None, max_pixels: int | None) -> None:
    """`--min-pixels` / `--max-pixels`: counts of pixels, the smaller one first (a
    negative limit would end the first resize in a math error)."""
    for flag, value in (("--min-pixels", min_pixels), ("--max-pixels", max_pixels)):
        if value is not None and value < 1:
            raise UsageError(f"{flag} must be a number of pixels of at least 1, got {value}")
    if min_pixels is not None and max_pixels is not None and min_pixels > max_pixels:
        raise UsageError(f"--min-pixels {min_pixels} is above --max-pixels {max_pixels}")


def check_record_folder(root: Path) -> None:
    """`--record` must be a folder this process can create and write files in (a run
    that cannot keep its trajectory would fail at its first step instead)."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, prefix=".pixelpilot-check-"):
            pass
    except OSError as error:
        reason = error.strerror or str(error)
        raise UsageError(
            f"--record {root}: cannot write run directories there ({reason})"
        ) from None


def check_domains(url: str | None, desktop: bool, domains: DomainPolicy | None) -> None:
    """Domains work only in the browser, and never against the start page itself."""
    if domains is None:
        return
    if desktop:
        raise UsageError(
            "--allow-domain and --deny-domain work only with --url: the desktop cannot see "
            "or block which sites its applications open"
        )
    if url and not domains.permits(url):
        raise UsageError(f"--url is refused by the domain policy: {domains.explain(url)}")


def check_start_url(url: str) -> None:
    """The start page must be a URL the browser can open: written in full, with a scheme
    (read by the WHATWG rules, as Chromium reads it)."""
    from pixelpilot.environments.domains import parse_url

    parsed = parse_url(url)
    if (
        parsed is None
        or parsed.scheme not in START_SCHEMES
        or (parsed.scheme in ("http", "https") and not parsed.host)
    ):
        raise UsageError(
            f"--url {url!r} is not a URL the browser can open; write it in full, "
            f"e.g. https://{url.split('://')[-1]}"
        )
