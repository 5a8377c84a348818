"""`pixelpilot mcp`: serve a browser page or the X11 desktop as MCP tools.

    pixelpilot mcp --url https://example.com --backend openai --base-url http://127.0.0.1:8000/v1
    pixelpilot mcp --desktop --model ByteDance-Seed/UI-TARS-1.5-7B --transport http --port 8765

stdio is the default transport (what Claude Desktop, VS Code and Cursor start); nothing
but the protocol may go to stdout there, so messages go to stderr through the
`pixelpilot` logger. `--transport http` serves streamable HTTP on loopback unless
`--host` says otherwise. The model options are `pixelpilot run`'s, plus `--backend
scripted --replies-file F`: replies from a JSON file instead of a model, for tests and
demonstrations on a machine without weights (it says so in every record: not a model).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from pixelpilot.agent.commands import (
    EXIT,
    _backend,
    _model_options,
    _secrets,
    dialect_for,
    fail,
)
from pixelpilot.agent.run_options import (
    UsageError,
    check_domains,
    check_pixel_limits,
    check_record_folder,
    check_screenshot_size,
    check_start_url,
    domain_type,
    dpr_type,
)

log = logging.getLogger("pixelpilot.mcp")


def add_mcp_command(sub: Any, size_type: Any) -> None:
    """Register `pixelpilot mcp` on the command line's subparsers."""
    p = sub.add_parser("mcp", help="serve a browser or the desktop as MCP tools (stdio/http)")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--url", help="start a browser at this URL")
    where.add_argument("--desktop", action="store_true", help="drive the X display ($DISPLAY)")
    _model_options(p)
    backend = next(a for a in p._actions if a.dest == "backend")
    backend.choices = [*(backend.choices or ()), "scripted"]
    p.add_argument("--replies-file", type=Path, help="with --backend scripted: a JSON object "
                   "mapping a text the prompt contains to a reply, or a list of replies used "
                   "in order (the last repeats); not a model")  # fmt: skip
    p.add_argument("--allow-domain", action="append", default=[], metavar="HOST[:PORT]",
                   type=domain_type, help="open only these sites (and subdomains)")  # fmt: skip
    p.add_argument("--deny-domain", action="append", default=[], metavar="HOST[:PORT]",
                   type=domain_type, help="never open these sites")  # fmt: skip
    p.add_argument("--strict-domains", action="store_true", help="hold every request of a "
                   "page to the domain lists too, as pixelpilot run does")  # fmt: skip
    p.add_argument("--secret", action="append", default=[], metavar="NAME=ENV_VAR[@HOST,...]",
                   help="{{NAME}} is typed as $ENV_VAR, only on HOST (default: the --url's "
                   "host); no tool result shows it")  # fmt: skip
    p.add_argument("--record", default="runs", help="root folder for the session's trajectory")
    p.add_argument("--headed", action="store_true", help="show the browser window")
    p.add_argument("--viewport", type=size_type, default=(1280, 720), metavar="WxH")
    p.add_argument("--dpr", type=dpr_type, default=1.0, help="device pixel ratio (0-8]")
    p.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    p.add_argument("--host", default="127.0.0.1", help="http: the interface (default loopback)")
    p.add_argument("--port", type=int, default=8765, help="http: the port (default 8765)")
    p.set_defaults(func=cmd_mcp)


def scripted_backend(path: Path | None, min_pixels: int | None, max_pixels: int | None) -> Any:
    """A `ScriptedBackend` answering from `path`: the longest key the prompt's text
    contains picks the reply (a list is used in order, its last reply repeating)."""
    from pixelpilot.vlm import BackendError
    from pixelpilot.vlm.backends.scripted import ScriptedBackend

    if path is None:
        raise UsageError("--replies-file is needed with --backend scripted")
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UsageError(f"--replies-file {path}: {error}") from None
    if not isinstance(table, dict) or not all(isinstance(k, str) for k in table):
        raise UsageError(f"--replies-file {path}: expected a JSON object of text -> reply")
    queues = {k: list(v) if isinstance(v, list) else [v] for k, v in table.items()}

    def reply(conversation: Any) -> str:
        text = " ".join(
            part.get("text", "") for message in conversation
            for part in (message["content"] if isinstance(message["content"], list) else [])
        )  # fmt: skip
        key = max((k for k in queues if k in text), key=len, default=None)
        if key is None or not queues[key]:
            raise BackendError(f"the scripted backend has no reply for: {text[-200:]!r}")
        queue = queues[key]
        return str(queue.pop(0) if len(queue) > 1 else queue[0])

    backend = ScriptedBackend(reply, min_pixels=min_pixels, max_pixels=max_pixels)
    backend.model = "scripted replies (not a model)"  # type: ignore[attr-defined]
    return backend


def cmd_mcp(args: argparse.Namespace) -> int:
    from pixelpilot.tools import InfrastructureError

    try:
        return _serve(args)
    except (UsageError, InfrastructureError) as error:
        return fail("mcp", error)


def _serve(args: argparse.Namespace) -> int:
    from pixelpilot.agent.commands import _policy

    policy = _policy(args)
    check_domains(args.url, args.desktop, policy.domains)
    check_pixel_limits(args.min_pixels, args.max_pixels)
    if not args.desktop:
        check_start_url(args.url)
        check_screenshot_size(args.viewport, args.dpr)
    check_record_folder(Path(args.record))
    if not 0 < args.port < 65536:
        raise UsageError(f"--port must be 1-65535, got {args.port}")
    secrets = _secrets(args.secret, args.url)
    if args.backend == "scripted":
        backend = scripted_backend(args.replies_file, args.min_pixels, args.max_pixels)
    else:
        backend = _backend(args)
    session = _open(args, backend, policy, secrets)
    status = "success"
    try:
        from .server import build_server

        server = build_server(session)
        log.info("pixelpilot mcp: serving over %s", args.transport)
        if args.transport == "stdio":
            server.run("stdio")
        else:
            server.run("streamable-http", host=args.host, port=args.port)
    except KeyboardInterrupt:
        status = "stopped"
    finally:
        run_dir = session.close(status)
        if run_dir is not None:
            log.warning("pixelpilot mcp: the session's trajectory is in %s", run_dir)
    return EXIT["success"]


def _open(args: argparse.Namespace, backend: Any, policy: Any, secrets: Any) -> Any:
    """The session: a Pilot on the browser or desktop, under the MCP approval policy
    (the agent's default: typing into a password field needs the user's yes)."""
    from dataclasses import replace

    from pixelpilot.agent.pilot import Pilot
    from pixelpilot.environments import ControllerError

    from .session import PilotSession

    dialect = dialect_for(args, backend)

    def open_pilot(approve: Any) -> Pilot:
        mcp_policy = replace(policy, approve=approve)
        options: dict[str, Any] = {
            "backend": backend, "dialect": dialect, "policy": mcp_policy, "secrets": secrets,
            "name": "mcp", "record": Path(args.record), "min_pixels": args.min_pixels,
            "max_pixels": args.max_pixels,
        }  # fmt: skip
        try:
            if args.desktop:
                return Pilot.desktop(**options)
            return Pilot.browser(
                args.url, viewport=args.viewport, device_scale_factor=args.dpr,
                headless=not args.headed, **options,
            )  # fmt: skip
        except ImportError as error:
            extra = "desktop" if args.desktop else "browser"
            raise ControllerError(f"{error}: pip install 'pixelpilot[{extra}]'") from error

    return PilotSession(open_pilot)
