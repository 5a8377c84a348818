"""Where an evaluation's episodes run: threads in this process, or Ray across a cluster.

The thread executor is `run_episodes` / `evaluate` themselves: a thread per browser and
one shared (batched) model in this process. The Ray executor (`executor_ray`) is the
existing engine for when one machine is not enough: an actor per worker owns its browser
(MiniWoB) or its share of the records (grounding), and the model is a server URL each
actor talks to, or one in-process batched model in an actor of its own. Both produce the
same results files: the episodes and predictions are computed by the same functions, and
the driver writes every file itself, in the same order.

Nothing here imports ray; `executor_ray` does, and only when it is asked for.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from pixelpilot.vlm.backend import Backend

    from .grounding import GroundingRecord, Prediction
    from .miniwob import EpisodeResult, MiniWoBConfig

Executor = Literal["thread", "ray"]
EXECUTORS: tuple[Executor, ...] = ("thread", "ray")
log = logging.getLogger("pixelpilot.evaluation.executor")


class ExecutorMissing(ImportError):
    """The executor's package is not installed; the message says what to install."""


@dataclass(frozen=True)
class BackendRecipe:
    """How to build the model's backend where it is needed, rather than the backend
    itself: a Ray actor on another machine builds its own from this (a live backend
    holds sockets or GPU memory and cannot be shipped). An API key never travels: the
    openai options name the environment variable that holds it on the worker."""

    kind: Literal["oracle", "grounding_oracle", "openai", "transformers"]
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def in_process_model(self) -> bool:
        """One model loaded into memory (a GPU), shared by every worker in batches."""
        return self.kind == "transformers"

    def build(self) -> Backend:
        from pixelpilot.vlm import get_dialect, load_backend

        if self.kind == "openai":
            backend = load_backend("openai", **self.options)
            backend.discover()  # type: ignore[attr-defined]  # the served model, as the CLI does
            return backend
        if self.kind == "transformers":
            return load_backend("transformers", **self.options)
        if self.kind == "grounding_oracle":
            from .grounding import GroundingOracle

            options = dict(self.options)
            return GroundingOracle(get_dialect(options.pop("dialect")), **options)
        raise ValueError(f"the {self.kind} recipe is built per episode, not once")


def ray_module() -> Any:
    """`pixelpilot.evaluation.executor_ray`, or `ExecutorMissing` when ray is absent."""
    try:
        from . import executor_ray
    except ModuleNotFoundError as error:
        if error.name != "ray" and not str(error.name).startswith("ray."):
            raise
        raise ExecutorMissing(
            "--executor ray needs Ray, which is not installed: pip install 'pixelpilot[ray]'"
        ) from None
    return executor_ray


def miniwob_episodes(
    executor: Executor,
    config: MiniWoBConfig,
    recipe: BackendRecipe,
    out_dir: Path,
    *,
    thread_backends: Callable[[], Any],
    ray_address: str | None = None,
    on_result: Callable[[EpisodeResult], None] | None = None,
) -> list[EpisodeResult]:
    """Every episode of `config`, in task-then-seed order, on the chosen executor.
    `thread_backends()` gives the thread executor's backend factory (built only if it
    runs here); the Ray executor builds backends from `recipe` on its workers."""
    oracle = recipe.kind == "oracle"
    if executor == "ray":
        engine = ray_module()
        return engine.run_miniwob(
            config, recipe, out_dir, oracle=oracle, address=ray_address, on_result=on_result
        )
    from pixelpilot.agent.demo import serve_directory

    from .miniwob import run_episodes
    from .miniwob_pages import miniwob_html

    factory = thread_backends()
    with serve_directory(miniwob_html()) as url:
        return run_episodes(config, factory, url, out_dir, oracle=oracle, on_result=on_result)


def grounding_predictions(
    executor: Executor,
    records: Sequence[GroundingRecord],
    recipe: BackendRecipe,
    dialect: str,
    *,
    batch_size: int,
    workers: int = 1,
    max_pixels: int | None = None,
    thread_backend: Callable[[], Backend],
    ray_address: str | None = None,
) -> Iterator[Prediction]:
    """Each record's prediction, in the records' order, on the chosen executor."""
    if executor == "ray":
        engine = ray_module()
        yield from engine.run_grounding(
            records, recipe, dialect, batch_size=batch_size, workers=workers,
            max_pixels=max_pixels, address=ray_address,
        )  # fmt: skip
        return
    from pixelpilot.vlm import get_dialect

    from .grounding import evaluate

    yield from evaluate(
        records, thread_backend(), get_dialect(dialect), batch_size=batch_size,
        max_pixels=max_pixels,
    )  # fmt: skip
