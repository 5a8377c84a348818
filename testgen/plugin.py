"""The pytest plugin installed with pixelpilot (entry point pytest11 `pixelpilot`): the
`pilot` fixture generated tests use, its options, the system Chromium for
pytest-playwright, a warning per healed step, the terminal summary naming the tier that
healed each step, and heal "rewrite" (the test file edited in place, the diff printed).

Every pytest run of any project with pixelpilot installed loads this module, so it
imports nothing heavy and changes nothing unless a test asks for `pilot`: the Chromium
launch arguments are only completed where Playwright's own Chromium is not installed,
and a project's own `pilot` fixture (conftest or module) overrides this one as usual.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest

from pixelpilot.testgen.desktop import pixelpilot_desktop  # noqa: F401 - the desktop fixture

log = logging.getLogger("pixelpilot.testgen.plugin")

_STATE = pytest.StashKey["_State"]()
HEALER = pytest.StashKey[Any]()
OPTIONS = {
    "heal": "off, on (default) or rewrite: what a step whose locator failed may do",
    "backend": "the model tier's backend: openai or transformers (default: no model tier)",
    "base-url": "the OpenAI-compatible server for --pixelpilot-backend openai",
    "model": "the model: a served model's name, or a checkpoint for transformers",
    "dialect": "the model's output format (default: guessed from the model's name)",
    "locator-timeout": "seconds a locator may take to resolve to one element (default 2)",
}


class HealWarning(pytest.PytestWarning):
    """A test passed only because a tier after the locator found a step's target."""


class _State:
    """What the session collects: heals to report, rewrites to make, the model tier."""

    def __init__(self) -> None:
        self.healed: list[Any] = []
        self.edits: dict[Path, list[Any]] = {}
        self.model: Any = None
        self.model_error: str | None = None
        self.notes: list[str] = []
        self.diffs: list[tuple[Path, str]] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pixelpilot", "pixelpilot: healing generated UI tests")
    for name, text in OPTIONS.items():
        env = "PIXELPILOT_" + name.upper().replace("-", "_")
        group.addoption(f"--pixelpilot-{name}", default=None, help=f"{text} (env {env})")


def option(config: pytest.Config, name: str, default: str | None = None) -> str | None:
    """--pixelpilot-NAME, else $PIXELPILOT_NAME, else `default`."""
    value = config.getoption(f"--pixelpilot-{name}")
    if value is None:
        value = os.environ.get("PIXELPILOT_" + name.upper().replace("-", "_")) or default
    return value


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_STATE] = _State()
    heal = option(config, "heal", "on")
    if heal not in ("off", "on", "rewrite"):
        raise pytest.UsageError(f"--pixelpilot-heal must be off, on or rewrite, not {heal!r}")
    timeout = option(config, "locator-timeout")
    try:
        if timeout is not None and not float(timeout) > 0:
            raise ValueError
    except ValueError:
        raise pytest.UsageError(
            f"--pixelpilot-locator-timeout must be a number of seconds above 0, not {timeout!r}"
        ) from None
    # registered now, after every entry-point plugin, so that these fixtures extend
    # pytest-playwright's (a fixture asking for its own name gets the one it overrides)
    from pixelpilot.testgen import fixtures

    config.pluginmanager.register(fixtures, "pixelpilot-fixtures")


def state(config: pytest.Config) -> _State:
    """This session's collected heals, rewrites and model tier."""
    return config.stash[_STATE]


def _model_options(config: pytest.Config) -> Any:
    from pixelpilot.testgen.model_tier import ModelOptions

    return ModelOptions(
        backend=option(config, "backend"), base_url=option(config, "base-url"),
        model=option(config, "model"), dialect=option(config, "dialect"),
    )  # fmt: skip


def model_tier(config: pytest.Config) -> Any:
    """One model tier per session, built on first use (None without a backend)."""
    from pixelpilot.testgen.model_tier import ModelTier, ModelTierError

    state = config.stash[_STATE]
    options = _model_options(config)
    if not options.enabled:
        return None
    if state.model is None and state.model_error is None:
        try:
            state.model = ModelTier(options.load(), options.dialect_name())
        except ModelTierError as error:
            state.model_error = str(error)
    if state.model_error is not None:
        raise pytest.UsageError(state.model_error)
    return state.model


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A passed test's heals become rewrites (a failed test's file is left as it is)."""
    report = yield
    healer = item.stash.get(HEALER, None)
    if healer is not None and healer.secrets:
        _redact(report, healer)
    if call.when == "call" and report.passed and healer is not None and healer.heal == "rewrite":
        from pixelpilot.testgen.relocate import Edit

        edits = item.config.stash[_STATE].edits.setdefault(Path(item.path), [])
        for record in healer.healed:
            if record.locator is not None:
                edits.append(Edit(record.test, record.step, record.to, record.locator))
    return report


def _redact(report: pytest.TestReport, healer: Any) -> None:
    """No secret typed by the test in its report: the failure text (which Playwright fills
    with the page's accessibility tree, password values included) and captured output."""
    if report.longrepr is not None:
        text = str(report.longrepr)
        if healer.redact(text) != text:
            report.longrepr = healer.redact(text)
    report.sections = [(title, healer.redact(body)) for title, body in report.sections]


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Heal "rewrite": edit each file whose passed tests healed a step; keep the diffs
    for the summary."""
    from pixelpilot.testgen.relocate import rewrite, unified

    state = session.config.stash.get(_STATE, None)
    for path, edits in (state.edits if state is not None else {}).items():
        before = path.read_text(encoding="utf-8")
        after, missed = rewrite(before, edits)
        for edit in missed:
            state.notes.append(f"{path}: no call for {edit.test} step {edit.step} to rewrite")
        if after != before:
            path.write_text(after, encoding="utf-8")
            state.diffs.append((path, unified(before, after, str(path))))


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    if state is None or not state.healed:
        return
    write = terminalreporter.write_line
    terminalreporter.section("pixelpilot healed steps")
    for nodeid, record in state.healed:
        target = " (drag destination)" if record.to else ""
        write(f"{nodeid} step {record.step}{target}: {record.description} -> "
              f"{record.tier} tier")  # fmt: skip
        if record.locator is None and option(config, "heal") == "rewrite":
            write("    not rewritten: no locator for the element used is unique on the page")
    for note in state.notes:
        write(note)
    for path, diff in state.diffs:
        terminalreporter.section(f"pixelpilot rewrote {path}")
        for line in diff.splitlines():
            write(line)
