"""pixelpilot as an MCP server: grounding and controllers as tools for any agent.

`pixelpilot mcp` (see `command.py`) opens one `Pilot` on a browser page or the X11
desktop and publishes its verbs as MCP tools (`server.py`) through the official SDK's
`MCPServer`, over stdio or streamable HTTP. The folder is `mcpserver/` (the package
`pixelpilot.mcpserver`), not `mcp/`: run from a checkout, a top-level `mcp` folder
would shadow the SDK's own `mcp` package. Layer: imports the agent and below only.
"""

from __future__ import annotations

from .command import add_mcp_command

__all__ = ["add_mcp_command"]
