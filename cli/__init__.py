"""The `pixelpilot` command line: the outermost layer, assembling each layer's subcommands.

No lower layer imports this one; each defines its subcommands next to its own code and
this module puts them under one parser. An exception that escapes a subcommand is our
bug, not a failed task: it is reported as such and exits with `EXIT_INTERNAL`. A command
line argparse cannot read is one line on stderr and exit 2 (argparse's usage block is
what `--help` is for). This is also where logging is set up: library code logs through
the `pixelpilot` logger and prints nothing; here its warnings go to stderr, one line
each (`-v` adds info, `-vv` debug).
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

#: exit code of a crash inside pixelpilot (BSD's EX_SOFTWARE), never confused with 1
EXIT_INTERNAL = 70


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line: `pixelpilot run: error: ... (see --help)`.
    Subcommand parsers are made of the same class (argparse uses the parent's type)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _Stderr(logging.StreamHandler):
    """A handler on whatever `sys.stderr` is when a record comes (tests swap it)."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:  # StreamHandler.__init__ sets it; ignored
        pass


def configure_logging(verbosity: int = 0) -> None:
    """The `pixelpilot` logger to stderr, one line a record: warnings and errors, plus
    info with `-v` and debug with `-vv`; set up once however often `main` runs."""
    logger = logging.getLogger("pixelpilot")
    logger.setLevel(max(logging.DEBUG, logging.WARNING - 10 * verbosity))
    if not any(isinstance(h, _Stderr) for h in logger.handlers):
        handler = _Stderr()
        handler.setFormatter(logging.Formatter("pixelpilot: %(levelname)s: %(message)s"))
        logger.addHandler(handler)


def build_parser() -> argparse.ArgumentParser:
    from pixelpilot.agent.cli import add_model_commands, size_type
    from pixelpilot.agent.commands import add_commands
    from pixelpilot.evaluation.cli import add_eval_commands
    from pixelpilot.mcpserver import add_mcp_command
    from pixelpilot.testgen.command import add_testgen_command

    from .demo import add_demo_command

    try:
        ver = version("pixelpilot")
    except PackageNotFoundError:  # running from a checkout that was never installed
        ver = "unknown"
    parser = Parser(
        prog="pixelpilot",
        description="GUI agents on the Qwen2-VL family: native-resolution screenshots, "
        "grounded actions that land where the model pointed.",
    )
    parser.add_argument("--version", action="version", version=f"pixelpilot {ver}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log more (-v info, -vv debug)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    add_model_commands(sub)
    add_commands(sub, size_type)
    add_demo_command(sub)
    add_eval_commands(sub, size_type)
    add_mcp_command(sub, size_type)
    add_testgen_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
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
