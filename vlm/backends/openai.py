"""A backend that talks to an OpenAI-compatible chat-completions server (vLLM, SGLang, ...).

Stdlib only (urllib, threads): a client machine that drives a remote GPU server should
not need torch, openai or httpx. The server resizes images itself, so every completion
also reports the size the server's processor (transformers flavor of `smart_resize`)
turns each image into: `resized_px` coordinates only map back correctly with it.

Videos: servers disagree on how a list of frames is sent, so a frame list goes out as
one image part per frame, in order (the model then sees images, not a video, and each
frame counts in `image_sizes`). A video given as an http(s) or data URL is passed as a
`video_url` part, and a local file goes as a base64 data URL (the server cannot read our
disk; vLLM samples `video_url` videos itself).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..backend import (
    BackendError,
    Completion,
    Conversation,
    GenerationParams,
    Timings,
    Usage,
    as_batch,
)
from ..messages import (
    encode_data_url,
    image_ref,
    is_image,
    is_video,
    load_image,
    parts,
    pixel_limits,
    to_rgb,
)
from ..resize import FACTOR, model_image_size

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER_S = 30.0
_REMOTE = ("http://", "https://")
#: URLError (refused, DNS), TimeoutError and ConnectionError are all OSErrors.
_NETWORK_ERRORS = (OSError, http.client.HTTPException)


@dataclass
class _Prepared:
    """One conversation in the server's layout, plus what we know the server will see."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    image_sizes: list[tuple[int, int]] = field(default_factory=list)
    visual_tokens: int = 0


def _video_data_url(path: Any) -> str:
    """A local recording as a base64 data URL: the server cannot read our disk, and vLLM
    decodes and samples `video_url` data URLs itself."""
    import base64
    import mimetypes
    from pathlib import Path

    file = Path(str(path).removeprefix("file://"))
    if not file.is_file():
        raise BackendError(f"no video file at {_short(str(file), 120)}")
    mime = mimetypes.guess_type(file.name)[0] or "video/mp4"
    return f"data:{mime};base64," + base64.b64encode(file.read_bytes()).decode("ascii")


def _short(value: Any, limit: int = 300) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _server_message(error: urllib.error.HTTPError) -> str:
    """The human part of an error body: OpenAI's {"error": {"message"}}, vLLM's
    {"message"}, FastAPI's {"detail"}, or else the raw text."""
    raw = ""
    try:
        raw = error.read().decode("utf-8", "replace").strip()
        data = json.loads(raw)
    except (OSError, ValueError):  # the body is a courtesy; the status is reported anyway
        return _short(raw or str(error.reason))
    if isinstance(data, dict):
        inner = data.get("error")
        inner = inner.get("message") if isinstance(inner, dict) else inner
        for candidate in (inner, data.get("message"), data.get("detail")):
            if candidate:
                return _short(str(candidate))
    return _short(raw)


def _retry_after(headers: Any) -> float | None:
    """Retry-After in seconds (HTTP dates are ignored), capped so a server cannot stall us."""
    value = headers.get("Retry-After") if headers is not None else None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


