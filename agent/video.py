"""The run as a video: every step's screenshot with what the agent did drawn on it.

A trajectory line says *that* the agent clicked (412, 96); a frame with a ring at
(412, 96) shows whether that was the button. `annotate` draws one step onto its
screenshot and is shared with `agent.report`, so the video and the report never disagree.
Only the run directory is read, so a video can be made for any run after the fact,
including one killed mid-write (`read_trajectory` skips a torn last line).
PyAV is imported only when a video is rendered: it is the optional `video` extra.
"""

from __future__ import annotations

import functools
import math
import os
from fractions import Fraction
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from .trajectory import paired, read_trajectory

Colour = tuple[int, int, int]
BUTTON_COLOURS: dict[str, Colour] = {
    "left": (255, 48, 48),
    "right": (40, 120, 255),
    "middle": (40, 190, 70),
}
DRAG_COLOUR: Colour = (255, 150, 0)
SCROLL_COLOUR: Colour = (0, 200, 220)
MOVE_COLOUR: Colour = (255, 220, 0)
ERROR_COLOUR: Colour = (255, 80, 80)
TEXT_COLOUR: Colour = (240, 240, 240)
CAPTION_BACKGROUND: Colour = (24, 24, 24)
SHADOW: Colour = (0, 0, 0)
CAPTION_CHARS = 80  # a caption line longer than this is cut: a frame is not a log
CAPTION_LINES = 3  # step + thought, actions, error: fixed so frame heights are predictable
DEFAULT_SIZE = (1280, 720)  # for a step whose screenshot is missing and whose frame is unknown
_FONTS = ("DejaVuSans.ttf", "LiberationSans-Regular.ttf")


# -- describing actions ----------------------------------------------------------------
def _xy(point: Any) -> tuple[float, float] | None:
    """(x, y) of a point in screenshot pixels; other spaces cannot be drawn on the image."""
    if not isinstance(point, dict) or "x" not in point or "y" not in point:
        return None
    if point.get("space", "screenshot_px") != "screenshot_px":
        return None
    return float(point["x"]), float(point["y"])


def _at(point: Any) -> str:
    """A point for a summary, in whatever space it is in (a model-space fallback too)."""
    if isinstance(point, dict) and "x" in point and "y" in point:
        return f"({float(point['x']):.0f}, {float(point['y']):.0f})"
    return "(pointer)"


