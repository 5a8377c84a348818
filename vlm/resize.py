"""Qwen2-VL's naive dynamic resolution: how big the image is that the model really sees.

Everything here must equal the reference preprocessing bit for bit: a `resized_px`
coordinate is only mapped back correctly if we know the exact size the server resized
to. Two references exist and they differ on degenerate inputs (sides under 14 px, aspect
ratios near 200): transformers' image processor (what the model servers and our local
backend run) and qwen-vl-utils (the Qwen team's helper, which users may run first).
`flavor` picks which one to reproduce; tests compare against both.
"""

from __future__ import annotations

import math
from typing import Literal

PATCH_SIZE = 14
MERGE_SIZE = 2
FACTOR = PATCH_SIZE * MERGE_SIZE  # 28: one visual token covers 28x28 pixels
MAX_RATIO = 200

#: transformers' class defaults for Qwen2VLImageProcessor.
DEFAULT_MIN_PIXELS = 56 * 56  # 3,136
DEFAULT_MAX_PIXELS = 1280 * FACTOR * FACTOR  # 1,003,520
#: what the released Qwen2-VL / Qwen2.5-VL / UI-TARS checkpoints ship in preprocessor_config.
CHECKPOINT_MAX_PIXELS = 16384 * FACTOR * FACTOR  # 12,845,056

#: qwen-vl-utils' video rules.
FRAME_FACTOR = 2
VIDEO_FPS = 2.0
VIDEO_MIN_FRAMES = 4
VIDEO_MAX_FRAMES = 768
VIDEO_MIN_PIXELS = 128 * FACTOR * FACTOR
VIDEO_MAX_PIXELS = 768 * FACTOR * FACTOR
VIDEO_TOTAL_PIXELS = int(128000 * FACTOR * FACTOR * 0.9)

Flavor = Literal["transformers", "qwen_vl_utils"]


def smart_resize(
    height: int,
    width: int,
    *,
    factor: int = FACTOR,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    flavor: Flavor = "transformers",
) -> tuple[int, int]:
    """(height, width) of the image the model sees: sides multiples of `factor`, aspect
    ratio kept, pixel count within [min_pixels, max_pixels].

    Defaults are each reference's own: transformers' class defaults (3,136 and
    1,003,520), or qwen-vl-utils' (4 and 16,384 tokens of factor^2 pixels).
    Raises ValueError for an aspect ratio over 200, as both references do.
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"image sides must be positive, got {width}x{height}")
    if flavor == "qwen_vl_utils":
        min_pixels = 4 * factor * factor if min_pixels is None else min_pixels
        max_pixels = 16384 * factor * factor if max_pixels is None else max_pixels
        if max_pixels < min_pixels:
            raise ValueError("max_pixels must be greater than or equal to min_pixels")
    else:
        min_pixels = DEFAULT_MIN_PIXELS if min_pixels is None else min_pixels
        max_pixels = DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels
    ratio = max(height, width) / min(height, width)
    if ratio > MAX_RATIO:
        raise ValueError(f"absolute aspect ratio must be smaller than {MAX_RATIO}, got {ratio}")
    floor_min = factor if flavor == "transformers" else 0  # where the references part ways
    round_min = factor if flavor == "qwen_vl_utils" else 0
    h_bar = max(round_min, round(height / factor) * factor)
    w_bar = max(round_min, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(floor_min, math.floor(height / beta / factor) * factor)
        w_bar = max(floor_min, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def model_image_size(
    width: int,
    height: int,
    *,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
) -> tuple[int, int]:
    """(width, height) the model sees for a (width, height) screenshot.

    The rest of pixelpilot speaks (width, height); `smart_resize` keeps the reference
    argument order (height, width) so it can be compared one to one.
    """
    h, w = smart_resize(height, width, min_pixels=min_pixels, max_pixels=max_pixels)
    return w, h


def visual_tokens(
    width: int,
    height: int,
    *,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
) -> int:
    """Visual tokens one image costs: each 2x2 group of 14 px patches merges into one."""
    w, h = model_image_size(width, height, min_pixels=min_pixels, max_pixels=max_pixels)
    return (w // FACTOR) * (h // FACTOR)


def _floor(n: float, k: int) -> int:
    return math.floor(n / k) * k


def _ceil(n: float, k: int) -> int:
    return math.ceil(n / k) * k


def video_frame_count(
    total_frames: int,
    video_fps: float,
    *,
    fps: float = VIDEO_FPS,
    min_frames: int = VIDEO_MIN_FRAMES,
    max_frames: int | None = None,
    nframes: int | None = None,
) -> int:
    """Frames sampled from a video (qwen-vl-utils' `smart_nframes`): `fps` frames a second,
    kept within [min_frames, max_frames] and the video's length, rounded down to an even
    count because the vision tower takes frames two at a time."""
    if nframes is not None:
        count = round(nframes / FRAME_FACTOR) * FRAME_FACTOR
    else:
        if video_fps <= 0:
            raise ValueError("video_fps must be positive")
        lo = _ceil(min_frames, FRAME_FACTOR)
        hi = _floor(
            min(VIDEO_MAX_FRAMES, total_frames) if max_frames is None else max_frames, FRAME_FACTOR
        )
        wanted = total_frames / video_fps * fps
        count = _floor(min(min(max(wanted, lo), hi), total_frames), FRAME_FACTOR)
    if not FRAME_FACTOR <= count <= total_frames:
        raise ValueError(
            f"a video needs between {FRAME_FACTOR} and {total_frames} sampled frames, got {count}"
        )
    return count


def video_frame_indices(total_frames: int, nframes: int) -> list[int]:
    """Which frames to decode: evenly spaced from first to last, as the reference does
    (torch.linspace(0, total - 1, n).round())."""
    if nframes == 1:
        return [0]
    step = (total_frames - 1) / (nframes - 1)
    return [round(i * step) for i in range(nframes)]


def video_frame_size(
    width: int,
    height: int,
    nframes: int,
    *,
    min_pixels: int = VIDEO_MIN_PIXELS,
    max_pixels: int | None = None,
    total_pixels: int = VIDEO_TOTAL_PIXELS,
) -> tuple[int, int]:
    """(width, height) each video frame is resized to: the per-frame cap shrinks as the
    frame count grows so the whole clip stays within `total_pixels`."""
    cap = max(min(VIDEO_MAX_PIXELS, total_pixels / nframes * FRAME_FACTOR), int(min_pixels * 1.05))
    if max_pixels is not None:
        cap = min(max_pixels, cap)
    h, w = smart_resize(
        height,
        width,
        min_pixels=min_pixels,
        max_pixels=cap,
        flavor="qwen_vl_utils",  # type: ignore[arg-type]
    )
    return w, h
