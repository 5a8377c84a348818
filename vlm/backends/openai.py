"""A backend that talks to an OpenAI-compatible chat-completions server (vLLM, SGLang,
`transformers serve`, Ollama, LM Studio, DashScope, the OpenAI API, ...).

Stdlib only (urllib, threads): a client machine that drives a remote GPU server should
not need torch, openai or httpx. The server resizes images itself, so every completion
also reports the size the server's processor (transformers flavor of `smart_resize`)
turns each image into: `resized_px` coordinates only map back correctly with it.

What a request carries beyond the OpenAI schema depends on the server (`server=`, see
`openai_servers`); `auto` learns it from the server. Every request, retries included,
ends within `request_timeout_s`, whatever the server does.

Videos: servers disagree on how a list of frames is sent, so a frame list goes out as
one image part per frame, in order (the model then sees images, not a video, and each
frame counts in `image_sizes`). A video given as an http(s) or data URL is passed as a
`video_url` part, and a local file goes as a base64 data URL (the server cannot read our
disk; vLLM samples `video_url` videos itself).
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import threading
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
from .openai_http import (
    MAX_RETRY_AFTER_S,
    NETWORK_ERRORS,
    RETRY_STATUSES,
    Deadline,
    DeadlineExpired,
    fetch,
    server_message,
    short,
    video_data_url,
)
from .openai_http import retry_after as _retry_after
from .openai_servers import (
    DASHSCOPE_HIGH_RES_MAX_PIXELS,
    PROFILES,
    SERVERS,
    ServerProfile,
    extra_fields,
    get_profile,
    model_ids,
    named_fields,
    profile_from_models,
    profile_from_url,
    server_limits,
)

__all__ = ["MAX_RETRY_AFTER_S", "SERVERS", "OpenAIBackend", "_retry_after"]

log = logging.getLogger("pixelpilot.vlm.openai")
_REMOTE = ("http://", "https://")
#: The most of a request's deadline that asking `/models` may take (and never over half).
DISCOVERY_TIMEOUT_S = 10.0


@dataclass
class _Prepared:
    """One conversation in the server's layout, plus what we know the server will see."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    image_sizes: list[tuple[int, int]] = field(default_factory=list)
    visual_tokens: int = 0


class _ExtrasRejected(Exception):
    """A 4xx whose message names fields beyond the OpenAI schema that we added."""

    def __init__(self, status: int, message: str, fields: set[str]) -> None:
        super().__init__(message)
        self.status, self.message, self.fields = status, message, fields


