"""The installed `pixelpilot` command, run as a user would run it."""

from __future__ import annotations

import ast
import contextlib
import io
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXE = shutil.which("pixelpilot") or str(
    __import__("pathlib").Path(sys.executable).parent / "pixelpilot"
)


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], input=stdin, capture_output=True, text=True, timeout=300)


def test_parse_prints_actions_in_screenshot_pixels() -> None:
    out = run("parse", "--dialect", "uitars", "--screenshot-size", "1920x1080",
              stdin="Action: click(start_box='<|box_start|>(500,500)<|box_end|>')\n")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [{
        "action": "click", "point": {"x": 960.0, "y": 540.0, "space": "screenshot_px"},
        "button": "left", "clicks": 1,
    }]  # fmt: skip


def test_parse_uses_the_pixel_limits() -> None:
    reply = '<tool_call>{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [658, 364]}}</tool_call>'
    out = run("parse", "--dialect", "qwen25vl", "--screenshot-size", "1920x1080",
              "--max-pixels", "1003520", stdin=reply)  # fmt: skip
    assert json.loads(out.stdout)[0]["point"] == {"x": 960.0, "y": 540.0, "space": "screenshot_px"}


def test_unreadable_reply_exits_2_with_the_message() -> None:
    out = run("parse", "--dialect", "showui", "--screenshot-size", "800x600", stdin="no idea")
    assert out.returncode == 2
    assert out.stdout == ""
    assert "No action found" in out.stderr


def test_bad_size_is_a_usage_error() -> None:
    out = run("parse", "--dialect", "uitars", "--screenshot-size", "big")
    assert out.returncode == 2 and "WIDTHxHEIGHT" in out.stderr


@pytest.mark.parametrize(("args", "expect"), [
    (["resize", "1920x1080", "--max-pixels", "1003520"], '"visual_tokens": 1222'),
    (["dialects"], "uitars15"),
    (["schema"], '"discriminator"'),
    (["prompt", "--dialect", "uitars15", "--task", "Open the settings"], "## User Instruction\nOpen the settings"),
    (["prompt", "--dialect", "qwen25vl", "--task", "x", "--screenshot-size", "1920x1080"],
     "resolution is 1932x1092"),
])  # fmt: skip
def test_other_commands(args: list[str], expect: str) -> None:
    out = run(*args)
    assert out.returncode == 0, out.stderr
    assert expect in out.stdout


def test_ask_a_local_model_about_a_screenshot(tiny_qwen2vl, tmp_path) -> None:
    from PIL import Image

    shot = tmp_path / "shot.png"
    Image.new("RGB", (1366, 768), "white").save(shot)
    out = run("ask", "Where is the search box?", "--model", str(tiny_qwen2vl), "--image", str(shot),
              "--max-new-tokens", "3", "--max-pixels", "1003520", "--json")  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    completion = json.loads(out.stdout)
    assert completion["image_sizes"] == [[1316, 728]]  # 1366x768 is just over 1,003,520 px
    assert completion["usage"]["visual_tokens"] == 1222


def test_ask_without_a_model_says_what_to_do(tmp_path) -> None:
    out = run("ask", "hi", "--model", str(tmp_path / "missing"))
    assert out.returncode == 3  # the backend cannot be loaded, as for run and demo
    assert "local folder" in out.stderr


