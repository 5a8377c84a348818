"""`pixelpilot testgen RUN_DIR [-o FILE]`: a successful run becomes a pytest file.

    pixelpilot testgen runs/2026-12-03T06-08-19-create-an-account -o tests/test_signup.py
    pytest tests/test_signup.py --base-url http://127.0.0.1:8000

Exit codes are `run`'s (`agent/commands.py` EXIT): 0 written; 2 the run cannot become a
test (missing, damaged, unfinished, failed, not a browser or desktop run, nothing to
assert) or the command line is wrong; 6 the output cannot be written. One line on stderr.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from pixelpilot.agent.commands import EXIT

_SECRET_ENV = re.compile(r"([A-Za-z_]\w*)=([A-Za-z_]\w*)")


def _secret_env(text: str) -> tuple[str, str]:
    match = _SECRET_ENV.fullmatch(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=ENV_VAR")
    return match.group(1), match.group(2)


def add_testgen_command(sub: Any) -> None:
    """Register `pixelpilot testgen` on the command line's subparsers."""
    p = sub.add_parser("testgen", help="turn a successful run into a pytest-playwright test")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory (pixelpilot run, "
                   "Agent or a Pilot script)")  # fmt: skip
    p.add_argument("-o", "--output", type=Path, metavar="FILE",
                   help="the test file to write (default: ./test_<task words>.py); its "
                   "crops go to __pixelpilot__/<test name>/ beside it")  # fmt: skip
    p.add_argument("--secret", action="append", default=[], type=_secret_env,
                   metavar="NAME=ENV_VAR", help="read {{NAME}} from $ENV_VAR in the test "
                   "(default: NAME in capitals)")  # fmt: skip
    p.set_defaults(func=cmd_testgen)


def cmd_testgen(args: argparse.Namespace) -> int:
    from pixelpilot.agent.trajectory import TrajectoryError

    from .generate import TestgenError, generate

    try:
        made = generate(args.run_dir, args.output, env_names=dict(args.secret))
    except (TrajectoryError, TestgenError) as error:
        print(f"pixelpilot testgen: {error}", file=sys.stderr)
        return EXIT["usage"]
    except OSError as error:
        where = error.filename or args.output or "the output"
        print(f"pixelpilot testgen: cannot write {where}: {error.strerror or error}",
              file=sys.stderr)  # fmt: skip
        return EXIT["record"]
    print(f"wrote {made.path} ({made.test_name}: {made.statements} steps, "
          f"{made.assertions} assertions; crops in {made.crops})")  # fmt: skip
    env = sorted(set(re.findall(r'os\.environ\["(\w+)"\]', made.path.read_text("utf-8"))))
    needs = f" with {', '.join(f'${name}' for name in env)} set" if env else ""
    print(f"run it: pytest {made.path}{needs} [--base-url URL] [--pixelpilot-heal off|on|rewrite]")
    return EXIT["success"]
