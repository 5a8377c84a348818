"""A visual cache for `Pilot.locate`: re-running an unchanged script costs no model call.

DOM caches (Midscene's, Stagehand's) store selectors and so cannot help on a canvas, in a
cross-origin iframe, behind a closed shadow root or on the X11 desktop. This one stores
what the model found as pixels: where the target was and a crop of it with a little
context around. An entry is keyed by the dialect, the model, the description and the
screen (the URL's path and query — not its origin, so a script keeps its cache when the
site moves to another host or port — plus the screenshot's size and scale; `Pilot` gives
no window title on a desktop, where focus follows the pointer and the title would change
with wherever the last step left it). A key may hold several variants (the same words
on different states of one page, or of different windows): the crop check picks.

A hit is checked before it is trusted: the recorded crop must match the same region of
the current screenshot (mean absolute difference per channel, over the whole crop and
over the target itself, both under `tolerance` levels of 255). A moved or changed target
is therefore a miss and goes to the model, never a click on where it used to be.

One JSON file per key (`<dir>/<2 hex>/<key>.json`, crops as base64 PNG). Writes go to a
temporary file in the same folder, are fsynced and renamed into place (`os.replace` is
atomic), under an advisory `flock` for the read-modify-write, so scripts sharing a folder
never see a torn file and do not lose each other's variants. An unreadable entry is
ignored with a logged warning and overwritten by the next store.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, ValidationError

from pixelpilot.tools import Box, Point, ScreenFrame, Space

log = logging.getLogger("pixelpilot.agent.locate_cache")

CacheMode = Literal["read-write", "read-only", "write-only", "off"]
DEFAULT_CACHE_DIR = Path(".pixelpilot/cache")
VERSION = 1
TARGET_HALF = 12  # controller units: the patch checked around a point-only answer
CONTEXT = 16  # controller units of context kept around the target


class _Variant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    point: tuple[float, float]
    box: tuple[float, float, float, float] | None
    region: tuple[int, int, int, int]  # the crop, screenshot px (x1, y1, x2, y2)
    target: tuple[int, int, int, int]  # the target inside it, screenshot px
    crop: str  # base64 PNG of `region`
    reply: str | None
    how: str
    created: float


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int
    key: dict[str, Any]
    variants: list[_Variant]


class CacheHit(BaseModel):
    """A verified entry: where to act, and how close the crop matched (0 = identical)."""

    model_config = ConfigDict(frozen=True)

    point: Point
    box: Box | None
    reply: str | None
    how: str
    difference: float
    path: Path


def screen_id(url: str | None, window: str | None, frame: ScreenFrame) -> str:
    """The screen part of a key: the URL's path and query (else the window title) and
    the screenshot's size and scale."""
    where = window or ""
    if url:
        parts = urlsplit(url)
        where = parts.path + (f"?{parts.query}" if parts.query else "")
    return f"{where}|{frame.width}x{frame.height}@{frame.scale:g}"


class LocateCache:
    """The cache folder and its mode: read-write (default), read-only, write-only, off."""

    def __init__(
        self,
        directory: str | Path | None = DEFAULT_CACHE_DIR,
        mode: CacheMode = "read-write",
        *,
        tolerance: float = 8.0,
        max_variants: int = 8,
    ) -> None:
        if mode not in ("read-write", "read-only", "write-only", "off"):
            raise ValueError(f"unknown cache mode {mode!r}")
        self.directory = Path(directory) if directory is not None else None
        self.mode: CacheMode = mode if self.directory is not None else "off"
        self.tolerance, self.max_variants = tolerance, max_variants

    @property
    def reads(self) -> bool:
        return self.mode in ("read-write", "read-only")

    @property
    def writes(self) -> bool:
        return self.mode in ("read-write", "write-only")

    def key(self, *, dialect: str, model: str, description: str, screen: str) -> dict[str, str]:
        return {"dialect": dialect, "model": model, "description": description, "screen": screen}

    def path(self, key: dict[str, str]) -> Path:
        assert self.directory is not None
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]
        return self.directory / digest[:2] / f"{digest}.json"

    # -- reading ---------------------------------------------------------------------
    def lookup(self, key: dict[str, str], image: Any) -> CacheHit | None:
        """The best variant whose crop still matches `image`, or None (a miss)."""
        if not self.reads:
            return None
        path = self.path(key)
        entry = self._load(path)
        if entry is None:
            return None
        best: tuple[float, _Variant] | None = None
        for variant in entry.variants:
            difference = self._difference(variant, image)
            matches = difference is not None and difference <= self.tolerance
            if matches and (best is None or difference < best[0]):
                best = (difference, variant)
        if best is None:
            log.debug("cache miss for %r: no recorded crop matches the screen", key["description"])
            return None
        difference, variant = best
        box = None if variant.box is None else Box(**_named(variant.box))
        return CacheHit(
            point=Point(x=variant.point[0], y=variant.point[1], space=Space.SCREENSHOT_PX),
            box=box, reply=variant.reply, how=variant.how, difference=difference, path=path,
        )  # fmt: skip

    def _load(self, path: Path) -> _Entry | None:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as error:
            log.warning("locate cache entry %s cannot be read (%s); ignored", path, error)
            return None
        try:
            entry = _Entry.model_validate_json(text)
        except ValidationError as error:
            log.warning("locate cache entry %s is corrupt (%s); ignored", path, _first(error))
            return None
        if entry.version != VERSION:
            log.warning("locate cache entry %s has version %s; ignored", path, entry.version)
            return None
        return entry

    def _difference(self, variant: _Variant, image: Any) -> float | None:
        """The larger of the mean differences over the crop and over the target, or None
        when the crop cannot be compared (another size, a broken PNG)."""
        from PIL import Image

        x1, y1, x2, y2 = variant.region
        if x1 < 0 or y1 < 0 or x2 > image.width or y2 > image.height:
            return None
        try:
            recorded = Image.open(io.BytesIO(base64.b64decode(variant.crop))).convert("RGB")
        except (OSError, ValueError) as error:
            log.warning("a locate cache crop cannot be decoded (%s); ignored", error)
            return None
        return crop_difference(recorded, image, variant.region, variant.target)

    # -- writing ---------------------------------------------------------------------
    def store(
        self,
        key: dict[str, str],
        image: Any,
        frame: ScreenFrame,
        point: Point,
        box: Box | None,
        *,
        reply: str | None,
        how: str,
    ) -> None:
        """Record where the target was on `image`; stale variants (whose crop no longer
        matches this screen at their place) are dropped, the newest `max_variants` kept."""
        if not self.writes:
            return
        variant = _variant(image, frame, point, box, reply, how)
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with _locked(path):
            entry = self._load(path)
            kept = [] if entry is None else [
                v for v in entry.variants
                if v.region != variant.region and (d := self._difference(v, image)) is not None
                and d <= self.tolerance
            ]  # fmt: skip
            variants = [*kept, variant][-self.max_variants :]
            data = _Entry(version=VERSION, key=key, variants=variants).model_dump_json()
            _atomic_write(path, data)


