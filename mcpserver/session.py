"""One `Pilot` behind the MCP tools: its own thread, error mapping, approval, the agent.

Why a thread of its own: Playwright's sync API (and Xlib) belong to the thread that
opened them, while the SDK runs a sync tool on whichever worker thread is free. So every
call into the Pilot goes through one single-thread executor, and the tools themselves
are async (the event loop stays free for progress notifications and elicitation).

Errors, as the MCP spec draws the line: what the calling model can fix (a target not
found, a point off the screen, an action the policy refused, an expectation that does
not hold) becomes a tool result marked `isError` with the message for the model
(`ToolError`); a broken browser, display or backend (`InfrastructureError`) is a
JSON-RPC protocol error (`MCPError`), since no other argument would help. Every message
is passed through the session's `Secrets.redact` first.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR
from pydantic import BaseModel, Field

from pixelpilot.agent.loop import Agent, AgentConfig, RunResult
from pixelpilot.agent.pilot import Pilot
from pixelpilot.tools import FixableError, InfrastructureError

log = logging.getLogger("pixelpilot.mcp")
T = TypeVar("T")
#: how long an approval question waits for the user before it counts as a no
APPROVAL_TIMEOUT_S = 300.0


class Approval(BaseModel):
    """What the client's user is asked when an action needs approval (elicitation)."""

    approve: bool = Field(description="Allow pixelpilot to do this action?")


class PilotSession:
    """The Pilot, the thread it lives on, and the tool call now running (for approval).

    Tool calls are serialised: one screen, one pointer, so two clients' clicks must not
    interleave inside one verb."""

    def __init__(self, open_pilot: Callable[[Callable[[Any, str], bool]], Pilot]) -> None:
        self._thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="pilot")
        self._lock = asyncio.Lock()
        self._ctx: Context | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._no_elicitation = False
        # opened on its own thread, so Playwright's objects belong to it
        self.pilot: Pilot = self._thread.submit(open_pilot, self._approve).result()

    def close(self, status: str = "success") -> Any:
        """End the recording (the trajectory's report is written) and close the browser."""
        try:
            return self._thread.submit(self.pilot.close, status).result()
        finally:
            self._thread.shutdown(wait=True)

    def redact(self, text: str) -> str:
        return self.pilot.secrets.redact(text)

    async def call(self, ctx: Context | None, fn: Callable[[], T]) -> T:
        """Run `fn` on the Pilot's thread; failures mapped as the module says."""
        async with self._lock:
            self._ctx, self._loop = ctx, asyncio.get_running_loop()
            self._no_elicitation = False
            try:
                return await asyncio.wrap_future(self._thread.submit(fn))
            except FixableError as error:
                raise ToolError(self._explain(error)) from None
            except InfrastructureError as error:
                message = f"{type(error).__name__}: {self.redact(str(error))}"
                log.error("the environment or backend broke: %s", message)
                raise MCPError(code=INTERNAL_ERROR, message=message) from None
            finally:
                self._ctx = None

    def _explain(self, error: FixableError) -> str:
        message = f"{type(error).__name__}: {self.redact(str(error))}"
        if self._no_elicitation:
            message += (
                " (this action needs the user's approval, and this MCP client does not "
                "support elicitation, so pixelpilot could not ask)"
            )
        return message

    # -- approval through elicitation ---------------------------------------------------
    def _approve(self, action: Any, reason: str) -> bool:
        """The policy's approver (called on the Pilot's thread): ask the client's user
        through elicitation; a client that cannot elicit gets a refusal."""
        ctx, loop = self._ctx, self._loop
        capabilities = ctx.client_capabilities if ctx is not None else None
        if ctx is None or loop is None or capabilities is None or not capabilities.elicitation:
            self._no_elicitation = True
            return False
        question = self.redact(f"pixelpilot wants to {reason} ({action.action}). Allow it?")
        future = asyncio.run_coroutine_threadsafe(ctx.elicit(question, Approval), loop)
        try:
            answer = future.result(timeout=APPROVAL_TIMEOUT_S)
        except (concurrent.futures.TimeoutError, MCPError) as error:
            log.warning("approval not answered (%s): refused", error)
            future.cancel()
            return False
        data = getattr(answer, "data", None)
        return answer.action == "accept" and bool(data is not None and data.approve)

    # -- the agent loop -------------------------------------------------------------------
    def run_task(self, task: str, max_steps: int, on_step: Callable[[Any], None]) -> RunResult:
        """`Pilot.act`, with `on_step` told of each step as it is recorded (for progress
        notifications). Runs on the Pilot's thread (call it through `call`)."""
        pilot, c = self.pilot, self.pilot.config
        config = AgentConfig(
            max_steps=max_steps, record=None, video=False, report=False,
            min_pixels=c.min_pixels, max_pixels=c.max_pixels, generation=c.generation,
        )  # fmt: skip
        agent = Agent(pilot.backend, pilot.env, dialect=pilot.dialect, config=config,
                      policy=pilot.agent_policy, secrets=pilot.secrets)  # fmt: skip
        extra = {"description": pilot.secrets.redact(task)}
        for step in agent.stream(task):
            pilot.stats["model_calls"] += 1
            pilot.recorder.write_agent_step(step, extra)
            if step.results and step.results[-1].element is not None:
                pilot.focused = step.results[-1].element
            on_step(step)
        assert agent.result is not None
        return agent.result.model_copy(update={"trajectory_dir": pilot.run_dir})

    def progress(self, ctx: Context, step: Any, total: int) -> None:
        """A progress notification for one agent step, sent from the Pilot's thread."""
        loop = self._loop
        if loop is None:
            return
        message = self.redact(step_summary(step))
        future = asyncio.run_coroutine_threadsafe(
            ctx.report_progress(step.index + 1, total, message), loop
        )
        try:
            future.result(timeout=30)
        except Exception as error:  # a lost notification must not stop the run
            log.warning("progress notification not sent: %s", error)


def step_summary(step: Any) -> str:
    """One line for a step: its actions and how each ended."""
    if step.parse_error:
        return f"step {step.index + 1}: unreadable reply"
    parts = []
    for i, action in enumerate(step.actions):
        result = step.results[i] if i < len(step.results) else None
        decision = step.decisions[i] if i < len(step.decisions) else None
        outcome = (
            "refused"
            if decision is not None and decision.verdict == "deny"
            else ("ok" if result is not None and result.ok else "failed" if result else "")
        )
        parts.append(f"{action.action} {outcome}".strip())
    return f"step {step.index + 1}: {'; '.join(parts) or 'no action'}"
