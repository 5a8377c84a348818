"""The `pixelpilot` command line: the outermost layer, assembling each layer's subcommands.

No lower layer imports this one; each defines its subcommands next to its own code and
this module puts them under one parser. An exception that escapes a subcommand is our
bug, not a failed task: it is reported as such and exits with `EXIT_INTERNAL`.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

#: exit code of a crash inside pixelpilot (BSD's EX_SOFTWARE), never confused with 1
EXIT_INTERNAL = 70


def build_parser() -> argparse.ArgumentParser:
    from pixelpilot.agent.cli import add_model_commands, size_type
    from pixelpilot.agent.commands import add_commands
    from pixelpilot.evaluation.cli import add_eval_commands

    from .demo import add_demo_command

    try:
        ver = version("pixelpilot")
    except PackageNotFoundError:  # running from a checkout that was never installed
        ver = "unknown"
    parser = argparse.ArgumentParser(
        prog="pixelpilot",
        description="GUI agents on the Qwen2-VL family: native-resolution screenshots, "
        "grounded actions that land where the model pointed.",
    )
    parser.add_argument("--version", action="version", version=f"pixelpilot {ver}")
    sub = parser.add_subparsers(dest="command", required=True)
    add_model_commands(sub)
    add_commands(sub, size_type)
    add_demo_command(sub)
    add_eval_commands(sub, size_type)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("pixelpilot: interrupted", file=sys.stderr)
        return 130
    except Exception:  # a bug of ours: say so plainly, with the traceback for the report
        traceback.print_exc()
        print(
            f"pixelpilot {args.command}: internal error (a bug in pixelpilot, not a failed "
            "task); please report it with the traceback above",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    raise SystemExit(main())