def clip(text: str, limit: int = CAPTION_CHARS) -> str:
    """One line of at most `limit` characters: newlines shown as ⏎, the rest cut with ..."""
    line = " ".join(str(text).replace("\r", "").replace("\n", " ⏎ ").split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def describe_action(action: dict[str, Any] | None) -> str:
    """A short human summary of one action JSON ("click (412, 96) 2x", 'type "hi"')."""
    if not isinstance(action, dict):
        return "(unparsed action)"
    kind = str(action.get("action", "?"))
    if kind == "click":
        button = action.get("button", "left")
        clicks = int(action.get("clicks", 1) or 1)
        extra = ("" if button == "left" else f" {button}") + (f" {clicks}x" if clicks > 1 else "")
        return f"click {_at(action.get('point'))}{extra}"
    if kind == "move":
        return f"move {_at(action.get('point'))}"
    if kind == "drag":
        return f"drag {_at(action.get('start'))} -> {_at(action.get('end'))}"
    if kind == "scroll":
        where = _at(action.get("point"))
        return f"scroll {action.get('direction')} {action.get('amount', '')} at {where}"
    if kind == "type":
        return f'type "{clip(action.get("text", ""), 40)}"' + (
            " +Enter" if action.get("submit") else ""
        )
    if kind == "key":
        return "key " + "+".join(str(k) for k in action.get("keys") or ())
    if kind == "navigate":
        return f"navigate {clip(action.get('url', ''), 60)}"
    if kind == "wait":
        return f"wait {action.get('seconds', 1)}s"
    if kind == "finish":
        answer = action.get("answer")
        return f"finish {action.get('status', 'success')}" + (
            f': "{clip(answer, 40)}"' if answer else ""
        )
    if kind == "call_user":
        return f'call_user "{clip(action.get("question", ""), 40)}"'
    return kind


def step_actions(step: dict[str, Any]) -> list[dict[str, Any] | None]:
    """Each action of a step in screenshot pixels (falling back to the model's own JSON
    when the conversion failed, so it is still summarised, just not drawn)."""
    out: list[dict[str, Any] | None] = []
    for pair in step.get("actions") or []:
        if isinstance(pair, dict) and "action" in pair:  # a bare action, not a pair
            out.append(pair)
        elif isinstance(pair, dict):
            out.append(pair.get("screenshot") or pair.get("model"))
        else:
            out.append(None)
    return out


def step_errors(step: dict[str, Any]) -> list[str]:
    """Everything that went wrong in a step, in order: parse error, refusals, failures."""
    errors = [f"parse error: {step['parse_error']}"] if step.get("parse_error") else []
    for decision in step.get("decisions") or []:
        verdict = str((decision or {}).get("verdict", ""))
        if verdict and verdict not in ("allow", "allowed", "approve", "approved", "ok"):
            errors.append(f"policy {verdict}: {(decision or {}).get('reason') or ''}".strip())
    for result in step.get("results") or []:
        if isinstance(result, dict) and not result.get("ok", True):
            errors.append(f"failed: {result.get('error') or 'unknown error'}")
    return errors


def first_line(text: Any) -> str:
    """The first non-empty line of the model's reply: its thought, for most dialects."""
    for line in str(text or "").splitlines():
        if line.strip():
            return line.strip()
    return "(no text)"


def caption_lines(step: dict[str, Any]) -> list[tuple[str, Colour]]:
    """The three caption lines of a frame, each clipped to CAPTION_CHARS."""
    text = first_line((step.get("completion") or {}).get("text"))
    summary = " | ".join(describe_action(a) for a in step_actions(step)) or "no actions"
    errors = step_errors(step)
    return [
        (clip(f"Step {step.get('step', '?')}: {text}"), TEXT_COLOUR),
        (clip(summary), TEXT_COLOUR),
        (clip("; ".join(errors)), ERROR_COLOUR),
    ]


# -- drawing ---------------------------------------------------------------------------
@functools.lru_cache(maxsize=32)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """A scalable font if one is installed or bundled with Pillow, else the bitmap one."""
    for name in _FONTS:
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has no scalable default font
        return ImageFont.load_default()


def _unit(size: tuple[int, int]) -> int:
    """Stroke width in pixels: markers stay visible on a 2x or 3x screenshot."""
    return max(2, round(min(size) / 200))


def font_px(width: int) -> int:
    return max(11, min(48, width // 64))


def caption_height(width: int) -> int:
    """Height of the caption band under a screenshot `width` wide (depends only on it, so
    the video's canvas is known before any frame is drawn)."""
    return CAPTION_LINES * round(font_px(width) * 1.4) + font_px(width)


def _ring(
    draw: ImageDraw.ImageDraw, xy: tuple[float, float], radius: float, colour: Colour, unit: int
) -> None:
    x, y = xy
    box = (x - radius, y - radius, x + radius, y + radius)
    draw.ellipse(box, outline=SHADOW, width=unit + 2)
    draw.ellipse(box, outline=colour, width=unit)
    dot = max(2.0, radius / 4)
    draw.ellipse((x - dot, y - dot, x + dot, y + dot), fill=colour, outline=SHADOW)


def _arrow(
    draw: ImageDraw.ImageDraw,
    start: tuple[float, float],
    end: tuple[float, float],
    colour: Colour,
    unit: int,
) -> None:
    angle = math.atan2(end[1] - start[1], end[0] - start[0])
    head = 6 * unit
    wings = [
        (end[0] - head * math.cos(angle + s * 0.45), end[1] - head * math.sin(angle + s * 0.45))
        for s in (-1, 1)
    ]
    for fill, width in ((SHADOW, unit + 2), (colour, unit)):
        draw.line([start, end], fill=fill, width=width)
        draw.polygon([end, *wings], fill=fill)


def _cross(draw: ImageDraw.ImageDraw, xy: tuple[float, float], radius: float, unit: int) -> None:
    x, y = xy
    for fill, width in ((SHADOW, unit + 2), (ERROR_COLOUR, unit)):
        draw.line([(x - radius, y - radius), (x + radius, y + radius)], fill=fill, width=width)
        draw.line([(x - radius, y + radius), (x + radius, y - radius)], fill=fill, width=width)


_SCROLL_DIRECTIONS = {"up": (0, -1), "down": (0, 1), "left": (-1, 0), "right": (1, 0)}


def _draw_click(
    draw: ImageDraw.ImageDraw,
    action: dict[str, Any],
    xy: tuple[float, float],
    radius: float,
    unit: int,
) -> None:
    """A ring + dot coloured by button, labelled "2x"/"3x" for multiple clicks."""
    colour = BUTTON_COLOURS.get(str(action.get("button", "left")), BUTTON_COLOURS["left"])
    _ring(draw, xy, radius, colour, unit)
    clicks = int(action.get("clicks", 1) or 1)
    if clicks > 1:
        draw.text(
            (xy[0] + radius + unit, xy[1] - radius),
            f"{clicks}x",
            fill=TEXT_COLOUR,
            font=_font(6 * unit),
            stroke_width=max(1, unit // 2),
            stroke_fill=SHADOW,
        )


def _draw_action(
    draw: ImageDraw.ImageDraw, action: dict[str, Any], size: tuple[int, int], failed: bool
) -> None:
    """Draw one action's marker; keyboard and control actions live in the caption only."""
    unit, kind = _unit(size), action.get("action")
    radius = 5 * unit
    anchor = _xy(action.get("point")) or _xy(action.get("end"))
    if kind == "click" and anchor:
        _draw_click(draw, action, anchor, radius, unit)
    elif kind == "move" and anchor:
        _ring(draw, anchor, radius * 0.6, MOVE_COLOUR, unit)
    elif kind == "drag" and anchor:
        start = _xy(action.get("start"))
        if start:
            _ring(draw, start, radius * 0.6, DRAG_COLOUR, unit)
            _arrow(draw, start, anchor, DRAG_COLOUR, unit)
        else:
            _ring(draw, anchor, radius * 0.6, DRAG_COLOUR, unit)
    elif kind == "scroll":
        anchor = anchor or (size[0] / 2, size[1] / 2)
        dx, dy = _SCROLL_DIRECTIONS.get(str(action.get("direction")), (0, 1))
        length = 12 * unit
        _ring(draw, anchor, radius * 0.6, SCROLL_COLOUR, unit)
        _arrow(
            draw, anchor, (anchor[0] + dx * length, anchor[1] + dy * length), SCROLL_COLOUR, unit
        )
    if failed and anchor:
        _cross(draw, anchor, radius * 0.8, unit)


def _fit(draw: ImageDraw.ImageDraw, text: str, font: Any, room: float) -> str:
    """The longest `text[:n] + "..."` (or `text` itself) that fits in `room` pixels; ""
    when not even "..." fits (a screenshot a few pixels wide). A binary search over n:
    each try shortens, so it always ends, and in log(len) measurements."""
    if not text or draw.textlength(text, font=font) <= room:
        return text
    low, high = 0, len(text) - 1  # the answer's n lies in [low, high]; n = 0 is "..."
    if draw.textlength("...", font=font) > room:
        return ""
    while low < high:
        middle = (low + high + 1) // 2
        if draw.textlength(text[:middle] + "...", font=font) <= room:
            low = middle
        else:
            high = middle - 1
    return text[:low] + "..."


def _with_caption(image: Image.Image, lines: list[tuple[str, Colour]]) -> Image.Image:
    """The image with a dark band under it holding the caption lines."""
    width, height = image.size
    out = Image.new("RGB", (width, height + caption_height(width)), CAPTION_BACKGROUND)
    out.paste(image, (0, 0))
    draw, size = ImageDraw.Draw(out), font_px(width)
    font, pad = _font(size), size // 2
    for index, (line, colour) in enumerate(lines):
        text = _fit(draw, line, font, width - 2 * pad)
        draw.text((pad, height + pad + index * round(size * 1.4)), text, fill=colour, font=font)
    return out


def annotate(image: Image.Image, step: dict[str, Any], *, caption: bool = True) -> Image.Image:
    """A copy of `image` (the step's screenshot) with the step's actions drawn at their
    screenshot-pixel points and, with `caption`, a caption band underneath (step number,
    first line of the model's text, action summary, errors in red)."""
    canvas = image.convert("RGB")  # always a copy: the caller's image is left alone
    draw = ImageDraw.Draw(canvas)
    for action, (_, _, result) in zip(step_actions(step), paired(step), strict=True):
        if action is None:
            continue
        failed = isinstance(result, dict) and not result.get("ok", True)
        _draw_action(draw, action, canvas.size, failed)
    return _with_caption(canvas, caption_lines(step)) if caption else canvas


# -- frames and encoding ---------------------------------------------------------------
def _recorded_size(step: dict[str, Any]) -> tuple[int, int]:
    frame = step.get("frame") or {}
    if frame.get("width") and frame.get("height"):
        return int(frame["width"]), int(frame["height"])
    return DEFAULT_SIZE


def _screenshot_path(run_dir: Path, step: dict[str, Any]) -> Path:
    """Where the step's screenshot is; only a bare file name is honoured, so a record
    cannot point the video or report at a file outside the run directory."""
    name = step.get("screenshot") or f"step-{int(step.get('step', 0)):03d}.png"
    return run_dir / Path(str(name)).name


def load_screenshot(run_dir: Path, step: dict[str, Any]) -> Image.Image | None:
    """The step's screenshot as RGB, or None when it is missing or unreadable."""
    try:
        with Image.open(_screenshot_path(run_dir, step)) as image:
            return image.convert("RGB")
    except (OSError, ValueError):
        return None


def _screenshot_size(run_dir: Path, step: dict[str, Any]) -> tuple[int, int]:
    """The screenshot's size from its file header alone (no decoding)."""
    try:
        with Image.open(_screenshot_path(run_dir, step)) as image:
            return image.size
    except (OSError, ValueError):
        return _recorded_size(step)


def step_image(run_dir: Path, step: dict[str, Any]) -> Image.Image:
    """The step's screenshot, or a grey placeholder of its recorded size if it is gone."""
    image = load_screenshot(run_dir, step)
    return image if image is not None else Image.new("RGB", _recorded_size(step), (90, 90, 90))


def _even(value: int) -> int:
    return value + (value % 2)


def _letterbox(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """`image` centred on a black canvas of `size` (every frame of a video is one size)."""
    if image.size == size:
        return image
    canvas = Image.new("RGB", size, (0, 0, 0))
    canvas.paste(image, ((size[0] - image.width) // 2, (size[1] - image.height) // 2))
    return canvas


def _open_stream(av: Any, container: Any, fps: float, size: tuple[int, int]) -> Any:
    """H.264 (libx264) if this FFmpeg has it, else MPEG-4 part 2; yuv420p either way so
    ordinary players open the file."""
    rate = Fraction(fps).limit_denominator(1001)
    if "libx264" in av.codecs_available:
        try:
            stream = container.add_stream("libx264", rate=rate)
            stream.options = {"crf": "20", "preset": "veryfast"}
        except Exception:  # listed but unusable (a stripped FFmpeg build)
            stream = None
    else:
        stream = None
    if stream is None:
        stream = container.add_stream("mpeg4", rate=rate)
        stream.bit_rate = 4_000_000
    stream.width, stream.height = size
    stream.pix_fmt = "yuv420p"
    return stream


def render_video(
    run_dir: str | Path,
    *,
    fps: float = 1.0,
    out_name: str = "run.mp4",
    seconds_per_step: float = 1.0,
) -> Path:
    """Write `run_dir/out_name`: each step held for `seconds_per_step` (at least one frame),
    annotated, letterboxed onto one even-sized canvas. Written to a temporary name and
    renamed, so a reader never sees half a file."""
    import av

    run_dir = Path(run_dir)
    steps = read_trajectory(run_dir)["steps"]
    if not steps:
        raise ValueError(f"{run_dir} has no steps to render")
    if fps <= 0:
        raise ValueError("fps must be positive")
    sizes = [_screenshot_size(run_dir, step) for step in steps]
    size = (
        _even(max(w for w, _ in sizes)),
        _even(max(h + caption_height(w) for w, h in sizes)),
    )
    repeat = max(1, round(fps * seconds_per_step))
    out, partial = run_dir / out_name, run_dir / f".{out_name}.partial"
    try:
        with av.open(str(partial), mode="w", format="mp4") as container:
            stream = _open_stream(av, container, fps, size)
            for step in steps:
                image = _letterbox(annotate(step_image(run_dir, step), step), size)
                for _ in range(repeat):
                    container.mux(stream.encode(av.VideoFrame.from_image(image)))
            container.mux(stream.encode())
    except BaseException:
        partial.unlink(missing_ok=True)  # no half-written video left behind
        raise
    os.replace(partial, out)
    return out
