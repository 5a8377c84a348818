"""A test double that answers from a list or from a function of the request.

It is a real backend (same protocol, same Completion, image sizes computed with the
same resize rules) so the agent loop can be tested end to end without a model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from ..backend import BackendError, Completion, Conversation, GenerationParams, Usage, as_batch
from ..messages import image_ref, image_size, is_image, parts, pixel_limits
from ..resize import model_image_size, visual_tokens


class ScriptedBackend:
    """Replies in order from `replies`, or `replies(conversation)` for each request."""

    def __init__(
        self,
        replies: Iterable[str] | Callable[[Conversation], str],
        *,
        min_pixels: int | None = None,
        max_pixels: int | None = None,
    ) -> None:
        self._function = replies if callable(replies) else None
        self._queue = [] if callable(replies) else list(replies)
        self.min_pixels = min_pixels
        self.max_pixels = max_pixels
        self.requests: list[Conversation] = []  # what it was asked, for assertions

    def generate(
        self, conversations: Sequence[Conversation], params: GenerationParams | None = None
    ) -> list[Completion]:
        return [self._answer(c) for c in as_batch(conversations)]

    def _answer(self, conversation: Conversation) -> Completion:
        self.requests.append(conversation)
        if self._function is not None:
            text = self._function(conversation)
        elif self._queue:
            text = self._queue.pop(0)
        else:
            raise BackendError(
                f"the scripted backend ran out of replies after {len(self.requests) - 1} requests"
            )
        sizes, tokens = image_sizes(conversation, self.min_pixels, self.max_pixels)
        return Completion(
            text=text, image_sizes=sizes, usage=Usage(visual_tokens=tokens), finish_reason="stop"
        )


def image_sizes(
    conversation: Conversation, min_pixels: int | None, max_pixels: int | None
) -> tuple[tuple[tuple[int, int], ...], int]:
    """The model image size of every image in a conversation, and their visual tokens,
    as a processor with these limits would give them."""
    sizes, tokens = [], 0
    for part in (p for m in conversation for p in parts(m.get("content")) if is_image(p)):
        size = image_size(image_ref(part))
        if size is None:  # a remote URL: unknown without fetching it; keeps the order
            sizes.append((0, 0))
            continue
        width, height = size
        lo, hi = pixel_limits(part, min_pixels, max_pixels)
        sizes.append(model_image_size(width, height, min_pixels=lo, max_pixels=hi))
        tokens += visual_tokens(width, height, min_pixels=lo, max_pixels=hi)
    return tuple(sizes), tokens
