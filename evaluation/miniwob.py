"""MiniWoB++ through the real agent loop and browser controller, episodes in parallel.

Each worker thread owns one browser, or one context of a shared Chromium process
(Playwright's sync objects are bound to their thread), and takes episodes from a shared
queue; the model is shared, and with several
workers its requests are merged into batched calls (`BatchingBackend`). The task's
utterance is the agent's task; the score is the task's raw reward (partial credit as
the task gives it). An episode ends when the task says so, when the agent finishes, or
at `max_steps`; an unfinished one is ended the way MiniWoB's own timer ends it (-1).

Outcomes keep the model apart from the pipeline: "success" (reward > 0, MiniWoB's
convention), "model_failure" (the pipeline ran every reply, the task was not solved),
"pipeline_error" (the browser, the backend or the harness failed: not the model's
doing), "skipped" (the oracle has no solver for the task).
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pixelpilot.agent.loop import Agent, AgentConfig, AgentStep
from pixelpilot.agent.policy import Policy
from pixelpilot.vlm import get_dialect
from pixelpilot.vlm.backend import Backend

from .miniwob_pages import Episode, start_episode
from .miniwob_solvers import SOLVERS
from .oracle import SolverOracle

Outcome = Literal["success", "model_failure", "pipeline_error", "skipped"]
#: (environment, episode) -> the backend that answers this episode
BackendFactory = Callable[[Any, Episode], Backend]


class MiniWoBConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tasks: list[str]
    seeds: list[int] = Field(min_length=1)
    dialect: str = "uitars15"
    dpr: float = Field(1.0, gt=0)
    viewport: tuple[int, int] = (160, 210)  # MiniWoB's task area, as papers observe it
    max_steps: int = Field(10, ge=1)
    workers: int = Field(1, ge=1)
    #: one Chromium process with a context per worker, instead of a browser per worker
    shared_browser: bool = False
    min_pixels: int | None = None
    max_pixels: int | None = None
    video: bool = False


class EpisodeResult(BaseModel):
    task: str
    seed: int
    utterance: str | None = None
    outcome: Outcome
    raw_reward: float | None = None
    reward_reason: str | None = None
    steps: int = 0
    seconds: float = 0.0  # the whole episode: page load, steps, scoring
    step_seconds: float = 0.0  # the agent's steps only (observe, model, act, record)
    model_seconds: float = 0.0
    parse_errors: int = 0
    failed_actions: int = 0
    agent_status: str | None = None
    agent_reason: str | None = None
    replies: list[str] = []
    trajectory: str | None = None  # the run folder, relative to the output folder
    error: str | None = None

    @property
    def success(self) -> bool:
        return self.outcome == "success"


def oracle_backends(config: MiniWoBConfig) -> BackendFactory:
    """A fresh DOM oracle per episode, speaking `config.dialect`."""
    dialect = get_dialect(config.dialect)

    def make(env: Any, episode: Episode) -> Backend:
        return SolverOracle(
            env, SOLVERS[episode.task], episode.utterance, dialect,
            min_pixels=config.min_pixels, max_pixels=config.max_pixels,
        )  # fmt: skip

    return make


def run_episodes(
    config: MiniWoBConfig,
    backends: BackendFactory,
    base_url: str,
    out_dir: Path,
    *,
    oracle: bool = False,
    open_env: Callable[[], Any] | None = None,
    on_result: Callable[[EpisodeResult], None] | None = None,
) -> list[EpisodeResult]:
    """Every (task, seed) episode, on `config.workers` threads; results in task-then-seed
    order whatever order they finished in. Each result is also appended to
    `out_dir/episodes.jsonl` the moment it is known, so a stopped run loses nothing."""
    jobs: queue.Queue[tuple[int, str, int]] = queue.Queue()
    order = [(task, seed) for task in config.tasks for seed in config.seeds]
    results: list[EpisodeResult | None] = [None] * len(order)
    for index, (task, seed) in enumerate(order):
        if oracle and task not in SOLVERS:
            results[index] = EpisodeResult(
                task=task, seed=seed, outcome="skipped", error="no DOM solver for this task"
            )
            continue
        jobs.put((index, task, seed))
    lock = threading.Lock()
    out_dir.mkdir(parents=True, exist_ok=True)
    log = (out_dir / "episodes.jsonl").open("a", encoding="utf-8")  # a killed run keeps these

    def record(index: int, result: EpisodeResult) -> None:
        with lock:
            results[index] = result
            log.write(result.model_dump_json() + "\n")
            log.flush()
            if on_result is not None:
                on_result(result)

    with contextlib.ExitStack() as stack:
        stack.callback(log.close)
        opener = open_env or _browser_opener(config, stack)
        worker = _Worker(config, backends, base_url, out_dir, opener, record)
        threads = [
            threading.Thread(target=worker.drain, args=(jobs,), name=f"miniwob-{i}", daemon=True)
            for i in range(min(config.workers, max(1, jobs.qsize())))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    missing = [i for i, r in enumerate(results) if r is None]
    for index in missing:  # a worker died outside an episode: say so, never drop a row
        task, seed = order[index]
        results[index] = EpisodeResult(
            task=task, seed=seed, outcome="pipeline_error", error="the worker stopped"
        )
    return [r for r in results if r is not None]


def _browser_opener(config: MiniWoBConfig, stack: contextlib.ExitStack) -> Callable[[], Any]:
    """A browser per call, or a context per call of one shared Chromium, which is
    started on first use, restarted if it died, and stopped when `stack` closes."""
    from pixelpilot.environments import SharedChromium, open_browser

    options = {"viewport": config.viewport, "device_scale_factor": config.dpr}
    if config.shared_browser:
        shared = stack.enter_context(SharedChromium())
        return lambda: shared.open(**options)
    return lambda: open_browser(**options)


class _Worker:
    """Drains the episode queue on its own thread with its own browser; a browser that
    failed during an episode is replaced before the next one."""

    def __init__(
        self,
        config: MiniWoBConfig,
        backends: BackendFactory,
        base_url: str,
        out_dir: Path,
        open_env: Callable[[], Any],
        record: Callable[[int, EpisodeResult], None],
    ) -> None:
        self.config, self.backends, self.base_url = config, backends, base_url
        self.out_dir, self.open_env, self.record = out_dir, open_env, record

    def drain(self, jobs: queue.Queue[tuple[int, str, int]]) -> None:
        env = None
        try:
            while True:
                try:
                    index, task, seed = jobs.get_nowait()
                except queue.Empty:
                    return
                try:
                    env = env or self.open_env()
                    result = self.episode(env, task, seed)
                except Exception as error:  # the browser would not even open
                    result = EpisodeResult(
                        task=task, seed=seed, outcome="pipeline_error",
                        error=f"{type(error).__name__}: {error}",
                    )  # fmt: skip
                if result.outcome == "pipeline_error" and env is not None:
                    env = _close(env)
                self.record(index, result)
        finally:
            if env is not None:
                _close(env)

    def episode(self, env: Any, task: str, seed: int) -> EpisodeResult:
        started = time.monotonic()
        try:
            episode = start_episode(env, self.base_url, task, seed)
        except Exception as error:
            return EpisodeResult(
                task=task, seed=seed, outcome="pipeline_error",
                error=f"the episode did not start: {type(error).__name__}: {error}",
            )  # fmt: skip
        result = EpisodeResult(task=task, seed=seed, utterance=episode.utterance, outcome="skipped")
        try:
            self._run_agent(env, episode, result)
            _score(episode, result)
        except Exception as error:  # our bug or a dead browser: on record, never a model error
            result.outcome, result.error = "pipeline_error", f"{type(error).__name__}: {error}"
        result.seconds = time.monotonic() - started
        return result

    def _run_agent(self, env: Any, episode: Episode, result: EpisodeResult) -> None:
        config = self.config
        agent_config = AgentConfig(
            max_steps=config.max_steps, min_pixels=config.min_pixels,
            max_pixels=config.max_pixels, video=config.video, report=True,
            record=self.out_dir / "episodes" / f"{episode.task}-seed{episode.seed}",
        )  # fmt: skip
        agent = Agent(
            self.backends(env, episode), env, dialect=config.dialect, config=agent_config,
            policy=Policy(sensitive=frozenset()),  # local benchmark pages: nothing to guard
            should_stop=lambda: episode.done and "the task's episode ended",
        )  # fmt: skip
        for step in agent.stream(episode.utterance):
            _tally(step, result)
        run = agent.result
        assert run is not None
        result.agent_status, result.agent_reason = run.status, run.reason
        if run.trajectory_dir is not None:
            result.trajectory = run.trajectory_dir.relative_to(self.out_dir).as_posix()
        if run.status == "error":
            result.outcome, result.error = "pipeline_error", run.reason


def _tally(step: AgentStep, result: EpisodeResult) -> None:
    result.steps += 1
    result.model_seconds += step.timings.get("model_s", 0.0)
    result.step_seconds += step.timings.get("total_s", 0.0)
    result.parse_errors += step.parse_error is not None
    result.failed_actions += sum(not r.ok for r in step.results)
    if step.completion is not None:
        result.replies.append(step.completion.text)


def _score(episode: Episode, result: EpisodeResult) -> None:
    done, reward, reason = episode.state()
    if not done:
        episode.time_out()
        done, reward, reason = episode.state()
    result.raw_reward, result.reward_reason = reward, reason
    if result.outcome != "pipeline_error":
        result.outcome = "success" if reward > 0 else "model_failure"


def _close(env: Any) -> None:
    with contextlib.suppress(Exception):  # already dead: nothing left to free
        env.close()
