"""Several agents stepping in lockstep against one shared backend: one batched model call
per round for every active run (`run_batch`). Kept beside the loop it drives: it uses
the loop's own per-run state (`_Run`) so a batched step is exactly an `Agent` step."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from pixelpilot.tools import PixelpilotError
from pixelpilot.tools.errors import InfrastructureError
from pixelpilot.vlm import BackendError, GenerationParams
from pixelpilot.vlm.backend import Backend

from .loop import Agent, RunResult, _Run

logger = logging.getLogger("pixelpilot.agent.batch")


def run_batch(agents: Sequence[Agent], tasks: Sequence[str]) -> list[RunResult]:
    """Several agents (one environment each) sharing one backend, in lockstep: every
    round observes each active environment, then makes ONE batched model call for all of
    them, then acts. Environments are driven from this thread, one after another:
    Playwright's sync objects must stay on the thread that made them. An environment that
    breaks ends its own run only; a broken backend ends them all."""
    if not agents:
        return []
    backend = agents[0].backend
    if any(agent.backend is not backend for agent in agents):
        raise ValueError("run_batch needs agents that share one backend")
    runs = [_Run(agent, task) for agent, task in zip(agents, tasks, strict=True)]
    try:
        _lockstep(runs, backend, agents[0].config.generation)
    except KeyboardInterrupt:
        for run in runs:
            run.finish("stopped", "interrupted (Ctrl-C)")
    except BackendError as error:
        for run in runs:
            run.failed(error)
    finally:
        for run in runs:
            run.finish("error", "the batch ended unexpectedly")  # a no-op for finished runs
        results = [run.close() for run in runs]
        for agent, result in zip(agents, results, strict=True):
            agent.result = result
    return results


def _lockstep(runs: list[_Run], backend: Backend, params: GenerationParams) -> None:
    while True:
        active = []
        for run in (r for r in runs if r.result is None):
            if (reason := run.limit_reached()) is not None:
                run.finish(*reason)
                continue
            try:
                active.append((run, run.prepare()))
            except Exception as error:  # any failure of one environment ends its run only
                _isolate(run, error)
        if not active:
            return
        completions = backend.generate([prepared[1] for _, prepared in active], params)
        for (run, prepared), completion in zip(active, completions, strict=True):
            try:
                run.complete(prepared, completion)
            except Exception as error:
                _isolate(run, error)


def _isolate(run: _Run, error: Exception) -> None:
    """End one run of a batch for a failure of its own environment (a ControllerError,
    an ActionFailed from observe(), or a bug, which is logged with its traceback); the
    other runs go on."""
    if not isinstance(error, PixelpilotError):
        logger.exception("run %r of a batch failed unexpectedly", run.task)
        run.finish("error", f"unexpected {type(error).__name__}: {error}", kind="internal")
    elif isinstance(error, InfrastructureError):
        run.failed(error)
    else:  # an ActionFailed where no result can hold it (observe): the screen broke
        run.finish("error", f"{type(error).__name__}: {error}", kind="controller")