def test_ask_exit_codes_say_what_broke(tmp_path) -> None:
    """A server that is down is the backend (3); an image that cannot be read is what the
    user gave (2); neither is 1, a failed task."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = in_process("ask", "hi", "--backend", "openai", "--base-url",
                      f"http://127.0.0.1:{port}/v1", "--model", "m", "--request-timeout", "3")  # fmt: skip
    assert down.returncode == 3, down.stderr
    assert down.stderr.startswith("pixelpilot ask: ") and "Traceback" not in down.stderr
    (tmp_path / "shot.png").write_bytes(b"not a png")
    bad = in_process("ask", "hi", "--backend", "openai", "--base-url",
                     f"http://127.0.0.1:{port}/v1", "--model", "m", "--image",
                     str(tmp_path / "shot.png"), "--request-timeout", "3")  # fmt: skip
    assert bad.returncode == 2, bad.stderr
    assert "shot.png" in bad.stderr and "Traceback" not in bad.stderr


# -- bad input: one line on stderr, exit 2, nothing started ---------------------------
def in_process(*args: str) -> subprocess.CompletedProcess[str]:
    """`pixelpilot ARGS` through `pixelpilot.cli.main` in this process (what the console
    script calls; a subprocess per case would cost seconds each), its exit code and the
    text it printed; the `pixelpilot` logger is left as it was found."""
    from pixelpilot.cli import main

    logger = logging.getLogger("pixelpilot")
    saved = logger.level, list(logger.handlers)
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as stop:  # argparse's own exit
                code = stop.code
    finally:
        logger.setLevel(saved[0])
        logger.handlers[:] = saved[1]
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def one_line_usage_error(out: subprocess.CompletedProcess[str], *phrases: str) -> None:
    """Exit 2, nothing on stdout, exactly one line on stderr with `phrases`, no traceback."""
    assert out.returncode == 2, (out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr
    assert out.stdout == ""
    assert len(out.stderr.splitlines()) == 1, out.stderr
    for phrase in phrases:
        assert phrase in out.stderr, (phrase, out.stderr)


# --model names no checkpoint: a check that let the argument through would end in exit 3
RUN = ["run", "find it", "--url", "http://127.0.0.1:1/", "--model", "no-such-model"]


@pytest.mark.parametrize(("extra", "phrases"), [
    (["--dpr", "0"], ["argument --dpr", "above 0", "'0'"]),
    (["--dpr", "-1"], ["argument --dpr", "'-1'"]),
    (["--dpr", "nan"], ["argument --dpr", "'nan'"]),
    (["--dpr", "inf"], ["argument --dpr", "'inf'"]),
    (["--dpr", "14"], ["argument --dpr", "at most 8"]),  # a DecompressionBombError before
    (["--dpr", "10"], ["argument --dpr", "at most 8"]),  # 12800x7200 accepted silently before
    (["--dpr", "two"], ["argument --dpr", "expected a number"]),
    # 1280x720 at DPR 7 is 8960x5040 = 45,158,400 px, over 7680x4320 = 33,177,600
    (["--dpr", "7"], ["8960x5040 screenshots (45.2 MP)", "limit is 33.2 MP"]),
    (["--viewport", "16385x100"], ["16385x100 screenshots", "16384 px a side"]),
    (["--viewport", "100000x100000"], ["100000x100000 screenshots (10000.0 MP)"]),
    (["--viewport", "0x5"], ["argument --viewport", "positive"]),
    (["--allow-domain", "*"], ["argument --allow-domain", "names no domain"]),
    (["--deny-domain", "exa mple.com"], ["argument --deny-domain", "expected a host name"]),
    (["--deny-domain", "user@host"], ["argument --deny-domain", "'user@host'"]),
    (["--allow-domain", "example.com:http"], ["argument --allow-domain", "port"]),
    (["--time-limit", "0"], ["argument --time-limit", "above 0"]),
    (["--time-limit", "-5"], ["argument --time-limit"]),
    (["--time-limit", "nan"], ["argument --time-limit"]),
    (["--max-steps", "0"], ["argument --max-steps"]),
    (["--max-pixels", "-5"], ["--max-pixels must be a number of pixels of at least 1, got -5"]),
    (["--min-pixels", "0"], ["--min-pixels must be a number of pixels"]),
    (["--min-pixels", "5000", "--max-pixels", "1000"], ["--min-pixels 5000 is above"]),
    (["--allow-domain", "127.0.0.1:2"], ["--url is refused by the domain policy",
                                         "127.0.0.1:1 is not in the allowed domains"]),
    (["--deny-domain", "127.0.0.1"], ["--url is refused", "in the denied domains (127.0.0.1)"]),
    (["--strict-domains"], ["--strict-domains needs --allow-domain or --deny-domain"]),
])  # fmt: skip
def test_run_refuses_bad_input_in_one_line(extra: list[str], phrases: list[str], tmp_path) -> None:
    one_line_usage_error(in_process(*RUN, "--record", str(tmp_path), *extra), *phrases)
    assert list(tmp_path.iterdir()) == []  # nothing was started


def test_the_installed_command_refuses_bad_input_the_same_way() -> None:
    one_line_usage_error(run(*RUN, "--dpr", "nan"), "argument --dpr", "'nan'")
    one_line_usage_error(run(*RUN, "--allow-domain", "*"), "names no domain")


def test_run_refuses_a_record_folder_it_cannot_write(tmp_path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")  # root ignores permissions, not a file in the way
    out = in_process(*RUN, "--record", str(blocker / "runs"))
    one_line_usage_error(out, f"--record {blocker / 'runs'}", "Not a directory")


@pytest.mark.parametrize("url", ["example.com", "localhost:8000", "http://", "nonsense"])
def test_run_refuses_a_start_url_that_is_not_one(url: str, tmp_path) -> None:
    out = in_process(*RUN[:2], "--url", url, "--model", "x", "--record", str(tmp_path))
    one_line_usage_error(out, "is not a URL")


@pytest.mark.parametrize("flag", ["--allow-domain", "--deny-domain"])
def test_domains_on_the_desktop_are_a_usage_error(flag: str) -> None:
    out = in_process("run", "t", "--desktop", flag, "example.com", "--model", "x")
    one_line_usage_error(out, "work only with --url", "the desktop cannot")


def test_demo_and_eval_refuse_bad_input_in_one_line(tmp_path) -> None:
    run = in_process
    (tmp_path / "file").write_text("")
    one_line_usage_error(run("demo", "--oracle", "--time-limit", "0"), "--time-limit")
    one_line_usage_error(run("demo", "--oracle", "--record", str(tmp_path / "file" / "x")),
                         "cannot write run directories")  # fmt: skip
    one_line_usage_error(run("eval", "miniwob", "--backend", "oracle", "--dpr", "nan"), "--dpr")
    one_line_usage_error(run("eval", "miniwob", "--backend", "oracle", "--workers", "0"))
    one_line_usage_error(run("eval", "miniwob", "--backend", "oracle", "--viewport", "9000x9000"),
                         "81.0 MP")  # fmt: skip
    one_line_usage_error(run("eval", "miniwob", "no-such-task", "--backend", "oracle"),
                         "no MiniWoB task matches 'no-such-task'")  # fmt: skip
    one_line_usage_error(run("eval", "miniwob", "--seeds", "x", "--backend", "oracle"), "seeds")
    missing = tmp_path / "missing.jsonl"
    one_line_usage_error(run("eval", "grounding", str(missing), "--backend", "oracle"),
                         f"{missing}: No such file or directory")  # fmt: skip
    (tmp_path / "bad.jsonl").write_text('{"img_filename": "a.png"}\nnot json\n')
    one_line_usage_error(run("eval", "grounding", str(tmp_path / "bad.jsonl"), "--backend",
                             "oracle"), "bad.jsonl:")  # fmt: skip


def test_an_unknown_option_is_one_line_too() -> None:
    out = in_process("run", "t", "--url", "http://a.example/", "--frobnicate")
    one_line_usage_error(out, "unrecognized arguments: --frobnicate", "pixelpilot --help")


# -- the exit codes, as documented -----------------------------------------------------
def test_exit_codes_are_distinct_and_documented() -> None:
    from pixelpilot.agent import commands
    from pixelpilot.agent.loop import RunResult
    from pixelpilot.cli import EXIT_INTERNAL

    documented = {  # README "The command line" and the docstring of agent/commands.py
        ("success", None): 0, ("failure", None): 1, ("needs_user", None): 4,
        ("max_steps", None): 5, ("stopped", None): 130, ("error", "backend"): 3,
        ("error", "controller"): 6, ("error", "record"): 6, ("error", "internal"): 70,
        ("error", None): 70,
    }  # fmt: skip
    for (status, kind), code in documented.items():
        assert commands.exit_code(RunResult(status=status, error_kind=kind)) == code
    assert commands.EXIT["usage"] == 2 and EXIT_INTERNAL == 70
    assert len(set(commands.EXIT.values())) == len(commands.EXIT) - 1  # record shares 6
    for code in (0, 1, 2, 3, 4, 5, 6, 70, 130):
        assert f"    {code} " in commands.__doc__
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    assert "exit codes" in readme.lower() and "| 6 |" in readme and "| 70 |" in readme


def test_an_uncaught_crash_exits_70_with_its_traceback_not_1(monkeypatch, capsys) -> None:
    """A bug (here a KeyError out of `view`) is not a failed task: exit 70, the traceback
    and one line that says it is an internal error."""
    from pixelpilot.agent import commands
    from pixelpilot.cli import main

    def broken(args) -> int:
        raise KeyError("a bug")

    monkeypatch.setattr(commands, "cmd_view", broken)
    assert main(["view", "anywhere"]) == 70
    err = capsys.readouterr().err
    assert "Traceback" in err and "KeyError: 'a bug'" in err
    assert err.rstrip().splitlines()[-1].startswith("pixelpilot view: internal error (a bug")


# -- only the command line prints ------------------------------------------------------
LIBRARY = ("tools", "vlm", "environments", "agent", "evaluation", "testgen", "mcpserver")
COMMAND_LINE = {"agent/commands.py", "agent/cli.py", "evaluation/cli.py", "testgen/command.py"}
# A healed step in a generated test must pass "with a warning, never silently": pytest's
# warnings summary is the channel its users read, so the healing runtime may warn.
WARNS = {"testgen/healer.py", "testgen/desktop.py"}


def test_library_code_logs_instead_of_printing() -> None:
    """No print() and no warnings.warn() outside the command line: library code logs
    through `logging.getLogger("pixelpilot....")` (only `cmd_*` functions and the CLI
    modules talk to the terminal)."""
    root = Path(__file__).resolve().parents[3]
    offenders = []
    for package in LIBRARY:
        for path in sorted((root / package).rglob("*.py")):
            name = path.relative_to(root).as_posix()
            if name in COMMAND_LINE:
                continue
            for node in ast.walk(ast.parse(path.read_text(), name)):
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                if isinstance(func, ast.Name) and func.id == "print":
                    offenders.append(f"{name}:{node.lineno} print")
                elif (
                    isinstance(func, ast.Attribute)
                    and func.attr == "warn"
                    and (isinstance(func.value, ast.Name) and func.value.id == "warnings")
                    and name not in WARNS
                ):
                    offenders.append(f"{name}:{node.lineno} warnings.warn")
    assert offenders == []
    assert (root / "agent" / "loop.py").exists()  # the walk saw the library


def test_the_cli_sends_library_warnings_to_stderr() -> None:
    code = (
        "import logging, sys; from pixelpilot.cli import configure_logging; "
        "configure_logging(0); configure_logging(0); "
        "logging.getLogger('pixelpilot.agent.loop').warning('could not write the video'); "
        "logging.getLogger('pixelpilot.agent.loop').info('hidden at the default level'); "
        "configure_logging(1); logging.getLogger('pixelpilot.vlm').info('shown with -v')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout == ""
    assert out.stderr.splitlines() == [
        "pixelpilot: WARNING: could not write the video",
        "pixelpilot: INFO: shown with -v",
    ]
