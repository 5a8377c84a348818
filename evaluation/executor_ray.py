"""The Ray executor: MiniWoB episodes and grounding batches as calls on Ray actors.

Imported only for `--executor ray` (it imports ray at the top). One actor per worker:

- a MiniWoB actor owns a browser and serves the MiniWoB pages itself, on its own node
  (the driver's 127.0.0.1 is not reachable from another machine); it runs one episode a
  call with the thread executor's own episode code and records the trajectory under the
  driver's output path: in place where it sees that folder (this machine, a shared file
  system), else on its own disk, shipped back with the result for the driver to write.
  So no shared file system is needed, and the files are the thread executor's;
- a grounding actor takes one batch of records with their image bytes (the driver's
  paths need not exist on the worker) and scores them with the thread executor's
  `evaluate`;
- the model: a server URL (vLLM replicas behind one address) that every actor calls on
  its own, a DOM oracle inside each actor, or one in-process model in a model actor of
  its own that merges the workers' concurrent requests into batched calls.

The driver keeps every worker busy with one call at a time (`ray.wait`), writes each
result as it comes, and returns them in the thread executor's order. A worker that dies
(its process or node lost) costs the episode it was running, which becomes a pipeline
error, and is replaced.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import tempfile
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import RayActorError

from pixelpilot.tools import InfrastructureError

from .executor import BackendRecipe
from .grounding import GroundingRecord, Prediction
from .miniwob import EpisodeResult, MiniWoBConfig

log = logging.getLogger("pixelpilot.evaluation.ray")
#: a browser keeps about one core busy; the model actor's GPU is asked for when there is one
EPISODE_CPUS = 1.0


class RayUnavailable(InfrastructureError, ConnectionError):
    """The Ray cluster cannot be reached or started: the environment cannot run (6)."""

    error_kind = "controller"


@contextlib.contextmanager
def connected(address: str | None) -> Iterator[None]:
    """Connect to the cluster at `address`, or start a local one for this run (stopped
    at the end); an already connected process (a test, a notebook) is used as it is."""
    if ray.is_initialized():
        yield
        return
    _check_reachable(address)
    try:
        ray.init(
            address=address, include_dashboard=False, log_to_driver=False,
            configure_logging=False,
        )  # fmt: skip
    except (ConnectionError, RuntimeError, ValueError) as error:
        where = address or "a local cluster"
        why = str(error)
        if error.__cause__ is not None:  # e.g. the cluster wants its auth token
            why += f" ({str(error.__cause__).split('. ')[0]})"
        raise RayUnavailable(f"cannot reach Ray at {where}: {why}") from error
    try:
        yield
    finally:
        ray.shutdown()


def _check_reachable(address: str | None, timeout_s: float = 10.0) -> None:
    """A host:port where nothing listens fails at once: Ray itself retries for minutes."""
    if not address or "://" in address or address == "auto":
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise RayUnavailable(f"--ray-address must look like host:port, not {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as error:
        raise RayUnavailable(f"cannot reach Ray at {address}: {error}") from error


# -- the model actor (an in-process model shared by every worker) ---------------------
class ModelActor:
    """One in-process model behind `BatchingBackend`: its calls arrive on the actor's
    threads at once (max_concurrency) and are merged into batched `generate` calls."""

    def __init__(self, recipe: BackendRecipe, max_batch: int) -> None:
        from pixelpilot.vlm.batching import BatchingBackend

        self.backend = BatchingBackend(recipe.build(), max_batch=max_batch)

    def generate(self, conversations: list[Any], params: Any) -> list[Any]:
        return self.backend.generate(conversations, params)


class RemoteBackend:
    """A worker's view of the model actor: the `Backend` protocol over `ray.get`. The
    backend's own errors (a `BackendError`) come back as that type."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    def generate(self, conversations: Sequence[Any], params: Any = None) -> list[Any]:
        try:
            return ray.get(self.handle.generate.remote(list(conversations), params))
        except RayActorError as error:
            from pixelpilot.vlm.backend import BackendError

            raise BackendError(f"the model's Ray actor died: {error}") from error


def _model_actor(recipe: BackendRecipe, workers: int) -> Any:
    """The model actor, on a GPU where the cluster has one; None for other backends."""
    if not recipe.in_process_model:
        return None
    gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
    actor = ray.remote(ModelActor).options(max_concurrency=workers, num_cpus=0, num_gpus=gpus)
    return actor.remote(recipe, workers)


@contextlib.contextmanager
def _model_actor_for(recipe: BackendRecipe, workers: int) -> Iterator[Any]:
    """`_model_actor`, ended when the sweep ends (its GPU memory freed at once, not when
    the driver disconnects)."""
    model = _model_actor(recipe, workers)
    try:
        yield model
    finally:
        if model is not None:
            with contextlib.suppress(Exception):
                ray.kill(model)


def _backend_for(recipe: BackendRecipe, model: Any) -> Any:
    return RemoteBackend(model) if model is not None else recipe.build()


