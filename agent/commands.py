"""`pixelpilot run | replay | view | demo`: the agent from the shell.

Exit codes scripts can use (`EXIT`), each meaning one thing:

    0    success: the model finished the task
    1    failure: the task could not be done (or a replay no longer matches)
    2    usage error: the command line cannot work as given (nothing was started)
    3    the model's backend is unreachable or broken (cannot be loaded, server down)
    4    the model needs the user (it asked, and nobody answered)
    5    max steps reached
    6    the environment broke: browser, display or controller, or the disk the run is
         recorded on
    70   a bug in pixelpilot (an uncaught exception; `pixelpilot.cli` reports it)
    130  stopped: Ctrl-C or `--time-limit`

Errors print one line on stderr, never a traceback (except for 70, which is a bug).
Library code logs through the `pixelpilot` logger; only these `cmd_*` functions print.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .run_options import (
    UsageError,
    check_domains,
    check_pixel_limits,
    check_record_folder,
    check_screenshot_size,
    check_start_url,
    domain_type,
    dpr_type,
    seconds_type,
)

if TYPE_CHECKING:
    from pixelpilot.agent.secrets import Secrets

#: exit codes by run status, and by what broke when the status is "error" (`error_kind`)
EXIT = {
    "success": 0, "failure": 1, "usage": 2, "backend": 3, "needs_user": 4, "max_steps": 5,
    "controller": 6, "record": 6, "internal": 70, "stopped": 130,
}  # fmt: skip
DEFAULT_MODEL = "Qwen/Qwen2-VL-2B-Instruct"
__all__ = [
    "EXIT", "UsageError", "add_commands", "cmd_run", "dialect_for", "exit_code", "run_agent",
]  # fmt: skip


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_commands(sub: Any, size_type: Any) -> None:
    p = sub.add_parser("run", help="run the agent on a task in a browser or on the desktop")
    p.add_argument("task")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--url", help="start a browser at this URL")
    where.add_argument("--desktop", action="store_true", help="drive the X display ($DISPLAY)")
    _model_options(p)
    p.add_argument("--max-steps", type=_positive, default=30)
    add_time_limit(p)
    p.add_argument(
        "--allow-domain", action="append", default=[], metavar="HOST[:PORT]", type=domain_type,
        help="open only these sites (and their subdomains); browser only",
    )  # fmt: skip
    p.add_argument(
        "--deny-domain", action="append", default=[], metavar="HOST[:PORT]", type=domain_type,
        help="never open these sites; browser only",
    )  # fmt: skip
    p.add_argument(
        "--secret",
        action="append",
        default=[],
        metavar="NAME=ENV_VAR[@HOST,...]",
        help="{{NAME}} is typed as $ENV_VAR, only on HOST (default: the --url's host; "
        "add :PORT for one port), never into a URL; the model, the screenshots and the "
        "records never show it",
    )
    p.add_argument(
        "--strict-domains", action="store_true",
        help="hold every request of a page (fetch, images, scripts, WebSockets...) to the "
        "domain lists too, not only the pages the agent opens",
    )  # fmt: skip
    p.add_argument("--record", default="runs", help="root folder for run directories")
    p.add_argument("--headed", action="store_true", help="show the browser window")
    p.add_argument("--viewport", type=size_type, default=(1280, 720), metavar="WxH")
    p.add_argument("--dpr", type=dpr_type, default=1.0, help="device pixel ratio (0-8]")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("replay", help="re-run a trajectory's actions without the model")
    p.add_argument("run_dir")
    p.add_argument("--origin", help="replay against this scheme://host:port instead")
    p.add_argument(
        "--secret",
        action="append",
        default=[],
        metavar="NAME=ENV_VAR[@HOST,...]",
        help="type {{NAME}} as $ENV_VAR, as the recorded run did, only on HOST (default: "
        "the replayed start page's host)",
    )
    p.add_argument("--demo", action="store_true", help="serve the demo shop and replay against it")
    p.add_argument(
        "--tolerance",
        type=float,
        default=0.02,
        help="fraction of pixels that may differ before a step counts as changed",
    )
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("view", help="open a run's report.html")
    p.add_argument("run_dir")
    p.set_defaults(func=cmd_view)


def add_time_limit(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--time-limit", type=seconds_type, default=None, metavar="SECONDS",
        help="stop the agent's run after this long (exit 130); checked before each step, "
        "and a wait is cut to the time left",
    )  # fmt: skip


def _model_options(p: argparse.ArgumentParser, default_model: str | None = None) -> None:
    from pixelpilot.vlm import DIALECTS

    p.add_argument("--backend", default="transformers", choices=["transformers", "openai"])
    p.add_argument(
        "--model", default=default_model, help="checkpoint folder or hub id; server model name"
    )
    p.add_argument("--base-url", help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1")
    p.add_argument(
        "--dialect",
        default=None,
        choices=sorted(DIALECTS),
        help="the model's output format (default: guessed from the model name)",
    )
    p.add_argument("--min-pixels", type=int, default=None, help="the processor's min_pixels")
    p.add_argument("--max-pixels", type=int, default=None, help="the processor's max_pixels")
    server_options(p)


def server_options(p: argparse.ArgumentParser) -> None:
    """The openai backend's options (also on `pixelpilot ask`)."""
    from pixelpilot.vlm.backends.openai_servers import SERVERS

    p.add_argument(
        "--server",
        default="auto",
        choices=SERVERS,
        help="what the OpenAI-compatible server takes beyond the OpenAI schema "
        "(default: auto, learned from the server)",
    )
    p.add_argument(
        "--api-key-env",
        default="OPENAI_API_KEY",
        metavar="NAME",
        help="environment variable holding the server's API key (default: OPENAI_API_KEY)",
    )
    p.add_argument(
        "--request-timeout",
        type=float,
        default=180.0,
        metavar="SECONDS",
        help="deadline for one model request, retries included (default: 180)",
    )


