"""The MCP tools: pixelpilot's grounding and controllers, for any agent that speaks MCP.

Every tool runs one `Pilot` verb (so one trajectory record, one policy check, secrets
filled in only at the controller). Coordinates: a raw `x, y` is in the pixels of the
last screenshot the `screenshot` tool returned (device pixels, origin top-left), which
is also the space `locate` answers in; the descriptions say so, because a client's own
model otherwise guesses a scale (the bug several computer-use servers shipped).
"""

from __future__ import annotations

import base64
import io
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ImageContent, TextContent, ToolAnnotations
from pydantic import Field

from .session import PilotSession

SPACE = (
    "Coordinates are in the pixels of the last screenshot the `screenshot` tool returned "
    "(device pixels, x to the right and y down from the top-left corner)."
)
READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False)
ACTS = ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=True)
Description = Annotated[
    str, Field(description="The target in plain words, e.g. 'the Save button'.")
]
Button = Literal["left", "right", "middle"]


def _point(located: Any) -> dict[str, Any]:
    """A `Located` as the tools return it: point and box in screenshot pixels."""
    box = located.box
    return {
        "description": located.description,
        "x": round(located.point.x, 1),
        "y": round(located.point.y, 1),
        "box": None if box is None else [round(v, 1) for v in (box.x1, box.y1, box.x2, box.y2)],
        "how": located.how,
    }


def build_server(session: PilotSession, name: str = "pixelpilot") -> MCPServer:
    """An `MCPServer` whose tools drive `session`'s Pilot."""
    server = MCPServer(
        name,
        instructions="Drive a real browser or X11 desktop: describe targets in plain words "
        "and pixelpilot's vision-language model finds them on the screen. " + SPACE,
    )
    _observing_tools(server, session)
    _pointer_tools(server, session)
    _keyboard_tools(server, session)
    _question_tools(server, session)
    return server


def _observing_tools(server: MCPServer, session: PilotSession) -> None:
    @server.tool(description="Take a screenshot of the page or screen (PNG), with its size. "
                 + SPACE, annotations=READ_ONLY, structured_output=False)  # fmt: skip
    async def screenshot(ctx: Context) -> list[ImageContent | TextContent]:
        observation = await session.call(ctx, session.pilot.observe)
        buffer = io.BytesIO()
        observation.image.save(buffer, format="PNG")
        frame = observation.frame
        text = (
            f"Screenshot {frame.width}x{frame.height} pixels (device pixel ratio {frame.scale:g}). "
            "The x, y of click, locate, scroll and drag are in these pixels: (0, 0) is the "
            f"top-left, ({frame.width - 1}, {frame.height - 1}) the bottom-right."
        )
        if observation.url:
            text += f"\nURL: {session.redact(observation.url)}"
        if observation.title:
            text += f"\nTitle: {session.redact(observation.title)}"
        data = base64.b64encode(buffer.getvalue()).decode("ascii")
        return [ImageContent(type="image", data=data, mime_type="image/png"),
                TextContent(type="text", text=text)]  # fmt: skip

    @server.tool(description="Find a target described in plain words; returns its point and "
                 "box (NotFound as an error if it is not on the screen). " + SPACE,
                 annotations=READ_ONLY)  # fmt: skip
    async def locate(description: Description, ctx: Context) -> dict[str, Any]:
        return _point(await session.call(ctx, lambda: session.pilot.locate(description)))