# -- MiniWoB ---------------------------------------------------------------------------
class EpisodeActor:
    """Owns a browser (replaced after a pipeline error, as a thread worker does) and the
    MiniWoB pages' server on its node; runs one episode per call.

    Trajectories are recorded under the driver's own output path, as the thread executor
    records them (the path is written into each trajectory's header): in place where this
    node sees the driver's folder (the same machine, a shared file system: the driver's
    marker file is there), else under the same path on this node's scratch space (a
    relative path below a scratch folder), shipped back with the result and removed."""

    def __init__(
        self, config: MiniWoBConfig, recipe: BackendRecipe, model: Any, where: _OutDir
    ) -> None:
        from pixelpilot.agent.demo import serve_directory

        from .miniwob import _browser_opener, _Worker, oracle_backends
        from .miniwob_pages import miniwob_html

        self.stack = contextlib.ExitStack()
        url = self.stack.enter_context(serve_directory(miniwob_html()))
        self.ship = not where.visible_here()
        if self.ship:
            scratch = tempfile.mkdtemp(prefix="pixelpilot-ray-")
            self.stack.callback(shutil.rmtree, scratch, True)
            os.chdir(scratch)  # this process is the actor's own
        else:
            os.chdir(where.cwd)
        if recipe.kind == "oracle":
            backends = oracle_backends(config)
        else:
            shared = _backend_for(recipe, model)
            backends = lambda env, episode: shared  # noqa: E731
        self.out_dir = Path(where.path)
        self.open_env = _browser_opener(config, self.stack)
        self.worker = _Worker(config, backends, url, self.out_dir, self.open_env, _unused)
        self.env: Any = None

    def run(self, task: str, seed: int) -> tuple[str, dict[str, bytes]]:
        """The episode's result (JSON) and, where the driver cannot see this node's
        files, its trajectory's files relative to the output folder."""
        try:
            self.env = self.env or self.open_env()
            result = self.worker.episode(self.env, task, seed)
        except Exception as error:  # the browser would not even open
            result = EpisodeResult(
                task=task, seed=seed, outcome="pipeline_error",
                error=f"{type(error).__name__}: {error}",
            )  # fmt: skip
        if result.outcome == "pipeline_error" and self.env is not None:
            with contextlib.suppress(Exception):
                self.env.close()
            self.env = None
        return result.model_dump_json(), self._take_files(result.trajectory)

    def _take_files(self, trajectory: str | None) -> dict[str, bytes]:
        if trajectory is None or not self.ship:
            return {}
        folder = self.out_dir / trajectory
        files = {
            p.relative_to(self.out_dir).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*"))
            if p.is_file()
        }
        shutil.rmtree(folder, ignore_errors=True)
        return files

    def close(self) -> None:
        if self.env is not None:
            with contextlib.suppress(Exception):
                self.env.close()
        self.stack.close()


@dataclass(frozen=True)
class _OutDir:
    """The driver's output folder as it names it (`path`, maybe relative to `cwd`) and
    the marker file it put there for this run."""

    path: str
    cwd: str
    marker: str

    def visible_here(self) -> bool:
        return (Path(self.cwd) / self.path / self.marker).is_file()


@contextlib.contextmanager
def _marked(out_dir: Path) -> Iterator[_OutDir]:
    marker = out_dir / f".pixelpilot-ray-{uuid.uuid4().hex}"
    marker.touch()
    try:
        yield _OutDir(str(out_dir), os.getcwd(), marker.name)
    finally:
        marker.unlink(missing_ok=True)


def _unused(index: int, result: EpisodeResult) -> None:
    raise AssertionError("an actor's episodes are recorded by the driver")  # pragma: no cover


def run_miniwob(
    config: MiniWoBConfig,
    recipe: BackendRecipe,
    out_dir: Path,
    *,
    oracle: bool,
    address: str | None = None,
    on_result: Callable[[EpisodeResult], None] | None = None,
) -> list[EpisodeResult]:
    """`run_episodes` on Ray: the same results, episodes.jsonl lines and trajectories."""
    from .miniwob_solvers import SOLVERS

    order = [(task, seed) for task in config.tasks for seed in config.seeds]
    results: list[EpisodeResult | None] = [None] * len(order)
    jobs: deque[int] = deque()
    for index, (task, seed) in enumerate(order):
        if oracle and task not in SOLVERS:
            results[index] = EpisodeResult(
                task=task, seed=seed, outcome="skipped", error="no DOM solver for this task"
            )
        else:
            jobs.append(index)
    out_dir.mkdir(parents=True, exist_ok=True)
    with (
        connected(address),
        (out_dir / "episodes.jsonl").open("a", encoding="utf-8") as episodes_log,
        _marked(out_dir) as where,
        _model_actor_for(recipe, config.workers) as model,
    ):

        def spawn() -> Any:
            actor = ray.remote(EpisodeActor).options(num_cpus=EPISODE_CPUS)
            return actor.remote(config, recipe, model, where)

        def call(actor: Any, index: int) -> Any:
            return actor.run.remote(*order[index])

        for index, value, error in _drive(jobs, config.workers, spawn, call):
            task, seed = order[index]
            if error is not None:
                result = EpisodeResult(
                    task=task, seed=seed, outcome="pipeline_error",
                    error=f"the Ray worker died: {type(error).__name__}: {error}",
                )  # fmt: skip
            else:
                result = EpisodeResult.model_validate_json(value[0])
                _write_files(out_dir, value[1])
            results[index] = result
            episodes_log.write(result.model_dump_json() + "\n")
            episodes_log.flush()
            if on_result is not None:
                on_result(result)
    return [r for r in results if r is not None]


