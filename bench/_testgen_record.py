"""Record each flow with the oracle (a pipeline check: the real agent loop, parser,
coordinate chain and browser controller, the DOM answering instead of a model), check
that the run really succeeded on the page, then generate its test with `pixelpilot
testgen RUN_DIR -o FILE` (the generator under measurement, as a user runs it)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _testgen_flows import MINIWOB_SOLVED, Flow

VIEWPORT = (1280, 720)  # pytest-playwright's default context: the tests replay at it
DIALECT = "uitars15"


@dataclass
class Recorded:
    flow: Flow
    run_dir: Path | None
    test_file: Path | None
    error: str | None = None


def _oracle(env: Any, flow: Flow) -> tuple[Any, str]:
    """The oracle backend for `flow` and the task text the run is given."""
    from pixelpilot.evaluation.miniwob_solvers import SOLVERS
    from pixelpilot.evaluation.oracle import OracleBackend, SolverOracle
    from pixelpilot.tools import Finish
    from pixelpilot.vlm import get_dialect

    dialect = get_dialect(DIALECT)
    if flow.miniwob is None:
        return OracleBackend(env, flow.plan, dialect), flow.task
    env.page.wait_for_function("() => window.__benchReady === true", timeout=15000)
    utterance = " ".join(str(env.page.evaluate("core.getUtterance()")).split())

    class Solved(SolverOracle):
        """The solver's actions, then a Finish whose answer is the solved line."""

        def next_action(self) -> tuple[Any, str]:
            action, thought = super().next_action()
            if isinstance(action, Finish):
                env.page.wait_for_selector("#bench-result", timeout=15000)
                return Finish(status="success", answer=MINIWOB_SOLVED), "The task is solved."
            return action, _intent(env, action) or thought

    return Solved(env, SOLVERS[flow.miniwob[0]], utterance, dialect), utterance


def _intent(env: Any, action: Any) -> str | None:
    """What a model would say it clicks: the element's role and name under the point
    (the solver's own thought is only "Step N: click.")."""
    from pixelpilot.environments._browser_js import ELEMENT_AT
    from pixelpilot.tools import Click

    if not isinstance(action, Click):
        return None
    dpr = env.dpr
    info = env.page.evaluate(ELEMENT_AT, [action.point.x / dpr, action.point.y / dpr, dpr])
    if not info or not info.get("name"):
        return None
    return f"Click the '{info['name']}' {info.get('role') or 'element'}."


def record(flow: Flow, origin: str, out: Path) -> Path:
    """One oracle run of `flow` on the unchanged page; returns its run folder. Raises
    AssertionError when the run did not end with the flow's success text shown."""
    from pixelpilot.agent.loop import Agent, AgentConfig
    from pixelpilot.agent.policy import Policy
    from pixelpilot.environments import open_browser

    config = AgentConfig(max_steps=20, record=out, video=False, report=False)
    with open_browser(f"{origin}/{flow.id}/{flow.page}", viewport=VIEWPORT) as env:
        env.page.wait_for_load_state("load")
        backend, task = _oracle(env, flow)
        agent = Agent(backend, env, dialect=DIALECT, config=config,
                      policy=Policy(sensitive=frozenset()), secrets=flow.secrets)  # fmt: skip
        result = agent.run(task)
        if result.status != "success" or result.trajectory_dir is None:
            raise AssertionError(
                f"{flow.id}: the oracle run ended {result.status}: {result.reason}"
            )
        shown = env.page.locator(flow.success)
        shown.wait_for(state="visible", timeout=10000)
        text = shown.inner_text()
        if flow.miniwob and text != MINIWOB_SOLVED:
            raise AssertionError(f"{flow.id}: the task was not solved ({text!r})")
    return result.trajectory_dir


def generate(run_dir: Path, test_file: Path, generator: list[str]) -> None:
    """`generator RUN_DIR -o FILE` (default `pixelpilot testgen`); raises on failure."""
    test_file.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([*generator, str(run_dir), "-o", str(test_file)],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    if done.returncode != 0 or not test_file.is_file():
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"{' '.join(generator)} exited {done.returncode}: {' | '.join(tail)}")


def default_generator() -> list[str]:
    """The `pixelpilot` console script beside this interpreter, else `python -m`."""
    script = Path(sys.executable).with_name("pixelpilot")
    if script.is_file():
        return [str(script), "testgen"]
    return [sys.executable, "-m", "pixelpilot.cli", "testgen"]


def record_all(flows: list[Flow], origin: str, work: Path, generator: list[str],
               progress: Any = None, reuse: bool = False) -> list[Recorded]:  # fmt: skip
    """Record and generate every flow; a flow that fails either is kept with its error.
    `reuse`: a flow whose test an earlier run in `work` generated is not recorded again
    (the test holds paths, not the server's port)."""
    done = []
    for flow in flows:
        item = Recorded(flow, None, None)
        earlier = work / "generated" / flow.id / f"test_{flow.id.replace('-', '_')}.py"
        if reuse and earlier.is_file():
            item.test_file = earlier
            done.append(item)
            if progress is not None:
                progress(flow.id, None)
            continue
        try:
            item.run_dir = record(flow, origin, work / "runs")
            test = work / "generated" / flow.id / f"test_{flow.id.replace('-', '_')}.py"
            generate(item.run_dir, test, generator)
            item.test_file = test
        except Exception as error:  # reported per flow in the table
            item.error = f"{type(error).__name__}: {error}"
        done.append(item)
        if progress is not None:
            progress(flow.id, item.error)
    return done