def crop_difference(
    recorded: Any,
    image: Any,
    region: tuple[int, int, int, int],
    target: tuple[int, int, int, int] | None = None,
) -> float | None:
    """The cache's check of a recorded crop against `region` of `image` (screenshot px):
    the larger of the mean per-channel level differences over the whole crop and over
    `target` inside it (default: the whole crop); None when they cannot be compared (the
    region leaves the image, or the crop is another size). Public so UI test healing
    (testgen) checks a found crop exactly as a cache hit is checked."""
    import numpy as np

    x1, y1, x2, y2 = region
    if x1 < 0 or y1 < 0 or x2 > image.width or y2 > image.height:
        return None
    if recorded.size != (x2 - x1, y2 - y1):
        return None
    now = np.asarray(image.convert("RGB").crop(region), dtype=np.int16)
    then = np.asarray(recorded.convert("RGB"), dtype=np.int16)
    diff = np.abs(now - then)
    tx1, ty1, tx2, ty2 = target or region
    inner = diff[ty1 - y1 : ty2 - y1, tx1 - x1 : tx2 - x1]
    return float(max(diff.mean(), inner.mean() if inner.size else 0.0))


def _variant(
    image: Any, frame: ScreenFrame, point: Point, box: Box | None, reply: str | None, how: str
) -> _Variant:
    """The crop to check next time: the target (the box, or a patch around a point-only
    answer) with `CONTEXT` controller units around it, clipped to the screenshot."""
    half, margin = TARGET_HALF * frame.scale, CONTEXT * frame.scale
    if box is not None:
        target = (box.x1, box.y1, box.x2, box.y2)
    else:
        target = (point.x - half, point.y - half, point.x + half, point.y + half)
    w, h = image.width, image.height
    inner = _clip(target, w, h)
    x1, y1, x2, y2 = inner
    region = _clip((x1 - margin, y1 - margin, x2 + margin, y2 + margin), w, h)
    buffer = io.BytesIO()
    image.convert("RGB").crop(region).save(buffer, format="PNG")
    return _Variant(
        point=(point.x, point.y),
        box=None if box is None else (box.x1, box.y1, box.x2, box.y2),
        region=region, target=inner, crop=base64.b64encode(buffer.getvalue()).decode("ascii"),
        reply=reply, how=how, created=time.time(),
    )  # fmt: skip


def _clip(box: tuple[float, ...], width: int, height: int) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = (round(v) for v in box)
    x1, y1 = min(max(0, x1), width - 1), min(max(0, y1), height - 1)
    return x1, y1, max(x1 + 1, min(x2, width)), max(y1 + 1, min(y2, height))


def _named(box: tuple[float, float, float, float]) -> dict[str, Any]:
    return dict(zip(("x1", "y1", "x2", "y2"), box, strict=True)) | {"space": Space.SCREENSHOT_PX}


def _first(error: ValidationError) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An advisory lock for one entry's read-modify-write (where flock exists)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: atomic renames alone (a concurrent variant may be lost)
        yield
        return
    with open(path.with_suffix(".lock"), "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _atomic_write(path: Path, data: str) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
