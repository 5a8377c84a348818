"""BatchingBackend: requests from many threads become batched calls; each caller gets
its own answer, failures reach every caller in the batch, calls never overlap."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from pixelpilot.vlm import BackendError, Completion, GenerationParams
from pixelpilot.vlm.backend import Conversation, Usage, as_batch
from pixelpilot.vlm.batching import BatchingBackend


def _ask(text: str) -> Conversation:
    return [{"role": "user", "content": [{"type": "text", "text": text}]}]


class Echo:
    """Answers each conversation with its own text; notes batch sizes and overlap."""

    model = "echo"

    def __init__(self, fail_on: str | None = None) -> None:
        self.batches: list[list[str]] = []
        self.fail_on, self._busy, self.overlapped = fail_on, False, False

    def generate(
        self, conversations: Sequence[Conversation], params: GenerationParams | None = None
    ) -> list[Completion]:
        self.overlapped |= self._busy
        self._busy = True
        try:
            texts = [c[0]["content"][0]["text"] for c in as_batch(conversations)]
            self.batches.append(texts)
            if self.fail_on in texts:
                raise BackendError("the server went away")
            return [Completion(text=f"answer to {t}", usage=Usage()) for t in texts]
        finally:
            self._busy = False


def _from_threads(backend: BatchingBackend, count: int) -> dict[str, object]:
    answers: dict[str, object] = {}
    start = threading.Barrier(count)

    def worker(i: int) -> None:
        start.wait()
        try:
            answers[f"q{i}"] = backend.generate([_ask(f"q{i}")])[0].text
        except BackendError as error:
            answers[f"q{i}"] = error

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return answers


def test_concurrent_requests_are_merged_and_each_caller_gets_its_own_answer() -> None:
    echo = Echo()
    batching = BatchingBackend(echo, max_batch=4, max_wait_s=2.0)
    answers = _from_threads(batching, 4)
    assert answers == {f"q{i}": f"answer to q{i}" for i in range(4)}
    assert [len(b) for b in echo.batches] == [4] and batching.batch_sizes == [4]
    assert batching.model == "echo"  # the wrapped backend's name shows through


def test_batches_never_exceed_max_batch_and_calls_never_overlap() -> None:
    echo = Echo()
    batching = BatchingBackend(echo, max_batch=3, max_wait_s=0.2)
    answers = _from_threads(batching, 8)
    assert answers == {f"q{i}": f"answer to q{i}" for i in range(8)}
    assert max(len(b) for b in echo.batches) <= 3 and sum(map(len, echo.batches)) == 8
    assert not echo.overlapped


def test_a_lone_request_waits_at_most_max_wait() -> None:
    echo = Echo()
    batching = BatchingBackend(echo, max_batch=8, max_wait_s=0.01)
    assert batching.generate([_ask("alone"), _ask("pair")])[1].text == "answer to pair"
    assert echo.batches == [["alone", "pair"]]


def test_a_failed_call_reaches_every_caller_in_its_batch() -> None:
    echo = Echo(fail_on="q0")
    batching = BatchingBackend(echo, max_batch=3, max_wait_s=2.0)
    answers = _from_threads(batching, 3)
    assert all(isinstance(a, BackendError) for a in answers.values())
    assert batching.generate([_ask("later")])[0].text == "answer to later"  # still usable


def test_requests_with_other_decoding_settings_are_not_mixed() -> None:
    echo = Echo()
    batching = BatchingBackend(echo, max_batch=2, max_wait_s=0.5)
    hot = GenerationParams(temperature=0.7)
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(batching.generate([_ask("a")])[0].text)),
        threading.Thread(
            target=lambda: results.append(batching.generate([_ask("b")], hot)[0].text)
        ),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == ["answer to a", "answer to b"]
    assert sorted(map(tuple, echo.batches)) == [("a",), ("b",)]


def test_max_batch_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        BatchingBackend(Echo(), max_batch=0)
