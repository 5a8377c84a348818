"""`pixelpilot demo`: the agent on the bundled demo shop, with a model or the pipeline check.

It sits in the command-line layer because it needs both the agent and, when no model can be
loaded, the evaluation layer's DOM oracle. Exit codes are `run`'s (`agent/commands.py`), and
1 when the run ended but the shop does not show the new account.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pixelpilot.agent.commands import (
    DEFAULT_MODEL,
    EXIT,
    UsageError,
    _backend,
    _model_options,
    add_time_limit,
    dialect_for,
    fail,
    run_agent,
)
from pixelpilot.agent.run_options import check_pixel_limits, check_record_folder


def add_demo_command(sub: Any) -> None:
    p = sub.add_parser("demo", help="run the agent on the bundled demo shop")
    _model_options(p, default_model=DEFAULT_MODEL)
    p.add_argument(
        "--oracle",
        action="store_true",
        help="answer from the page's DOM instead of a model (a pipeline check)",
    )
    p.add_argument(
        "--fallback-oracle",
        action="store_true",
        help="if the model cannot be loaded, say so and run the pipeline check",
    )
    p.add_argument("--record", default="runs", help="root folder for run directories")
    p.add_argument("--headed", action="store_true")
    add_time_limit(p)
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from pixelpilot.tools import InfrastructureError

    try:
        return _demo(args)
    except (UsageError, InfrastructureError) as error:
        return fail("demo", error)


def _demo(args: argparse.Namespace) -> int:
    from pixelpilot.agent.demo import SIGNUP_DONE, SIGNUP_PLAN, SIGNUP_TASK, serve_demo
    from pixelpilot.agent.loop import Agent, AgentConfig
    from pixelpilot.agent.policy import Policy
    from pixelpilot.environments import open_browser
    from pixelpilot.evaluation.oracle import OracleBackend
    from pixelpilot.vlm import BackendError, get_dialect

    check_record_folder(Path(args.record))
    check_pixel_limits(getattr(args, "min_pixels", None), getattr(args, "max_pixels", None))
    backend = None
    if not args.oracle:
        try:
            backend = _backend(args)
        except BackendError as error:
            print(
                f"pixelpilot demo: the model {args.model!r} cannot be loaded.\n  {error}\n"
                "Options: --model /path/to/checkpoint, --backend openai --base-url URL, or "
                "--oracle for a pipeline check without a model.",
                file=sys.stderr,
            )
            if not args.fallback_oracle:
                return EXIT["backend"]
            print(
                "Running the pipeline check instead: an ORACLE answers from the page's DOM "
                "(not a model; no accuracy is measured).\n",
                file=sys.stderr,
            )
    dialect = dialect_for(args, backend)
    with serve_demo() as base:
        policy = Policy(allow_domains=(base.removeprefix("http://"),), approve=_demo_approves)
        start, headless = f"{base}/form.html", not args.headed
        config = AgentConfig(
            max_steps=15, max_seconds=args.time_limit, record=Path(args.record),
            min_pixels=args.min_pixels, max_pixels=args.max_pixels,
        )  # fmt: skip
        with open_browser(start, headless=headless, domains=policy.domains) as env:
            if backend is None:
                backend = OracleBackend(env, SIGNUP_PLAN, get_dialect(dialect))
            agent = Agent(
                backend, env, dialect=dialect, config=config, policy=policy,
                secrets={"password": "correct horse battery"},
            )  # fmt: skip
            print(f"demo shop at {base}; task: {SIGNUP_TASK}\n")
            code = run_agent(agent, SIGNUP_TASK, "demo")
            done = _signed_up(env, SIGNUP_DONE)
    print(f"the shop {'shows' if done else 'does NOT show'} the new account")
    return code if done or code else EXIT["failure"]


def _signed_up(env: Any, script: str) -> bool:
    """Whether the shop shows the new account; a browser that died says no."""
    from playwright.sync_api import Error

    try:
        return bool(env.page.evaluate(script))
    except Error:
        return False


def _demo_approves(action: Any, reason: str) -> bool:
    print(f"         (policy: '{reason}' needs approval; the demo approves it)", flush=True)
    return True