def openai_options(args: argparse.Namespace) -> dict[str, Any]:
    """load_backend("openai", ...) options from the command line; UsageError if unusable."""
    import math

    if not args.base_url:
        raise UsageError("--base-url is needed with --backend openai")
    if not args.base_url.startswith(("http://", "https://")):
        raise UsageError(f"--base-url must be an http(s) URL, got {args.base_url!r}")
    for name, default in (
        ("server", "auto"),
        ("api_key_env", "OPENAI_API_KEY"),
        ("request_timeout", 180.0),
    ):  # parsers without server_options
        if not hasattr(args, name):
            setattr(args, name, default)
    if not (math.isfinite(args.request_timeout) and args.request_timeout > 0):
        raise UsageError(f"--request-timeout must be a positive number of seconds, "
                         f"got {args.request_timeout:g}")  # fmt: skip
    return {
        "base_url": args.base_url, "model": args.model, "server": args.server,
        "api_key_env": args.api_key_env, "request_timeout_s": args.request_timeout,
        "min_pixels": getattr(args, "min_pixels", None), "max_pixels": args.max_pixels,
    }  # fmt: skip


def guess_dialect(model: str | None) -> str:
    name = (model or "").lower()
    if "ui-tars" in name or "uitars" in name:
        return "uitars15" if "1.5" in name else "uitars"
    if "showui" in name:
        return "showui"
    if "2.5" in name or "qwen2_5" in name:
        return "qwen25vl"
    return "qwen2vl"


def dialect_for(args: argparse.Namespace, backend: Any = None) -> str:
    """--dialect, else guessed from --model, else from the model the server said it
    serves (`OpenAIBackend.discover`): a UI-TARS server needs no --dialect."""
    if getattr(args, "dialect", None):
        return args.dialect
    if args.model:
        return guess_dialect(args.model)
    served = getattr(backend, "model", None)
    return guess_dialect(served if isinstance(served, str) else None)


def _backend(args: argparse.Namespace) -> Any:
    from pixelpilot.vlm import load_backend

    if args.backend == "openai":
        backend = load_backend("openai", **openai_options(args))
        backend.discover()  # the served model's name and the server's kind, for the record
        return backend
    if not args.model:
        raise UsageError("--model is needed (a checkpoint folder or a hub id)")
    return load_backend(
        "transformers",
        model=args.model,
        min_pixels=getattr(args, "min_pixels", None),
        max_pixels=args.max_pixels,
    )