class OpenAIBackend:
    """POST /chat/completions, one request per conversation, up to `max_parallel` at once.

    `min_pixels`/`max_pixels` are the limits the server resizes with: sent per request as
    vLLM's `mm_processor_kwargs` when `send_pixel_limits`, or describing how the server was
    launched otherwise. Unset, the checkpoints' defaults are assumed.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        image_format: str = "png",
        jpeg_quality: int = 90,
        min_pixels: int | None = None,
        max_pixels: int | None = None,
        send_pixel_limits: bool = True,
        timeout_s: float = 120.0,
        max_retries: int = 3,
        backoff_s: float = 0.5,
        max_parallel: int = 8,
        extra_body: dict[str, Any] | None = None,
        keep_special_tokens: bool = True,
    ) -> None:
        """`keep_special_tokens` asks vLLM/SGLang not to strip `<|box_start|>` and the
        other grounding tokens from the reply (their default strips them)."""
        if image_format.lower() not in ("png", "jpeg", "jpg"):
            raise ValueError(f"image_format must be png or jpeg, got {image_format!r}")
        if timeout_s <= 0 or max_retries < 0 or backoff_s < 0 or max_parallel < 1:
            raise ValueError(
                "need timeout_s > 0, max_retries >= 0, backoff_s >= 0 and max_parallel >= 1"
            )
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.api_key_env = api_key_env
        self._api_key = api_key if api_key is not None else os.environ.get(api_key_env)
        self.image_format = image_format.lower()
        self.jpeg_quality = jpeg_quality
        self.min_pixels, self.max_pixels = min_pixels, max_pixels
        self.send_pixel_limits = send_pixel_limits
        self.timeout_s, self.max_retries, self.backoff_s = timeout_s, max_retries, backoff_s
        self.max_parallel = max_parallel
        self.extra_body = dict(extra_body or {})
        self.keep_special_tokens = keep_special_tokens
        self._server_limits = pixel_limits({}, min_pixels, max_pixels)
        self._opener = urllib.request.build_opener()  # reads proxy settings now, not at import

    def __repr__(self) -> str:  # never the key
        return f"OpenAIBackend(url={self.url!r}, model={self.model!r})"

    def generate(
        self, conversations: Sequence[Conversation], params: GenerationParams | None = None
    ) -> list[Completion]:
        """One completion per conversation, in input order; the first failure is raised."""
        batch = as_batch(conversations)
        params = params or GenerationParams()
        if len(batch) <= 1:
            return [self._generate_one(c, params) for c in batch]
        workers = min(self.max_parallel, len(batch))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="openai-backend") as pool:
            futures = [pool.submit(self._generate_one, c, params) for c in batch]
            try:
                return [f.result() for f in futures]
            except BaseException:
                for future in futures:  # requests not yet sent are pointless now
                    future.cancel()
                raise

    def _generate_one(self, conversation: Conversation, params: GenerationParams) -> Completion:
        start = time.perf_counter()
        prepared = self._convert(conversation)
        body = self._body(prepared.messages, params)
        payload = json.dumps(body).encode("utf-8")
        sent = time.perf_counter()
        reply = self._post(payload)
        done = time.perf_counter()
        try:
            choice = reply["choices"][0]
            finish_reason = choice.get("finish_reason")
            content = choice["message"].get("content")
        except (KeyError, IndexError, TypeError, AttributeError):
            raise BackendError(
                f"{self.url} answered without choices[0].message: {_short(reply)}"
            ) from None
        if isinstance(content, list):  # some servers answer in parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        usage = reply.get("usage") if isinstance(reply.get("usage"), dict) else {}
        return Completion(
            text=content or "",
            finish_reason=finish_reason,
            image_sizes=tuple(prepared.image_sizes),
            usage=Usage(
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                completion_tokens=int(usage.get("completion_tokens") or 0),
                visual_tokens=prepared.visual_tokens,
            ),
            timings=Timings(
                preprocess_s=sent - start,
                model_s=done - sent,
                total_s=time.perf_counter() - start,
            ),
        )

    def _body(self, messages: list[dict[str, Any]], params: GenerationParams) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
        }
        for key in ("top_k", "repetition_penalty", "seed"):
            if getattr(params, key) is not None:
                body[key] = getattr(params, key)
        if params.stop:
            body["stop"] = list(params.stop)
        if self.keep_special_tokens:
            body["skip_special_tokens"] = False
        limits = {"min_pixels": self.min_pixels, "max_pixels": self.max_pixels}
        limits = {k: v for k, v in limits.items() if v is not None}
        if self.send_pixel_limits and limits:
            body["mm_processor_kwargs"] = limits
        body.update(self.extra_body)  # the caller's word wins
        return body

    def _convert(self, conversation: Conversation) -> _Prepared:
        """Our chat messages in OpenAI's layout. Text-only system and assistant messages
        become plain strings (every server takes those); user messages keep the part list."""
        prepared = _Prepared()
        for message in conversation:
            role, content = message.get("role"), message.get("content")
            if isinstance(content, str):
                prepared.messages.append({"role": role, "content": content})
                continue
            converted = [out for p in parts(content) for out in self._convert_part(p, prepared)]
            if role != "user" and all(p["type"] == "text" for p in converted):
                text = "".join(p["text"] for p in converted)  # the chat template joins them so
                prepared.messages.append({"role": role, "content": text})
            else:
                prepared.messages.append({"role": role, "content": converted})
        return prepared

    def _convert_part(self, part: dict[str, Any], prepared: _Prepared) -> list[dict[str, Any]]:
        if is_image(part):
            return [self._image_part(part, image_ref(part), prepared)]
        if is_video(part):
            video = part.get("video")
            if isinstance(video, (list, tuple)):
                return [self._image_part(part, frame, prepared) for frame in video]
            if isinstance(video, str) and video.startswith((*_REMOTE, "data:")):
                return [{"type": "video_url", "video_url": {"url": video}}]
            return [{"type": "video_url", "video_url": {"url": _video_data_url(video)}}]
        if part.get("type", "text") == "text":
            return [{"type": "text", "text": str(part.get("text", ""))}]
        raise BackendError(f"unsupported message part type {part.get('type')!r}")

    def _image_part(self, part: dict[str, Any], ref: Any, prepared: _Prepared) -> dict[str, Any]:
        """An image_url part; records the size the server's processor will resize it to."""
        if isinstance(ref, str) and ref.startswith(_REMOTE):
            prepared.image_sizes.append((0, 0))  # unknown without fetching it; keeps the order
            return {"type": "image_url", "image_url": {"url": ref}}
        try:
            image = load_image(ref)
        except (OSError, ValueError, TypeError) as error:
            raise BackendError(f"cannot read the image {_short(str(ref), 80)}: {error}") from error
        lo, hi = pixel_limits(part, self.min_pixels, self.max_pixels)
        if (lo, hi) != self._server_limits:
            # The server applies one set of limits per request, so a part's own limits can
            # only hold if we resize here; the server then keeps that size (already on grid).
            width, height = model_image_size(*image.size, min_pixels=lo, max_pixels=hi)
            image = to_rgb(image).resize((width, height), resample=3)  # 3 = PIL BICUBIC
            url = encode_data_url(image, self.image_format, self.jpeg_quality)
        elif isinstance(ref, str) and ref.startswith("data:"):
            url = ref
        else:
            url = encode_data_url(to_rgb(image), self.image_format, self.jpeg_quality)
        server_lo, server_hi = self._server_limits
        size = model_image_size(*image.size, min_pixels=server_lo, max_pixels=server_hi)
        prepared.image_sizes.append(size)
        prepared.visual_tokens += (size[0] // FACTOR) * (size[1] // FACTOR)
        return {"type": "image_url", "image_url": {"url": url}}

    def _post(self, payload: bytes) -> dict[str, Any]:
        """POST with retries on overload, server errors and network trouble; auth and
        other client errors fail at once, since repeating them cannot help."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        attempt = 0
        while True:
            request = urllib.request.Request(self.url, data=payload, headers=headers, method="POST")
            # jitter keeps parallel requests that were refused together from retrying together
            wait = self.backoff_s * 2**attempt * random.uniform(0.5, 1.5)
            try:
                with self._opener.open(request, timeout=self.timeout_s) as response:
                    raw = response.read()
                return self._decode(raw)
            except urllib.error.HTTPError as error:
                message = self._redact(_server_message(error))
                if error.code in (401, 403):
                    raise BackendError(self._auth_message(error.code, message)) from None
                if error.code not in RETRY_STATUSES:
                    raise BackendError(f"POST {self.url}: HTTP {error.code}: {message}") from None
                failure = f"HTTP {error.code}: {message}"
                asked = _retry_after(error.headers)
                wait = wait if asked is None else asked
            except _NETWORK_ERRORS as error:
                failure = self._redact(f"{type(error).__name__}: {error}")
            if attempt >= self.max_retries:
                raise BackendError(
                    f"POST {self.url} failed after {attempt + 1} attempt(s): {failure}"
                )
            time.sleep(wait)
            attempt += 1

    def _decode(self, raw: bytes) -> dict[str, Any]:
        try:
            reply = json.loads(raw.decode("utf-8"))
        except ValueError:
            raise BackendError(f"{self.url} answered with malformed JSON: {_short(raw)}") from None
        if not isinstance(reply, dict):
            raise BackendError(f"{self.url} answered with a non-object: {_short(reply)}")
        return reply

    def _auth_message(self, status: int, message: str) -> str:
        problem = "rejected the API key" if self._api_key else "wants an API key, none was sent"
        return (
            f"POST {self.url}: HTTP {status}: the server {problem} ({message}); "
            f"set ${self.api_key_env} to a valid key or pass api_key="
        )

    def _redact(self, text: str) -> str:
        """Servers sometimes echo the request; the key must never reach logs."""
        return text.replace(self._api_key, "***") if self._api_key else text
