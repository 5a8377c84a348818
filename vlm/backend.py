"""The one model protocol every backend speaks, and the factory that builds them.

A backend takes a batch of conversations (Qwen2-VL chat messages: text, images, videos)
and returns one `Completion` per conversation. Besides the text, a completion says which
image size the model really saw for every image: `resized_px` coordinates only map
back correctly with it. Backends live in `vlm/backends/`, one file each, and import
their heavy dependencies (torch, transformers) only when built.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from pixelpilot.tools import InfrastructureError

Message = dict[str, Any]
Conversation = list[Message]


class BackendError(InfrastructureError, RuntimeError):
    """The backend itself failed (not the model's answer): raise, do not retry the model."""


class ModelNotFoundError(BackendError):
    """The weights are neither on disk nor reachable; the message says what to do."""


class GenerationParams(BaseModel):
    """Decoding settings. Temperature 0 means greedy, the default: GUI actions should be
    reproducible."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_new_tokens: int = Field(512, ge=1, description="Upper bound on generated tokens.")
    temperature: float = Field(0.0, ge=0.0, description="0 = greedy decoding.")
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    top_k: int | None = Field(None, ge=1)
    repetition_penalty: float | None = Field(None, gt=0.0)
    seed: int | None = Field(None, description="Seed for sampling.")
    stop: tuple[str, ...] = Field((), description="Stop strings.")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0


class Usage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt_tokens: int = 0
    visual_tokens: int = 0
    completion_tokens: int = 0


class Timings(BaseModel):
    """Seconds spent preparing inputs, in the model (or waiting for the server), in all."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    preprocess_s: float = 0.0
    model_s: float = 0.0
    total_s: float = 0.0


class Completion(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str
    usage: Usage = Usage()
    timings: Timings = Timings()
    image_sizes: tuple[tuple[int, int], ...] = Field(
        (), description="(width, height) the model saw, for every image sent, in order."
    )
    finish_reason: str | None = None


@runtime_checkable
class Backend(Protocol):
    """One method: a batch of conversations in, one completion each out."""

    def generate(
        self, conversations: Sequence[Conversation], params: GenerationParams | None = None
    ) -> list[Completion]: ...


def as_batch(conversations: Sequence[Conversation] | Conversation) -> list[Conversation]:
    """Accept one conversation where a batch is expected: it is a batch of one."""
    items = list(conversations)
    if items and isinstance(items[0], dict):
        return [items]  # type: ignore[list-item]
    return items  # type: ignore[return-value]


_KINDS = {
    "transformers": ("pixelpilot.vlm.backends.transformers", "TransformersBackend"),
    "openai": ("pixelpilot.vlm.backends.openai", "OpenAIBackend"),
    "replay": ("pixelpilot.vlm.backends.replay", "ReplayBackend"),
    "scripted": ("pixelpilot.vlm.backends.scripted", "ScriptedBackend"),
}


def load_backend(kind: str, **options: Any) -> Backend:
    """Build a backend by kind: transformers, openai, replay or scripted."""
    try:
        module_name, class_name = _KINDS[kind]
    except KeyError:
        raise ValueError(
            f"unknown backend {kind!r}; choose one of {', '.join(sorted(_KINDS))}"
        ) from None
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(**options)


def describe_request(conversation: Conversation) -> list[dict[str, Any]]:
    """What the model was asked, as JSON: roles, texts, and the pixel size of each image.
    Pixels themselves are left out, so a blinking cursor does not make a recorded run
    look different; a changed prompt, task or screen size does."""
    from .messages import describe_content

    return [
        {"role": m.get("role"), "content": describe_content(m.get("content"))} for m in conversation
    ]


def request_digest(conversation: Conversation) -> str:
    """A short fingerprint of `describe_request`, stored with each recorded reply."""
    blob = json.dumps(
        describe_request(conversation), ensure_ascii=False, sort_keys=True, default=str
    )
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()[:16]