def _secrets(pairs: list[str], start_url: str | None = None) -> Secrets:
    """`--secret NAME=ENV_VAR[@HOST,...]` values, each bound to its hosts or else to the
    start URL's host (a desktop run has none: there the policy asks before each use)."""
    from pixelpilot.agent.secrets import Secrets

    try:
        return Secrets.from_specs(pairs).bound(start_url)
    except ValueError as error:
        raise UsageError(f"--secret {error}") from None


def print_step(step: Any) -> None:
    """One line per step while the run goes on."""
    from pixelpilot.agent.trajectory import paired

    parts = [_summary(a, d, r) for a, d, r in paired(step) if d is not None]  # d: reached
    what = "; ".join(parts)
    if step.parse_error:
        what = f"unreadable reply ({step.parse_error.split('.')[0]})"
    t = step.timings
    print(
        f"step {step.index + 1:>3}  {what or '-':<64.64}  model {t.get('model_s', 0):6.2f}s  "
        f"act {t.get('act_s', 0):5.2f}s  overhead {t.get('overhead_s', 0) * 1000:4.0f}ms",
        flush=True,
    )


def _summary(action: Any, decision: Any, result: Any) -> str:
    data = action.model_dump()
    kind = data.pop("action")
    point = next((v for v in data.values() if isinstance(v, dict) and "x" in v), None)
    where = f" ({point['x']:.0f}, {point['y']:.0f})" if point else ""
    extra = f" {data['text']!r}" if "text" in data else ""
    extra = extra or (f" {'+'.join(data['keys'])}" if "keys" in data else "")
    if decision.verdict == "deny":
        return f"{kind}{where}{extra} REFUSED: {decision.reason}"
    if result is None:
        return f"{kind}{where}{extra}"
    return f"{kind}{where}{extra} " + ("ok" if result.ok else f"FAILED: {result.error}")


def approve_on_terminal(action: Any, reason: str) -> bool:
    """Ask the person at the terminal; without one, refuse."""
    if not sys.stdin.isatty():
        return False
    try:
        answer = input(f"\nThe agent wants to {reason}: {action.action}. Allow? [y/N] ")
    except EOFError:  # Ctrl-D: no
        return False
    return answer.strip().lower() in ("y", "yes")


def run_agent(agent: Any, task: str, command: str = "run") -> int:
    """Stream the run, one line a step, then the summary; returns the exit code (and
    says on stderr what broke, when something did)."""
    start = time.monotonic()
    for step in agent.stream(task):
        print_step(step)
    result = agent.result
    print(
        f"\n{result.status.upper()} after {result.steps} steps in {time.monotonic() - start:.1f}s"
        + (f": {result.answer}" if result.answer else "")
        + (f" ({result.reason})" if result.reason else "")
    )
    if result.trajectory_dir:
        print(f"trajectory: {result.trajectory_dir}  (pixelpilot view {result.trajectory_dir})")
    code = exit_code(result)
    if result.status == "error":
        say(command, f"{_broken(result.error_kind)}: {result.reason}")
    return code


def exit_code(result: Any) -> int:
    """The exit code for a `RunResult`: by status, and by what broke for an error."""
    if result.status == "error":
        return EXIT[result.error_kind or "internal"]
    return EXIT[result.status]


_BROKEN = {
    "backend": "the model's backend broke",
    "controller": "the environment broke",
    "record": "the run's record cannot be written",
}


def _broken(kind: str | None) -> str:
    return _BROKEN.get(kind or "", "internal error (a bug in pixelpilot)")


def say(command: str, message: object) -> None:
    """One line on stderr: `pixelpilot COMMAND: message` (newlines and runs of spaces in
    a library's message folded, very long ones cut), so scripts can grep the error."""
    text = " ".join(str(message).split())
    text = text if len(text) <= 1000 else text[:999] + "…"
    print(f"pixelpilot {command}: {text}", file=sys.stderr, flush=True)


def fail(command: str, error: Exception) -> int:
    """Report an error of ours in one line and return its exit code: 2 for a usage
    error, 3 for the model's backend, 6 for the environment (browser, display, disk)."""
    from pixelpilot.agent.loop import error_kind

    say(command, error)
    return EXIT["usage"] if isinstance(error, UsageError) else EXIT[error_kind(error)]


def cmd_run(args: argparse.Namespace) -> int:
    from pixelpilot.tools import InfrastructureError

    try:
        return _run(args)
    except (UsageError, InfrastructureError) as error:
        return fail("run", error)