class OpenAIBackend:
    """POST /chat/completions, one request per conversation, up to `max_parallel` at once.

    `server` picks what goes beyond the OpenAI schema (`vllm`, `sglang`, `transformers`,
    `openai`, `ollama`, `lmstudio`, `dashscope`, or `auto`: learn it from the server).
    `min_pixels`/`max_pixels` are the limits the model should see images with: sent per
    request (vLLM's `mm_processor_kwargs`) where the server takes them, applied here by
    resizing where it does not, or, with `send_pixel_limits=False`, describing how the
    server was launched. Unset, the checkpoints' defaults are assumed.
    `model=None` asks the server's `/models` for the name it serves.
    """

    def __init__(
        self,
        base_url: str,
        model: str | None = None,
        *,
        server: str = "auto",
        api_key: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        image_format: str = "png",
        jpeg_quality: int = 90,
        min_pixels: int | None = None,
        max_pixels: int | None = None,
        send_pixel_limits: bool = True,
        timeout_s: float = 120.0,
        request_timeout_s: float = 180.0,
        max_retries: int = 3,
        backoff_s: float = 0.5,
        max_parallel: int = 8,
        extra_body: dict[str, Any] | None = None,
        keep_special_tokens: bool = True,
        probe_models: bool = True,
    ) -> None:
        """`timeout_s` bounds each attempt, `request_timeout_s` the whole request (connect,
        read and every retry). `keep_special_tokens` asks servers that can (vLLM, SGLang)
        not to strip `<|box_start|>` and the other grounding tokens. `probe_models` lets
        `auto` (and `model=None`) ask `/models` before the first request."""
        if image_format.lower() not in ("png", "jpeg", "jpg"):
            raise ValueError(f"image_format must be png or jpeg, got {image_format!r}")
        if not all(0 < t < math.inf for t in (timeout_s, request_timeout_s)):
            raise ValueError("timeout_s and request_timeout_s must be positive and finite")
        if max_retries < 0 or backoff_s < 0:
            raise ValueError("need max_retries >= 0 and backoff_s >= 0")
        if max_parallel < 1:
            raise ValueError("need max_parallel >= 1")
        if not base_url.startswith(_REMOTE):
            raise ValueError(f"base_url must be an http(s) URL, got {short(base_url, 80)!r}")
        self.base_url = base_url.rstrip("/")
        self.url = self.base_url + "/chat/completions"
        self.model = model
        self.server = server
        self._profile: ServerProfile = get_profile(server)  # raises on an unknown name
        self.api_key_env = api_key_env
        self._api_key = api_key if api_key is not None else os.environ.get(api_key_env)
        self.image_format = image_format.lower()
        self.jpeg_quality = jpeg_quality
        self.min_pixels, self.max_pixels = min_pixels, max_pixels
        self.send_pixel_limits = send_pixel_limits
        self.timeout_s, self.request_timeout_s = timeout_s, request_timeout_s
        self.max_retries, self.backoff_s = max_retries, backoff_s
        self.max_parallel = max_parallel
        self.extra_body = dict(extra_body or {})
        self.keep_special_tokens = keep_special_tokens
        self.probe_models = probe_models
        self._lock = threading.Lock()
        self._discovered = False
        self._warned: set[str] = set()
        self._opener = urllib.request.build_opener()  # reads proxy settings now, not at import

    def __repr__(self) -> str:  # never the key
        return f"OpenAIBackend(url={self.url!r}, model={self.model!r}, server={self.profile!r})"

    @property
    def profile(self) -> str:
        """The server profile requests are built for now (`auto` until it has learned)."""
        return self._profile.name

    def discover(self, deadline: Deadline | None = None) -> str:
        """Ask `/models` once, if there is something to learn: which server this is (for
        `auto`) and which model it serves (for `model=None`). Never raises: a server
        without `/models` is still usable. Returns the profile now in use."""
        with self._lock:
            if self._discovered:
                return self.profile
            self._discovered = True
            if self.server == "auto" and (kind := profile_from_url(self.base_url)):
                self._adopt(kind, f"its host name ({self.base_url})")
            want_kind = self.server == "auto" and self.profile == "auto"
            if not self.probe_models or not (want_kind or self.model is None):
                self.model = self.model or "default"
                return self.profile
            budget = deadline or Deadline(self.request_timeout_s)
            # at most half of what is left: the request itself must still get its chance
            answer = self._get_models(budget.sub(min(DISCOVERY_TIMEOUT_S, budget.left() / 2)))
            if want_kind and (kind := profile_from_models(answer)):
                self._adopt(kind, f"{self.base_url}/models")
            if self.model is None:
                ids = model_ids(answer)
                self.model = ids[0] if ids else "default"
                log.info("pixelpilot: %s serves %r", self.base_url, self.model)
            return self.profile

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
        deadline = Deadline(self.request_timeout_s)
        self.discover(deadline)
        profile = self._profile
        prepared, payload, sent = self._request(conversation, params, profile)
        posted = time.perf_counter()
        try:
            reply = self._post(payload, deadline, sent)
        except _ExtrasRejected as rejected:
            if self.server != "auto":
                raise BackendError(self._rejected_message(rejected, profile)) from None
            profile = self._fall_back(profile, rejected)
            prepared, payload, sent = self._request(conversation, params, profile)
            reply = self._post(payload, deadline, sent)
        done = time.perf_counter()
        return self._completion(reply, prepared, start, posted, done)

    def _completion(
        self, reply: dict[str, Any], prepared: _Prepared, start: float, sent: float, done: float
    ) -> Completion:
        try:
            choice = reply["choices"][0]
            finish_reason = choice.get("finish_reason")
            content = choice["message"].get("content")
        except (KeyError, IndexError, TypeError, AttributeError):
            raise BackendError(
                f"{self.url} answered without choices[0].message: {short(reply)}"
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

    # -- what a request carries, per server ----------------------------------------------

    def _adopt(self, kind: str, source: str) -> None:
        self._profile = PROFILES[kind]
        log.info("pixelpilot: %s is %s (learned from %s)", self.base_url, kind, source)

    def _fall_back(self, profile: ServerProfile, rejected: _ExtrasRejected) -> ServerProfile:
        """`auto` after a 4xx naming our extra fields: the OpenAI schema only, from now on."""
        with self._lock:
            if self._profile is profile:
                self._profile = profile.without_extras()
                log.warning(
                    "pixelpilot: %s rejected %s (HTTP %d: %s); sending the OpenAI schema only "
                    "from now on (choose --server to skip this retry)",
                    self.url, ", ".join(sorted(rejected.fields)), rejected.status,
                    rejected.message,
                )  # fmt: skip
            return self._profile

    def _rejected_message(self, rejected: _ExtrasRejected, profile: ServerProfile) -> str:
        fields = ", ".join(sorted(rejected.fields))
        return (
            f"POST {self.url}: HTTP {rejected.status}: {rejected.message} -- server profile "
            f"{profile.name!r} sends {fields}, which this server does not take; "
            f"use --server auto (server='auto') or the profile of this server"
        )

    def _request(
        self, conversation: Conversation, params: GenerationParams, profile: ServerProfile
    ) -> tuple[_Prepared, bytes, set[str]]:
        limits = server_limits(
            profile, self.min_pixels, self.max_pixels, send=self.send_pixel_limits
        )
        prepared = self._convert(conversation, limits)
        body, sent = self._body(prepared.messages, params, profile, limits)
        return prepared, json.dumps(body).encode("utf-8"), sent

    def _body(
        self,
        messages: list[dict[str, Any]],
        params: GenerationParams,
        profile: ServerProfile,
        limits: tuple[int, int],
    ) -> tuple[dict[str, Any], set[str]]:
        """The request body, and the names of the non-OpenAI fields in it."""
        body: dict[str, Any] = {
            "model": self.model or "default",
            "messages": messages,
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
        }
        if params.seed is not None:
            body["seed"] = params.seed
        if params.stop:
            body["stop"] = list(params.stop)
        given = {"min_pixels": self.min_pixels, "max_pixels": self.max_pixels}
        extras, sent, missing = extra_fields(
            profile, params,
            keep_special_tokens=self.keep_special_tokens,
            limits_to_send={k: v for k, v in given.items() if v is not None}
            if self.send_pixel_limits else {},
            high_resolution=limits[1] == DASHSCOPE_HIGH_RES_MAX_PIXELS,
        )  # fmt: skip
        body.update(extras)
        for key in missing:
            self._warn_once(key, f"server profile {profile.name!r} has no {key}; not sent")
        body.update(self.extra_body)  # the caller's word wins
        return body, sent

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning("pixelpilot: %s", message)

    # -- messages in OpenAI's layout -----------------------------------------------------

    def _convert(self, conversation: Conversation, limits: tuple[int, int]) -> _Prepared:
        """Our chat messages in OpenAI's layout. Text-only system and assistant messages
        become plain strings (every server takes those); user messages keep the part list."""
        prepared = _Prepared()
        for message in conversation:
            role, content = message.get("role"), message.get("content")
            if isinstance(content, str):
                prepared.messages.append({"role": role, "content": content})
                continue
            converted = [
                out for p in parts(content) for out in self._convert_part(p, prepared, limits)
            ]
            if role != "user" and all(p["type"] == "text" for p in converted):
                text = "".join(p["text"] for p in converted)  # the chat template joins them so
                prepared.messages.append({"role": role, "content": text})
            else:
                prepared.messages.append({"role": role, "content": converted})
        return prepared

    def _convert_part(
        self, part: dict[str, Any], prepared: _Prepared, limits: tuple[int, int]
    ) -> list[dict[str, Any]]:
        if is_image(part):
            return [self._image_part(part, image_ref(part), prepared, limits)]
        if is_video(part):
            video = part.get("video")
            if isinstance(video, (list, tuple)):
                return [self._image_part(part, frame, prepared, limits) for frame in video]
            if isinstance(video, str) and video.startswith((*_REMOTE, "data:")):
                return [{"type": "video_url", "video_url": {"url": video}}]
            return [{"type": "video_url", "video_url": {"url": video_data_url(video)}}]
        if part.get("type", "text") == "text":
            return [{"type": "text", "text": str(part.get("text", ""))}]
        raise BackendError(f"unsupported message part type {part.get('type')!r}")

    def _image_part(
        self, part: dict[str, Any], ref: Any, prepared: _Prepared, limits: tuple[int, int]
    ) -> dict[str, Any]:
        """An image_url part; records the size the server's processor will resize it to."""
        if isinstance(ref, str) and ref.startswith(_REMOTE):
            prepared.image_sizes.append((0, 0))  # unknown without fetching it; keeps the order
            return {"type": "image_url", "image_url": {"url": ref}}
        try:
            image = load_image(ref)
        except (OSError, ValueError, TypeError) as error:
            raise BackendError(f"cannot read the image {short(str(ref), 80)}: {error}") from error
        lo, hi = pixel_limits(part, self.min_pixels, self.max_pixels)
        if (lo, hi) != limits:
            # The server applies one set of limits per request (or only its own), so other
            # limits can only hold if we resize here; the server then keeps that size
            # (already on the grid) unless it is beyond the server's own limits.
            width, height = model_image_size(*image.size, min_pixels=lo, max_pixels=hi)
            image = to_rgb(image).resize((width, height), resample=3)  # 3 = PIL BICUBIC
            url = encode_data_url(image, self.image_format, self.jpeg_quality)
        elif isinstance(ref, str) and ref.startswith("data:"):
            url = ref
        else:
            url = encode_data_url(to_rgb(image), self.image_format, self.jpeg_quality)
        size = model_image_size(*image.size, min_pixels=limits[0], max_pixels=limits[1])
        prepared.image_sizes.append(size)
        prepared.visual_tokens += (size[0] // FACTOR) * (size[1] // FACTOR)
        return {"type": "image_url", "image_url": {"url": url}}

    # -- HTTP ----------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    def _get_models(self, deadline: Deadline) -> Any:
        """The `/models` answer, or None (any failure: the listing is only a hint)."""
        request = urllib.request.Request(
            self.base_url + "/models", headers=self._headers(), method="GET"
        )
        try:
            return json.loads(fetch(self._opener, request, deadline, self.timeout_s))
        except (DeadlineExpired, ValueError, *NETWORK_ERRORS) as error:
            log.debug("pixelpilot: %s/models: %s", self.base_url, self._redact(repr(error)))
            return None

    def _post(self, payload: bytes, deadline: Deadline, sent: set[str]) -> dict[str, Any]:
        """POST with retries on overload, server errors and network trouble, all within
        `deadline`; auth and other client errors fail at once, since repeating them
        cannot help (a 4xx naming the fields in `sent` is `_ExtrasRejected`)."""
        attempt, failure = 0, "no answer"
        while True:
            request = urllib.request.Request(
                self.url, data=payload, headers=self._headers(), method="POST"
            )
            # jitter keeps parallel requests that were refused together from retrying together
            wait = self.backoff_s * 2**attempt * random.uniform(0.5, 1.5)
            try:
                return self._decode(fetch(self._opener, request, deadline, self.timeout_s))
            except DeadlineExpired:
                raise BackendError(self._deadline_message(deadline, attempt + 1, failure)) from None
            except urllib.error.HTTPError as error:
                message = self._redact(server_message(error))
                if error.code in (401, 403):
                    raise BackendError(self._auth_message(error.code, message)) from None
                if error.code not in RETRY_STATUSES:
                    named = named_fields(message, sent) if 400 <= error.code < 500 else set()
                    if named:
                        raise _ExtrasRejected(error.code, message, named) from None
                    raise BackendError(f"POST {self.url}: HTTP {error.code}: {message}") from None
                failure = f"HTTP {error.code}: {message}"
                asked = _retry_after(error.headers)
                wait = wait if asked is None else asked
            except NETWORK_ERRORS as error:
                failure = self._redact(f"{type(error).__name__}: {error}")
            except ValueError as error:  # a URL or header http.client cannot send
                raise BackendError(f"POST {self.url}: {self._redact(str(error))}") from None
            if attempt >= self.max_retries:
                raise BackendError(
                    f"POST {self.url} failed after {attempt + 1} attempt(s): {failure}"
                )
            if wait >= deadline.left():  # the next try would start past the deadline
                raise BackendError(self._deadline_message(deadline, attempt + 1, failure))
            time.sleep(wait)
            attempt += 1

    def _deadline_message(self, deadline: Deadline, attempts: int, failure: str) -> str:
        return (
            f"POST {self.url}: no answer within the request deadline of {deadline.seconds:g} s "
            f"({attempts} attempt(s); last: {failure}); raise it with --request-timeout "
            f"(request_timeout_s=) if the server is just slow"
        )

    def _decode(self, raw: bytes) -> dict[str, Any]:
        try:
            reply = json.loads(raw.decode("utf-8"))
        except ValueError:
            raise BackendError(f"{self.url} answered with malformed JSON: {short(raw)}") from None
        if not isinstance(reply, dict):
            raise BackendError(f"{self.url} answered with a non-object: {short(reply)}")
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
