"""Reading the images and videos inside chat messages, the way the reference does.

`prepare_image` reproduces qwen-vl-utils' `fetch_image` (RGBA on white, smart resize,
Pillow resize) without importing it, so minimal installs without torchvision get the
same pixels the Qwen team's pipeline gives the processor.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

from .resize import CHECKPOINT_MAX_PIXELS, DEFAULT_MIN_PIXELS, smart_resize

IMAGE_KEYS = ("image", "image_url")


def is_image(part: Any) -> bool:
    return isinstance(part, dict) and (
        part.get("type") in ("image", "image_url") or any(k in part for k in IMAGE_KEYS)
    )


def is_video(part: Any) -> bool:
    return isinstance(part, dict) and (part.get("type") == "video" or "video" in part)


def parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return list(content or [])


def visual_parts(conversation: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Image and video parts in the order the chat template places them."""
    return [p for m in conversation for p in parts(m.get("content")) if is_image(p) or is_video(p)]


def image_ref(part: dict[str, Any]) -> Any:
    ref = part.get("image", part.get("image_url"))
    if isinstance(ref, dict):  # OpenAI layout: {"image_url": {"url": ...}}
        ref = ref.get("url")
    return ref


def load_image(ref: Any) -> Any:
    """A PIL image from a PIL image, a path, a file:// URL or a base64 data URL."""
    from PIL import Image

    if isinstance(ref, Image.Image):
        return ref
    if isinstance(ref, Path):
        ref = str(ref)
    if not isinstance(ref, str):
        raise TypeError(f"an image must be a PIL image, a path or a data URL, got {type(ref)}")
    if ref.startswith("data:image"):
        data = base64.b64decode(ref.split("base64,", 1)[1])
        image = Image.open(io.BytesIO(data))
        image.load()
        return image
    if ref.startswith(("http://", "https://")):
        raise ValueError(
            "remote image URLs are not fetched; download the image and pass the file or the "
            "PIL image"
        )
    path = ref[7:] if ref.startswith("file://") else ref
    image = Image.open(path)
    image.load()
    return image


def to_rgb(image: Any) -> Any:
    """RGB as the reference makes it: transparent pixels become white, not black."""
    from PIL import Image

    if image.mode == "RGBA":
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.split()[3])
        return background
    return image.convert("RGB")


def pixel_limits(
    part: dict[str, Any], min_pixels: int | None, max_pixels: int | None
) -> tuple[int, int]:
    """Limits for one image: the part's own keys win (qwen-vl-utils' convention), then the
    request's, then the checkpoints' defaults."""
    lo = part.get("min_pixels", min_pixels if min_pixels is not None else DEFAULT_MIN_PIXELS)
    hi = part.get("max_pixels", max_pixels if max_pixels is not None else CHECKPOINT_MAX_PIXELS)
    return int(lo), int(hi)


def prepare_image(
    part: dict[str, Any], *, min_pixels: int | None = None, max_pixels: int | None = None
) -> Any:
    """The image the processor should get for one message part (fetch_image's result)."""
    image = to_rgb(load_image(image_ref(part)))
    if "resized_height" in part and "resized_width" in part:
        height, width = smart_resize(
            int(part["resized_height"]), int(part["resized_width"]), flavor="qwen_vl_utils"
        )
    else:
        lo, hi = pixel_limits(part, min_pixels, max_pixels)
        height, width = smart_resize(
            image.height, image.width, min_pixels=lo, max_pixels=hi, flavor="qwen_vl_utils"
        )
    return image.resize((width, height))


def encode_data_url(image: Any, fmt: str = "png", quality: int = 90) -> str:
    """A base64 data URL; PNG is lossless (small text stays sharp), JPEG is smaller."""
    fmt = fmt.lower()
    buffer = io.BytesIO()
    if fmt in ("jpeg", "jpg"):
        to_rgb(image).save(buffer, format="JPEG", quality=quality)
        mime = "jpeg"
    elif fmt == "png":
        image.save(buffer, format="PNG")
        mime = "png"
    else:
        raise ValueError(f"image format must be png or jpeg, got {fmt!r}")
    return f"data:image/{mime};base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def image_size(ref: Any) -> tuple[int, int] | None:
    """(width, height) of an image reference, reading only a file's header; None for a
    remote URL."""
    from PIL import Image

    if isinstance(ref, Image.Image):
        return ref.size
    if isinstance(ref, str) and ref.startswith(("http://", "https://")):
        return None
    if isinstance(ref, str) and ref.startswith("data:image"):
        return load_image(ref).size
    with Image.open(str(ref).removeprefix("file://")) as image:
        return image.size


def describe_content(content: Any) -> list[Any]:
    """Content with images replaced by their pixel size, never their path or pixels, so
    the same screen given as a file in another folder or as a PIL image reads the same
    (for fingerprints and logs)."""
    out: list[Any] = []
    for part in parts(content):
        if is_image(part):
            ref = image_ref(part)
            try:
                size = image_size(ref)
            except OSError:
                size = None
            out.append({"image": list(size) if size else str(ref)[:80]})
        elif is_video(part):
            video = part.get("video")
            name = len(video) if isinstance(video, list | tuple) else Path(str(video)).name
            out.append({"video": name})
        else:
            out.append(part.get("text", ""))
    return out
