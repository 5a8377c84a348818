"""One backend shared by several threads, their requests merged into batched calls.

Parallel evaluation runs one environment per thread (Playwright's sync objects and X
clients are bound to the thread that made them), each thread asking the model one step
at a time. A GPU answers a batch of N for little more than the price of one, so the
requests that arrive together are sent as one `generate` call: the first caller waits up
to `max_wait_s` for others (or until `max_batch` have come), makes the call for all,
and hands each caller its own completion. Calls run one at a time, so a backend that is
not thread-safe (the in-process transformers one) is safe behind it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from .backend import Backend, Completion, Conversation, GenerationParams, as_batch


@dataclass
class _Ticket:
    conversations: list[Conversation]
    params: GenerationParams | None
    done: threading.Event = field(default_factory=threading.Event)
    result: list[Completion] | None = None
    error: BaseException | None = None


class BatchingBackend:
    """Wraps `backend`; `generate` may be called from many threads at once."""

    def __init__(self, backend: Backend, *, max_batch: int, max_wait_s: float = 0.05) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.backend, self.max_batch, self.max_wait_s = backend, max_batch, max_wait_s
        self._pending: list[_Ticket] = []
        self._arrived = threading.Condition()
        self._calling = threading.Lock()  # one call to the backend at a time
        self.batch_sizes: list[int] = []  # conversations per backend call, for reports

    def __getattr__(self, name: str) -> object:  # checkpoint, model, ...: the wrapped one's
        return getattr(self.backend, name)

    def generate(
        self, conversations: Sequence[Conversation], params: GenerationParams | None = None
    ) -> list[Completion]:
        ticket = _Ticket(as_batch(conversations), params)
        with self._arrived:
            self._pending.append(ticket)
            self._arrived.notify_all()
        while not ticket.done.is_set():
            with self._calling:
                if not ticket.done.is_set():
                    self._serve(ticket)
        if ticket.error is not None:
            raise ticket.error
        assert ticket.result is not None
        return ticket.result

    def _serve(self, leader: _Ticket) -> None:
        """Gather the batch the leader's request belongs to, call the backend once."""
        deadline = time.monotonic() + self.max_wait_s
        with self._arrived:
            while self._size(leader.params) < self.max_batch:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._arrived.wait(left)
            batch = self._take(leader.params)
        conversations = [c for ticket in batch for c in ticket.conversations]
        self.batch_sizes.append(len(conversations))
        try:
            completions = self.backend.generate(conversations, leader.params)
            if len(completions) != len(conversations):
                raise RuntimeError(
                    f"the backend answered {len(completions)} of {len(conversations)} requests"
                )
        except BaseException as error:  # every caller in the batch hears of it
            for ticket in batch:
                ticket.error = error
                ticket.done.set()
            return
        start = 0
        for ticket in batch:
            ticket.result = completions[start : start + len(ticket.conversations)]
            start += len(ticket.conversations)
            ticket.done.set()

    def _size(self, params: GenerationParams | None) -> int:
        return sum(len(t.conversations) for t in self._pending if t.params == params)

    def _take(self, params: GenerationParams | None) -> list[_Ticket]:
        """Requests with the same decoding settings, oldest first, up to max_batch
        conversations (always at least the oldest one)."""
        batch: list[_Ticket] = []
        count = 0
        for ticket in list(self._pending):
            if ticket.params != params:
                continue
            if batch and count + len(ticket.conversations) > self.max_batch:
                break
            batch.append(ticket)
            count += len(ticket.conversations)
            self._pending.remove(ticket)
        return batch