def _write_files(out_dir: Path, files: dict[str, bytes]) -> None:
    root = out_dir.resolve()
    for relative, data in files.items():
        path = (out_dir / relative).resolve()
        if not path.is_relative_to(root):  # a worker's names stay inside the output folder
            raise ValueError(f"a Ray worker sent a file outside the output folder: {relative}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _drive(
    jobs: deque[int],
    workers: int,
    spawn: Callable[[], Any],
    call: Callable[[Any, int], Any],
) -> Iterator[tuple[int, Any, BaseException | None]]:
    """Keep `workers` actors busy with one job each until `jobs` is empty, yielding
    (job, value, None) as each finishes. A job whose actor died comes as (job, None, the
    error), and the actor is replaced; any other error of a call is raised. The actors
    are closed and stopped at the end, or when the caller stops early."""
    actors = [spawn() for _ in range(min(workers, len(jobs)))]
    running: dict[Any, tuple[int, int]] = {}  # object ref -> (actor slot, job)

    def submit(slot: int) -> None:
        if jobs:
            index = jobs.popleft()
            running[call(actors[slot], index)] = (slot, index)

    try:
        for slot in range(len(actors)):
            submit(slot)
        while running:
            [ready], _ = ray.wait(list(running), num_returns=1)
            slot, index = running.pop(ready)
            try:
                value, error = ray.get(ready), None
            except RayActorError as lost:
                value, error = None, lost
                log.warning("Ray worker %d died; starting another: %s", slot, lost)
                actors[slot] = spawn()
            yield index, value, error
            submit(slot)
    finally:
        for ref in running:
            ray.cancel(ref, force=True)
        _stop(actors)


def _stop(actors: list[Any]) -> None:
    """Close every actor (its browser, its page server) at once, then end them."""
    with contextlib.suppress(Exception):
        closing = [actor.close.remote() for actor in actors]
        ray.wait(closing, num_returns=len(closing), timeout=60)
    for actor in actors:
        with contextlib.suppress(Exception):
            ray.kill(actor)


# -- grounding -------------------------------------------------------------------------
class GroundingActor:
    """Scores batches of records with `evaluate`, from image bytes the driver sent."""

    def __init__(
        self, recipe: BackendRecipe, dialect: str, max_pixels: int | None, model: Any
    ) -> None:
        from pixelpilot.vlm import get_dialect

        self.backend = _backend_for(recipe, model)
        self.dialect, self.max_pixels = get_dialect(dialect), max_pixels

    def run(
        self, records: list[GroundingRecord], images: list[bytes], batch_size: int
    ) -> list[Prediction]:
        from .grounding import evaluate

        with tempfile.TemporaryDirectory(prefix="pixelpilot-ray-") as scratch:
            local = []
            for number, (record, data) in enumerate(zip(records, images, strict=True)):
                path = Path(scratch) / f"{number}{record.image.suffix}"
                path.write_bytes(data)
                local.append(record.model_copy(update={"image": path}))
            scored = evaluate(
                local, self.backend, self.dialect, batch_size=batch_size,
                max_pixels=self.max_pixels,
            )  # fmt: skip
            predictions = list(scored)
        pairs = zip(predictions, records, strict=True)
        return [p.model_copy(update={"record": r}) for p, r in pairs]

    def close(self) -> None:
        return None


def run_grounding(
    records: Sequence[GroundingRecord],
    recipe: BackendRecipe,
    dialect: str,
    *,
    batch_size: int,
    workers: int,
    max_pixels: int | None,
    address: str | None = None,
) -> Iterator[Prediction]:
    """`evaluate` on Ray: batches of `batch_size` on `workers` actors; predictions are
    yielded in the records' order (a batch that finishes early waits for those before)."""
    batches = [list(records[i : i + batch_size]) for i in range(0, len(records), batch_size)]
    with connected(address), _model_actor_for(recipe, workers) as model:

        def spawn() -> Any:
            actor = ray.remote(GroundingActor).options(num_cpus=1)
            return actor.remote(recipe, dialect, max_pixels, model)

        def call(actor: Any, index: int) -> Any:
            batch = batches[index]
            return actor.run.remote(batch, [r.image.read_bytes() for r in batch], batch_size)

        finished: dict[int, list[Prediction]] = {}
        next_batch = 0
        for index, value, error in _drive(deque(range(len(batches))), workers, spawn, call):
            if error is not None:
                raise RayUnavailable(f"a Ray worker died: {error}") from error
            finished[index] = value
            while next_batch in finished:  # in the records' order
                yield from finished.pop(next_batch)
                next_batch += 1
