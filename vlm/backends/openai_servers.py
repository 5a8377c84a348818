"""What each OpenAI-compatible server takes beyond the OpenAI schema, and how to tell them apart.

The OpenAI chat-completions schema has no field for the things a GUI agent on Qwen2-VL
needs: keeping `<|box_start|>` and the other grounding tokens in the reply
(`skip_special_tokens`), the processor's pixel limits, `top_k`, a repetition penalty.
Servers differ in what they accept, and the strict ones (the OpenAI API, `transformers
serve`) answer 4xx to any field they do not know. A `ServerProfile` says, per server,
which of those fields a request may carry, as each server documents them:

- vllm: `skip_special_tokens`, `top_k`, `repetition_penalty`, and `mm_processor_kwargs`
  (per-request `min_pixels`/`max_pixels`); unknown fields are ignored with a warning.
- sglang: `skip_special_tokens`, `top_k`, `repetition_penalty` (its ChatCompletionRequest);
  pixel limits are a launch setting, so they are applied here by resizing.
- transformers (`transformers serve`): the OpenAI fields plus `seed`; anything else is
  HTTP 422 "Unexpected fields in the request". It always decodes with
  `skip_special_tokens=True`, so grounding tokens never come back from it.
- openai (the OpenAI API): the schema only.
- ollama: the schema subset its OpenAI layer lists (no `top_k`, no penalties but the
  OpenAI ones); unknown fields are ignored.
- lmstudio: adds `top_k` and `repeat_penalty` (its name for the repetition penalty).
- dashscope (Alibaba Model Studio, compatible mode): `top_k`, `repetition_penalty`, and
  `vl_high_resolution_images`, which raises its per-image cap from 1280 visual tokens
  (1,003,520 pixels) to 16384 (12,845,056 pixels); exact limits are applied by resizing.

`auto` starts from the vLLM superset and learns: from `/v1/models` (vLLM and SGLang name
themselves in `owned_by`, `transformers serve` adds a non-OpenAI `status` to each model,
LM Studio says `organization_owner`, Ollama the `library` namespace) or from the host
name, and otherwise from the first 4xx that names one of the extra fields.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from ..messages import pixel_limits

#: The fields beyond the OpenAI schema that a request may carry.
EXTRA_FIELDS = (
    "skip_special_tokens",
    "top_k",
    "repetition_penalty",
    "mm_processor_kwargs",
    "vl_high_resolution_images",
)
#: DashScope's per-image pixel caps: 1280 visual tokens by default, 16384 in high resolution.
DASHSCOPE_MAX_PIXELS = 1280 * 28 * 28
DASHSCOPE_HIGH_RES_MAX_PIXELS = 16384 * 28 * 28


@dataclass(frozen=True)
class ServerProfile:
    """What one kind of server takes beyond the OpenAI schema.

    `extras`: the non-standard fields it accepts (names as in `EXTRA_FIELDS`);
    `renames`: a field it spells differently (LM Studio's `repeat_penalty`);
    `default_limits`: the pixel limits it resizes with when none are sent (None: the
    checkpoint's). Without `mm_processor_kwargs` a request's pixel limits cannot travel,
    so the backend resizes images itself and the server keeps that size.
    """

    name: str
    extras: frozenset[str] = frozenset()
    renames: Mapping[str, str] = field(default_factory=dict)
    default_limits: tuple[int, int] | None = None

    @property
    def sends_pixel_limits(self) -> bool:
        return "mm_processor_kwargs" in self.extras

    def without_extras(self) -> ServerProfile:
        """The same server taking the OpenAI schema only (what `auto` falls back to)."""
        return replace(self, extras=frozenset(), renames={})


_VLLM_EXTRAS = frozenset(
    {"skip_special_tokens", "top_k", "repetition_penalty", "mm_processor_kwargs"}
)

PROFILES: dict[str, ServerProfile] = {
    "vllm": ServerProfile("vllm", _VLLM_EXTRAS),
    "sglang": ServerProfile(
        "sglang", frozenset({"skip_special_tokens", "top_k", "repetition_penalty"})
    ),
    "transformers": ServerProfile("transformers"),
    "openai": ServerProfile("openai"),
    "ollama": ServerProfile("ollama"),
    "lmstudio": ServerProfile(
        "lmstudio",
        frozenset({"top_k", "repetition_penalty"}),
        renames={"repetition_penalty": "repeat_penalty"},
    ),
    "dashscope": ServerProfile(
        "dashscope",
        frozenset({"top_k", "repetition_penalty", "vl_high_resolution_images"}),
        default_limits=(4 * 28 * 28, DASHSCOPE_MAX_PIXELS),
    ),
}
#: Every value `server=` / `--server` takes.
SERVERS = (*sorted(PROFILES), "auto")
#: What `auto` sends until it knows better: the most permissive server's fields.
AUTO_START = replace(PROFILES["vllm"], name="auto")

_OWNERS = {"vllm": "vllm", "sglang": "sglang", "organization_owner": "lmstudio"}
_OPENAI_OWNERS = frozenset({"openai", "system", "openai-internal"})


def get_profile(server: str) -> ServerProfile:
    """The profile for a `server=` value; `auto` gets its starting profile."""
    if server == "auto":
        return AUTO_START
    try:
        return PROFILES[server]
    except KeyError:
        raise ValueError(f"unknown server {server!r}; choose one of {', '.join(SERVERS)}") from None


def profile_from_url(base_url: str) -> str | None:
    """Hosted APIs are known by their host name."""
    host = (urlsplit(base_url).hostname or "").lower()
    if host == "api.openai.com":
        return "openai"
    if host.startswith("dashscope") and host.endswith(".aliyuncs.com"):
        return "dashscope"
    return None


def profile_from_models(answer: Any) -> str | None:
    """The server kind a `/v1/models` answer gives away, or None if it does not."""
    models = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(models, list):
        return None
    entries = [m for m in models if isinstance(m, dict)]
    if any(isinstance(m.get("status"), dict) and "value" in m["status"] for m in entries):
        return "transformers"  # `status` is transformers serve's own addition
    owners = {str(m.get("owned_by", "")).lower() for m in entries}
    for owner in owners:
        if owner in _OWNERS:
            return _OWNERS[owner]
    if owners and owners <= _OPENAI_OWNERS:
        return "openai"
    if "library" in owners:
        return "ollama"
    return None


def model_ids(answer: Any) -> list[str]:
    """The model names a `/v1/models` answer lists, those it says are loaded first
    (transformers serve lists every model in its cache, and only some are in memory)."""
    models = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(models, list):
        return []
    named = [m for m in models if isinstance(m, dict) and m.get("id")]
    unloaded = [isinstance(m.get("status"), dict) and m["status"].get("value") != "loaded"
                for m in named]  # fmt: skip
    return [str(m["id"]) for _, m in sorted(zip(unloaded, named, strict=True), key=lambda p: p[0])]


def named_fields(message: str, sent: Iterable[str]) -> set[str]:
    """The fields of `sent` that an error message names as a whole word."""
    return {name for name in sent if re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", message)}


def server_limits(
    profile: ServerProfile, min_pixels: int | None, max_pixels: int | None, *, send: bool
) -> tuple[int, int]:
    """The pixel limits the server will resize every image with. Where the requested ones
    cannot travel (`send` but no `mm_processor_kwargs`), the server keeps its own and the
    backend resizes to the requested ones first; `send=False` says the requested ones are
    how the server was launched."""
    requested = pixel_limits({}, min_pixels, max_pixels)
    if min_pixels is None and max_pixels is None:
        return profile.default_limits or requested
    if not send or profile.sends_pixel_limits:
        return requested
    if "vl_high_resolution_images" in profile.extras:
        high = requested[1] > DASHSCOPE_MAX_PIXELS
        return requested[0], DASHSCOPE_HIGH_RES_MAX_PIXELS if high else DASHSCOPE_MAX_PIXELS
    return profile.default_limits or pixel_limits({}, None, None)


def extra_fields(
    profile: ServerProfile,
    params: Any,
    *,
    keep_special_tokens: bool,
    limits_to_send: dict[str, int],
    high_resolution: bool,
) -> tuple[dict[str, Any], set[str], list[str]]:
    """The non-OpenAI fields a request to `profile` carries (spelled its way), their names,
    and the decoding settings that were asked for but that this server has no field for."""
    wanted: dict[str, Any] = {
        key: getattr(params, key)
        for key in ("top_k", "repetition_penalty")
        if getattr(params, key) is not None
    }
    if keep_special_tokens:
        wanted["skip_special_tokens"] = False
    if limits_to_send:
        wanted["mm_processor_kwargs"] = dict(limits_to_send)
    if high_resolution:
        wanted["vl_high_resolution_images"] = True
    fields = {
        profile.renames.get(key, key): value
        for key, value in wanted.items()
        if key in profile.extras
    }
    missing = [
        k for k in ("top_k", "repetition_penalty") if k in wanted and k not in profile.extras
    ]
    return fields, set(fields), missing
