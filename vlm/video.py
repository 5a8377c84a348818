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
    indices: list[int]  # which source frames they are
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
    if nframes is not None and max_frames is not None:
        raise ValueError("give either nframes or fps/max_frames, not both")
    total, source_fps, (width, height) = _probe(path)
    options: dict[str, Any] = {"fps": fps, "max_frames": max_frames, "nframes": nframes}

    def sample(total: int) -> tuple[list[int], tuple[int, int]]:
        count = video_frame_count(total, source_fps, **options)
        size = video_frame_size(
            width, height, count, min_pixels=min_pixels, max_pixels=max_pixels,
            total_pixels=total_pixels,
        )  # fmt: skip
        return video_frame_indices(total, count), size

    indices, size = sample(total)
    picked, decoded = _decode(path, indices, size)
    if decoded != total:  # the packet count lied (rare): sample again from the true count
        total = decoded
        indices, size = sample(total)
        picked, _ = _decode(path, indices, size)
    frames = [picked[i] for i in indices]
    return Video(
        frames=frames,
        indices=indices,
        timestamps=[i / source_fps for i in indices],
        sample_fps=len(indices) / total * source_fps,
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


def _decode(
    path: str | Path, indices: list[int], size: tuple[int, int]
) -> tuple[dict[int, Any], int]:
    """The wanted frames by index, resized as they are decoded so that only the small
    copies stay in memory; and how many frames the file really has."""
    from PIL import Image

    wanted = set(indices)
    picked: dict[int, Any] = {}
    count = 0
    with _open(path) as container:
        for count, frame in enumerate(container.decode(container.streams.video[0]), start=1):
            if count - 1 in wanted:
                image = frame.to_image().convert("RGB")
                picked[count - 1] = image.resize(size, Image.Resampling.BICUBIC)
    return picked, count
