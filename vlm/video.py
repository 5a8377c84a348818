"""Screen recordings as model input: frames sampled by the Qwen2-VL rules with PyAV.

`fps` frames a second, an even frame count (the vision tower takes frames two at a
time), each frame resized within the per-frame and whole-clip pixel budgets exactly as
qwen-vl-utils sizes them. Frames are resized with Pillow's bicubic filter; the reference
resizes tensors with torchvision's, so pixel values may differ by rounding, never sizes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .resize import (
    VIDEO_FPS,
    VIDEO_MIN_PIXELS,
    VIDEO_TOTAL_PIXELS,
    video_frame_count,
    video_frame_indices,
    video_frame_size,
)


@dataclass(frozen=True)
class Video:
    frames: list[Any]  # PIL images, already at the size the model will see
    timestamps: list[float]  # seconds from the start of the clip, one per frame
    sample_fps: float  # frames per second of video time actually sampled
    source_size: tuple[int, int]
    source_fps: float
    total_frames: int


def load_video(
    path: str | Path,
    *,
    fps: float = VIDEO_FPS,
    min_pixels: int = VIDEO_MIN_PIXELS,
    max_pixels: int | None = None,
    total_pixels: int = VIDEO_TOTAL_PIXELS,
    max_frames: int | None = None,
    nframes: int | None = None,
) -> Video:
    """Decode `path` and sample it the way Qwen2-VL expects; raises ValueError for a file
    that is not a readable video or is too short to give two frames."""
    total, source_fps, (width, height) = _probe(path)
    options: dict[str, Any] = {"fps": fps, "max_frames": max_frames, "nframes": nframes}
    count = video_frame_count(total, source_fps, **options)
    indices = video_frame_indices(total, count)
    picked, decoded = _decode(path, indices)
    if decoded != total:  # the packet count lied (rare): sample again from the true count
        total = decoded
        count = video_frame_count(total, source_fps, **options)
        indices = video_frame_indices(total, count)
        picked, _ = _decode(path, indices)
    size = video_frame_size(
        width,
        height,
        count,
        min_pixels=min_pixels,
        max_pixels=max_pixels,
        total_pixels=total_pixels,
    )
    from PIL import Image

    frames = [picked[i].convert("RGB").resize(size, Image.Resampling.BICUBIC) for i in indices]
    return Video(
        frames=frames,
        timestamps=[i / source_fps for i in indices],
        sample_fps=count / total * source_fps,
        source_size=(width, height),
        source_fps=source_fps,
        total_frames=total,
    )


def _open(path: str | Path) -> Any:
    import av

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as error:
        raise ValueError(f"cannot open video {path}: {error}") from None
    if not container.streams.video:
        container.close()
        raise ValueError(f"{path} has no video stream")
    return container


def _probe(path: str | Path) -> tuple[int, float, tuple[int, int]]:
    """(frame count, frames per second, size) without decoding: packets are counted,
    since the header's frame count is often missing."""
    with _open(path) as container:
        stream = container.streams.video[0]
        total = sum(1 for packet in container.demux(stream) if packet.size)
        fps = float(stream.average_rate or stream.guessed_rate or 0) or 1.0
        size = (stream.codec_context.width, stream.codec_context.height)
    if total == 0:
        raise ValueError(f"{path} has no frames")
    return total, fps, size


def _decode(path: str | Path, indices: list[int]) -> tuple[dict[int, Any], int]:
    """The wanted frames by index, decoded in one pass holding only those in memory."""
    wanted = set(indices)
    picked: dict[int, Any] = {}
    count = 0
    with _open(path) as container:
        for count, frame in enumerate(container.decode(container.streams.video[0]), start=1):
            if count - 1 in wanted:
                picked[count - 1] = frame.to_image()
    return picked, count