def _policy(args: argparse.Namespace) -> Any:
    from pixelpilot.agent.policy import Policy

    if args.strict_domains and not (args.allow_domain or args.deny_domain):
        raise UsageError("--strict-domains needs --allow-domain or --deny-domain to hold to")
    return Policy(
        allow_domains=tuple(args.allow_domain),
        deny_domains=tuple(args.deny_domain),
        approve=approve_on_terminal,
        strict_domains=args.strict_domains,
    )


def _check_run(args: argparse.Namespace, policy: Any) -> None:
    """Everything that can be refused before a model loads or a browser starts."""
    check_domains(args.url, args.desktop, policy.domains)
    check_pixel_limits(getattr(args, "min_pixels", None), getattr(args, "max_pixels", None))
    if not args.desktop:
        check_start_url(args.url)
        check_screenshot_size(args.viewport, args.dpr)
    check_record_folder(Path(args.record))


def _run(args: argparse.Namespace) -> int:
    from pixelpilot.agent.loop import Agent, AgentConfig

    policy = _policy(args)
    _check_run(args, policy)
    secrets = _secrets(args.secret, args.url)
    backend = _backend(args)
    env = _environment(args, policy.domains)
    config = AgentConfig(
        max_steps=args.max_steps, max_seconds=args.time_limit, record=Path(args.record),
        min_pixels=args.min_pixels, max_pixels=args.max_pixels,
    )  # fmt: skip
    with env:
        dialect = dialect_for(args, backend)
        agent = Agent(backend, env, dialect=dialect, config=config, policy=policy, secrets=secrets)
        return run_agent(agent, args.task)


def _environment(args: argparse.Namespace, domains: Any) -> Any:
    """The desktop or a browser at the start page, the domain policy in force before
    its first request (a refused start page or redirect never reaches its server)."""
    from pixelpilot.environments import ControllerError, open_browser, open_desktop

    try:
        if args.desktop:
            return open_desktop()
        return open_browser(
            args.url, viewport=args.viewport, device_scale_factor=args.dpr,
            headless=not args.headed, domains=domains,
        )  # fmt: skip
    except ImportError as error:  # an extra that is not installed
        extra = "desktop" if args.desktop else "browser"
        raise ControllerError(f"{error}: pip install 'pixelpilot[{extra}]'") from error


def cmd_replay(args: argparse.Namespace) -> int:
    """Replay a run; a missing, empty or damaged recording is a one-line message that
    names the file (and line) and exit 2, a browser that cannot start is exit 6."""
    from pixelpilot.agent.replay import replay_run
    from pixelpilot.agent.trajectory import TrajectoryError
    from pixelpilot.environments import ControllerError

    try:
        secrets = _secrets(args.secret)
        if args.demo:
            from pixelpilot.agent.demo import serve_demo

            with serve_demo() as base:
                report = replay_run(
                    Path(args.run_dir), tolerance=args.tolerance, origin=base, secrets=secrets
                )
        else:
            report = replay_run(
                Path(args.run_dir), tolerance=args.tolerance, origin=args.origin, secrets=secrets
            )
    except (UsageError, TrajectoryError) as error:
        print(f"pixelpilot replay: {error}", file=sys.stderr)
        return EXIT["usage"]
    except ControllerError as error:
        print(f"pixelpilot replay: {error}", file=sys.stderr)
        return EXIT["controller"]
    for line in report.lines:
        print(line)
    return 0 if report.matches else EXIT["failure"]


def cmd_view(args: argparse.Namespace) -> int:
    """Print (and open, with a display) a run's report; leftovers of a killed run are
    cleaned and a missing video or report is rebuilt from the PNGs first."""
    import webbrowser

    from pixelpilot.agent.report import ensure_derived
    from pixelpilot.agent.trajectory import TrajectoryError

    try:
        report, notes = ensure_derived(Path(args.run_dir))
    except TrajectoryError as error:
        print(f"pixelpilot view: {error}", file=sys.stderr)
        return EXIT["usage"]
    for note in notes:
        print(f"pixelpilot view: {note}", file=sys.stderr)
    print(report.resolve())
    if os.environ.get("DISPLAY") or sys.platform == "darwin":
        webbrowser.open(report.resolve().as_uri())
    return 0