def _pointer_tools(server: MCPServer, session: PilotSession) -> None:
    pilot = session.pilot

    @server.tool(description="Click a target described in plain words, or the raw point "
                 "x, y (give one or the other). " + SPACE, annotations=ACTS)  # fmt: skip
    async def click(
        ctx: Context,
        description: Annotated[str | None, Field(description="The target in plain words.")] = None,
        x: Annotated[
            float | None, Field(description="Raw x (with y, instead of a description).")
        ] = None,
        y: Annotated[float | None, Field(description="Raw y.")] = None,
        button: Button = "left",
        clicks: Annotated[int, Field(ge=1, le=3)] = 1,
    ) -> dict[str, Any]:
        if (description is None) == (x is None or y is None):
            raise ToolError("Give either a description or both x and y, not both or neither.")
        if description is not None:
            located = await session.call(
                ctx, lambda: pilot.click(description, button=button, clicks=clicks)
            )
            return {"clicked": _point(located)}
        assert x is not None and y is not None
        await session.call(ctx, lambda: pilot.click_at(x, y, button=button, clicks=clicks))
        return {"clicked": {"x": x, "y": y}}

    @server.tool(description="Scroll the wheel `amount` notches, over a described target if "
                 "given (else where the pointer is). " + SPACE, annotations=ACTS)  # fmt: skip
    async def scroll(
        ctx: Context,
        direction: Literal["up", "down", "left", "right"] = "down",
        amount: Annotated[int, Field(ge=1, le=50)] = 5,
        description: Annotated[str | None, Field(description="Scroll over this target.")] = None,
    ) -> dict[str, Any]:
        located = await session.call(ctx, lambda: pilot.scroll(direction, amount, description))
        return {"scrolled": direction, "amount": amount,
                "over": None if located is None else _point(located)}  # fmt: skip

    @server.tool(description="Drag from one described target to another (both found on the "
                 "same screenshot before anything moves). " + SPACE, annotations=ACTS)  # fmt: skip
    async def drag(
        ctx: Context,
        from_: Annotated[str, Field(alias="from", description="Where to press, in plain words.")],
        to: Annotated[str, Field(description="Where to release, in plain words.")],
    ) -> dict[str, Any]:
        start, end = await session.call(ctx, lambda: pilot.drag(from_, to))
        return {"from": _point(start), "to": _point(end)}


def _keyboard_tools(server: MCPServer, session: PilotSession) -> None:
    pilot = session.pilot

    @server.tool(description="Type text, into a described field (clicked first) or where the "
                 "focus is. {{NAME}} types the secret NAME, which no result ever shows. "
                 + SPACE, annotations=ACTS)  # fmt: skip
    async def type_text(
        ctx: Context,
        text: str,
        description: Annotated[str | None, Field(description="The field, in plain words.")] = None,
        submit: Annotated[bool, Field(description="Press Enter after typing.")] = False,
    ) -> dict[str, Any]:
        located = await session.call(ctx, lambda: pilot.type(description, text, submit=submit))
        return {"typed": session.redact(text), "submitted": submit,
                "into": None if located is None else _point(located)}  # fmt: skip

    @server.tool(description="Press one key or chord: 'enter', 'ctrl+a', 'shift+tab'.",
                 annotations=ACTS)  # fmt: skip
    async def press_key(keys: str, ctx: Context) -> dict[str, Any]:
        await session.call(ctx, lambda: pilot.press(keys))
        return {"pressed": keys}

    @server.tool(description="Open a URL in the current tab (the server's domain allow-list "
                 "applies).", annotations=ACTS)  # fmt: skip
    async def navigate(url: str, ctx: Context) -> dict[str, Any]:
        await session.call(ctx, lambda: pilot.goto(url))
        return {"navigated": session.redact(url)}


def _question_tools(server: MCPServer, session: PilotSession) -> None:
    pilot = session.pilot

    @server.tool(description="Ask a question about what the screen shows; the model's "
                 "answer as text.", annotations=READ_ONLY)  # fmt: skip
    async def read(question: str, ctx: Context) -> dict[str, Any]:
        answer = await session.call(ctx, lambda: pilot.read(question))
        return {"answer": session.redact(answer)}

    @server.tool(description="Check that a statement holds on the screen; an error with the "
                 "model's reason if it does not.", annotations=READ_ONLY)  # fmt: skip
    async def expect(statement: str, ctx: Context) -> dict[str, Any]:
        verdict = await session.call(ctx, lambda: pilot.expect(statement))
        return {"holds": verdict.holds, "reason": session.redact(verdict.reason)}

    @server.tool(description="Hand a whole task to pixelpilot's own agent loop (its model "
                 "plans each step); a progress notification per step, then the run's status.",
                 annotations=ACTS)  # fmt: skip
    async def run_task(
        task: str, ctx: Context, max_steps: Annotated[int, Field(ge=1, le=100)] = 15
    ) -> dict[str, Any]:
        def on_step(step: Any) -> None:
            session.progress(ctx, step, max_steps)

        result = await session.call(ctx, lambda: session.run_task(task, max_steps, on_step))
        return {
            "status": result.status, "steps": result.steps,
            "answer": session.redact(result.answer or "") or None,
            "reason": session.redact(result.reason or "") or None,
        }  # fmt: skip
